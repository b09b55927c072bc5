#include "edgefed/server/coordinator.hpp"

#include "edgefed/common/log.hpp"
#include "edgefed/secagg/graph.hpp"
#include "edgefed/secagg/messages.hpp"
#include "edgefed/secagg/params.hpp"
#include "edgefed/secagg/ring.hpp"
#include "edgefed/secagg/server.hpp"

#include <algorithm>
#include <cmath>
#include <set>

namespace edgefed::server {

namespace {

constexpr char kServerName[] = "edgefed-server/0.1";
// Non-fatal refusals (replays, frames outside a round) a connection may collect before it is
// closed: a retransmission after a reconnect is normal, a stream of them is not.
constexpr std::uint32_t kMaxRefusals = 16;

const std::vector<std::string>& client_secagg_types() {
  static const std::vector<std::string> types = {"secagg.advertise_keys", "secagg.share_keys",
                                                 "secagg.masked_input", "secagg.survivors_signature",
                                                 "secagg.unmask_response", "secagg.abort"};
  return types;
}

bool is_secagg_type(std::string_view type) { return type.starts_with("secagg."); }

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Smallest ring that holds the sum of n inputs of q bits (secure_agg/ring.hpp's budget).
std::uint32_t ring_bits_for(std::uint32_t n, std::uint32_t q) {
  std::uint32_t b = q + 1;
  while (b < 62 && secagg::max_quantization_bits(b, n) < q) ++b;
  return b;
}

}  // namespace

Status RoundSettings::validate() const {
  auto bad = [](std::string what) { return fail(ErrorCode::invalid_argument, "round settings: " + what); };
  if (min_participants < secagg::kMinCohortSize) {
    return bad("min_participants must be at least " + std::to_string(secagg::kMinCohortSize) +
               " (with two devices the sum reveals each input to the other)");
  }
  if (target_participants < min_participants) return bad("target_participants must be >= min_participants");
  if (!(expected_dropout >= 0 && expected_dropout < 0.9)) return bad("expected_dropout must be in [0, 0.9)");
  if (!(assumed_corrupt >= 0 && assumed_corrupt < 0.9)) return bad("assumed_corrupt must be in [0, 0.9)");
  if (train_deadline.count() <= 0 || stage_deadline.count() <= 0) return bad("deadlines must be positive");
  if (resume_grace.count() < 0 || selection_wait.count() < 0 || pause_between_rounds.count() < 0) {
    return bad("waits must not be negative");
  }
  if (weight_cap == 0) return bad("weight_cap must be at least 1");
  if (!(clip > 0 && std::isfinite(clip))) return bad("clip must be positive");
  if (input_bits < 2 || input_bits > 40) return bad("input_bits must be in [2, 40]");
  if (train.epochs == 0 || train.batch_size == 0) return bad("train.epochs and train.batch_size must be >= 1");
  if (!(train.learning_rate > 0)) return bad("train.learning_rate must be positive");
  if (auto tier = ml::parse_tier(train.tier); !tier) return bad(tier.error().detail);
  if (train.optimizer != "sgd" && train.optimizer != "adam") return bad("train.optimizer must be sgd or adam");
  return {};
}

// ---- checkpoint -------------------------------------------------------------------------

namespace {
constexpr char kCheckpointFormat[] = "edgefed-checkpoint/1";

Status add_vector(std::vector<NamedTensor>& out, std::string name, std::span<const float> v) {
  const Shape shape{static_cast<std::int64_t>(v.size())};
  EDGEFED_ASSIGN_OR_RETURN(EncodedTensor enc, encode(shape, v, Encoding::float32));
  out.push_back(NamedTensor{std::move(name), std::move(enc)});
  return {};
}
}  // namespace

Result<Bytes> encode_checkpoint(const Checkpoint& c, const Ed25519SecretKey& key) {
  ModelArtifact a;
  a.model_version = c.model.version;
  a.metadata = nlohmann::json{{"format", kCheckpointFormat},
                              {"next_round", c.next_round},
                              {"optimizer_steps", c.optimizer.steps},
                              {"tier", ml::to_string(c.model.tier)},
                              {"train_head", c.model.train_head},
                              {"architecture", c.model.architecture},
                              {"schema", ml::schema_to_json(c.model.schema)}}
                   .dump();
  for (std::size_t i = 0; i < c.model.values.size(); ++i) {
    const TensorView t = c.model.values.at(i);
    EDGEFED_ASSIGN_OR_RETURN(EncodedTensor enc, encode(t, Encoding::float32));
    a.tensors.push_back(NamedTensor{"model/" + std::string(t.name), std::move(enc)});
  }
  EDGEFED_TRY(add_vector(a.tensors, "server/residual", c.residual));
  EDGEFED_TRY(add_vector(a.tensors, "server/optimizer_m", c.optimizer.m));
  EDGEFED_TRY(add_vector(a.tensors, "server/optimizer_v", c.optimizer.v));
  return write_artifact(a, key);
}

Result<Checkpoint> decode_checkpoint(ByteSpan bytes, const Ed25519PublicKey& key) {
  EDGEFED_ASSIGN_OR_RETURN(ModelArtifact a, read_artifact(bytes, key));
  const nlohmann::json meta = nlohmann::json::parse(a.metadata, nullptr, false);
  if (meta.is_discarded() || !meta.is_object() || meta.value("format", "") != kCheckpointFormat) {
    return fail(ErrorCode::schema_mismatch, "checkpoint: not an edgefed checkpoint");
  }
  const FieldReader r(meta, "checkpoint");
  Checkpoint c;
  EDGEFED_ASSIGN_OR_RETURN(c.next_round, r.get_uint("next_round", 1));
  EDGEFED_ASSIGN_OR_RETURN(c.optimizer.steps, r.get_uint("optimizer_steps"));
  EDGEFED_ASSIGN_OR_RETURN(std::string tier, r.get_string("tier", 32));
  EDGEFED_ASSIGN_OR_RETURN(c.model.tier, ml::parse_tier(tier));
  EDGEFED_ASSIGN_OR_RETURN(c.model.train_head, r.get_bool("train_head"));
  c.model.architecture = meta["architecture"];
  if (!meta.contains("schema")) return fail(ErrorCode::missing_field, "checkpoint: no schema");
  EDGEFED_ASSIGN_OR_RETURN(ml::ModelSchema schema, ml::schema_from_json(meta["schema"]));
  c.model.schema = ml::policies_for(std::move(schema), c.model.tier, c.model.train_head);
  c.model.version = a.model_version;
  const std::size_t n = c.model.schema.tensors.size();
  if (a.tensors.size() != n + 3) return fail(ErrorCode::schema_mismatch, "checkpoint: tensor count");
  for (std::size_t i = 0; i < n; ++i) {
    const ml::TensorSpec& spec = c.model.schema.tensors[i];
    if (a.tensors[i].name != "model/" + spec.name || a.tensors[i].tensor.shape != spec.shape) {
      return fail(ErrorCode::schema_mismatch, "checkpoint: tensor " + a.tensors[i].name + " does not match the schema");
    }
    EDGEFED_ASSIGN_OR_RETURN(std::vector<float> v, decode(a.tensors[i].tensor));
    EDGEFED_TRY(c.model.values.add(spec.name, spec.shape, v));
  }
  EDGEFED_ASSIGN_OR_RETURN(c.residual, decode(a.tensors[n].tensor));
  EDGEFED_ASSIGN_OR_RETURN(c.optimizer.m, decode(a.tensors[n + 1].tensor));
  EDGEFED_ASSIGN_OR_RETURN(c.optimizer.v, decode(a.tensors[n + 2].tensor));
  if (c.residual.size() != c.model.aggregate_length()) {
    return fail(ErrorCode::schema_mismatch, "checkpoint: residual length does not match the model");
  }
  return c;
}

// ---- coordinator ------------------------------------------------------------------------

struct Coordinator::Impl final : secagg::SendToClients {
  struct Connection {
    std::string device_id;
    bool hello = false;
    SessionToken token{};
    std::uint64_t model_version = 0;
    std::uint64_t last_seq = 0;
    std::uint64_t seq_out = 0;
    std::optional<std::uint32_t> slot;  // in the running round
    bool closing = false;               // close requested: never selected or resumed again
    std::uint32_t refusals = 0;         // non-fatal refusals so far
  };
  struct Slot {
    std::string device_id;
    SessionToken token{};
    std::optional<ConnectionId> connection;
    std::optional<Clock::time_point> disconnected_at;
    bool dropped = false;  // told to secagg (misbehaved, or gone past resume_grace)
    Bytes last_frame;      // resent on resume
  };
  struct Round {
    std::uint64_t number = 0;
    secagg::SessionParams params;
    std::unique_ptr<secagg::SecAggServer> secagg;
    std::vector<Slot> slots;  // slot s at index s − 1
    Clock::time_point started;
    Clock::time_point stage_started;
    Clock::time_point stage_deadline;
    secagg::ServerStage stage = secagg::ServerStage::advertise_keys;
    DecodeLimits limits;
    RoundSummary summary;
  };

  RoundSettings settings;
  explicit Impl(Ed25519SecretKey k) : key(std::move(k)) {}
  Ed25519SecretKey key;
  secagg::Csprng* rng = nullptr;
  secagg::Executor* executor = nullptr;
  CoordinatorPorts* ports = nullptr;
  MetricsRegistry* metrics = nullptr;
  std::unique_ptr<ServerOptimizer> optimizer;

  ml::ModelView model;
  std::vector<float> residual;
  Bytes full_artifact;
  std::optional<Bytes> delta_artifact;  // from model.version − 1 (absent after a restart)
  std::shared_ptr<const Bytes> full_frame, delta_frame;  // fl.model frames of the current version
  std::uint64_t next_round = 1;
  std::uint64_t rounds_ended = 0;
  std::map<ConnectionId, Connection> connections;
  std::map<std::string, ConnectionId> device_connection;
  std::optional<Round> round;
  std::optional<Clock::time_point> enough_since;  // first tick with ≥ min_participants idle
  Clock::time_point next_round_not_before{};
  std::optional<RoundSummary> last_summary;
  DecodeLimits idle_limits;

  // -- metrics
  Gauge* g_connected = nullptr;
  Gauge* g_model_version = nullptr;
  Gauge* g_round = nullptr;
  Gauge* g_participants = nullptr;
  Counter* c_bytes_in = nullptr;
  Counter* c_bytes_model = nullptr;
  Counter* c_bytes_round = nullptr;
  Histogram* h_round_seconds = nullptr;

  void init_metrics() {
    g_connected = &metrics->gauge("edgefed_connected_devices", "Devices connected and past hello");
    g_model_version = &metrics->gauge("edgefed_model_version", "Version of the global model");
    g_round = &metrics->gauge("edgefed_round", "The running round, or the next one");
    g_participants = &metrics->gauge("edgefed_round_participants", "Inputs in the last completed aggregate");
    c_bytes_in = &metrics->counter("edgefed_received_bytes_total", "Frame bytes received from devices");
    c_bytes_model = &metrics->counter("edgefed_sent_bytes_total", "Frame bytes sent to devices", {{"kind", "model"}});
    c_bytes_round = &metrics->counter("edgefed_sent_bytes_total", "Frame bytes sent to devices", {{"kind", "protocol"}});
    h_round_seconds = &metrics->histogram("edgefed_round_duration_seconds", "Wall time of a round",
                                          {1, 2, 5, 10, 30, 60, 120, 300, 600});
    g_model_version->set(static_cast<double>(model.version));
    g_round->set(static_cast<double>(next_round));
  }
  void count_rejected(std::string_view reason) {
    metrics->counter("edgefed_frames_rejected_total", "Frames refused, by reason", {{"reason", std::string(reason)}}).inc();
  }

  // -- sending
  // Protocol frames (model pushes go through push_model, shared across connections).
  void send_frame(ConnectionId id, Bytes frame) {
    c_bytes_round->inc(static_cast<double>(frame.size()));
    if (round) {
      if (auto it = connections.find(id); it != connections.end() && it->second.slot) {
        round->summary.bytes_down += frame.size();
      }
    }
    ports->send(id, std::move(frame));
  }
  void send_message(ConnectionId id, const protocol::Message& m, std::uint64_t round_number) {
    auto it = connections.find(id);
    if (it == connections.end()) return;
    auto frame = protocol::encode(m, it->second.token, round_number, ++it->second.seq_out);
    if (!frame) {
      log::error("encode failed", {{"type", std::string(protocol::message_type(m))}, {"error", frame.error().message()}});
      return;
    }
    send_frame(id, std::move(*frame));
  }
  void refuse(ConnectionId id, const Error& error, bool fatal, Clock::time_point now) {
    count_rejected(to_string(error.code));
    if (auto it = connections.find(id); it != connections.end() && !fatal && ++it->second.refusals > kMaxRefusals) {
      fatal = true;  // a device that keeps sending what we refuse costs us; it goes
    }
    log::warn("frame refused", {{"conn", std::to_string(id)},
                                {"device", connections.count(id) ? connections[id].device_id : ""},
                                {"error", error.message()},
                                {"fatal", fatal ? "true" : "false"}});
    send_message(id, protocol::ErrorMessage{std::string(to_string(error.code)), error.message(), fatal},
                 round ? round->number : next_round);
    if (fatal) {
      if (auto it = connections.find(id); it != connections.end()) it->second.closing = true;
      drop_slot_of(id, "closed after a fatal error", now);
      ports->close(id, std::string(to_string(error.code)));
    }
  }

  // secagg::SendToClients: the SecAgg server speaks to slots.
  void send(std::uint32_t slot, secagg::ServerMessage message) override {
    if (!round || slot == 0 || slot > round->slots.size()) return;
    Slot& s = round->slots[slot - 1];
    auto frame = secagg::encode_frame(message, round->number, 0);
    if (!frame) return;
    s.last_frame = *frame;
    if (s.connection) send_frame(*s.connection, std::move(*frame));
  }

  // -- model push: one frame per (kind, version), shared by every connection it goes to.
  // It carries no session token or sequence number (devices check neither on server frames).
  std::shared_ptr<const Bytes> model_frame(protocol::ModelKind kind) {
    std::shared_ptr<const Bytes>& cached = kind == protocol::ModelKind::delta ? delta_frame : full_frame;
    if (cached) return cached;
    protocol::ModelPush push;
    push.kind = kind;
    push.model_version = model.version;
    push.base_version = kind == protocol::ModelKind::delta ? model.version - 1 : 0;
    push.artifact = kind == protocol::ModelKind::delta ? *delta_artifact : full_artifact;
    auto frame = protocol::encode(push, SessionToken{}, next_round_number(), 0);
    if (!frame) {
      log::error("model push not encodable", {{"error", frame.error().message()}});
      return nullptr;
    }
    cached = std::make_shared<const Bytes>(std::move(*frame));
    return cached;
  }

  void push_model(ConnectionId id, Connection& c) {
    if (c.model_version == model.version) return;
    const bool delta = delta_artifact && c.model_version + 1 == model.version && c.model_version > 0;
    auto frame = model_frame(delta ? protocol::ModelKind::delta : protocol::ModelKind::full);
    if (!frame) return;
    c.model_version = model.version;
    c_bytes_model->inc(static_cast<double>(frame->size()));
    ports->send_shared(id, std::move(frame));
  }
  std::uint64_t next_round_number() const { return round ? round->number : next_round; }

  // -- frames
  void on_frame(ConnectionId id, ByteSpan bytes, Clock::time_point now) {
    auto it = connections.find(id);
    if (it == connections.end()) return;
    Connection& c = it->second;
    c_bytes_in->inc(static_cast<double>(bytes.size()));
    if (c.closing) return;  // refused or replaced: whatever it still sends is not read
    const DecodeLimits& limits = round ? round->limits : idle_limits;
    auto env = decode_envelope(bytes, limits);
    if (!env) return refuse(id, env.error(), true, now);
    if (env->seq <= c.last_seq) {
      return refuse(id, Error{ErrorCode::replayed, "sequence number " + std::to_string(env->seq) +
                                                       " is not above " + std::to_string(c.last_seq)},
                    false, now);
    }
    c.last_seq = env->seq;
    if (!c.hello) {
      if (env->type != protocol::kHello) {
        return refuse(id, Error{ErrorCode::out_of_order, "the first message must be fl.hello"}, true, now);
      }
      return on_hello(id, *env, now);
    }
    if (env->type == protocol::kHello) {
      return refuse(id, Error{ErrorCode::out_of_order, "fl.hello was already received"}, true, now);
    }
    if (!is_secagg_type(env->type)) {
      return refuse(id, Error{ErrorCode::unknown_type, "'" + env->type + "' is not accepted from devices"}, true, now);
    }
    if (!round || !c.slot) {
      return refuse(id, Error{ErrorCode::out_of_order, "not in a running round"}, false, now);
    }
    if (env->round < round->number) {
      return refuse(id, Error{ErrorCode::replayed, "message of round " + std::to_string(env->round) +
                                                       "; round " + std::to_string(round->number) + " is running"},
                    false, now);
    }
    if (env->round > round->number) {
      return refuse(id, Error{ErrorCode::out_of_order, "message for future round " + std::to_string(env->round)},
                    false, now);
    }
    auto msg = secagg::decode_client_message(env->type, env->body);
    if (!msg) return refuse(id, msg.error(), true, now);
    round->summary.bytes_up += bytes.size();
    round->secagg->handle(*c.slot, *msg);
    after_secagg_event(now);
  }

  void on_hello(ConnectionId id, const Envelope& env, Clock::time_point now) {
    auto decoded = protocol::decode(env);
    if (!decoded) return refuse(id, decoded.error(), true, now);
    const auto& hello = std::get<protocol::Hello>(*decoded);
    Connection& c = connections[id];
    if (hello.model_version > model.version) {
      return refuse(id, Error{ErrorCode::rollback, "the device holds model version " +
                                                       std::to_string(hello.model_version) + ", newer than the server's " +
                                                       std::to_string(model.version)},
                    true, now);
    }
    if (hello.model_version > 0 && hello.schema_hash && *hello.schema_hash != model.layout_hash()) {
      if (hello.model_version == model.version) {
        return refuse(id, Error{ErrorCode::schema_mismatch, "the device's model has another architecture"}, true, now);
      }
      c.model_version = 0;  // force a full model
    } else {
      c.model_version = hello.model_version;
    }
    c.hello = true;
    g_connected->inc();
    bool resumed = false;
    if (round) resumed = try_resume(id, c, env.session);
    if (!resumed) rng->fill(secagg::RngPurpose::session_nonce, c.token);
    send_message(id, protocol::Welcome{kServerName, model.version, next_round_number(), resumed},
                 next_round_number());
    log::info("device hello", {{"conn", std::to_string(id)},
                               {"device", c.device_id},
                               {"model_version", std::to_string(hello.model_version)},
                               {"resumed", resumed ? "true" : "false"}});
    if (!resumed) push_model(id, c);
    if (resumed) {
      Slot& s = round->slots[*c.slot - 1];
      if (!s.last_frame.empty()) send_frame(id, s.last_frame);
    }
  }

  bool try_resume(ConnectionId id, Connection& c, const SessionToken& token) {
    static const SessionToken zero{};
    if (token == zero) return false;
    for (std::size_t i = 0; i < round->slots.size(); ++i) {
      Slot& s = round->slots[i];
      if (c.closing || s.dropped || s.device_id != c.device_id || !constant_time_equal(s.token, token)) continue;
      if (s.connection && connections.count(*s.connection)) connections[*s.connection].slot.reset();
      s.connection = id;
      s.disconnected_at.reset();
      c.slot = static_cast<std::uint32_t>(i + 1);
      c.token = s.token;
      c.model_version = round->summary.model_version;  // it trained on the round's model
      return true;
    }
    return false;
  }

  void drop_slot_of(ConnectionId id, std::string_view why, Clock::time_point now) {
    auto it = connections.find(id);
    if (it == connections.end() || !round || !it->second.slot) return;
    Slot& s = round->slots[*it->second.slot - 1];
    s.connection.reset();
    if (!s.dropped) {
      s.dropped = true;
      log::info("slot dropped", {{"round", std::to_string(round->number)},
                                 {"slot", std::to_string(*it->second.slot)},
                                 {"device", s.device_id},
                                 {"why", std::string(why)}});
      round->secagg->on_disconnect(*it->second.slot);
    }
    it->second.slot.reset();
    after_secagg_event(now);  // the drop may end the stage, or the round
  }

  // -- rounds
  std::vector<ConnectionId> idle_ready() const {
    std::vector<ConnectionId> out;
    for (const auto& [id, c] : connections) {
      // Only a device's current connection counts: one certificate, one slot.
      auto current = device_connection.find(c.device_id);
      if (c.hello && !c.slot && !c.closing && c.model_version == model.version && current != device_connection.end() &&
          current->second == id) {
        out.push_back(id);
      }
    }
    return out;
  }

  std::uint32_t cohort_target() const {
    return static_cast<std::uint32_t>(
        std::ceil(settings.target_participants / (1.0 - settings.expected_dropout) - 1e-9));
  }

  void maybe_start_round(Clock::time_point now) {
    if (round || finished() || now < next_round_not_before) return;
    std::vector<ConnectionId> ready = idle_ready();
    if (ready.size() < settings.min_participants) {
      enough_since.reset();
      return;
    }
    if (!enough_since) enough_since = now;
    const std::uint32_t want = cohort_target();
    if (ready.size() < want && now - *enough_since < settings.selection_wait) return;
    // Uniform draw: Fisher–Yates with CSPRNG bytes.
    for (std::size_t i = ready.size(); i > 1; --i) {
      std::uint8_t b[8];
      rng->fill(secagg::RngPurpose::session_nonce, b);
      const std::size_t j = load_le64(b) % i;
      std::swap(ready[i - 1], ready[j]);
    }
    ready.resize(std::min<std::size_t>(ready.size(), want));
    std::sort(ready.begin(), ready.end());
    start_round(ready, now);
  }

  void start_round(const std::vector<ConnectionId>& cohort, Clock::time_point now) {
    const auto n = static_cast<std::uint32_t>(cohort.size());
    Round r;
    r.number = next_round;
    r.started = now;
    auto graph = secagg::find_graph_parameters(
        {n, settings.assumed_corrupt, settings.expected_dropout, settings.threat_model});
    if (!graph) {
      log::error("no SecAgg parameters for this cohort", {{"n", std::to_string(n)}, {"error", graph.error().message()}});
      next_round_not_before = now + settings.stage_deadline;
      return;
    }
    secagg::SessionParams& p = r.params;
    p.round = r.number;
    p.n = n;
    p.k = graph->k;
    p.t = graph->t;
    p.min_survivors = std::max(graph->t, std::min(settings.min_participants, n));
    p.input_bits = settings.input_bits;
    p.ring_bits = ring_bits_for(n, settings.input_bits);
    p.clip = settings.clip;
    p.vector_length = model.aggregate_length() + 1;
    p.mode = settings.threat_model;
    secagg::GraphSeed seed{};
    rng->fill(secagg::RngPurpose::graph_seed, seed);
    p.graph_commitment = secagg::commit_graph_seed(seed);
    rng->fill(secagg::RngPurpose::session_nonce, p.server_nonce);
    auto server = secagg::SecAggServer::create(p, seed, *this, *executor);
    if (!server) {
      log::error("SecAgg session refused", {{"error", server.error().message()}});
      next_round_not_before = now + settings.stage_deadline;
      return;
    }
    r.secagg = std::move(*server);
    r.limits.max_frame_bytes = 0;
    for (const std::string& type : client_secagg_types()) {
      const std::size_t bound = secagg::max_message_bytes(type, p);
      r.limits.max_bytes_by_type[type] = bound;
      r.limits.max_frame_bytes = std::max(r.limits.max_frame_bytes, bound);
    }
    r.limits.max_bytes_by_type[std::string(protocol::kHello)] = protocol::kMaxHelloBytes;
    // Frames of the previous round still in flight must be refused for their round, not for
    // their size: keep the larger bound of both rounds.
    for (const auto& [type, bound] : idle_limits.max_bytes_by_type) {
      auto& mine = r.limits.max_bytes_by_type[type];
      mine = std::max(mine, bound);
    }
    r.limits.max_frame_bytes = std::max(r.limits.max_frame_bytes, idle_limits.max_frame_bytes);
    r.summary.round = r.number;
    r.summary.selected = n;
    r.summary.model_version = model.version;
    r.stage_started = now;
    r.stage_deadline = now + settings.train_deadline;
    for (ConnectionId id : cohort) {
      Connection& c = connections[id];
      c.slot = static_cast<std::uint32_t>(r.slots.size() + 1);
      r.slots.push_back(Slot{c.device_id, c.token, id, std::nullopt, false, {}});
    }
    round = std::move(r);
    enough_since.reset();
    g_round->set(static_cast<double>(round->number));
    log::info("round started", {{"round", std::to_string(round->number)},
                                {"cohort", std::to_string(n)},
                                {"k", std::to_string(p.k)},
                                {"t", std::to_string(p.t)},
                                {"b", std::to_string(p.ring_bits)},
                                {"q", std::to_string(p.input_bits)},
                                {"m", std::to_string(p.vector_length)}});
    protocol::RoundPlan plan;
    plan.round = round->number;
    plan.model_version = model.version;
    plan.train = settings.train;
    plan.train.prox_mu = optimizer->client_prox_mu();
    plan.weight_cap = settings.weight_cap;
    plan.deadline_ms = static_cast<std::uint64_t>(settings.train_deadline.count());
    for (ConnectionId id : cohort) send_message(id, plan, round->number);
    round->secagg->start();
    after_secagg_event(now);
  }

  void after_secagg_event(Clock::time_point now) {
    if (!round) return;
    const secagg::ServerStage stage = round->secagg->stage();
    if (stage != round->stage) {
      round->summary.stage_seconds[std::string(secagg::to_string(round->stage))] +=
          seconds_between(round->stage_started, now);
      round->stage = stage;
      round->stage_started = now;
      round->stage_deadline = now + settings.stage_deadline;
    }
    if (round->secagg->completed() || round->secagg->aborted()) finish_round(now);
  }

  void finish_round(Clock::time_point now) {
    Round& r = *round;
    RoundSummary& s = r.summary;
    s.seconds = seconds_between(r.started, now);
    for (const secagg::DropRecord& d : r.secagg->drops()) {
      ++s.dropped_by_stage[std::string(secagg::to_string(d.stage))];
      metrics->counter("edgefed_dropouts_total", "Devices dropped from a round, by SecAgg stage",
                       {{"stage", std::string(secagg::to_string(d.stage))}})
          .inc();
    }
    // The round is over whatever its outcome; the checkpoint written below must say so.
    ++next_round;
    ++rounds_ended;
    if (r.secagg->completed()) {
      if (auto st = apply_aggregate(r); !st) {
        s.outcome = protocol::RoundOutcome::aborted;
        s.reason = st.error().message();
      } else {
        s.outcome = protocol::RoundOutcome::completed;
        s.participants = static_cast<std::uint32_t>(r.secagg->output().survivors.size());
      }
    } else {
      s.outcome = protocol::RoundOutcome::aborted;
      s.reason = r.secagg->abort_error() ? r.secagg->abort_error()->message() : "aborted";
    }
    s.model_version = model.version;
    if (s.outcome == protocol::RoundOutcome::aborted) {
      // The model did not change; persist the round counter so a restart does not repeat it.
      (void)persist_checkpoint();  // failure is logged and counted; the round has ended
    }
    metrics->counter("edgefed_rounds_total", "Rounds ended, by outcome",
                     {{"outcome", std::string(protocol::to_string(s.outcome))}})
        .inc();
    h_round_seconds->observe(s.seconds);
    if (s.outcome == protocol::RoundOutcome::completed) g_participants->set(s.participants);
    g_model_version->set(static_cast<double>(model.version));
    g_round->set(static_cast<double>(next_round));
    log::info("round ended", {{"round", std::to_string(s.round)},
                              {"outcome", std::string(protocol::to_string(s.outcome))},
                              {"participants", std::to_string(s.participants)},
                              {"selected", std::to_string(s.selected)},
                              {"model_version", std::to_string(model.version)},
                              {"seconds", std::to_string(s.seconds)},
                              {"reason", s.reason}});
    const protocol::RoundEnd end{s.round, s.outcome, model.version, s.participants, s.reason};
    std::vector<ConnectionId> cohort;
    for (const Slot& slot : r.slots) {
      if (slot.connection) cohort.push_back(*slot.connection);
    }
    for (auto& [id, c] : connections) c.slot.reset();
    RoundSummary summary = std::move(s);
    idle_limits = r.limits;  // stragglers' late SecAgg frames are refused by round, not by size
    round.reset();
    next_round_not_before = now + settings.pause_between_rounds;
    for (ConnectionId id : cohort) send_message(id, end, summary.round);
    for (auto& [id, c] : connections) {
      if (c.hello) push_model(id, c);
    }
    last_summary = summary;
    last_summary->mean_delta.clear();
    ports->round_finished(summary);
  }

  Status apply_aggregate(Round& r) {
    const secagg::AggregateOutput& out = r.secagg->output();
    const secagg::EncodingParams enc = secagg::encoding_params(r.params);
    std::vector<double> weighted(out.sum.size() - 1);
    EDGEFED_ASSIGN_OR_RETURN(double weight_sum, secagg::decode_sum(out.sum, enc, weighted));
    // Inputs are hidden, so check what the sum can be: every honest weight is in [0, 1].
    // A device that encodes a negative weight could otherwise shrink Σw towards 0 and blow the
    // mean (and the model) up.
    const double survivors = static_cast<double>(out.survivors.size());
    if (!(weight_sum > 0.5 / enc.weight_scale() && weight_sum <= survivors + 1e-9)) {
      return fail(ErrorCode::bad_value, "aggregate: weight sum " + std::to_string(weight_sum) + " is impossible for " +
                                            std::to_string(out.survivors.size()) + " devices");
    }
    EDGEFED_TRY(secagg::weighted_mean(weighted, weight_sum, weighted));
    std::vector<float> mean(weighted.size());
    for (std::size_t i = 0; i < weighted.size(); ++i) {
      // A weighted mean of clipped values lies within the clip range.
      mean[i] = static_cast<float>(std::clamp(weighted[i], -r.params.clip, r.params.clip));
    }
    std::vector<float> current = model.aggregate_values();
    std::vector<float> target(current.size());
    for (std::size_t i = 0; i < current.size(); ++i) target[i] = current[i] + residual[i];
    const ServerOptimizer::State optimizer_before = optimizer->state();
    EDGEFED_TRY(optimizer->apply(target, mean));
    // From here on, a failure must also undo the optimizer step.
    auto undo = [&](Error e) -> Status {
      (void)optimizer->restore(optimizer_before);
      return e;
    };
    std::vector<float> step(current.size());
    for (std::size_t i = 0; i < current.size(); ++i) step[i] = target[i] - current[i];
    auto delta = ml::write_delta_artifact(model, step, key);
    if (!delta) return undo(delta.error());
    ml::ModelView next = model;
    if (auto st = ml::apply_decoded_delta(next, delta->applied); !st) return undo(st.error());
    auto full = ml::write_full_artifact(next, key);
    if (!full) return undo(full.error());
    std::vector<float> next_residual(current.size());
    const std::vector<float> held = next.aggregate_values();
    for (std::size_t i = 0; i < current.size(); ++i) next_residual[i] = target[i] - held[i];
    // Commit: the checkpoint first, so a pushed model is always one a restart can serve.
    std::swap(model, next);
    std::swap(residual, next_residual);
    if (auto st = persist_checkpoint(); !st) {
      std::swap(model, next);
      std::swap(residual, next_residual);
      return undo(st.error());
    }
    full_artifact = std::move(*full);
    delta_artifact = std::move(delta->bytes);
    full_frame.reset();
    delta_frame.reset();
    r.summary.mean_delta = std::move(mean);
    return {};
  }

  Status persist_checkpoint() {
    Checkpoint c;
    c.next_round = next_round;
    c.model = model;
    c.residual = residual;
    c.optimizer = optimizer->state();
    auto st = ports->persist(c);
    if (!st) {
      metrics->counter("edgefed_checkpoint_failures_total", "Checkpoints that could not be written").inc();
      log::error("checkpoint failed", {{"error", st.error().message()}});
    }
    return st;
  }

  void tick(Clock::time_point now) {
    if (round) {
      for (std::size_t i = 0; round && i < round->slots.size(); ++i) {
        Slot& s = round->slots[i];
        if (!s.dropped && s.disconnected_at && now - *s.disconnected_at >= settings.resume_grace) {
          s.dropped = true;
          round->secagg->on_disconnect(static_cast<std::uint32_t>(i + 1));
          after_secagg_event(now);
        }
      }
      if (round && now >= round->stage_deadline) {
        log::info("stage deadline", {{"round", std::to_string(round->number)},
                                     {"stage", std::string(secagg::to_string(round->stage))}});
        round->secagg->on_deadline();
        after_secagg_event(now);
      }
    }
    maybe_start_round(now);
  }

  bool finished() const { return settings.max_rounds > 0 && rounds_ended >= settings.max_rounds; }
};

Result<std::unique_ptr<Coordinator>> Coordinator::create(RoundSettings settings, StrategyConfig strategy,
                                                         Checkpoint state, Ed25519SecretKey model_key,
                                                         secagg::Csprng& rng, secagg::Executor& executor,
                                                         CoordinatorPorts& ports, MetricsRegistry& metrics) {
  EDGEFED_TRY(settings.validate());
  EDGEFED_ASSIGN_OR_RETURN(ml::Tier tier, ml::parse_tier(settings.train.tier));
  if (tier != state.model.tier) {
    return fail(ErrorCode::invalid_argument, "the model state is for tier " + std::string(ml::to_string(state.model.tier)) +
                                                 ", the settings train " + settings.train.tier);
  }
  const std::size_t length = state.model.aggregate_length();
  if (length == 0) return fail(ErrorCode::invalid_argument, "tier " + settings.train.tier + " aggregates nothing");
  if (state.residual.empty()) state.residual.assign(length, 0.0f);
  if (state.residual.size() != length) return fail(ErrorCode::invalid_argument, "residual length does not match");
  auto impl = std::make_unique<Impl>(std::move(model_key));
  EDGEFED_ASSIGN_OR_RETURN(impl->optimizer, ServerOptimizer::create(strategy, length));
  if (state.optimizer.steps > 0 || !state.optimizer.m.empty()) EDGEFED_TRY(impl->optimizer->restore(state.optimizer));
  impl->settings = std::move(settings);
  impl->rng = &rng;
  impl->executor = &executor;
  impl->ports = &ports;
  impl->metrics = &metrics;
  impl->model = std::move(state.model);
  impl->residual = std::move(state.residual);
  impl->next_round = state.next_round;
  EDGEFED_ASSIGN_OR_RETURN(impl->full_artifact, ml::write_full_artifact(impl->model, impl->key));
  // Hold exactly what devices will decode from it (int8 per channel is not idempotent to the
  // last bit: encoding already-rounded weights again can move a scale by one ulp).
  EDGEFED_ASSIGN_OR_RETURN(ModelArtifact shipped,
                           read_artifact(impl->full_artifact, derive_public_key(impl->key)));
  EDGEFED_ASSIGN_OR_RETURN(ml::ModelView as_shipped, ml::view_from_full(shipped));
  impl->model.values = std::move(as_shipped.values);
  impl->idle_limits.max_frame_bytes = protocol::kMaxControlBytes;
  impl->idle_limits.max_bytes_by_type[std::string(protocol::kHello)] = protocol::kMaxHelloBytes;
  for (const std::string& type : client_secagg_types()) {
    impl->idle_limits.max_bytes_by_type[type] = protocol::kMaxControlBytes;
  }
  impl->init_metrics();
  return std::unique_ptr<Coordinator>(new Coordinator(std::move(impl)));
}

Coordinator::Coordinator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Coordinator::~Coordinator() = default;

void Coordinator::on_open(ConnectionId id, const std::string& device_id, Clock::time_point now) {
  Impl& m = *impl_;
  if (auto it = m.device_connection.find(device_id); it != m.device_connection.end() && it->second != id) {
    // One connection per device: the newer one wins (a device that reconnects after a
    // network change must not wait for the old socket to time out).
    if (auto old = m.connections.find(it->second); old != m.connections.end()) old->second.closing = true;
    m.drop_slot_of(it->second, "replaced by a newer connection", now);
    m.ports->close(it->second, "replaced by a newer connection of the same device");
  }
  m.device_connection[device_id] = id;
  m.connections[id].device_id = device_id;
}

void Coordinator::on_frame(ConnectionId id, ByteSpan frame, Clock::time_point now) {
  impl_->on_frame(id, frame, now);
}

void Coordinator::on_close(ConnectionId id, Clock::time_point now) {
  Impl& m = *impl_;
  auto it = m.connections.find(id);
  if (it == m.connections.end()) return;
  if (it->second.hello) m.g_connected->dec();
  if (m.round && it->second.slot) {
    Impl::Slot& s = m.round->slots[*it->second.slot - 1];
    if (s.connection == id) {
      s.connection.reset();
      s.disconnected_at = now;  // resume_grace starts
    }
  }
  if (auto d = m.device_connection.find(it->second.device_id); d != m.device_connection.end() && d->second == id) {
    m.device_connection.erase(d);
  }
  m.connections.erase(it);
}

void Coordinator::tick(Clock::time_point now) { impl_->tick(now); }
std::uint64_t Coordinator::model_version() const { return impl_->model.version; }
std::uint64_t Coordinator::current_round() const { return impl_->next_round_number(); }
bool Coordinator::round_running() const { return impl_->round.has_value(); }
bool Coordinator::finished() const { return impl_->finished(); }
const ml::ModelView& Coordinator::model() const { return impl_->model; }

nlohmann::json Coordinator::status() const {
  const Impl& m = *impl_;
  std::size_t ready = 0;
  for (const auto& [id, c] : m.connections) ready += c.hello ? 1 : 0;
  nlohmann::json j = {{"model_version", m.model.version},
                      {"round", m.next_round_number()},
                      {"round_running", m.round.has_value()},
                      {"rounds_ended", m.rounds_ended},
                      {"finished", m.finished()},
                      {"connected_devices", ready},
                      {"tier", ml::to_string(m.model.tier)},
                      {"aggregated_values", m.model.aggregate_length()}};
  if (m.round) {
    j["stage"] = secagg::to_string(m.round->stage);
    j["cohort"] = m.round->slots.size();
  }
  if (m.last_summary) {
    const RoundSummary& s = *m.last_summary;
    j["last_round"] = {{"round", s.round},
                       {"outcome", protocol::to_string(s.outcome)},
                       {"selected", s.selected},
                       {"participants", s.participants},
                       {"dropped_by_stage", s.dropped_by_stage},
                       {"seconds", s.seconds},
                       {"bytes_up", s.bytes_up},
                       {"bytes_down", s.bytes_down},
                       {"reason", s.reason}};
  }
  return j;
}

}  // namespace edgefed::server
