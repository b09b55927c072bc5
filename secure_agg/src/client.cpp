#include "client_states.hpp"

#include "edgefed/secagg/key_schedule.hpp"
#include "edgefed/secagg/params.hpp"
#include "edgefed/secagg/ring.hpp"
#include "ring_buffer.hpp"

#include <algorithm>
#include <set>

namespace edgefed::secagg {
namespace {

using StateResult = Result<std::unique_ptr<ClientState>>;

Error abort_error(ClientStage stage, ErrorCode code, std::string detail) {
  return Error{code, std::string(to_string(stage)) + ": " + std::move(detail)};
}

// The plaintext of one share ciphertext: sender ‖ receiver ‖ mask_sk share ‖ b_u share.
Bytes share_plaintext(std::uint32_t sender, std::uint32_t receiver, const ShamirShare& mask_key,
                      const ShamirShare& self_seed) {
  Bytes out;
  out.reserve(8 + 2 * kShamirShareSize);  // no reallocation may leave a share copy behind
  ByteWriter w(out);
  w.put(sender);
  w.put(receiver);
  std::array<std::uint8_t, kShamirShareSize> buf;
  encode_share(mask_key, buf);
  w.put_bytes(buf);
  encode_share(self_seed, buf);
  w.put_bytes(buf);
  secure_wipe(buf.data(), buf.size());
  return out;
}

class Terminal final : public ClientState {
 public:
  Terminal(ClientContext& ctx, ClientStage stage, std::optional<std::uint32_t> slot)
      : ClientState(ctx), stage_(stage), slot_(slot) {}
  ClientStage stage() const override { return stage_; }
  std::optional<std::uint32_t> slot() const override { return slot_; }

 private:
  ClientStage stage_;
  std::optional<std::uint32_t> slot_;
};

// ---- R4: unmasking -------------------------------------------------------------------

class AwaitingUnmask final : public ClientState {
 public:
  AwaitingUnmask(ClientContext& ctx, ClientSession session, std::map<std::uint32_t, Peer> peers,
                 std::map<std::uint32_t, HeldShares> held, Bytes signed_survivors)
      : ClientState(ctx), s_(std::move(session)), peers_(std::move(peers)), held_(std::move(held)),
        signed_survivors_(std::move(signed_survivors)) {}
  ~AwaitingUnmask() override { wipe_held(); }
  ClientStage stage() const override { return ClientStage::awaiting_unmask; }
  std::optional<std::uint32_t> slot() const override { return s_.slot; }

  StateResult on_unmask_request(const UnmaskRequest& m) override {
    const auto fail_with = [&](std::string detail) {
      return abort_error(stage(), ErrorCode::bad_value, std::move(detail));
    };
    // Peers whose shares we hold (they completed ShareKeys), ourselves included.
    std::set<std::uint32_t> dropped;
    for (std::uint32_t d : m.dropped) {
      if (d == s_.slot) return fail_with("unmask request lists this client as dropped");
      if (!held_.count(d)) return fail_with("unmask request lists slot " + std::to_string(d) + ", not a neighbour that shared keys");
      if (!dropped.insert(d).second) return fail_with("unmask request lists slot " + std::to_string(d) + " twice");
    }
    const std::size_t alive = held_.size() - dropped.size();  // includes this client
    if (alive < s_.params.t) {
      return fail_with("only " + std::to_string(alive) + " live holders in the neighbourhood, threshold is " +
                       std::to_string(s_.params.t));
    }
    if (s_.params.mode == ThreatModel::active) {
      // Who counts as dropped follows from the survivor set this client signed, not from the
      // server's word: otherwise a server could name different neighbours dropped to
      // different holders and collect the mask keys of everyone a victim masked with.
      if (dropped != dropped_per_signed_survivors()) {
        return fail_with("unmask request's dropped list contradicts the signed survivor set");
      }
      EDGEFED_TRY(check_consistency(m, dropped));
    }
    // The ledger: never reveal the other kind for a peer already answered for.
    UnmaskResponse response{s_.sid, {}};
    for (const auto& [owner, shares] : held_) {
      const ShareKind kind = dropped.count(owner) ? ShareKind::mask_key : ShareKind::self_seed;
      auto it = ctx_.revealed.find(owner);
      if (it != ctx_.revealed.end() && it->second != kind) {
        return fail_with("slot " + std::to_string(owner) + " was already answered with the other share kind");
      }
    }
    for (const auto& [owner, shares] : held_) {
      const ShareKind kind = dropped.count(owner) ? ShareKind::mask_key : ShareKind::self_seed;
      ctx_.revealed[owner] = kind;
      response.shares.push_back({owner, kind, kind == ShareKind::mask_key ? shares.mask_key : shares.self_seed});
    }
    ctx_.sender->send(std::move(response));
    return make_terminal_client_state(ctx_, ClientStage::completed, s_.slot);
  }

 private:
  // Active mode: at least t holders (this client included) signed the same survivor set
  // this client signed; a server showing different sets to different clients fails here.
  Status check_consistency(const UnmaskRequest& m, const std::set<std::uint32_t>& dropped) {
    std::set<std::uint32_t> valid = {s_.slot};
    for (const SlotSignature& sig : m.signatures) {
      auto peer = peers_.find(sig.slot);
      if (peer == peers_.end() || !peer->second.identity || dropped.count(sig.slot) || sig.slot == s_.slot) {
        return abort_error(stage(), ErrorCode::bad_value, "survivor signature from slot " + std::to_string(sig.slot) +
                                                              ", not a live neighbour");
      }
      if (!verify(peer->second.identity->key, survivors_signing_payload(s_.sid, sig.slot, signed_survivors_),
                  sig.signature)) {
        return abort_error(stage(), ErrorCode::bad_signature,
                           "slot " + std::to_string(sig.slot) + " signed a different survivor set");
      }
      valid.insert(sig.slot);
    }
    if (valid.size() < s_.params.t) {
      return abort_error(stage(), ErrorCode::bad_value, "only " + std::to_string(valid.size()) +
                                                            " consistent survivor signatures, threshold is " +
                                                            std::to_string(s_.params.t));
    }
    return {};
  }

  std::set<std::uint32_t> dropped_per_signed_survivors() const {
    std::set<std::uint32_t> out;
    for (const auto& [slot, shares] : held_) {
      const bool survived = (signed_survivors_[(slot - 1) / 8] >> ((slot - 1) % 8)) & 1u;
      if (slot != s_.slot && !survived) out.insert(slot);
    }
    return out;
  }

  void wipe_held() {
    for (auto& [slot, h] : held_) {
      secure_wipe(&h, sizeof h);
    }
  }

  ClientSession s_;
  std::map<std::uint32_t, Peer> peers_;
  std::map<std::uint32_t, HeldShares> held_;
  Bytes signed_survivors_;
};

// ---- R3 (active): consistency check --------------------------------------------------

class AwaitingSurvivors final : public ClientState {
 public:
  AwaitingSurvivors(ClientContext& ctx, ClientSession session, std::map<std::uint32_t, Peer> peers,
                    std::map<std::uint32_t, HeldShares> held)
      : ClientState(ctx), s_(std::move(session)), peers_(std::move(peers)), held_(std::move(held)) {}
  ~AwaitingSurvivors() override {
    for (auto& [slot, h] : held_) secure_wipe(&h, sizeof h);
  }
  ClientStage stage() const override { return ClientStage::awaiting_survivors; }
  std::optional<std::uint32_t> slot() const override { return s_.slot; }

  StateResult on_survivors(const SurvivorsView& m) override {
    const std::size_t bytes = (s_.params.n + 7) / 8;
    if (m.bitmap.size() != bytes) {
      return abort_error(stage(), ErrorCode::bad_length, "survivor bitmap of " + std::to_string(m.bitmap.size()) +
                                                             " bytes for n = " + std::to_string(s_.params.n));
    }
    const auto bit = [&](std::uint32_t slot) { return (m.bitmap[(slot - 1) / 8] >> ((slot - 1) % 8)) & 1u; };
    for (std::uint32_t i = s_.params.n + 1; i <= bytes * 8; ++i) {
      if (bit(i)) return abort_error(stage(), ErrorCode::bad_value, "survivor bitmap has padding bits set");
    }
    if (!bit(s_.slot)) return abort_error(stage(), ErrorCode::bad_value, "survivor set omits this client's input");
    // A survivor sent its masked input, so it completed ShareKeys and its share must have
    // reached us. If not, the server withheld it to narrow whom we masked with.
    for (const auto& [slot, peer] : peers_) {
      if (bit(slot) && !held_.count(slot)) {
        return abort_error(stage(), ErrorCode::bad_value,
                           "survivor " + std::to_string(slot) + " never forwarded a share to this client");
      }
    }
    std::size_t live = 0;
    for (const auto& [slot, h] : held_) live += bit(slot);
    if (live < s_.params.t) {
      return abort_error(stage(), ErrorCode::bad_value, "only " + std::to_string(live) +
                                                            " surviving holders in the neighbourhood");
    }
    const Bytes payload = survivors_signing_payload(s_.sid, s_.slot, m.bitmap);
    ctx_.sender->send(SurvivorsSignature{s_.sid, sign(ctx_.identity->secret, payload)});
    return std::unique_ptr<ClientState>(
        new AwaitingUnmask(ctx_, std::move(s_), std::move(peers_), std::move(held_), m.bitmap));
  }

 private:
  ClientSession s_;
  std::map<std::uint32_t, Peer> peers_;
  std::map<std::uint32_t, HeldShares> held_;
};

// ---- R2: masked input ----------------------------------------------------------------

class AwaitingForwardedShares final : public ClientState {
 public:
  AwaitingForwardedShares(ClientContext& ctx, ClientSession session, X25519KeyPair enc, X25519KeyPair mask,
                          Secret32 self_seed, std::map<std::uint32_t, Peer> peers, HeldShares own)
      : ClientState(ctx), s_(std::move(session)), enc_(std::move(enc)), mask_(std::move(mask)),
        self_seed_(std::move(self_seed)), peers_(std::move(peers)), own_(own) {}
  ~AwaitingForwardedShares() override { secure_wipe(&own_, sizeof own_); }
  ClientStage stage() const override { return ClientStage::awaiting_forwarded_shares; }
  std::optional<std::uint32_t> slot() const override { return s_.slot; }

  StateResult on_forwarded_shares(const ForwardShares& m) override {
    std::map<std::uint32_t, HeldShares> held;
    auto decrypted = decrypt_all(m, held);
    if (!decrypted) {
      for (auto& [slot, h] : held) secure_wipe(&h, sizeof h);
      return decrypted.error();
    }
    held[s_.slot] = own_;
    if (held.size() < s_.params.t) {
      return abort_error(stage(), ErrorCode::bad_value, "only " + std::to_string(held.size()) +
                                                            " holders shared keys, threshold is " +
                                                            std::to_string(s_.params.t));
    }
    auto masked = mask_input(held);
    if (!masked) return masked.error();
    ctx_.sender->send(MaskedInput{s_.sid, std::move(*masked)});
    if (s_.params.mode == ThreatModel::active) {
      return std::unique_ptr<ClientState>(new AwaitingSurvivors(ctx_, std::move(s_), std::move(peers_), std::move(held)));
    }
    return std::unique_ptr<ClientState>(
        new AwaitingUnmask(ctx_, std::move(s_), std::move(peers_), std::move(held), Bytes{}));
  }

 private:
  Status decrypt_all(const ForwardShares& m, std::map<std::uint32_t, HeldShares>& held) {
    const X25519PreparedKey enc_key(enc_.secret);
    std::uint32_t previous = 0;
    for (const AddressedCiphertext& c : m.shares) {
      const std::string from = "share from slot " + std::to_string(c.slot);
      if (c.slot <= previous) return abort_error(stage(), ErrorCode::bad_value, "forwarded shares not sorted or repeated");
      previous = c.slot;
      auto peer = peers_.find(c.slot);
      if (peer == peers_.end() || c.slot == s_.slot) {
        return abort_error(stage(), ErrorCode::bad_value, from + ": not a live neighbour");
      }
      const PartyKeys sender_keys{peer->second.enc_pk, peer->second.mask_pk};
      const PartyKeys own_keys{enc_.public_key, mask_.public_key};
      auto key = derive_share_key(s_.sid, c.slot, s_.slot, enc_key, sender_keys, own_keys, false);
      if (!key) return abort_error(stage(), ErrorCode::bad_value, from + ": invalid key");
      auto plain = aead_open(*key, share_aad(s_.sid, c.slot, s_.slot), c.ciphertext);
      // One message for every failure: which check failed is nobody's business.
      if (!plain || plain->size() != 8 + 2 * kShamirShareSize) {
        if (plain) secure_wipe(plain->data(), plain->size());
        return abort_error(stage(), ErrorCode::bad_signature, from + ": does not authenticate");
      }
      ByteReader r(*plain);
      const std::uint32_t sender = r.get<std::uint32_t>("sender").value();
      const std::uint32_t receiver = r.get<std::uint32_t>("receiver").value();
      auto mask_share = decode_share(r.get_span(kShamirShareSize, "mask share").value());
      auto seed_share = decode_share(r.get_span(kShamirShareSize, "seed share").value());
      const bool ok = sender == c.slot && receiver == s_.slot && mask_share && seed_share &&
                      mask_share->x == s_.slot && seed_share->x == s_.slot;
      if (ok) held[c.slot] = HeldShares{*mask_share, *seed_share};
      secure_wipe(plain->data(), plain->size());
      if (!ok) return abort_error(stage(), ErrorCode::bad_signature, from + ": does not authenticate");
    }
    return {};
  }

  // y = x + PRG(b_u) + Σ_{v ∈ holders, v ≠ u} ±PRG(s_uv), + when u > v.
  Result<Bytes> mask_input(const std::map<std::uint32_t, HeldShares>& held) {
    RingBuffer y(s_.params.ring_bits, s_.params.vector_length);
    y.add(s_.input);
    MaskPrg prg = MaskPrg::create(s_.params.prg);
    const X25519PreparedKey mask_key(mask_.secret);
    y.add_mask(prg, derive_self_mask_key(s_.params, s_.sid, s_.slot, self_seed_), false);
    for (const auto& [v, shares] : held) {
      if (v == s_.slot) continue;
      auto key = derive_pair_mask_key(s_.params, s_.sid, s_.slot, v, mask_key, mask_.public_key, peers_.at(v).mask_pk);
      if (!key) return abort_error(stage(), ErrorCode::bad_value, "slot " + std::to_string(v) + ": invalid mask key");
      y.add_mask(prg, *key, /*subtract=*/s_.slot < v);
    }
    return y.pack();
  }

  ClientSession s_;
  X25519KeyPair enc_;
  X25519KeyPair mask_;
  Secret32 self_seed_;
  std::map<std::uint32_t, Peer> peers_;
  HeldShares own_;
};

// ---- R1: share keys ------------------------------------------------------------------

class AwaitingNeighbourKeys final : public ClientState {
 public:
  AwaitingNeighbourKeys(ClientContext& ctx, ClientSession session, X25519KeyPair enc, X25519KeyPair mask,
                        Secret32 self_seed)
      : ClientState(ctx), s_(std::move(session)), enc_(std::move(enc)), mask_(std::move(mask)),
        self_seed_(std::move(self_seed)) {}
  ClientStage stage() const override { return ClientStage::awaiting_neighbour_keys; }
  std::optional<std::uint32_t> slot() const override { return s_.slot; }

  StateResult on_neighbour_keys(const NeighbourKeys& m) override {
    const auto bad = [&](std::string detail) { return abort_error(stage(), ErrorCode::bad_value, std::move(detail)); };
    if (!verify_graph_seed(s_.params.graph_commitment, m.graph_seed)) {
      return bad("graph seed does not open the announced commitment");
    }
    auto graph = NeighbourGraph::create(s_.params.n, s_.params.k, m.graph_seed);
    if (!graph) return bad("graph: " + graph.error().detail);
    std::map<std::uint32_t, Peer> peers;
    bool saw_self = false;
    std::set<std::array<std::uint8_t, 32>> keys_seen;
    std::set<std::array<std::uint8_t, 32>> identities_seen;
    std::uint32_t previous = 0;
    for (const NeighbourKeyEntry& e : m.entries) {
      if (e.slot <= previous) return bad("neighbour entries not sorted or repeated");
      previous = e.slot;
      if (!keys_seen.insert(e.enc_pk.bytes).second || !keys_seen.insert(e.mask_pk.bytes).second) {
        return bad("slot " + std::to_string(e.slot) + " repeats a public key");
      }
      if (e.slot == s_.slot) {
        if (!(e.enc_pk == enc_.public_key) || !(e.mask_pk == mask_.public_key)) return bad("own keys altered");
        saw_self = true;
        continue;
      }
      if (e.slot > s_.params.n || !graph->are_neighbours(s_.slot, e.slot)) {
        return bad("slot " + std::to_string(e.slot) + " is not a neighbour in the committed graph");
      }
      if (s_.params.mode == ThreatModel::active) {
        EDGEFED_TRY(check_identity(e));
        if (!identities_seen.insert(e.identity->key.bytes).second) {
          return bad("slot " + std::to_string(e.slot) + " repeats another neighbour's identity");
        }
      }
      peers[e.slot] = Peer{e.slot, e.enc_pk, e.mask_pk, e.identity};
    }
    if (!saw_self) return bad("own keys missing");
    const std::size_t holders = peers.size() + 1;
    if (holders < s_.params.t || peers.size() < ctx_.policy.min_neighbours) {
      return bad("only " + std::to_string(peers.size()) + " live neighbours, threshold is " + std::to_string(s_.params.t));
    }
    return share_keys(std::move(peers));
  }

 private:
  Status check_identity(const NeighbourKeyEntry& e) {
    if (!e.identity || !e.signature || !ctx_.verifier->verify(e.slot, *e.identity)) {
      return abort_error(stage(), ErrorCode::bad_signature, "slot " + std::to_string(e.slot) + ": identity not verified");
    }
    if (!verify(e.identity->key, advertise_signing_payload(s_.sid, e.slot, e.enc_pk, e.mask_pk), *e.signature)) {
      return abort_error(stage(), ErrorCode::bad_signature, "slot " + std::to_string(e.slot) + ": key signature invalid");
    }
    return {};
  }

  StateResult share_keys(std::map<std::uint32_t, Peer> peers) {
    std::vector<std::uint32_t> xs = {s_.slot};
    for (const auto& [slot, p] : peers) xs.push_back(slot);
    std::sort(xs.begin(), xs.end());
    std::vector<ShamirShare> mask_shares = shamir_share(mask_.secret, xs, s_.params.t, *ctx_.rng);
    std::vector<ShamirShare> seed_shares = shamir_share(self_seed_, xs, s_.params.t, *ctx_.rng);
    ShareKeys out{s_.sid, commit_self_seed(s_.sid, s_.slot, self_seed_), {}};
    HeldShares own{};
    const X25519PreparedKey enc_key(enc_.secret);
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const std::uint32_t v = xs[i];
      if (v == s_.slot) {
        own = HeldShares{mask_shares[i], seed_shares[i]};
        continue;
      }
      const PartyKeys own_keys{enc_.public_key, mask_.public_key};
      const PartyKeys receiver_keys{peers.at(v).enc_pk, peers.at(v).mask_pk};
      auto key = derive_share_key(s_.sid, s_.slot, v, enc_key, own_keys, receiver_keys, true);
      if (!key) return abort_error(stage(), ErrorCode::bad_value, "slot " + std::to_string(v) + ": invalid key");
      Bytes plain = share_plaintext(s_.slot, v, mask_shares[i], seed_shares[i]);
      out.shares.push_back({v, aead_seal(*key, share_aad(s_.sid, s_.slot, v), plain)});
      secure_wipe(plain.data(), plain.size());
    }
    secure_wipe(mask_shares.data(), mask_shares.size() * sizeof(ShamirShare));
    secure_wipe(seed_shares.data(), seed_shares.size() * sizeof(ShamirShare));
    ctx_.sender->send(std::move(out));
    return std::unique_ptr<ClientState>(new AwaitingForwardedShares(
        ctx_, std::move(s_), std::move(enc_), std::move(mask_), std::move(self_seed_), std::move(peers), own));
  }

  ClientSession s_;
  X25519KeyPair enc_;
  X25519KeyPair mask_;
  Secret32 self_seed_;
};

// ---- R0: advertise keys --------------------------------------------------------------

class AwaitingAnnounce final : public ClientState {
 public:
  using ClientState::ClientState;
  ClientStage stage() const override { return ClientStage::awaiting_announce; }

  StateResult on_announce(const SessionAnnounce& m) override {
    const auto bad = [&](std::string detail) { return abort_error(stage(), ErrorCode::bad_value, std::move(detail)); };
    if (auto st = validate(m.params); !st) return abort_error(stage(), st.error().code, st.error().detail);
    ClientSession s{m.params, compute_session_id(m.params), m.slot, {}};
    if (s.sid != m.sid) return bad("session id does not match the announced parameters");
    if (m.slot < 1 || m.slot > m.params.n) return bad("slot " + std::to_string(m.slot) + " outside the cohort");
    if (m.params.n < ctx_.policy.min_cohort) {
      return bad("cohort of " + std::to_string(m.params.n) + " is below this device's minimum of " +
                 std::to_string(ctx_.policy.min_cohort));
    }
    if (m.params.mode == ThreatModel::semi_honest && !ctx_.policy.allow_semi_honest) {
      return bad("this device requires active-mode sessions");
    }
    if (m.params.mode == ThreatModel::active && (!ctx_.identity || !ctx_.verifier)) {
      return bad("active mode announced but this client has no identity key or verifier");
    }
    if (m.params.vector_length > ctx_.policy.max_vector_length) return bad("vector length over this device's limit");
    if (ctx_.policy.assumed_corrupt_rate || ctx_.policy.assumed_dropout_rate) {
      GraphParameterRequest assumed;
      assumed.n = m.params.n;
      assumed.corrupt_rate = ctx_.policy.assumed_corrupt_rate.value_or(0.0);
      assumed.dropout_rate = ctx_.policy.assumed_dropout_rate.value_or(0.0);
      assumed.threat_model = m.params.mode;
      if (auto st = validate_graph_parameters(assumed, GraphParameters{m.params.k, m.params.t}, m.params.min_survivors);
          !st) {
        return bad("parameters too weak for this device's assumptions: " + st.error().detail);
      }
    }
    auto input = encode_input(m.params);
    if (!input) return abort_error(stage(), input.error().code, input.error().detail);
    s.input = std::move(*input);

    X25519KeyPair enc = x25519_generate(*ctx_.rng);
    X25519KeyPair mask = x25519_generate(*ctx_.rng);
    Secret32 self_seed = ctx_.rng->next_secret32(RngPurpose::self_mask_seed);
    AdvertiseKeys out{s.sid, enc.public_key, mask.public_key, std::nullopt, std::nullopt};
    if (m.params.mode == ThreatModel::active) {
      out.identity = ctx_.identity->identity;
      out.signature = sign(ctx_.identity->secret,
                           advertise_signing_payload(s.sid, s.slot, enc.public_key, mask.public_key));
    }
    ctx_.sender->send(std::move(out));
    return std::unique_ptr<ClientState>(
        new AwaitingNeighbourKeys(ctx_, std::move(s), std::move(enc), std::move(mask), std::move(self_seed)));
  }

 private:
  Result<std::vector<std::uint64_t>> encode_input(const SessionParams& p) {
    if (const auto* ring = std::get_if<RingInput>(&ctx_.input)) {
      if (ring->elements.size() != p.vector_length) {
        return fail(ErrorCode::bad_value, "input has " + std::to_string(ring->elements.size()) +
                                              " elements, the session expects " + std::to_string(p.vector_length));
      }
      return ring->elements;
    }
    const auto& in = std::get<FloatInput>(ctx_.input);
    if (in.values.size() + 1 != p.vector_length) {
      return fail(ErrorCode::bad_value, "input has " + std::to_string(in.values.size()) +
                                            " values + weight, the session expects " + std::to_string(p.vector_length));
    }
    std::vector<std::uint64_t> out(p.vector_length);
    if (auto st = encode_update(in.values, in.weight, encoding_params(p), *ctx_.rng, out); !st) {
      return Error{st.error().code == ErrorCode::invalid_argument ? ErrorCode::bad_value : st.error().code,
                   "input: " + st.error().detail};
    }
    return out;
  }
};

}  // namespace

// ---- base + facade ---------------------------------------------------------------------

Error ClientState::unexpected(std::string_view what) const {
  return abort_error(stage(), ErrorCode::out_of_order, std::string(what) + " is not expected now");
}
StateResult ClientState::on_announce(const SessionAnnounce&) { return unexpected("session announcement"); }
StateResult ClientState::on_neighbour_keys(const NeighbourKeys&) { return unexpected("neighbour keys"); }
StateResult ClientState::on_forwarded_shares(const ForwardShares&) { return unexpected("forwarded shares"); }
StateResult ClientState::on_survivors(const SurvivorsView&) { return unexpected("survivor view"); }
StateResult ClientState::on_unmask_request(const UnmaskRequest&) { return unexpected("unmask request"); }

std::unique_ptr<ClientState> make_initial_client_state(ClientContext& ctx) {
  return std::make_unique<AwaitingAnnounce>(ctx);
}
std::unique_ptr<ClientState> make_terminal_client_state(ClientContext& ctx, ClientStage stage,
                                                        std::optional<std::uint32_t> slot) {
  return std::make_unique<Terminal>(ctx, stage, slot);
}

std::string_view to_string(ClientStage stage) noexcept {
  switch (stage) {
    case ClientStage::awaiting_announce: return "advertise_keys";
    case ClientStage::awaiting_neighbour_keys: return "share_keys";
    case ClientStage::awaiting_forwarded_shares: return "masked_input";
    case ClientStage::awaiting_survivors: return "consistency_check";
    case ClientStage::awaiting_unmask: return "unmasking";
    case ClientStage::completed: return "completed";
    case ClientStage::aborted: return "aborted";
  }
  return "unknown";
}

std::unique_ptr<SecAggClient> SecAggClient::create(ClientPolicy policy, ClientInput input, Csprng& rng,
                                                   SendToServer& sender, const IdentityVerifier* verifier,
                                                   std::optional<ClientIdentity> identity) {
  std::unique_ptr<SecAggClient> client(new SecAggClient());
  client->ctx_ = std::make_unique<ClientContext>(
      ClientContext{policy, std::move(input), &rng, &sender, verifier, std::move(identity), {}});
  client->state_ = make_initial_client_state(*client->ctx_);
  return client;
}

SecAggClient::~SecAggClient() = default;

ClientStage SecAggClient::stage() const { return state_->stage(); }
std::optional<std::uint32_t> SecAggClient::slot() const { return state_->slot(); }
const std::map<std::uint32_t, ShareKind>& SecAggClient::revealed() const { return ctx_->revealed; }

Status SecAggClient::handle(const ServerMessage& message) {
  const ClientStage before = stage();
  if (before == ClientStage::completed || before == ClientStage::aborted) return {};  // session over
  if (const auto* abort = std::get_if<Abort>(&message)) {
    if (abort->sid == sid_ || before == ClientStage::awaiting_announce) {
      abort_error_ = Error{ErrorCode::out_of_order, std::string(to_string(before)) + ": server aborted: " + abort->reason};
      state_ = make_terminal_client_state(*ctx_, ClientStage::aborted, slot());
    }
    return {};
  }
  // A repeat of a message this client already acted on (a retransmission, or a late copy of
  // an earlier stage's message) changes nothing. Alternatives follow the protocol's order.
  if (last_handled_ && message.index() <= *last_handled_) return {};
  if (before != ClientStage::awaiting_announce && session_of(message) != sid_) {
    return abort_with(Error{ErrorCode::replayed, std::string(to_string(before)) + ": message for another session"});
  }
  StateResult next = std::visit(
      [&](const auto& m) -> StateResult {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, SessionAnnounce>) return state_->on_announce(m);
        else if constexpr (std::is_same_v<M, NeighbourKeys>) return state_->on_neighbour_keys(m);
        else if constexpr (std::is_same_v<M, ForwardShares>) return state_->on_forwarded_shares(m);
        else if constexpr (std::is_same_v<M, SurvivorsView>) return state_->on_survivors(m);
        else if constexpr (std::is_same_v<M, UnmaskRequest>) return state_->on_unmask_request(m);
        else return Error{ErrorCode::out_of_order, "unreachable"};
      },
      message);
  if (!next) return abort_with(std::move(next).error());
  if (before == ClientStage::awaiting_announce) sid_ = std::get<SessionAnnounce>(message).sid;
  last_handled_ = message.index();
  state_ = std::move(next).value();
  return {};
}

Status SecAggClient::abort_with(Error error) {
  const std::optional<std::uint32_t> current_slot = slot();
  abort_error_ = error;
  // Tell the server, with the stage and the kind of failure only.
  ctx_->sender->send(Abort{sid_, std::string(to_string(error.code))});
  state_ = make_terminal_client_state(*ctx_, ClientStage::aborted, current_slot);
  return error;
}

void SecAggClient::on_deadline() {
  const ClientStage s = stage();
  if (s == ClientStage::completed || s == ClientStage::aborted) return;
  (void)abort_with(Error{ErrorCode::out_of_order, std::string(to_string(s)) + ": deadline passed"});
}

void SecAggClient::abort(std::string reason) {
  const ClientStage s = stage();
  if (s == ClientStage::completed || s == ClientStage::aborted) return;
  (void)abort_with(Error{ErrorCode::invalid_argument, std::string(to_string(s)) + ": " + reason});
}

}  // namespace edgefed::secagg
