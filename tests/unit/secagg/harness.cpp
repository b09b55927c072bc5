#include "harness.hpp"

#include <algorithm>
#include <cassert>

namespace edgefed::secagg::testing {

namespace {

Bytes identity_statement(std::uint32_t slot, const Ed25519PublicKey& key) {
  Bytes out;
  ByteWriter w(out);
  w.put_bytes(as_bytes("edgefed/v1/identity"));
  w.put(slot);
  w.put_bytes(key.bytes);
  return out;
}

}  // namespace

// ---- test CA ---------------------------------------------------------------------------

TestIdentityAuthority::TestIdentityAuthority() : TestIdentityAuthority(generate_ed25519()) {}

TestIdentityAuthority::TestIdentityAuthority(Ed25519KeyPair ca)
    : ca_secret_(std::move(ca.secret_key)), ca_public_(ca.public_key) {}

ClientIdentity TestIdentityAuthority::issue(std::uint32_t slot, Csprng& rng) const {
  Secret32 seed = rng.next_secret32(RngPurpose::key_generation);
  Ed25519SecretKey secret = Ed25519SecretKey::from_seed(seed.span()).value();
  const Ed25519PublicKey pub = derive_public_key(secret);
  const Ed25519Signature cert = sign(ca_secret_, identity_statement(slot, pub));
  return ClientIdentity{Identity{pub, Bytes(cert.bytes.begin(), cert.bytes.end())}, std::move(secret)};
}

bool TestIdentityAuthority::verify(std::uint32_t slot, const Identity& identity) const {
  auto sig = Ed25519Signature::from_bytes(identity.certificate);
  return sig && edgefed::verify(ca_public_, identity_statement(slot, identity.key), *sig);
}

// ---- ports -----------------------------------------------------------------------------

class Harness::ToServer final : public SendToServer {
 public:
  ToServer(Harness& h, std::uint32_t slot) : h_(h), slot_(slot) {}
  void send(ClientMessage m) override {
    if (h_.client_rewrite_) h_.client_rewrite_(slot_, m);
    h_.enqueue(Frame{true, slot_, std::string(message_type(m)), encode_frame(m, 0, h_.sent_[slot_]).value()});
  }

 private:
  Harness& h_;
  std::uint32_t slot_;
};

class Harness::ToClients final : public SendToClients {
 public:
  explicit ToClients(Harness& h) : h_(h) {}
  void send(std::uint32_t slot, ServerMessage m) override {
    if (h_.rewrite_) h_.rewrite_(slot, m);
    h_.enqueue(Frame{false, slot, std::string(message_type(m)), encode_frame(m).value()});
  }

 private:
  Harness& h_;
};

// ---- harness ---------------------------------------------------------------------------

SessionParams make_params(const HarnessOptions& o, const Digest32& graph_seed, Csprng& rng) {
  SessionParams p;
  p.round = 7;
  p.n = o.n;
  p.k = o.k;
  p.t = o.t;
  p.min_survivors = o.min_survivors ? o.min_survivors : o.t;
  p.ring_bits = o.ring_bits;
  p.input_bits = o.input_bits;
  p.clip = 1.0;
  p.vector_length = o.vector_length;
  p.prg = o.prg;
  p.mode = o.mode;
  p.graph_commitment = commit_graph_seed(graph_seed);
  rng.fill(RngPurpose::session_nonce, p.server_nonce);
  return p;
}

Harness::Harness(HarnessOptions options)
    : options_(options), server_rng_(options.seed) {
  if (options_.real_threads) executor_ = std::make_unique<ThreadPoolExecutor>(options_.server_workers);
  else executor_ = std::make_unique<RoundRobinExecutor>(options_.server_workers);
  server_rng_.fill(RngPurpose::graph_seed, graph_seed_);
  params_ = make_params(options_, graph_seed_, server_rng_);
  graph_ = NeighbourGraph::create(params_.n, params_.k, graph_seed_).value();
  if (options_.mode == ThreatModel::active) authority_ = std::make_unique<TestIdentityAuthority>();
  to_clients_ = std::make_unique<ToClients>(*this);
  server_ = SecAggServer::create(params_, graph_seed_, *to_clients_, *executor_, authority_.get()).value();
  std::mt19937_64 input_rng(options_.seed * 7919 + 1);
  const std::uint64_t mask = RingSpec{params_.ring_bits}.mask();
  client_rngs_.resize(params_.n + 1);
  to_server_.resize(params_.n + 1);
  for (std::uint32_t u = 1; u <= params_.n; ++u) {
    client_rngs_[u] = std::make_unique<DeterministicCsprng>(options_.seed * 1000003 + u);
    std::vector<std::uint64_t> input(params_.vector_length);
    for (auto& x : input) x = input_rng() & mask;
    inputs_[u] = input;
    to_server_[u] = std::make_unique<ToServer>(*this, u);
    make_client(u);
  }
}

void Harness::make_client(std::uint32_t u) {
  std::optional<ClientIdentity> identity;
  if (authority_) identity = authority_->issue(u, *client_rngs_[u]);
  clients_[u] = SecAggClient::create(options_.policy, RingInput{inputs_[u]}, *client_rngs_[u], *to_server_[u],
                                     authority_.get(), std::move(identity));
}

void Harness::set_input(std::uint32_t slot, std::vector<std::uint64_t> input) {
  assert(input.size() == params_.vector_length);
  inputs_[slot] = std::move(input);
  client_rngs_[slot] = std::make_unique<DeterministicCsprng>(options_.seed * 1000003 + slot);
  make_client(slot);
}

Harness::~Harness() = default;

bool Harness::alive(std::uint32_t slot) const { return !disconnected_.count(slot); }

void Harness::enqueue(Frame frame) {
  if (frame.to_server) {
    const std::uint32_t u = frame.slot;
    if (!alive(u)) return;
    auto limit = kill_after_.find(u);
    if (limit != kill_after_.end() && sent_[u] >= limit->second) {
      disconnected_.insert(u);
      return;
    }
    ++sent_[u];
  }
  transcript_.push_back(frame);
  queue_.push_back(std::move(frame));
}

void Harness::deliver(Frame& f) {
  if (f.to_server) {
    if (!alive(f.slot)) return;
    auto m = decode_client_frame(f.bytes);
    if (!m) return server_->on_disconnect(f.slot);  // the transport closes a connection on garbage
    const bool input_now = std::holds_alternative<MaskedInput>(*m) && server_->stage() == ServerStage::masked_input;
    if (input_now) delivered_inputs_.insert(f.slot);
    server_->handle(f.slot, *m);
    if (input_now && disconnect_after_input_.count(f.slot) && server_->stage() == ServerStage::masked_input) {
      disconnected_.insert(f.slot);
      server_->on_disconnect(f.slot);
    }
  } else {
    if (!alive(f.slot)) return;
    auto m = decode_server_frame(f.bytes);
    if (!m) return clients_[f.slot]->abort("undecodable frame");
    (void)clients_[f.slot]->handle(*m);
  }
}

bool Harness::run(std::size_t max_steps) {
  server_->start();
  for (std::size_t step = 0; step < max_steps; ++step) {
    if (server_->completed() || server_->aborted()) {
      // Let the last messages (e.g. Abort) reach the clients.
      while (!queue_.empty()) {
        Frame f = std::move(queue_.front());
        queue_.pop_front();
        if (!f.to_server) deliver(f);
      }
      return true;
    }
    if (queue_.empty()) {
      server_->on_deadline();
      for (Frame& late : held_) {
        late.late = true;
        queue_.push_back(std::move(late));
      }
      held_.clear();
      continue;
    }
    if (shuffle_) std::swap(queue_.front(), queue_[(*shuffle_)() % queue_.size()]);
    Frame f = std::move(queue_.front());
    queue_.pop_front();
    const Verdict v = filter_ && !f.late ? filter_(f) : Verdict::deliver;
    if (v == Verdict::drop) continue;
    if (v == Verdict::delay) {
      held_.push_back(std::move(f));
      continue;
    }
    if (v == Verdict::duplicate) {
      Frame copy = f;
      deliver(copy);
    }
    deliver(f);
  }
  return false;
}

std::vector<std::uint64_t> Harness::expected_sum(const std::vector<std::uint32_t>& slots) const {
  std::vector<std::uint64_t> sum(params_.vector_length, 0);
  const std::uint64_t mask = RingSpec{params_.ring_bits}.mask();
  for (std::uint32_t u : slots) {
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] = (sum[i] + inputs_.at(u)[i]) & mask;
  }
  return sum;
}

std::map<std::pair<std::uint32_t, ShareKind>, std::set<std::uint32_t>> Harness::revealed() const {
  std::map<std::pair<std::uint32_t, ShareKind>, std::set<std::uint32_t>> out;
  for (const Frame& f : transcript_) {
    if (!f.to_server || f.type != "secagg.unmask_response") continue;
    auto m = decode_client_frame(f.bytes);
    if (!m || !std::holds_alternative<UnmaskResponse>(*m)) continue;
    for (const RevealedShare& s : std::get<UnmaskResponse>(*m).shares) out[{s.owner, s.kind}].insert(f.slot);
  }
  return out;
}

bool Harness::ledger_holds() const {
  const auto shares = revealed();
  const auto count = [&](std::uint32_t u, ShareKind k) {
    auto it = shares.find({u, k});
    return it == shares.end() ? std::size_t{0} : it->second.size();
  };
  for (std::uint32_t u = 1; u <= params_.n; ++u) {
    if (count(u, ShareKind::self_seed) >= params_.t && count(u, ShareKind::mask_key) >= params_.t) return false;
  }
  return true;
}

bool Harness::no_input_exposed() const {
  const auto shares = revealed();
  const auto learned = [&](std::uint32_t u, ShareKind k) {
    auto it = shares.find({u, k});
    return it != shares.end() && it->second.size() >= params_.t;
  };
  // The partners each client masked with: the senders of the ForwardShares it was sent.
  std::map<std::uint32_t, std::vector<std::uint32_t>> partners;
  std::set<std::uint32_t> sent_input;
  for (const Frame& f : transcript_) {
    if (f.to_server && f.type == "secagg.masked_input") sent_input.insert(f.slot);
    if (f.to_server || f.type != "secagg.forward_shares") continue;
    auto m = decode_server_frame(f.bytes);
    if (!m || !std::holds_alternative<ForwardShares>(*m)) continue;
    partners[f.slot].clear();
    for (const AddressedCiphertext& c : std::get<ForwardShares>(*m).shares) partners[f.slot].push_back(c.slot);
  }
  for (std::uint32_t u : sent_input) {
    if (!learned(u, ShareKind::self_seed)) continue;
    if (learned(u, ShareKind::mask_key)) return false;
    const auto& ws = partners[u];
    const bool all_partners_known =
        std::all_of(ws.begin(), ws.end(), [&](std::uint32_t w) { return learned(w, ShareKind::mask_key); });
    if (all_partners_known) return false;
  }
  return true;
}

}  // namespace edgefed::secagg::testing
