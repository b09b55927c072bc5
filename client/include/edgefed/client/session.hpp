// DeviceSession: a device's side of the federated-learning protocol, as a pure state machine.
//
// The same object runs inside `edgefed-client` (over TLS, see client.hpp) and inside the
// simulator (in-process, many per thread): it sees frames as bytes and reaches the world
// through two ports — `SessionPort` (send a frame, persist the device state) and `Learner`
// (train the model on the device's data). No sockets, threads, clocks or LibTorch here.
//
// What it guarantees:
//   - it never sends anything but fl.hello and SecAgg+ messages; the only model-derived
//     data leaving the device is the masked, quantized delta inside secagg.masked_input;
//   - a model is loaded only after read_artifact verified the server's signature, and only
//     if its version is above the highest the device has held (no rollback, also across
//     restarts: the highest version is persisted);
//   - *local* tensors (FedBN: BatchNorm) are the device's: a new global model replaces the
//     other tensors and keeps them;
//   - after a reconnect in the middle of a round it asks to resume (hello with the welcome
//     token) and re-sends its last SecAgg message; the server decides whether it may.
//
// Not thread-safe: serialise calls.
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/crypto.hpp"
#include "edgefed/common/parameter_set.hpp"
#include "edgefed/common/protocol.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/common/wire.hpp"
#include "edgefed/ml/exchange.hpp"
#include "edgefed/secagg/client.hpp"
#include "edgefed/secagg/csprng.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace edgefed::client {

// What one local training run produced.
struct LocalUpdate {
  std::vector<float> delta;     // aggregated tensors: new − global, flat in schema order
  ParameterSet local;           // new values of the *local* tensors (stay on the device)
  std::uint64_t examples = 0;   // training samples (the SecAgg weight derives from it)
};

// Trains the device's model on its data. `model` is the global model with the device's
// local tensors merged in.
class Learner {
 public:
  virtual ~Learner() = default;
  virtual Result<LocalUpdate> train(const ml::ModelView& model, const protocol::TrainPlan& plan,
                                    std::uint64_t round) = 0;
};

// What a device keeps across restarts.
struct DeviceState {
  std::uint64_t highest_version = 0;   // never goes down
  std::optional<ml::ModelView> model;  // global tensors + this device's local tensors
};
// A state file: one CBOR envelope ("device.state"), written atomically by the port.
// Errors for a truncated or foreign file: the codec's (bad_encoding, truncated, ...).
Result<Bytes> encode_device_state(const DeviceState& state);
Result<DeviceState> decode_device_state(ByteSpan bytes);

class SessionPort {
 public:
  virtual ~SessionPort() = default;
  virtual void send(Bytes frame) = 0;
  virtual Status persist(const DeviceState& state) = 0;
};

struct SessionOptions {
  Ed25519PublicKey model_key;          // the server's model signing key (trusted)
  secagg::ClientPolicy secagg_policy;
  std::string sdk = "edgefed-sdk/0.1";
  std::string device_class = "generic";
  std::size_t max_model_bytes = 64u << 20;
};

struct SessionStats {
  std::uint64_t rounds_completed = 0;  // rounds whose aggregate included this device
  std::uint64_t rounds_aborted = 0;    // rounds it was selected for that did not complete for it
  std::uint64_t frames_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t model_bytes_received = 0;
};

class DeviceSession {
 public:
  // `learner`, `rng` and `port` must outlive the session.
  DeviceSession(SessionOptions options, DeviceState state, Learner& learner, secagg::Csprng& rng,
                SessionPort& port);
  ~DeviceSession();

  // A new connection is up: sends fl.hello (asking to resume a round in progress). A lost
  // connection needs no call: the round, if any, is kept for the resume.
  void on_connected();
  // One frame from the server. An error means the connection should be closed: a frame
  // that does not decode, a model that fails verification, or a fatal fl.error.
  Status on_frame(ByteSpan frame);

  std::uint64_t model_version() const;
  const DeviceState& state() const { return state_; }
  const SessionStats& stats() const { return stats_; }
  // The fl.round_end of the last round this device took part in, once (then cleared).
  std::optional<protocol::RoundEnd> take_round_end();
  // Whether the round of the last take_round_end() included this device's update.
  bool last_round_included() const { return last_round_included_; }
  // Whether a round this device is in has not ended yet.
  bool in_round() const { return round_ != nullptr; }

 private:
  struct Round;
  class Outbox;
  Status on_model(const protocol::ModelPush& push);
  Status on_round(const protocol::RoundPlan& plan);
  Status on_secagg(ByteSpan frame, const Envelope& envelope);
  void send_frame(Bytes frame);
  void resend(ByteSpan frame);
  std::uint64_t next_seq() { return ++seq_; }
  void end_round(const protocol::RoundEnd& end);

  SessionOptions options_;
  DeviceState state_;
  Learner& learner_;
  secagg::Csprng& rng_;
  SessionPort& port_;
  SessionToken token_{};
  std::uint64_t seq_ = 0;
  std::unique_ptr<Round> round_;
  std::optional<protocol::RoundEnd> round_end_;
  bool last_round_included_ = false;
  SessionStats stats_;
};

}  // namespace edgefed::client
