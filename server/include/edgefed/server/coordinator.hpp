// Coordinator: the aggregation server's protocol logic as a pure state machine.
//
// It sees connections as ids and frames as bytes; the driver (server.hpp) feeds it the
// transport's events and the time, and carries out what it asks through CoordinatorPorts.
// No sockets, threads or clocks in here, so every path — a malformed frame, a replayed
// message, a device that vanishes after ShareKeys, a restart — is testable in-process.
//
// Per connection: the first frame must be fl.hello (else fl.error, closed). The hello says
// which model version the device holds; the coordinator answers fl.welcome and, if the
// device is behind, fl.model (a delta when it is exactly one version behind and the delta is
// at hand, else the full int8 model). A hello whose envelope.session carries the token of a
// live round slot of the same device (certificate CN) rebinds that slot to the new
// connection and re-sends the last SecAgg message of the slot: session resume.
//
// Rounds. When at least `min_participants` up-to-date devices are idle, and either the
// target cohort (target_participants over-selected by 1/(1 − expected_dropout)) is available
// or `selection_wait` has passed, the coordinator draws a cohort uniformly (CSPRNG), fixes
// SecAgg+ parameters (secure_agg/params.hpp for k, t; ring bits from the overflow budget),
// sends fl.round then drives secure_agg's server. Every stage has a deadline (training +
// AdvertiseKeys: train_deadline; the others: stage_deadline). A device whose connection
// drops keeps its slot for `resume_grace`, then counts as dropped. On completion the mean
// delta Σw·Δ / Σw goes through the server optimizer, the model advances one version (the
// step is quantized to int8 with error feedback, so devices and server hold the same
// model), the checkpoint is persisted, then fl.round_end goes to the cohort and the new
// model (delta) to every connected device. An aborted round changes nothing but the round
// number.
//
// Bad input from one device never affects the others: malformed or oversized frames and
// frames of a type not allowed in the connection's state → fl.error (fatal) and close, and
// its slot is dropped at once; a frame from an earlier round (replay) or with a sequence
// number not above the last one → fl.error (not fatal) and ignored; a SecAgg message with
// a wrong session id → secure_agg drops that client.
//
// Not thread-safe: the driver serialises every call.
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/crypto.hpp"
#include "edgefed/common/protocol.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/ml/exchange.hpp"
#include "edgefed/secagg/csprng.hpp"
#include "edgefed/secagg/ports.hpp"
#include "edgefed/secagg/session.hpp"
#include "edgefed/server/metrics.hpp"
#include "edgefed/server/strategy.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace edgefed::server {

using ConnectionId = std::uint64_t;
using Clock = std::chrono::steady_clock;

struct RoundSettings {
  std::uint32_t target_participants = 10;  // inputs wanted per round
  std::uint32_t min_participants = 3;      // fewer available: no round (and SecAgg's floor)
  double expected_dropout = 0.1;           // over-selection and SecAgg's δ
  double assumed_corrupt = 0.0;            // SecAgg's γ
  secagg::ThreatModel threat_model = secagg::ThreatModel::semi_honest;
  std::chrono::milliseconds selection_wait{3'000};
  std::chrono::milliseconds train_deadline{120'000};
  std::chrono::milliseconds stage_deadline{30'000};
  std::chrono::milliseconds resume_grace{5'000};
  std::chrono::milliseconds pause_between_rounds{0};
  std::uint64_t max_rounds = 0;            // 0: unlimited
  protocol::TrainPlan train;
  std::uint64_t weight_cap = 600;          // examples at which a device's weight saturates
  double clip = 0.1;                       // per-coordinate bound of a device's delta
  std::uint32_t input_bits = 16;           // q of the ring encoding

  // invalid_argument naming the field.
  Status validate() const;
};

// The server's durable state; persisted after every round, read back on restart.
struct Checkpoint {
  std::uint64_t next_round = 1;
  ml::ModelView model;
  std::vector<float> residual;  // error feedback of the int8 model step
  ServerOptimizer::State optimizer;
};

// Bytes of a checkpoint: one signed artifact (the model key), so a truncated or foreign file
// is refused like any model file.
Result<Bytes> encode_checkpoint(const Checkpoint& checkpoint, const Ed25519SecretKey& key);
Result<Checkpoint> decode_checkpoint(ByteSpan bytes, const Ed25519PublicKey& key);

// What one round did, for logs, metrics, tests and the evaluation hook.
struct RoundSummary {
  std::uint64_t round = 0;
  protocol::RoundOutcome outcome = protocol::RoundOutcome::aborted;
  std::string reason;                  // aborted: why
  std::uint32_t selected = 0;
  std::uint32_t participants = 0;      // inputs in the aggregate
  std::map<std::string, std::uint32_t> dropped_by_stage;
  std::uint64_t model_version = 0;     // after the round
  std::uint64_t bytes_up = 0;          // SecAgg frames from the cohort
  std::uint64_t bytes_down = 0;        // frames to the cohort, model pushes excluded
  double seconds = 0;
  std::map<std::string, double> stage_seconds;
  std::vector<float> mean_delta;       // decoded Σw·Δ / Σw (completed only)
};

class CoordinatorPorts {
 public:
  virtual ~CoordinatorPorts() = default;
  virtual void send(ConnectionId id, Bytes frame) = 0;
  // A frame shared by many connections (model pushes): must not be copied per connection.
  virtual void send_shared(ConnectionId id, std::shared_ptr<const Bytes> frame) = 0;
  virtual void close(ConnectionId id, std::string reason) = 0;
  // Must be durable when it returns ok; the new model is pushed only afterwards.
  virtual Status persist(const Checkpoint& checkpoint) = 0;
  virtual void round_finished(const RoundSummary& /*summary*/) {}
};

class Coordinator {
 public:
  // `rng`, `executor`, `ports`, `metrics` must outlive the coordinator. The model key signs
  // every artifact pushed. Errors: invalid_argument (settings, a checkpoint that does not
  // fit the settings' tier or the optimizer), the codec's errors.
  static Result<std::unique_ptr<Coordinator>> create(RoundSettings settings, StrategyConfig strategy,
                                                     Checkpoint state, Ed25519SecretKey model_key,
                                                     secagg::Csprng& rng, secagg::Executor& executor,
                                                     CoordinatorPorts& ports, MetricsRegistry& metrics);
  ~Coordinator();

  void on_open(ConnectionId id, const std::string& device_id, Clock::time_point now);
  void on_frame(ConnectionId id, ByteSpan frame, Clock::time_point now);
  void on_close(ConnectionId id, Clock::time_point now);
  // Deadlines, resume grace, starting rounds. Call often (e.g. every 50 ms).
  void tick(Clock::time_point now);

  std::uint64_t model_version() const;
  std::uint64_t current_round() const;  // the running round, or the next one when idle
  bool round_running() const;
  bool finished() const;                // max_rounds rounds have ended
  const ml::ModelView& model() const;
  nlohmann::json status() const;        // for /api/status

 private:
  struct Impl;
  explicit Coordinator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgefed::server
