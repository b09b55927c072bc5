// SecAggClient: one device's side of one SecAgg+ session, as a pure state machine.
//
// Lifecycle:
//   auto client = SecAggClient::create(config, input, rng, sender);   // input ready first:
//   client->handle(announce);   // → AdvertiseKeys                      devices train before
//   client->handle(neighbours); // → ShareKeys                          the session starts
//   client->handle(forwarded);  // → MaskedInput
//   [client->handle(survivors); // → SurvivorsSignature   (active mode)]
//   client->handle(unmask);     // → UnmaskResponse; completed()
//
// A repeat of the server message the client last acted on is ignored (retransmissions are
// harmless). Every other server message that is malformed, out of order, for another session, or that would
// make the client reveal what it must not (a neighbour list not derived from the committed
// graph, itself listed as dropped, fewer than t live neighbours, a bad signature...) moves the
// client to Aborted: it sends Abort with a short reason and ignores everything after. The
// Error (stage + cause) is kept in `abort_error()`. A client never throws.
//
// Secrets (key pairs, b_u, shares received) live only inside the state objects and are
// wiped when a state is left. `revealed()` lists, per peer, which kind of share this
// client has revealed — the SDK persists it so a restarted device never reveals the other
// kind for the same peer in the same session (the "ledger" that keeps a server from
// learning both secrets of one client).
//
// Not thread-safe; handle() calls must be serialised, and the sender must not re-enter.
#pragma once

#include "edgefed/common/crypto.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/secagg/csprng.hpp"
#include "edgefed/secagg/messages.hpp"
#include "edgefed/secagg/ports.hpp"

#include <map>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

namespace edgefed::secagg {

enum class ClientStage {
  awaiting_announce,
  awaiting_neighbour_keys,
  awaiting_forwarded_shares,
  awaiting_survivors,   // active mode
  awaiting_unmask,
  completed,
  aborted,
};
std::string_view to_string(ClientStage stage) noexcept;

// The device's local policy: what it accepts from any server, whatever the server says.
struct ClientPolicy {
  std::uint32_t min_cohort = 2;              // refuse smaller announced cohorts
  std::uint32_t min_neighbours = 1;          // refuse live neighbourhoods smaller than this
  bool allow_semi_honest = true;             // false: insist on active mode
  std::uint64_t max_vector_length = kMaxVectorLength;
  // What this device assumes about the fleet. When set, announced (k, t, min_survivors)
  // must pass validate_graph_parameters for these rates (params.hpp), so a server cannot
  // talk a device into a threshold its corrupt and dropped peers could beat.
  std::optional<double> assumed_corrupt_rate;
  std::optional<double> assumed_dropout_rate;
};

// Active mode: this device's long-term identity and its secret key.
struct ClientIdentity {
  Identity identity;
  Ed25519SecretKey secret;
};

// What the client contributes. Either float values with a weight (encoded to the ring
// with the announced clip/q/b, stochastic rounding; the weight becomes the last element),
// or ring elements already encoded (length must equal the announced vector_length).
struct FloatInput {
  std::vector<float> values;
  double weight = 1.0;  // in [0, 1]
};
struct RingInput {
  std::vector<std::uint64_t> elements;
};
using ClientInput = std::variant<FloatInput, RingInput>;

class ClientState;    // one per stage, internal
struct ClientContext;  // ports, policy, input and ledger, internal

class SecAggClient {
 public:
  // `rng`, `sender` and `verifier` must outlive the client. `verifier` and `identity` are
  // required only if the server announces active mode (the client aborts then otherwise).
  static std::unique_ptr<SecAggClient> create(ClientPolicy policy, ClientInput input, Csprng& rng,
                                              SendToServer& sender, const IdentityVerifier* verifier = nullptr,
                                              std::optional<ClientIdentity> identity = std::nullopt);
  ~SecAggClient();

  // Feeds one server message. Returns the Error if this message made the client abort.
  Status handle(const ServerMessage& message);
  // The current stage's deadline passed without the server's next message: abort.
  void on_deadline();
  // The caller gives up (e.g. the device goes offline deliberately): abort, tell the server.
  void abort(std::string reason);

  ClientStage stage() const;
  bool completed() const { return stage() == ClientStage::completed; }
  bool aborted() const { return stage() == ClientStage::aborted; }
  const std::optional<Error>& abort_error() const { return abort_error_; }
  std::optional<std::uint32_t> slot() const;
  const std::map<std::uint32_t, ShareKind>& revealed() const;

 private:
  SecAggClient() = default;
  Status abort_with(Error error);

  std::unique_ptr<ClientContext> ctx_;
  std::unique_ptr<ClientState> state_;
  SessionId sid_{};
  std::optional<std::size_t> last_handled_;  // ServerMessage alternative last acted on
  std::optional<Error> abort_error_;
};

}  // namespace edgefed::secagg
