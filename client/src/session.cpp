#include "edgefed/client/session.hpp"

#include "edgefed/common/artifact.hpp"
#include "edgefed/common/log.hpp"
#include "edgefed/secagg/messages.hpp"

#include <algorithm>

namespace edgefed::client {

namespace {

constexpr char kStateType[] = "device.state";

DecodeLimits server_limits(std::size_t max_model_bytes) {
  DecodeLimits limits;
  // Model pushes are the largest frames; SecAgg frames to a device stay well below (the
  // largest, ForwardShares, is k ciphertexts of ~100 bytes).
  limits.max_frame_bytes = max_model_bytes + 4096;
  return limits;
}

// Copies the tensors of `local` into `view` by name (local tensors stay the device's).
void merge_local(ml::ModelView& view, const ParameterSet& local) {
  for (std::size_t i = 0; i < local.size(); ++i) {
    const TensorView t = local.at(i);
    auto dst = view.values.find_mutable(t.name);
    if (dst && dst->data.size() == t.data.size()) std::copy(t.data.begin(), t.data.end(), dst->data.begin());
  }
}

ParameterSet local_tensors(const ml::ModelView& view) {
  ParameterSet out;
  for (std::size_t i = 0; i < view.schema.tensors.size(); ++i) {
    if (view.schema.tensors[i].policy != ml::TensorPolicy::local) continue;
    const TensorView t = view.values.at(i);
    (void)out.add(std::string(t.name), Shape(t.shape.begin(), t.shape.end()), t.data);
  }
  return out;
}

}  // namespace

// ---- persisted state --------------------------------------------------------------------

Result<Bytes> encode_device_state(const DeviceState& state) {
  Envelope env;
  env.type = kStateType;
  env.body = {{"highest_version", state.highest_version}};
  if (state.model) {
    const ml::ModelView& m = *state.model;
    env.body["model"] = {{"version", m.version},
                         {"tier", ml::to_string(m.tier)},
                         {"train_head", m.train_head},
                         {"architecture", m.architecture.dump()},
                         {"schema", ml::schema_to_json(m.schema).dump()},
                         {"values", encode_parameters(m.values)}};
  }
  return encode_envelope(env);
}

Result<DeviceState> decode_device_state(ByteSpan bytes) {
  DecodeLimits limits;
  limits.max_bytes_by_type[kStateType] = limits.max_frame_bytes;
  EDGEFED_ASSIGN_OR_RETURN(Envelope env, decode_envelope(bytes, limits));
  const FieldReader body(env.body, "state");
  DeviceState state;
  EDGEFED_ASSIGN_OR_RETURN(state.highest_version, body.get_uint("highest_version"));
  if (!body.has("model")) return state;
  EDGEFED_ASSIGN_OR_RETURN(FieldReader m, body.get_object("model"));
  ml::ModelView view;
  EDGEFED_ASSIGN_OR_RETURN(view.version, m.get_uint("version"));
  EDGEFED_ASSIGN_OR_RETURN(std::string tier, m.get_string("tier", 32));
  EDGEFED_ASSIGN_OR_RETURN(view.tier, ml::parse_tier(tier));
  EDGEFED_ASSIGN_OR_RETURN(view.train_head, m.get_bool("train_head"));
  EDGEFED_ASSIGN_OR_RETURN(std::string arch, m.get_string("architecture", 64 * 1024));
  EDGEFED_ASSIGN_OR_RETURN(std::string schema, m.get_string("schema", 1024 * 1024));
  view.architecture = nlohmann::json::parse(arch, nullptr, false);
  const nlohmann::json schema_json = nlohmann::json::parse(schema, nullptr, false);
  if (view.architecture.is_discarded() || schema_json.is_discarded()) {
    return fail(ErrorCode::bad_encoding, "state.model: architecture or schema is not JSON");
  }
  EDGEFED_ASSIGN_OR_RETURN(ml::ModelSchema s, ml::schema_from_json(schema_json));
  view.schema = ml::policies_for(std::move(s), view.tier, view.train_head);
  if (!env.body["model"].contains("values")) return fail(ErrorCode::missing_field, "state.model.values");
  EDGEFED_ASSIGN_OR_RETURN(view.values, decode_parameters(env.body["model"]["values"], "state.model.values"));
  if (view.values.size() != view.schema.tensors.size()) {
    return fail(ErrorCode::schema_mismatch, "state.model: values do not match the schema");
  }
  if (view.version > state.highest_version) return fail(ErrorCode::bad_value, "state: model above highest version");
  state.model = std::move(view);
  return state;
}

// ---- session ----------------------------------------------------------------------------

// SecAgg+ client messages go out through the session, framed with the round and seq.
class DeviceSession::Outbox final : public secagg::SendToServer {
 public:
  explicit Outbox(DeviceSession& session) : session_(session) {}
  void send(secagg::ClientMessage message) override {
    auto frame = secagg::encode_frame(message, round, session_.next_seq());
    if (!frame) {
      log::error("secagg frame not encodable", {{"error", frame.error().message()}});
      return;
    }
    last = *frame;
    session_.send_frame(std::move(*frame));
  }
  std::uint64_t round = 0;
  Bytes last;  // re-sent after a resume

 private:
  DeviceSession& session_;
};

struct DeviceSession::Round {
  std::uint64_t number = 0;
  SessionToken token{};
  std::unique_ptr<Outbox> outbox;
  std::unique_ptr<secagg::SecAggClient> secagg;
};

DeviceSession::DeviceSession(SessionOptions options, DeviceState state, Learner& learner, secagg::Csprng& rng,
                             SessionPort& port)
    : options_(std::move(options)), state_(std::move(state)), learner_(learner), rng_(rng), port_(port) {}

DeviceSession::~DeviceSession() = default;

std::uint64_t DeviceSession::model_version() const { return state_.model ? state_.model->version : 0; }

std::optional<protocol::RoundEnd> DeviceSession::take_round_end() {
  auto out = std::move(round_end_);
  round_end_.reset();
  return out;
}

void DeviceSession::send_frame(Bytes frame) {
  ++stats_.frames_sent;
  stats_.bytes_sent += frame.size();
  port_.send(std::move(frame));
}

void DeviceSession::resend(ByteSpan frame) {
  // A re-sent SecAgg message keeps its body but needs a fresh sequence number: sequence
  // numbers are per connection and strictly increasing (the server's replay check).
  auto env = decode_envelope(frame);
  if (!env) return;
  env->seq = next_seq();
  if (auto out = encode_envelope(*env)) send_frame(std::move(*out));
}

void DeviceSession::on_connected() {
  seq_ = 0;
  protocol::Hello hello;
  hello.sdk = options_.sdk;
  hello.device_class = options_.device_class;
  hello.model_version = model_version();
  if (state_.model) hello.schema_hash = state_.model->layout_hash();
  // Ask to resume until the round's fl.round_end: even a completed SecAgg client may have
  // lost its last message (the UnmaskResponse) with the connection.
  const SessionToken resume = round_ && round_->secagg && !round_->secagg->aborted() ? round_->token : SessionToken{};
  auto frame = protocol::encode(hello, resume, round_ ? round_->number : 0, next_seq());
  if (frame) send_frame(std::move(*frame));
}

Status DeviceSession::on_frame(ByteSpan frame) {
  stats_.bytes_received += frame.size();
  EDGEFED_ASSIGN_OR_RETURN(Envelope env, decode_envelope(frame, server_limits(options_.max_model_bytes)));
  if (env.type.starts_with("secagg.")) return on_secagg(frame, env);
  EDGEFED_ASSIGN_OR_RETURN(protocol::Message message, protocol::decode(env, options_.max_model_bytes));
  if (const auto* welcome = std::get_if<protocol::Welcome>(&message)) {
    token_ = env.session;
    if (round_ && welcome->resumed && round_->outbox && !round_->outbox->last.empty()) {
      resend(round_->outbox->last);  // the server ignores it if it already has it
    } else if (round_ && !welcome->resumed) {
      end_round(protocol::RoundEnd{round_->number, protocol::RoundOutcome::aborted, model_version(), 0,
                                   "not resumed after reconnecting"});
    }
    return {};
  }
  if (const auto* push = std::get_if<protocol::ModelPush>(&message)) {
    stats_.model_bytes_received += frame.size();
    return on_model(*push);
  }
  if (const auto* plan = std::get_if<protocol::RoundPlan>(&message)) return on_round(*plan);
  if (const auto* end = std::get_if<protocol::RoundEnd>(&message)) {
    if (round_ && round_->number == end->round) end_round(*end);
    return {};
  }
  if (const auto* error = std::get_if<protocol::ErrorMessage>(&message)) {
    log::warn("server refused a message", {{"code", error->code}, {"message", error->message}});
    if (error->fatal) return fail(ErrorCode::io_error, "server: " + error->code + ": " + error->message);
    return {};
  }
  return fail(ErrorCode::unknown_type, "'" + env.type + "' is not sent by servers");
}

Status DeviceSession::on_model(const protocol::ModelPush& push) {
  ArtifactReadOptions read;
  if (state_.highest_version > 0) read.min_model_version_exclusive = state_.highest_version;
  read.limits.max_bytes = options_.max_model_bytes;
  EDGEFED_ASSIGN_OR_RETURN(ModelArtifact artifact, read_artifact(push.artifact, options_.model_key, read));
  if (artifact.model_version != push.model_version) {
    return fail(ErrorCode::bad_value, "model push: the artifact's version differs from the announced one");
  }
  ml::ModelView next;
  if (push.kind == protocol::ModelKind::full) {
    EDGEFED_ASSIGN_OR_RETURN(next, ml::view_from_full(artifact));
    if (state_.model && state_.model->layout_hash() == next.layout_hash()) {
      merge_local(next, local_tensors(*state_.model));
    }
  } else {
    if (!state_.model) return fail(ErrorCode::out_of_order, "model delta without a base model");
    next = *state_.model;
    EDGEFED_TRY(ml::apply_delta(next, artifact));
  }
  DeviceState updated;
  updated.highest_version = next.version;
  updated.model = std::move(next);
  // Durable before it counts as held: a restart must never see a lower highest version.
  EDGEFED_TRY(port_.persist(updated));
  state_ = std::move(updated);
  log::debug("model applied", {{"version", state_.highest_version}, {"kind", std::string(protocol::to_string(push.kind))}});
  return {};
}

Status DeviceSession::on_round(const protocol::RoundPlan& plan) {
  if (round_) {
    end_round(protocol::RoundEnd{round_->number, protocol::RoundOutcome::aborted, model_version(), 0,
                                 "superseded by round " + std::to_string(plan.round)});
  }
  if (!state_.model || state_.model->version != plan.model_version) {
    log::warn("round skipped: model version differs", {{"round", plan.round}, {"held", model_version()}});
    return {};
  }
  if (plan.train.tier != ml::to_string(state_.model->tier)) {
    log::warn("round skipped: tier differs from the model's", {{"round", plan.round}, {"tier", plan.train.tier}});
    return {};
  }
  auto update = learner_.train(*state_.model, plan.train, plan.round);
  if (!update) {
    log::warn("local training failed", {{"round", plan.round}, {"error", update.error().message()}});
    return {};
  }
  if (update->delta.size() != state_.model->aggregate_length()) {
    return fail(ErrorCode::schema_mismatch, "learner returned a delta of the wrong length");
  }
  // Local tensors are the device's from now on, whatever happens to the round.
  DeviceState updated = state_;
  merge_local(*updated.model, update->local);
  EDGEFED_TRY(port_.persist(updated));
  state_ = std::move(updated);

  auto round = std::make_unique<Round>();
  round->number = plan.round;
  round->token = token_;
  round->outbox = std::make_unique<Outbox>(*this);
  round->outbox->round = plan.round;
  const double weight =
      static_cast<double>(std::min<std::uint64_t>(update->examples, plan.weight_cap)) / static_cast<double>(plan.weight_cap);
  round->secagg = secagg::SecAggClient::create(options_.secagg_policy,
                                               secagg::FloatInput{std::move(update->delta), weight}, rng_,
                                               *round->outbox);
  round_ = std::move(round);
  return {};
}

Status DeviceSession::on_secagg(ByteSpan frame, const Envelope& env) {
  if (!round_ || env.round != round_->number) return {};  // not ours (e.g. a skipped round)
  EDGEFED_ASSIGN_OR_RETURN(secagg::ServerMessage message,
                           secagg::decode_server_frame(frame, server_limits(options_.max_model_bytes)));
  if (auto st = round_->secagg->handle(message); !st) {
    log::warn("secure aggregation aborted", {{"round", round_->number}, {"error", st.error().message()}});
  }
  return {};
}

void DeviceSession::end_round(const protocol::RoundEnd& end) {
  const bool included = end.outcome == protocol::RoundOutcome::completed && round_ && round_->secagg &&
                        round_->secagg->completed();
  if (included) {
    ++stats_.rounds_completed;
  } else {
    ++stats_.rounds_aborted;
  }
  round_.reset();
  round_end_ = end;
  last_round_included_ = included;
}

}  // namespace edgefed::client
