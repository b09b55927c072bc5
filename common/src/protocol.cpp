#include "edgefed/common/protocol.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>

namespace edgefed::protocol {

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

nlohmann::json bytes_value(ByteSpan bytes) {
  return nlohmann::json::binary(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
}

nlohmann::json body_of(const Hello& m) {
  nlohmann::json b = {{"sdk", m.sdk}, {"model_version", m.model_version}, {"device_class", m.device_class}};
  if (m.schema_hash) b["schema_hash"] = bytes_value(*m.schema_hash);
  return b;
}
nlohmann::json body_of(const Welcome& m) {
  return {{"server", m.server}, {"model_version", m.model_version}, {"round", m.round}, {"resumed", m.resumed}};
}
nlohmann::json body_of(const ModelPush& m) {
  return {{"kind", to_string(m.kind)},
          {"base_version", m.base_version},
          {"model_version", m.model_version},
          {"artifact", bytes_value(m.artifact)}};
}
nlohmann::json body_of(const RoundPlan& m) {
  const TrainPlan& t = m.train;
  return {{"round", m.round},
          {"model_version", m.model_version},
          {"train",
           {{"tier", t.tier},
            {"optimizer", t.optimizer},
            {"learning_rate", t.learning_rate},
            {"momentum", t.momentum},
            {"epochs", t.epochs},
            {"batch_size", t.batch_size},
            {"prox_mu", t.prox_mu},
            {"reestimate_batchnorm", t.reestimate_batchnorm}}},
          {"weight_cap", m.weight_cap},
          {"deadline_ms", m.deadline_ms}};
}
nlohmann::json body_of(const RoundEnd& m) {
  return {{"round", m.round},
          {"outcome", to_string(m.outcome)},
          {"model_version", m.model_version},
          {"participants", m.participants},
          {"reason", m.reason}};
}
nlohmann::json body_of(const ErrorMessage& m) {
  return {{"code", m.code}, {"message", m.message}, {"fatal", m.fatal}};
}

Result<double> get_nonnegative(const FieldReader& r, std::string_view key, double max) {
  EDGEFED_ASSIGN_OR_RETURN(double v, r.get_double(key));
  if (!(v >= 0 && v <= max)) {  // also refuses NaN
    return fail(ErrorCode::bad_value, r.path() + "." + std::string(key) + ": " + std::to_string(v) +
                                          " is outside [0, " + std::to_string(max) + "]");
  }
  return v;
}

Result<Message> decode_hello(const FieldReader& b) {
  Hello m;
  EDGEFED_ASSIGN_OR_RETURN(m.sdk, b.get_string("sdk", 128));
  EDGEFED_ASSIGN_OR_RETURN(m.model_version, b.get_uint("model_version"));
  EDGEFED_ASSIGN_OR_RETURN(m.device_class, b.get_string("device_class", 128));
  if (b.has("schema_hash")) {
    EDGEFED_ASSIGN_OR_RETURN(ByteSpan h, b.get_bytes("schema_hash", kSha256DigestBytes));
    if (h.size() != kSha256DigestBytes) return fail(ErrorCode::bad_length, b.path() + ".schema_hash: expected 32 bytes");
    Sha256Digest d{};
    std::copy(h.begin(), h.end(), d.begin());
    m.schema_hash = d;
  }
  return Message{std::move(m)};
}

Result<Message> decode_welcome(const FieldReader& b) {
  Welcome m;
  EDGEFED_ASSIGN_OR_RETURN(m.server, b.get_string("server", 128));
  EDGEFED_ASSIGN_OR_RETURN(m.model_version, b.get_uint("model_version"));
  EDGEFED_ASSIGN_OR_RETURN(m.round, b.get_uint("round"));
  EDGEFED_ASSIGN_OR_RETURN(m.resumed, b.get_bool("resumed"));
  return Message{std::move(m)};
}

Result<Message> decode_model(const FieldReader& b, std::size_t max_artifact_bytes) {
  ModelPush m;
  EDGEFED_ASSIGN_OR_RETURN(std::string kind, b.get_string("kind", 16));
  if (kind == "full") {
    m.kind = ModelKind::full;
  } else if (kind == "delta") {
    m.kind = ModelKind::delta;
  } else {
    return fail(ErrorCode::bad_value, b.path() + ".kind: '" + kind + "' is neither full nor delta");
  }
  EDGEFED_ASSIGN_OR_RETURN(m.base_version, b.get_uint("base_version"));
  EDGEFED_ASSIGN_OR_RETURN(m.model_version, b.get_uint("model_version", 1));
  if (m.kind == ModelKind::delta && m.base_version + 1 != m.model_version) {
    return fail(ErrorCode::bad_value, b.path() + ": a delta must lead from version v to v + 1");
  }
  EDGEFED_ASSIGN_OR_RETURN(ByteSpan a, b.get_bytes("artifact", max_artifact_bytes));
  m.artifact.assign(a.begin(), a.end());
  return Message{std::move(m)};
}

Result<Message> decode_round(const FieldReader& b) {
  RoundPlan m;
  EDGEFED_ASSIGN_OR_RETURN(m.round, b.get_uint("round"));
  EDGEFED_ASSIGN_OR_RETURN(m.model_version, b.get_uint("model_version", 1));
  EDGEFED_ASSIGN_OR_RETURN(FieldReader t, b.get_object("train"));
  EDGEFED_ASSIGN_OR_RETURN(m.train.tier, t.get_string("tier", 32));
  EDGEFED_ASSIGN_OR_RETURN(m.train.optimizer, t.get_string("optimizer", 32));
  EDGEFED_ASSIGN_OR_RETURN(m.train.learning_rate, get_nonnegative(t, "learning_rate", 100.0));
  EDGEFED_ASSIGN_OR_RETURN(m.train.momentum, get_nonnegative(t, "momentum", 1.0));
  EDGEFED_ASSIGN_OR_RETURN(std::uint64_t epochs, t.get_uint("epochs", 0, 1000));
  EDGEFED_ASSIGN_OR_RETURN(std::uint64_t batch, t.get_uint("batch_size", 1, 1u << 16));
  m.train.epochs = static_cast<std::uint32_t>(epochs);
  m.train.batch_size = static_cast<std::uint32_t>(batch);
  EDGEFED_ASSIGN_OR_RETURN(m.train.prox_mu, get_nonnegative(t, "prox_mu", 1e6));
  EDGEFED_ASSIGN_OR_RETURN(m.train.reestimate_batchnorm, t.get_bool("reestimate_batchnorm"));
  EDGEFED_ASSIGN_OR_RETURN(m.weight_cap, b.get_uint("weight_cap", 1));
  EDGEFED_ASSIGN_OR_RETURN(m.deadline_ms, b.get_uint("deadline_ms", 1, 7ull * 24 * 3600 * 1000));
  return Message{std::move(m)};
}

Result<Message> decode_round_end(const FieldReader& b) {
  RoundEnd m;
  EDGEFED_ASSIGN_OR_RETURN(m.round, b.get_uint("round"));
  EDGEFED_ASSIGN_OR_RETURN(std::string outcome, b.get_string("outcome", 32));
  bool known = false;
  for (RoundOutcome o : {RoundOutcome::completed, RoundOutcome::aborted, RoundOutcome::not_selected}) {
    if (outcome == to_string(o)) {
      m.outcome = o;
      known = true;
    }
  }
  if (!known) return fail(ErrorCode::bad_value, b.path() + ".outcome: '" + outcome + "' is unknown");
  EDGEFED_ASSIGN_OR_RETURN(m.model_version, b.get_uint("model_version"));
  EDGEFED_ASSIGN_OR_RETURN(std::uint64_t p, b.get_uint("participants", 0, UINT32_MAX));
  m.participants = static_cast<std::uint32_t>(p);
  EDGEFED_ASSIGN_OR_RETURN(m.reason, b.get_string("reason", 1024));
  return Message{std::move(m)};
}

Result<Message> decode_error(const FieldReader& b) {
  ErrorMessage m;
  EDGEFED_ASSIGN_OR_RETURN(m.code, b.get_string("code", 64));
  EDGEFED_ASSIGN_OR_RETURN(m.message, b.get_string("message", 2048));
  EDGEFED_ASSIGN_OR_RETURN(m.fatal, b.get_bool("fatal"));
  return Message{std::move(m)};
}

}  // namespace

std::string_view to_string(ModelKind kind) noexcept { return kind == ModelKind::delta ? "delta" : "full"; }

std::string_view to_string(RoundOutcome outcome) noexcept {
  switch (outcome) {
    case RoundOutcome::completed: return "completed";
    case RoundOutcome::aborted: return "aborted";
    case RoundOutcome::not_selected: return "not_selected";
  }
  return "unknown";
}

std::string_view message_type(const Message& message) noexcept {
  return std::visit(Overloaded{[](const Hello&) { return kHello; }, [](const Welcome&) { return kWelcome; },
                               [](const ModelPush&) { return kModel; }, [](const RoundPlan&) { return kRound; },
                               [](const RoundEnd&) { return kRoundEnd; },
                               [](const ErrorMessage&) { return kError; }},
                    message);
}

bool is_fl_type(std::string_view type) noexcept {
  for (std::string_view t : {kHello, kWelcome, kModel, kRound, kRoundEnd, kError}) {
    if (type == t) return true;
  }
  return false;
}

Result<Bytes> encode(const Message& message, const SessionToken& session, std::uint64_t round,
                     std::uint64_t seq) {
  Envelope env;
  env.type = std::string(message_type(message));
  env.session = session;
  env.round = round;
  env.seq = seq;
  env.body = std::visit([](const auto& m) { return body_of(m); }, message);
  return encode_envelope(env);
}

Result<Message> decode(const Envelope& envelope, std::size_t max_artifact_bytes) {
  const FieldReader body(envelope.body, "body");
  const std::string_view type = envelope.type;
  if (type == kHello) return decode_hello(body);
  if (type == kWelcome) return decode_welcome(body);
  if (type == kModel) return decode_model(body, max_artifact_bytes);
  if (type == kRound) return decode_round(body);
  if (type == kRoundEnd) return decode_round_end(body);
  if (type == kError) return decode_error(body);
  return fail(ErrorCode::unknown_type, "'" + envelope.type + "' is not a federated-learning message");
}

}  // namespace edgefed::protocol
