// In-process SecAgg+ network for tests: one SecAggServer, n SecAggClients, every message
// serialised through the real wire codec (common Envelope + CBOR body) and delivered by a
// deterministic scheduler that a test can make drop, delay, duplicate, reorder or mutate.
//
// Time is explicit: when no message is in flight, the harness fires the server's current
// stage deadline (clients that died stay silent). run() returns when the server completes or
// aborts. After every run, check_ledger() verifies the invariant of spec case 22: for no
// client did the server receive t or more shares of both its self seed and its mask key.
#pragma once

#include "edgefed/common/wire.hpp"
#include "edgefed/secagg/client.hpp"
#include "edgefed/secagg/csprng.hpp"
#include "edgefed/secagg/graph.hpp"
#include "edgefed/secagg/server.hpp"
#include "edgefed/secagg/thread_pool.hpp"

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace edgefed::secagg::testing {

// One message in flight, as bytes on the wire.
struct Frame {
  bool to_server = false;
  std::uint32_t slot = 0;  // sender (to_server) or receiver
  std::string type;
  Bytes bytes;
  bool late = false;  // released after a deadline; the filter does not see it again
};

// delay: hold the frame until the server's next stage deadline has fired (a late arrival).
enum class Verdict { deliver, drop, duplicate, delay };

struct HarnessOptions {
  std::uint32_t n = 5;
  std::uint32_t k = 4;           // n − 1: complete graph
  std::uint32_t t = 3;
  std::uint32_t min_survivors = 0;  // 0: = t
  std::uint32_t ring_bits = 32;
  std::uint32_t input_bits = 16;
  std::uint64_t vector_length = 16;
  ThreatModel mode = ThreatModel::semi_honest;
  PrgKind prg = PrgKind::aes256_ctr;
  std::uint64_t seed = 1;
  std::size_t server_workers = 1;
  bool real_threads = false;  // ThreadPoolExecutor instead of the inline round-robin one
  ClientPolicy policy;        // every client's local policy
};

// Runs executor tasks on `workers` logical workers (inline, interleaved round-robin), so a
// test can show the result does not depend on the worker count.
class RoundRobinExecutor final : public Executor {
 public:
  explicit RoundRobinExecutor(std::size_t workers) : workers_(workers) {}
  std::size_t workers() const override { return workers_; }
  void run(std::size_t count, const std::function<void(std::size_t, std::size_t)>& task) override {
    for (std::size_t i = 0; i < count; ++i) task(i, i % workers_);
  }

 private:
  std::size_t workers_;
};

// Test CA for active mode: a certificate is the CA's Ed25519 signature over
// "edgefed/v1/identity" ‖ slot ‖ identity key.
class TestIdentityAuthority final : public IdentityVerifier {
 public:
  TestIdentityAuthority();
  ClientIdentity issue(std::uint32_t slot, Csprng& rng) const;
  bool verify(std::uint32_t slot, const Identity& identity) const override;

 private:
  explicit TestIdentityAuthority(Ed25519KeyPair ca);
  Ed25519SecretKey ca_secret_;
  Ed25519PublicKey ca_public_;
};

class Harness {
 public:
  explicit Harness(HarnessOptions options);
  ~Harness();

  const SessionParams& params() const { return params_; }
  const std::vector<std::uint64_t>& input(std::uint32_t slot) const { return inputs_.at(slot); }
  SecAggServer& server() { return *server_; }
  SecAggClient& client(std::uint32_t slot) { return *clients_.at(slot); }
  const NeighbourGraph& graph() const { return *graph_; }

  // Client `slot` goes silent (and its connection closes) after it has sent `messages`
  // messages: 0 = never advertises, 1 = after AdvertiseKeys, 2 = after ShareKeys, ...
  void kill_after(std::uint32_t slot, int messages) { kill_after_[slot] = messages; }
  // Called for every frame before delivery; may mutate the bytes.
  void set_filter(std::function<Verdict(Frame&)> filter) { filter_ = std::move(filter); }
  // Replaces the server's sender: a test double may rewrite what the server sends.
  void set_server_rewrite(std::function<void(std::uint32_t slot, ServerMessage&)> rewrite) { rewrite_ = std::move(rewrite); }
  // Lets a test rewrite what a client sends (a lying or broken client).
  void set_client_rewrite(std::function<void(std::uint32_t slot, ClientMessage&)> rewrite) {
    client_rewrite_ = std::move(rewrite);
  }
  // Replaces a client's ring input (before run()).
  void set_input(std::uint32_t slot, std::vector<std::uint64_t> input);
  // Delivery order: FIFO (default) or a seeded random shuffle of what is in flight.
  void shuffle_delivery(std::uint64_t seed) { shuffle_ = std::mt19937_64(seed); }

  // Runs to completion or abort. Returns false if it did not settle in `max_steps`.
  bool run(std::size_t max_steps = 1'000'000);

  // Σ inputs of `slots` mod 2^b.
  std::vector<std::uint64_t> expected_sum(const std::vector<std::uint32_t>& slots) const;
  // Slots whose MaskedInput frame reached the server.
  const std::set<std::uint32_t>& delivered_inputs() const { return delivered_inputs_; }
  // Case 22, from what clients actually sent (every UnmaskResponse in the transcript, whether
  // the server accepted it or not): for no client were t or more shares of both its self
  // seed and its mask key revealed.
  bool ledger_holds() const;
  // The stronger property the ledger serves: for no client u that sent a masked input could
  // the server unmask it alone — that needs t shares of b_u and, for every partner u masked
  // with (the senders of its ForwardShares), t shares of that partner's mask key.
  bool no_input_exposed() const;
  // Client `slot`'s connection closes right after the server accepted its masked input
  // (during the masked-input stage).
  void disconnect_after_input(std::uint32_t slot) { disconnect_after_input_.insert(slot); }
  // Every frame sent, in order (for golden transcripts).
  const std::vector<Frame>& transcript() const { return transcript_; }

 private:
  class ToServer;
  class ToClients;
  void enqueue(Frame frame);
  void make_client(std::uint32_t slot);
  void deliver(Frame& frame);
  bool alive(std::uint32_t slot) const;

  HarnessOptions options_;
  SessionParams params_;
  Digest32 graph_seed_{};
  std::optional<NeighbourGraph> graph_;
  DeterministicCsprng server_rng_;
  std::vector<std::unique_ptr<DeterministicCsprng>> client_rngs_;
  std::map<std::uint32_t, std::vector<std::uint64_t>> inputs_;
  std::unique_ptr<TestIdentityAuthority> authority_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<ToClients> to_clients_;
  std::vector<std::unique_ptr<ToServer>> to_server_;
  std::unique_ptr<SecAggServer> server_;
  std::map<std::uint32_t, std::unique_ptr<SecAggClient>> clients_;
  std::map<std::uint32_t, int> kill_after_;
  std::map<std::uint32_t, int> sent_;
  std::set<std::uint32_t> disconnected_;
  std::function<Verdict(Frame&)> filter_;
  std::function<void(std::uint32_t, ServerMessage&)> rewrite_;
  std::function<void(std::uint32_t, ClientMessage&)> client_rewrite_;
  std::vector<Frame> held_;
  std::optional<std::mt19937_64> shuffle_;
  std::deque<Frame> queue_;
  std::vector<Frame> transcript_;
  std::set<std::uint32_t> delivered_inputs_;
  std::set<std::uint32_t> disconnect_after_input_;
  // Distinct holders that revealed a share of (owner, kind), per the transcript.
  std::map<std::pair<std::uint32_t, ShareKind>, std::set<std::uint32_t>> revealed() const;
};

// SessionParams with a graph commitment for `graph_seed` and the given shape.
SessionParams make_params(const HarnessOptions& options, const Digest32& graph_seed, Csprng& rng);

}  // namespace edgefed::secagg::testing
