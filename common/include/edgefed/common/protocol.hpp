// The federated-learning messages around a SecAgg+ session (DESIGN §2, §3).
//
//   device                                   server
//   fl.hello     sdk, model version held,     →
//                schema hash, resume token
//                                            ← fl.welcome   server model version, round,
//                                                           session token (envelope.session)
//                                            ← fl.model     signed artifact: the whole int8 model
//                                                           (first join, or too far behind) or the
//                                                           trainable tensors' delta to the next version
//                                            ← fl.round     a round plan: model version, tier,
//                                                           training config, weight cap, deadline
//                                            ← secagg.*     SecAgg+ session (secure_agg/messages.hpp)
//   secagg.*                                 →
//                                            ← fl.round_end outcome and the new model version
//                                            ← fl.error     why a frame was refused; fatal → closed
//
// Every fl.* frame is one common Envelope; envelope.session carries the connection's session
// token (server → device) or the token being resumed (device → server, zero when new), and
// envelope.round the round the message belongs to. Bodies are decoded field by field with
// explicit bounds (FieldReader); nothing here trusts a length it has not checked.
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/crypto.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/common/wire.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace edgefed::protocol {

inline constexpr std::string_view kHello = "fl.hello";
inline constexpr std::string_view kWelcome = "fl.welcome";
inline constexpr std::string_view kModel = "fl.model";
inline constexpr std::string_view kRound = "fl.round";
inline constexpr std::string_view kRoundEnd = "fl.round_end";
inline constexpr std::string_view kError = "fl.error";

// Size bounds the receiver applies before parsing (DecodeLimits::max_bytes_by_type).
inline constexpr std::size_t kMaxHelloBytes = 4 * 1024;
inline constexpr std::size_t kMaxControlBytes = 16 * 1024;  // welcome, round, round_end, error

struct Hello {
  std::string sdk;                          // e.g. "edgefed-sdk/0.1"
  std::uint64_t model_version = 0;          // highest version held; 0 = none yet
  std::optional<Sha256Digest> schema_hash;  // of the model held (absent with version 0)
  std::string device_class;                 // informational: "cortex-a53-hub", ...
  bool operator==(const Hello&) const = default;
};

struct Welcome {
  std::string server;                       // e.g. "edgefed-server/0.1"
  std::uint64_t model_version = 0;          // the server's current global model
  std::uint64_t round = 0;                  // the round the server runs or will run next
  bool resumed = false;                     // the token in the hello rebound a live round slot
  bool operator==(const Welcome&) const = default;
};

enum class ModelKind : std::uint8_t { full = 1, delta = 2 };
std::string_view to_string(ModelKind kind) noexcept;

struct ModelPush {
  ModelKind kind = ModelKind::full;
  std::uint64_t base_version = 0;  // delta: the version it applies to; full: 0
  std::uint64_t model_version = 0; // what the device holds after applying it
  Bytes artifact;                  // signed ModelArtifact (common/artifact.hpp)
  bool operator==(const ModelPush&) const = default;
};

// How a device trains in a round. Mirrors ml::TrainConfig without depending on it.
struct TrainPlan {
  std::string tier = "adapters_bn";
  std::string optimizer = "sgd";
  double learning_rate = 0.05;
  double momentum = 0.0;
  std::uint32_t epochs = 1;
  std::uint32_t batch_size = 32;
  double prox_mu = 0.0;          // FedProx
  bool reestimate_batchnorm = true;
  bool operator==(const TrainPlan&) const = default;
};

struct RoundPlan {
  std::uint64_t round = 0;
  std::uint64_t model_version = 0;  // the model the delta must be computed against
  TrainPlan train;
  std::uint64_t weight_cap = 1;     // SecAgg weight w = min(examples, cap) / cap
  std::uint64_t deadline_ms = 0;    // for training + AdvertiseKeys, from receipt
  bool operator==(const RoundPlan&) const = default;
};

enum class RoundOutcome : std::uint8_t { completed = 1, aborted = 2, not_selected = 3 };
std::string_view to_string(RoundOutcome outcome) noexcept;

struct RoundEnd {
  std::uint64_t round = 0;
  RoundOutcome outcome = RoundOutcome::completed;
  std::uint64_t model_version = 0;  // the global model after the round
  std::uint32_t participants = 0;   // inputs in the aggregate (completed)
  std::string reason;               // aborted: why
  bool operator==(const RoundEnd&) const = default;
};

struct ErrorMessage {
  std::string code;     // edgefed ErrorCode name, e.g. "replayed"
  std::string message;  // human-readable, never secrets
  bool fatal = false;   // the sender closes the connection after it
  bool operator==(const ErrorMessage&) const = default;
};

using Message = std::variant<Hello, Welcome, ModelPush, RoundPlan, RoundEnd, ErrorMessage>;

std::string_view message_type(const Message& message) noexcept;

// One frame: Envelope{type, session, round, seq, body}.
Result<Bytes> encode(const Message& message, const SessionToken& session, std::uint64_t round,
                     std::uint64_t seq);

// An Envelope's body back into a typed message (the envelope must already be decoded with
// limits that bound its size). unknown_type for a type that is not fl.*; bad_* / missing_field
// naming the field otherwise. `max_artifact_bytes` bounds fl.model's artifact.
Result<Message> decode(const Envelope& envelope, std::size_t max_artifact_bytes = 64u << 20);

// True for the fl.* types above.
bool is_fl_type(std::string_view type) noexcept;

}  // namespace edgefed::protocol
