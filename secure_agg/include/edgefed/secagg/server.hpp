// SecAggServer: the server's side of one SecAgg+ session, as a pure state machine.
//
// Lifecycle:
//   auto server = SecAggServer::create(params, graph_seed, sender, executor).value();
//   server->start();                          // SessionAnnounce to slots 1..n
//   server->handle(slot, message);            // as messages arrive, in any order
//   server->on_deadline();                    // when the current stage's deadline passes
//   server->on_disconnect(slot);              // when a client's connection is gone
//   if (server->completed()) use(server->output());
//
// A stage ends when every expected client has answered or when on_deadline() is called,
// whichever comes first; the driver owns the clock. The server folds each masked input into
// one accumulator as it arrives (memory O(m), independent of n), freezes the survivor set at
// the masked-input deadline (a late input is refused, never added), and after unmasking
// removes the survivors' self masks and the dropped clients' pairwise masks on `executor`,
// with a result independent of the number of workers.
//
// Misbehaving clients are data, not errors: a malformed, duplicated, misaddressed or
// out-of-order message drops (or, for harmless duplicates, is ignored for) that client only,
// with a DropRecord naming stage, slot and cause; the session continues while enough clients
// remain and otherwise aborts, telling every live client. The server never reconstructs both
// secrets of one client: it asks each holder for exactly one kind per peer, determined by
// the frozen survivor set.
//
// Not thread-safe: serialise calls (one strand). The executor may run tasks in parallel.
#pragma once

#include "edgefed/common/result.hpp"
#include "edgefed/secagg/messages.hpp"
#include "edgefed/secagg/ports.hpp"
#include "edgefed/secagg/session.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace edgefed::secagg {

enum class ServerStage {
  advertise_keys,
  share_keys,
  masked_input,
  consistency_check,  // active mode
  unmasking,
  completed,
  aborted,
};
std::string_view to_string(ServerStage stage) noexcept;

// A client dropped (silent, disconnected, malformed), or a holder blamed for a share that
// did not reconstruct its owner's committed secret (the session then went on without it).
struct DropRecord {
  std::uint32_t slot;
  ServerStage stage;
  Error cause;  // e.g. bad_value "share keys: ciphertext for slot 7, not a live neighbour"
};

struct AggregateOutput {
  std::vector<std::uint64_t> sum;      // Σ inputs of the survivors, mod 2^b
  std::vector<std::uint32_t> survivors;  // slots whose input is in the sum, ascending
};

// Counts per stage, for metrics and tests.
struct StageCounts {
  std::uint32_t entered = 0;    // clients alive when the stage began
  std::uint32_t answered = 0;   // valid messages accepted
  std::uint32_t dropped = 0;    // dropped during the stage (silent, disconnected, malformed)
  std::uint32_t ignored = 0;    // duplicates and late messages ignored
};

class ServerCore;  // internal

class SecAggServer {
 public:
  // `graph_seed` must open params.graph_commitment. `sender`, `executor` (and `verifier` in
  // active mode) must outlive the server. Errors: invalid_argument for bad params or seed.
  static Result<std::unique_ptr<SecAggServer>> create(const SessionParams& params, const Digest32& graph_seed,
                                                      SendToClients& sender, Executor& executor,
                                                      const IdentityVerifier* verifier = nullptr);
  ~SecAggServer();

  void start();
  void handle(std::uint32_t slot, const ClientMessage& message);
  void on_deadline();
  void on_disconnect(std::uint32_t slot);

  ServerStage stage() const;
  bool completed() const { return stage() == ServerStage::completed; }
  bool aborted() const { return stage() == ServerStage::aborted; }
  const SessionId& session_id() const;
  // Valid once completed().
  const AggregateOutput& output() const;
  // Why the session aborted (valid once aborted()).
  const std::optional<Error>& abort_error() const;
  const std::vector<DropRecord>& drops() const;
  StageCounts counts(ServerStage stage) const;
  // Shares the server received so far, per owner: how many of each kind (for the ledger
  // invariant: never ≥ t of both kinds for one owner).
  std::uint32_t shares_received(std::uint32_t owner, ShareKind kind) const;
  // Keystream bytes generated to remove masks (for the PRG-floor benchmark).
  std::uint64_t keystream_bytes() const;

 private:
  explicit SecAggServer(std::unique_ptr<ServerCore> core);
  std::unique_ptr<ServerCore> core_;
};

}  // namespace edgefed::secagg
