// The test cases every SecAgg implementation must pass (research/secagg.md §6.8), run
// end to end through the in-process harness: real clients, real server, real wire codec.
// Every run also checks the ledger invariant (case 22).
#include "harness.hpp"

#include "edgefed/secagg/key_schedule.hpp"
#include "edgefed/secagg/params.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

using namespace edgefed;
using namespace edgefed::secagg;
using namespace edgefed::secagg::testing;

namespace {

HarnessOptions complete(std::uint32_t n, std::uint32_t t) {
  HarnessOptions o;
  o.n = n;
  o.k = n - 1;
  o.t = t;
  return o;
}

// Runs and checks what holds for every run: it settles, the ledger holds, and a completed
// session's output is exactly the ring sum of the inputs it names.
void run_and_check(Harness& h) {
  REQUIRE(h.run());
  CHECK(h.ledger_holds());
  CHECK(h.no_input_exposed());
  if (h.server().completed()) {
    const AggregateOutput& out = h.server().output();
    CHECK(out.sum == h.expected_sum(out.survivors));
    for (std::uint32_t u : out.survivors) CHECK(h.delivered_inputs().count(u));
  }
}

std::vector<std::uint32_t> all_but(std::uint32_t n, std::set<std::uint32_t> excluded) {
  std::vector<std::uint32_t> out;
  for (std::uint32_t u = 1; u <= n; ++u) {
    if (!excluded.count(u)) out.push_back(u);
  }
  return out;
}

bool dropped_for(const SecAggServer& s, std::uint32_t slot, ErrorCode code) {
  return std::any_of(s.drops().begin(), s.drops().end(),
                     [&](const DropRecord& d) { return d.slot == slot && d.cause.code == code; });
}

template <typename M, typename F>
auto when(F f) {
  return [f](std::uint32_t slot, auto& message) {
    if (auto* m = std::get_if<M>(&message)) f(slot, *m);
  };
}

}  // namespace

TEST_CASE("with everyone online the output is the exact sum of all inputs") {
  Harness h(complete(5, 3));
  run_and_check(h);
  REQUIRE(h.server().completed());
  CHECK(h.server().output().survivors == all_but(5, {}));
  for (std::uint32_t u = 1; u <= 5; ++u) CHECK(h.client(u).completed());
}

// ---- dropouts ------------------------------------------------------------------------

TEST_CASE("case 1: a client silent in AdvertiseKeys is excluded and the round continues") {
  Harness h(complete(5, 3));
  h.kill_after(3, 0);
  run_and_check(h);
  REQUIRE(h.server().completed());
  CHECK(h.server().output().survivors == all_but(5, {3}));
  CHECK(h.server().counts(ServerStage::advertise_keys).dropped == 1);
}

TEST_CASE("case 2: a client lost before ShareKeys is excluded and nothing is reconstructed for it") {
  Harness h(complete(5, 3));
  h.kill_after(3, 1);
  run_and_check(h);
  REQUIRE(h.server().completed());
  CHECK(h.server().output().survivors == all_but(5, {3}));
  CHECK(h.server().shares_received(3, ShareKind::mask_key) == 0);
  CHECK(h.server().shares_received(3, ShareKind::self_seed) == 0);
}

TEST_CASE("case 3: a client lost after ShareKeys has its pairwise masks removed via its mask key") {
  Harness h(complete(5, 3));
  h.kill_after(3, 2);
  run_and_check(h);
  REQUIRE(h.server().completed());
  CHECK(h.server().output().survivors == all_but(5, {3}));
  CHECK(h.server().shares_received(3, ShareKind::mask_key) >= 3);
  CHECK(h.server().shares_received(3, ShareKind::self_seed) == 0);
}

TEST_CASE("case 4: a client lost after its masked input is included via its self seed") {
  Harness h(complete(5, 3));
  h.kill_after(3, 3);
  run_and_check(h);
  REQUIRE(h.server().completed());
  CHECK(h.server().output().survivors == all_but(5, {}));
  CHECK(h.server().shares_received(3, ShareKind::self_seed) >= 3);
  CHECK(h.server().shares_received(3, ShareKind::mask_key) == 0);
}

TEST_CASE("case 4: a client whose connection closes right after its input was folded in stays in the sum") {
  Harness h(complete(5, 3));
  h.disconnect_after_input(2);
  run_and_check(h);
  REQUIRE(h.server().completed());
  CHECK(h.server().output().survivors == all_but(5, {}));
  CHECK(h.server().counts(ServerStage::masked_input).dropped == 1);
}

TEST_CASE("case 5 and 8: unmasking succeeds with exactly t responders and aborts with t - 1") {
  SECTION("t responders") {
    Harness h(complete(5, 3));
    h.kill_after(4, 3);
    h.kill_after(5, 3);
    run_and_check(h);
    REQUIRE(h.server().completed());
    CHECK(h.server().output().survivors == all_but(5, {}));
  }
  SECTION("t - 1 responders: abort, no secret reconstructed") {
    Harness h(complete(5, 3));
    for (std::uint32_t u : {3u, 4u, 5u}) h.kill_after(u, 3);
    run_and_check(h);
    REQUIRE(h.server().aborted());
    CHECK(h.server().output().sum.empty());
    for (std::uint32_t u = 1; u <= 5; ++u) CHECK(h.server().shares_received(u, ShareKind::self_seed) < 3);
    CHECK(h.server().abort_error()->detail.find("need 3") != std::string::npos);
  }
}

TEST_CASE("case 6: a masked input arriving after the survivor set is frozen is never added") {
  Harness h(complete(5, 3));
  h.set_filter([](Frame& f) {
    return f.to_server && f.slot == 2 && f.type == "secagg.masked_input" ? Verdict::delay : Verdict::deliver;
  });
  run_and_check(h);
  REQUIRE(h.server().completed());
  CHECK(h.server().output().survivors == all_but(5, {2}));
  CHECK(h.server().counts(ServerStage::unmasking).ignored >= 1);
}

TEST_CASE("case 7: several neighbours of one client drop in a SecAgg+ graph") {
  HarnessOptions o;
  o.n = 20;
  o.k = 8;
  o.t = 5;
  Harness h(o);
  std::vector<std::uint32_t> neighbours = h.graph().neighbours(1);
  for (std::size_t i = 0; i < 3; ++i) h.kill_after(neighbours[i], 2);  // after ShareKeys
  run_and_check(h);
  REQUIRE(h.server().completed());
  CHECK(h.server().output().survivors.size() == 17);
}

TEST_CASE("case 8: a client aborts when fewer than t holders shared keys with it") {
  Harness h(complete(5, 4));
  h.set_server_rewrite(when<ForwardShares>([](std::uint32_t slot, ForwardShares& m) {
    if (slot == 1) m.shares.resize(2);  // itself + 2 < t = 4
  }));
  run_and_check(h);
  CHECK(h.client(1).aborted());
  CHECK(h.client(1).abort_error()->detail.find("threshold") != std::string::npos);
  CHECK(h.client(1).revealed().empty());
}

// ---- thresholds and configuration ----------------------------------------------------

TEST_CASE("case 9: parameter validation refuses impossible configurations") {
  DeterministicCsprng rng(3);
  Digest32 seed{};
  SessionParams p = make_params(complete(10, 5), seed, rng);
  REQUIRE(validate(p));
  auto refused = [&](auto change, std::string_view needle) {
    SessionParams q = p;
    change(q);
    auto st = validate(q);
    REQUIRE_FALSE(st);
    CHECK(st.error().detail.find(needle) != std::string::npos);
  };
  refused([](SessionParams& q) { q.t = q.k + 2; }, "t = ");
  refused([](SessionParams& q) { q.t = 0; }, "t = ");
  refused([](SessionParams& q) { q.k = 5; }, "even");
  refused([](SessionParams& q) { q.mode = ThreatModel::active; q.t = 5; }, "2t > k + 1");
  refused([](SessionParams& q) { q.input_bits = 30; }, "overflow budget");
  refused([](SessionParams& q) { q.min_survivors = 2; }, "min_survivors");
  refused([](SessionParams& q) { q.vector_length = 0; }, "vector_length");
  refused([](SessionParams& q) { q.n = 1; }, "n = ");
  // The server refuses such parameters at creation, and a seed that does not open the commitment.
  struct NoSend : SendToClients {
    void send(std::uint32_t, ServerMessage) override {}
  } sink;
  Executor inline_executor;
  SessionParams bad = p;
  bad.t = 0;
  CHECK(SecAggServer::create(bad, seed, sink, inline_executor).error().code == ErrorCode::invalid_argument);
  Digest32 other_seed{};
  other_seed[0] = 1;
  CHECK_FALSE(SecAggServer::create(p, other_seed, sink, inline_executor));
}

TEST_CASE("a device refuses parameters too weak for the corrupt and dropout rates it assumes") {
  SECTION("a complete graph of 5 with t = 3 and 3 survivors is too weak for 5 % / 5 %") {
    HarnessOptions o = complete(5, 3);
    o.policy.assumed_corrupt_rate = 0.05;
    o.policy.assumed_dropout_rate = 0.05;
    Harness h(o);
    run_and_check(h);
    CHECK_FALSE(h.server().completed());
    CHECK(h.client(1).abort_error()->detail.find("too weak") != std::string::npos);
  }
  SECTION("the finder's own parameters for the same rates are accepted") {
    GraphParameterRequest req;
    req.n = 40;
    req.corrupt_rate = 0.05;
    req.dropout_rate = 0.05;
    const GraphParameters found = find_graph_parameters(req).value();
    HarnessOptions o;
    o.n = 40;
    o.k = found.k;
    o.t = found.t;
    o.min_survivors = min_clients_to_proceed(40, 0.05);
    o.policy.assumed_corrupt_rate = 0.05;
    o.policy.assumed_dropout_rate = 0.05;
    Harness h(o);
    run_and_check(h);
    CHECK(h.server().completed());
  }
}

// ---- malformed input -------------------------------------------------------------------

TEST_CASE("case 10: a tampered or truncated share ciphertext makes the receiver abort saying only that") {
  for (int variant = 0; variant < 3; ++variant) {
    Harness h(complete(5, 3));
    h.set_server_rewrite(when<ForwardShares>([variant](std::uint32_t slot, ForwardShares& m) {
      if (slot != 1) return;
      Bytes& ct = m.shares[0].ciphertext;
      if (variant == 0) ct[3] ^= 1;                // body
      if (variant == 1) ct.back() ^= 0x80;         // tag
      if (variant == 2) ct.resize(ct.size() - 5);  // truncated
    }));
    run_and_check(h);
    INFO("variant " << variant);
    REQUIRE(h.client(1).aborted());
    CHECK(h.client(1).abort_error()->code == ErrorCode::bad_signature);
    CHECK(h.client(1).abort_error()->detail.find("does not authenticate") != std::string::npos);
    CHECK(h.client(1).revealed().empty());
  }
}

TEST_CASE("case 11: a share with the wrong x, and a corrupted share, are caught") {
  SECTION("x not the sender's slot: the sender is dropped") {
    Harness h(complete(6, 3));
    h.set_client_rewrite(when<UnmaskResponse>([](std::uint32_t slot, UnmaskResponse& m) {
      if (slot == 2) m.shares[0].share.x = 3;
    }));
    run_and_check(h);
    REQUIRE(h.server().completed());
    CHECK(dropped_for(h.server(), 2, ErrorCode::bad_value));
  }
  SECTION("a corrupted share: another subset reconstructs the committed secret") {
    Harness h(complete(6, 3));
    h.set_client_rewrite(when<UnmaskResponse>([](std::uint32_t slot, UnmaskResponse& m) {
      if (slot == 1) {
        for (auto& s : m.shares) s.share.y[0] = (s.share.y[0] + 1) % ((std::uint64_t{1} << 61) - 1);
      }
    }));
    run_and_check(h);
    REQUIRE(h.server().completed());
    CHECK(h.server().output().survivors == all_but(6, {}));
  }
  SECTION("a share of the wrong length is refused by the decoder") {
    Bytes short_share(kShamirShareSize - 1, 1);
    CHECK(decode_share(short_share).error().code == ErrorCode::bad_length);
  }
}

TEST_CASE("case 12: invalid, duplicated, missing or altered keys in the broadcast make the client abort") {
  const auto run_with = [](auto mutate) {
    Harness h(complete(5, 3));
    h.set_server_rewrite(when<NeighbourKeys>([mutate](std::uint32_t slot, NeighbourKeys& m) {
      if (slot == 1) mutate(m);
    }));
    run_and_check(h);
    CHECK(h.client(1).aborted());
    CHECK(h.client(1).revealed().empty());
    return h.client(1).abort_error()->detail;
  };
  CHECK(run_with([](NeighbourKeys& m) { m.entries[1].enc_pk.bytes.fill(0); }).find("invalid key") != std::string::npos);
  CHECK(run_with([](NeighbourKeys& m) { m.entries[2].mask_pk = m.entries[1].mask_pk; }).find("repeats a public key") !=
        std::string::npos);
  CHECK(run_with([](NeighbourKeys& m) { m.entries.erase(m.entries.begin()); }).find("own keys missing") != std::string::npos);
  CHECK(run_with([](NeighbourKeys& m) { m.entries[0].mask_pk.bytes[5] ^= 1; }).find("own keys altered") != std::string::npos);
}

TEST_CASE("case 13: a masked vector of the wrong length is rejected and its sender treated as dropped") {
  Harness h(complete(5, 3));
  h.set_client_rewrite(when<MaskedInput>([](std::uint32_t slot, MaskedInput& m) {
    if (slot == 4) m.packed.pop_back();
  }));
  run_and_check(h);
  REQUIRE(h.server().completed());
  CHECK(h.server().output().survivors == all_but(5, {4}));
  CHECK(dropped_for(h.server(), 4, ErrorCode::bad_length));
}

// ---- replay and ordering ---------------------------------------------------------------

TEST_CASE("case 14: a message carrying another session id is rejected on both sides") {
  SECTION("at the server") {
    Harness h(complete(5, 3));
    h.set_client_rewrite(when<ShareKeys>([](std::uint32_t slot, ShareKeys& m) {
      if (slot == 2) m.sid[0] ^= 1;
    }));
    run_and_check(h);
    REQUIRE(h.server().completed());
    CHECK(dropped_for(h.server(), 2, ErrorCode::replayed));
    CHECK(h.server().output().survivors == all_but(5, {2}));
  }
  SECTION("at a client") {
    Harness h(complete(5, 3));
    h.set_server_rewrite(when<ForwardShares>([](std::uint32_t slot, ForwardShares& m) {
      if (slot == 1) m.sid[31] ^= 1;
    }));
    run_and_check(h);
    CHECK(h.client(1).abort_error()->code == ErrorCode::replayed);
  }
}

TEST_CASE("case 15: a duplicated message is ignored and counted once") {
  Harness h(complete(5, 3));
  h.set_filter([](Frame& f) {
    return f.to_server && f.slot == 2 && f.type == "secagg.share_keys" ? Verdict::duplicate : Verdict::deliver;
  });
  run_and_check(h);
  REQUIRE(h.server().completed());
  CHECK(h.server().output().survivors == all_but(5, {}));
  CHECK(h.server().counts(ServerStage::share_keys).answered == 5);
  // The copy lands in share_keys, or in masked_input if the original closed the stage.
  CHECK(h.server().counts(ServerStage::share_keys).ignored + h.server().counts(ServerStage::masked_input).ignored == 1);
}

TEST_CASE("case 16: a valid ciphertext re-addressed to another client fails authentication") {
  Harness h(complete(5, 3));
  h.set_client_rewrite(when<ShareKeys>([](std::uint32_t slot, ShareKeys& m) {
    if (slot == 2) std::swap(m.shares[0].ciphertext, m.shares[1].ciphertext);  // 2→1 and 2→3 swapped
  }));
  run_and_check(h);
  CHECK(h.client(1).abort_error()->code == ErrorCode::bad_signature);
  CHECK(h.client(3).abort_error()->code == ErrorCode::bad_signature);
}

TEST_CASE("case 17: a stage message out of order makes the client abort") {
  Harness h(complete(5, 3));
  h.set_server_rewrite([](std::uint32_t slot, ServerMessage& m) {
    if (slot == 1 && std::holds_alternative<ForwardShares>(m)) m = UnmaskRequest{session_of(m), {}, {}};
  });
  run_and_check(h);
  REQUIRE(h.client(1).aborted());
  CHECK(h.client(1).abort_error()->code == ErrorCode::out_of_order);
  CHECK(h.client(1).revealed().empty());
}

// ---- lying parties ---------------------------------------------------------------------

TEST_CASE("case 18: a client sending shares to a non-neighbour is dropped; the sum is still exact") {
  HarnessOptions o;
  o.n = 10;
  o.k = 4;
  o.t = 3;
  Harness h(o);
  std::uint32_t stranger = 0;
  for (std::uint32_t v = 2; v <= 10 && !stranger; ++v) {
    if (!h.graph().are_neighbours(1, v)) stranger = v;
  }
  REQUIRE(stranger != 0);
  h.set_client_rewrite(when<ShareKeys>([stranger](std::uint32_t slot, ShareKeys& m) {
    if (slot != 1) return;
    m.shares.push_back({stranger, m.shares[0].ciphertext});
    std::sort(m.shares.begin(), m.shares.end(), [](const auto& a, const auto& b) { return a.slot < b.slot; });
  }));
  run_and_check(h);
  REQUIRE(h.server().completed());
  CHECK(dropped_for(h.server(), 1, ErrorCode::bad_value));
  CHECK(h.server().output().survivors == all_but(10, {1}));
}

TEST_CASE("case 19: a neighbour list not derived from the committed graph makes the client abort") {
  HarnessOptions o;
  o.n = 10;
  o.k = 4;
  o.t = 3;
  const auto run_with = [&](auto mutate) {
    Harness h(o);
    std::uint32_t stranger = 0;
    for (std::uint32_t v = 2; v <= 10 && !stranger; ++v) {
      if (!h.graph().are_neighbours(1, v)) stranger = v;
    }
    h.set_server_rewrite(when<NeighbourKeys>([&, stranger](std::uint32_t slot, NeighbourKeys& m) {
      if (slot == 1) mutate(m, stranger);
    }));
    run_and_check(h);
    CHECK(h.client(1).aborted());
    return h.client(1).abort_error()->detail;
  };
  CHECK(run_with([](NeighbourKeys& m, std::uint32_t) { m.graph_seed[0] ^= 1; }).find("commitment") != std::string::npos);
  CHECK(run_with([](NeighbourKeys& m, std::uint32_t stranger) {
          NeighbourKeyEntry e = m.entries.back();
          e.slot = stranger;
          e.enc_pk.bytes[0] ^= 0x55;
          e.mask_pk.bytes[0] ^= 0x55;
          m.entries.push_back(e);
          std::sort(m.entries.begin(), m.entries.end(), [](const auto& a, const auto& b) { return a.slot < b.slot; });
        }).find("not a neighbour") != std::string::npos);
  CHECK(run_with([](NeighbourKeys& m, std::uint32_t) {
          auto self = std::find_if(m.entries.begin(), m.entries.end(), [](const auto& e) { return e.slot == 1; });
          NeighbourKeyEntry keep = *self;
          m.entries = {keep};
        }).find("threshold") != std::string::npos);
}

TEST_CASE("case 20: an unmask request listing itself, a repeat or a non-neighbour makes the client abort") {
  const auto run_with = [](auto mutate) {
    Harness h(complete(5, 3));
    h.set_server_rewrite(when<UnmaskRequest>([mutate](std::uint32_t slot, UnmaskRequest& m) {
      if (slot == 1) mutate(m);
    }));
    run_and_check(h);
    CHECK(h.client(1).aborted());
    CHECK(h.client(1).revealed().empty());
    return h.client(1).abort_error()->detail;
  };
  CHECK(run_with([](UnmaskRequest& m) { m.dropped = {1}; }).find("this client as dropped") != std::string::npos);
  CHECK(run_with([](UnmaskRequest& m) { m.dropped = {2, 2}; }).find("twice") != std::string::npos);
  CHECK(run_with([](UnmaskRequest& m) { m.dropped = {9}; }).find("not a neighbour") != std::string::npos);
  CHECK(run_with([](UnmaskRequest& m) { m.dropped = {2, 3, 4}; }).find("threshold") != std::string::npos);
}

TEST_CASE("case 21: active mode, a server showing different survivor sets is caught before anyone reveals") {
  HarnessOptions o = complete(5, 4);
  o.mode = ThreatModel::active;
  Harness h(o);
  // Slot 1 is shown a survivor set without slot 5; its signature over that set is then
  // forwarded to the others as if it covered theirs.
  std::optional<Ed25519Signature> forged_view_signature;
  h.set_server_rewrite([&](std::uint32_t slot, ServerMessage& m) {
    if (auto* view = std::get_if<SurvivorsView>(&m); view && slot == 1) view->bitmap[0] &= ~0x10;
    if (auto* req = std::get_if<UnmaskRequest>(&m); req && forged_view_signature && slot != 1) {
      req->signatures.insert(req->signatures.begin(), SlotSignature{1, *forged_view_signature});
    }
  });
  h.set_client_rewrite(when<SurvivorsSignature>([&](std::uint32_t slot, SurvivorsSignature& m) {
    if (slot == 1) forged_view_signature = m.signature;
  }));
  run_and_check(h);
  CHECK_FALSE(h.server().completed());
  for (std::uint32_t u = 1; u <= 5; ++u) CHECK(h.client(u).revealed().empty());
  CHECK(h.client(2).abort_error()->code == ErrorCode::bad_signature);
}

TEST_CASE("active mode: withholding a victim's shares and splitting the dropped lists unmasks nobody") {
  // A malicious server forwards to victim 1 only t − 1 neighbours' shares (W), shows everyone
  // the true survivor set, then names different members of W as dropped to different holders
  // to collect the mask keys of everyone the victim masked with, plus the victim's own seed.
  HarnessOptions o = complete(7, 4);
  o.mode = ThreatModel::active;
  Harness h(o);
  std::vector<std::uint32_t> w;
  h.set_server_rewrite([&](std::uint32_t slot, ServerMessage& m) {
    if (auto* f = std::get_if<ForwardShares>(&m); f && slot == 1) {
      f->shares.resize(3);  // t − 1 = 3 partners
      for (const auto& c : f->shares) w.push_back(c.slot);
    }
    if (auto* req = std::get_if<UnmaskRequest>(&m); req && slot != 1 && !w.empty()) {
      for (std::uint32_t partner : w) {
        if (partner != slot && req->dropped.size() < 2) req->dropped.push_back(partner);
      }
      std::sort(req->dropped.begin(), req->dropped.end());
      std::erase_if(req->signatures, [&](const SlotSignature& s) {
        return std::find(req->dropped.begin(), req->dropped.end(), s.slot) != req->dropped.end();
      });
    }
  });
  run_and_check(h);
  CHECK(h.no_input_exposed());
  CHECK(h.client(1).aborted());  // a survivor never forwarded it a share
  for (std::uint32_t u = 2; u <= 7; ++u) {
    INFO("slot " << u);
    CHECK(h.client(u).revealed().empty());  // the dropped lists contradict the signed set
  }
}

TEST_CASE("active mode with honest parties completes and binds keys to identities") {
  HarnessOptions o = complete(5, 4);
  o.mode = ThreatModel::active;
  Harness h(o);
  h.kill_after(5, 2);
  run_and_check(h);
  REQUIRE(h.server().completed());
  CHECK(h.server().output().survivors == all_but(5, {5}));
}

TEST_CASE("active mode: a key advertisement with a forged signature drops the client") {
  HarnessOptions o = complete(5, 4);
  o.mode = ThreatModel::active;
  Harness h(o);
  h.set_client_rewrite(when<AdvertiseKeys>([](std::uint32_t slot, AdvertiseKeys& m) {
    if (slot == 3) m.mask_pk.bytes[0] ^= 1;  // signature no longer covers the keys
  }));
  run_and_check(h);
  REQUIRE(h.server().completed());
  CHECK(dropped_for(h.server(), 3, ErrorCode::bad_signature));
}

// ---- "the server sees only the sum" ----------------------------------------------------

namespace {
// A curious server asks half of a victim's holders for its self seed and the other half for
// its mask key. Returns how many shares of each kind the honest clients revealed.
std::pair<std::uint32_t, std::uint32_t> curious_server_attack(std::uint32_t n, std::uint32_t t) {
  Harness h(complete(n, t));
  const std::uint32_t victim = 1;
  h.set_server_rewrite(when<UnmaskRequest>([&](std::uint32_t slot, UnmaskRequest& m) {
    if (slot != victim && slot % 2 == 0) m.dropped.push_back(victim);
    std::sort(m.dropped.begin(), m.dropped.end());
  }));
  REQUIRE(h.run());
  std::uint32_t seed = 0, mask = 0;
  for (std::uint32_t u = 1; u <= n; ++u) {
    auto it = h.client(u).revealed().find(victim);
    if (it == h.client(u).revealed().end()) continue;
    (it->second == ShareKind::self_seed ? seed : mask) += 1;
  }
  return {seed, mask};
}
}  // namespace

TEST_CASE("case 23: a curious server splitting the unmask requests cannot learn both secrets when 2t > k + 1") {
  // Counted from what the clients sent, not from what an honest server would accept.
  const auto [seed, mask] = curious_server_attack(7, 4);  // k + 1 = 7 holders, 2t = 8 > 7
  CHECK(seed + mask == 7);
  CHECK_FALSE((seed >= 4 && mask >= 4));
  // The same attack succeeds when the threshold is too low — the bound is what protects.
  const auto [seed_low, mask_low] = curious_server_attack(7, 3);
  CHECK((seed_low >= 3 && mask_low >= 3));
}

TEST_CASE("case 24: two input sets with the same sum give the same output and uniform-looking masked vectors") {
  HarnessOptions o = complete(4, 3);
  o.vector_length = 512;
  std::vector<std::vector<std::uint64_t>> masked_a;
  std::vector<std::uint64_t> out_a, out_b;
  for (int variant = 0; variant < 2; ++variant) {
    Harness h(o);
    // Variant 1 moves 1000 units from slot 1's input to slot 2's: same sum.
    std::vector<std::uint64_t> in1 = h.input(1), in2 = h.input(2);
    if (variant == 1) {
      for (auto& x : in1) x = (x - 1000) & 0xFFFFFFFFu;
      for (auto& x : in2) x = (x + 1000) & 0xFFFFFFFFu;
      h.set_input(1, in1);
      h.set_input(2, in2);
    }
    run_and_check(h);
    REQUIRE(h.server().completed());
    (variant == 0 ? out_a : out_b) = h.server().output().sum;
    if (variant == 0) {
      for (const Frame& f : h.transcript()) {
        if (f.type != "secagg.masked_input") continue;
        auto m = std::get<MaskedInput>(decode_client_frame(f.bytes).value());
        std::vector<std::uint64_t> values(m.packed.size() / 4);
        for (std::size_t i = 0; i < values.size(); ++i) {
          values[i] = ByteReader(ByteSpan(m.packed).subspan(4 * i, 4)).get<std::uint32_t>("v").value();
        }
        masked_a.push_back(values);
      }
    }
  }
  CHECK(out_a == out_b);
  // Each bit position of the masked words is set about half the time (4 × 512 words).
  REQUIRE(masked_a.size() == 4);
  for (int bit = 0; bit < 32; ++bit) {
    std::size_t ones = 0, total = 0;
    for (const auto& v : masked_a) {
      for (std::uint64_t x : v) ones += (x >> bit) & 1, ++total;
    }
    const double freq = static_cast<double>(ones) / static_cast<double>(total);
    CHECK(freq > 0.44);  // 2048 fair coins: ±0.06 is beyond 5 standard deviations
    CHECK(freq < 0.56);
  }
}

TEST_CASE("case 25: mask keys are 256-bit and seeds with equal 32-bit XOR folds give different masks") {
  static_assert(Secret32::kSize == 32);
  Secret32 a, b;
  for (std::size_t i = 0; i < 32; ++i) a.mutable_span()[i] = b.mutable_span()[i] = static_cast<std::uint8_t>(i * 13 + 1);
  // Flip the same bits in two different 4-byte words: a 32-bit XOR fold cannot tell them apart.
  for (std::size_t i : {0u, 4u}) b.mutable_span()[i] ^= 0x5A;
  MaskPrg prg = MaskPrg::create(PrgKind::aes256_ctr);
  std::vector<std::uint32_t> ma(64, 0), mb(64, 0);
  prg.add_mask(a, ma, false);
  prg.add_mask(b, mb, false);
  CHECK(ma != mb);
}

// ---- numerics --------------------------------------------------------------------------

TEST_CASE("case 26: float inputs aggregate to the weighted sum within the quantization bound") {
  const std::uint32_t n = 6;
  HarnessOptions o = complete(n, 4);
  o.vector_length = 33;  // 32 values + the weight coordinate
  o.input_bits = 16;
  Harness h(o);
  // Replace ring inputs by float inputs through a dedicated client set.
  std::vector<std::vector<float>> values(n + 1, std::vector<float>(32));
  std::vector<double> weights(n + 1);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.5f, 1.5f);  // some beyond the clip c = 1
  std::vector<double> expected(32, 0.0);
  double expected_weight = 0;
  for (std::uint32_t u = 1; u <= n; ++u) {
    for (float& v : values[u]) v = dist(rng);
    weights[u] = 0.25 + 0.125 * u;
    expected_weight += weights[u];
    for (std::size_t i = 0; i < 32; ++i) expected[i] += weights[u] * std::clamp(static_cast<double>(values[u][i]), -1.0, 1.0);
  }
  // Encode exactly as a client would, then feed the ring elements.
  const EncodingParams enc = encoding_params(h.params());
  for (std::uint32_t u = 1; u <= n; ++u) {
    DeterministicCsprng r(100 + u);
    std::vector<std::uint64_t> ring(33);
    REQUIRE(encode_update(values[u], weights[u], enc, r, ring));
    h.set_input(u, ring);
  }
  run_and_check(h);
  REQUIRE(h.server().completed());
  std::vector<double> weighted(32);
  auto weight = decode_sum(std::span<const std::uint64_t>(h.server().output().sum), enc, weighted);
  REQUIRE(weight);
  CHECK(*weight == Approx(expected_weight).margin(n * enc.step()));
  for (std::size_t i = 0; i < 32; ++i) CHECK(std::abs(weighted[i] - expected[i]) <= n * enc.step());
}

// ---- determinism, thread count, graphs -----------------------------------------------

TEST_CASE("the server's result does not depend on the number of repair workers") {
  std::vector<std::uint64_t> reference;
  for (auto [workers, threads] : {std::pair{1u, false}, {2u, false}, {3u, false}, {8u, false}, {4u, true}}) {
    HarnessOptions o;
    o.real_threads = threads;
    o.n = 12;
    o.k = 6;
    o.t = 4;
    o.server_workers = workers;
    Harness h(o);
    h.kill_after(2, 2);
    h.kill_after(7, 2);
    h.kill_after(9, 3);
    run_and_check(h);
    REQUIRE(h.server().completed());
    if (reference.empty()) reference = h.server().output().sum;
    CHECK(h.server().output().sum == reference);
  }
}

TEST_CASE("a ChaCha20 mask PRG and a 62-bit ring give exact sums too") {
  HarnessOptions o = complete(5, 3);
  o.prg = PrgKind::chacha20;
  o.ring_bits = 62;
  o.input_bits = 40;
  Harness h(o);
  h.kill_after(2, 2);
  run_and_check(h);
  REQUIRE(h.server().completed());
  CHECK(h.server().output().survivors == all_but(5, {2}));
}
