#include "edgefed/secagg/server.hpp"

#include "edgefed/secagg/graph.hpp"
#include "edgefed/secagg/key_schedule.hpp"
#include "edgefed/secagg/shamir.hpp"
#include "ring_buffer.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

namespace edgefed::secagg {

namespace {

constexpr std::size_t kShareCiphertextBytes = 4 + 4 + 2 * kShamirShareSize + kGcmTagBytes;
constexpr std::size_t kMaxReconstructionAttempts = 16;
// Any fixed scalar: agreeing with it fails exactly for small-order (or otherwise invalid) points.
constexpr std::array<std::uint8_t, 32> kProbeScalar = {0x45, 0x44, 0x47, 0x45, 0x46, 0x45, 0x44, 0x2d, 0x70, 0x72, 0x6f,
                                                       0x62, 0x65, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
                                                       0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13};

struct ClientRecord {
  bool dropped = false;
  bool answered = false;  // in the current stage
  // What the client told us.
  X25519PublicKey enc_pk;
  X25519PublicKey mask_pk;
  std::optional<Identity> identity;
  std::optional<Ed25519Signature> key_signature;
  Digest32 seed_commitment{};
  std::vector<AddressedCiphertext> outgoing;    // ShareKeys ciphertexts, by receiver
  std::optional<Ed25519Signature> survivors_signature;
  // What we told it / expect from it.
  std::vector<std::uint32_t> live_neighbours;   // N(u) ∩ U1, self excluded, ascending
  std::vector<std::pair<std::uint32_t, ShareKind>> expected_reveal;  // unmasking
  // Membership of the protocol's sets.
  bool in_u1 = false, in_u2 = false, in_u3 = false, in_u4 = false;
};

std::vector<std::uint8_t> bitmap_of(const std::vector<ClientRecord>& clients, std::uint32_t n) {
  std::vector<std::uint8_t> bitmap((n + 7) / 8, 0);
  for (std::uint32_t u = 1; u <= n; ++u) {
    if (clients[u].in_u3) bitmap[(u - 1) / 8] |= static_cast<std::uint8_t>(1u << ((u - 1) % 8));
  }
  return bitmap;
}

}  // namespace

class ServerCore {
 public:
  ServerCore(const SessionParams& params, NeighbourGraph graph, const Digest32& seed, SendToClients& sender,
             Executor& executor, const IdentityVerifier* verifier)
      : p_(params), sid_(compute_session_id(params)), graph_(std::move(graph)), seed_(seed), sender_(sender),
        executor_(executor), verifier_(verifier), clients_(params.n + 1),
        accumulator_(params.ring_bits, params.vector_length) {}

  // ---- events --------------------------------------------------------------------------

  void start() {
    enter(ServerStage::advertise_keys);
    for (std::uint32_t u = 1; u <= p_.n; ++u) sender_.send(u, SessionAnnounce{sid_, p_, u});
  }

  void handle(std::uint32_t slot, const ClientMessage& message) {
    if (slot < 1 || slot > p_.n || stage_ == ServerStage::completed || stage_ == ServerStage::aborted) return;
    ClientRecord& c = clients_[slot];
    if (c.dropped) return ignore();
    if (session_of(message) != sid_) return drop(slot, ErrorCode::replayed, "message for another session");
    if (std::holds_alternative<Abort>(message)) return drop(slot, ErrorCode::out_of_order, "client aborted: " + std::get<Abort>(message).reason);
    if (!expected_now(message)) {
      // A repeat of what this client already sent, or a late one: ignore and count (cases 6, 15).
      if (c.answered || is_earlier_stage(message)) return ignore();
      return drop(slot, ErrorCode::out_of_order, std::string(message_type(message)) + " is not expected now");
    }
    if (!in_stage_set(c)) return ignore();
    if (c.answered) return ignore();
    Status st = std::visit([&](const auto& m) { return accept(slot, m); }, message);
    if (!st) return drop(slot, st.error().code, st.error().detail);
    c.answered = true;
    --pending_;
    ++counts_[index(stage_)].answered;
    maybe_close_stage();
  }

  void on_deadline() {
    if (stage_ == ServerStage::completed || stage_ == ServerStage::aborted) return;
    close_stage();
  }

  void on_disconnect(std::uint32_t slot) {
    if (slot < 1 || slot > p_.n || clients_[slot].dropped) return;
    if (stage_ == ServerStage::completed || stage_ == ServerStage::aborted) return;
    drop(slot, ErrorCode::io_error, "disconnected");
  }

  // ---- accessors -----------------------------------------------------------------------

  ServerStage stage() const { return stage_; }
  const SessionId& sid() const { return sid_; }
  const AggregateOutput& output() const { return output_; }
  const std::optional<Error>& abort_error() const { return abort_error_; }
  const std::vector<DropRecord>& drops() const { return drops_; }
  StageCounts counts(ServerStage s) const { return counts_[index(s)]; }
  std::uint32_t shares_received(std::uint32_t owner, ShareKind kind) const {
    auto it = share_counts_.find({owner, kind});
    return it == share_counts_.end() ? 0 : it->second;
  }
  std::uint64_t keystream_bytes() const { return keystream_bytes_; }

 private:
  static std::size_t index(ServerStage s) { return static_cast<std::size_t>(s); }

  bool expected_now(const ClientMessage& m) const {
    switch (stage_) {
      case ServerStage::advertise_keys: return std::holds_alternative<AdvertiseKeys>(m);
      case ServerStage::share_keys: return std::holds_alternative<ShareKeys>(m);
      case ServerStage::masked_input: return std::holds_alternative<MaskedInput>(m);
      case ServerStage::consistency_check: return std::holds_alternative<SurvivorsSignature>(m);
      case ServerStage::unmasking: return std::holds_alternative<UnmaskResponse>(m);
      default: return false;
    }
  }

  bool is_earlier_stage(const ClientMessage& m) const {
    const std::size_t kind = m.index();  // ClientMessage alternatives follow the stage order
    return kind < index(stage_);
  }

  bool in_stage_set(const ClientRecord& c) const {
    switch (stage_) {
      case ServerStage::advertise_keys: return true;
      case ServerStage::share_keys: return c.in_u1;
      case ServerStage::masked_input: return c.in_u2;
      case ServerStage::consistency_check: return c.in_u3;
      case ServerStage::unmasking: return c.in_u4;
      default: return false;
    }
  }

  void ignore() { ++counts_[index(stage_)].ignored; }

  void drop(std::uint32_t slot, ErrorCode code, std::string detail) {
    ClientRecord& c = clients_[slot];
    if (c.dropped) return;
    if (in_stage_set(c) && !c.answered) --pending_;
    c.dropped = true;
    ++counts_[index(stage_)].dropped;
    drops_.push_back({slot, stage_, Error{code, std::string(to_string(stage_)) + ": slot " + std::to_string(slot) + ": " + detail}});
    maybe_close_stage();
  }

  void enter(ServerStage s) {
    stage_ = s;
    std::uint32_t alive = 0;
    for (std::uint32_t u = 1; u <= p_.n; ++u) {
      clients_[u].answered = false;
      alive += !clients_[u].dropped && in_stage_set(clients_[u]);
    }
    counts_[index(s)].entered = alive;
    pending_ = alive;
  }

  // Closes the stage early once every live member of its set has answered (O(1) per call:
  // `pending_` counts the live members still to answer).
  void maybe_close_stage() {
    if (stage_ == ServerStage::completed || stage_ == ServerStage::aborted || closing_) return;
    if (pending_ == 0) close_stage();
  }

  void close_stage() {
    closing_ = true;
    // Whoever has not answered by now is a dropout of this stage.
    for (std::uint32_t u = 1; u <= p_.n; ++u) {
      ClientRecord& c = clients_[u];
      if (!c.dropped && in_stage_set(c) && !c.answered) {
        c.dropped = true;
        ++counts_[index(stage_)].dropped;
        drops_.push_back({u, stage_, Error{ErrorCode::out_of_order, std::string(to_string(stage_)) + ": slot " +
                                                                        std::to_string(u) + ": no answer before the deadline"}});
      }
    }
    switch (stage_) {
      case ServerStage::advertise_keys: close_advertise(); break;
      case ServerStage::share_keys: close_share_keys(); break;
      case ServerStage::masked_input: close_masked_input(); break;
      case ServerStage::consistency_check: send_unmask_requests(ServerStage::consistency_check); break;
      case ServerStage::unmasking: finish(); break;
      default: break;
    }
    closing_ = false;
  }

  void abort(std::string reason) {
    abort_error_ = Error{ErrorCode::out_of_order, std::string(to_string(stage_)) + ": " + reason};
    stage_ = ServerStage::aborted;
    for (std::uint32_t u = 1; u <= p_.n; ++u) {
      if (!clients_[u].dropped) sender_.send(u, Abort{sid_, reason});
    }
  }

  // Counts members of a set that are still alive and answered the stage that formed it.
  std::uint32_t mark_set(bool ClientRecord::*member) {
    std::uint32_t count = 0;
    for (std::uint32_t u = 1; u <= p_.n; ++u) {
      ClientRecord& c = clients_[u];
      c.*member = !c.dropped && in_stage_set(c) && c.answered;
      count += c.*member;
    }
    return count;
  }

  bool enough(std::uint32_t count, const char* set) {
    if (count >= p_.min_survivors && count >= p_.t) return true;
    abort(std::string("only ") + std::to_string(count) + " clients in " + set + ", need " +
          std::to_string(std::max(p_.min_survivors, p_.t)));
    return false;
  }

  // ---- R0 AdvertiseKeys ----------------------------------------------------------------

  Status accept(std::uint32_t slot, const AdvertiseKeys& m) {
    if (p_.mode == ThreatModel::active) {
      if (!m.identity || !m.signature || !verifier_ || !verifier_->verify(slot, *m.identity)) {
        return fail(ErrorCode::bad_signature, "identity not verified");
      }
      if (!verify(m.identity->key, advertise_signing_payload(sid_, slot, m.enc_pk, m.mask_pk), *m.signature)) {
        return fail(ErrorCode::bad_signature, "key signature invalid");
      }
    }
    EDGEFED_TRY(check_keys(m));
    ClientRecord& c = clients_[slot];
    c.enc_pk = m.enc_pk;
    c.mask_pk = m.mask_pk;
    c.identity = m.identity;
    c.key_signature = m.signature;
    return {};
  }

  // Keys that would make every neighbour abort are refused here, at their owner: small-order
  // points, the same key twice, a key (or identity) another client already advertised.
  Status check_keys(const AdvertiseKeys& m) {
    static const X25519PreparedKey probe{Secret32{std::span<const std::uint8_t, 32>(kProbeScalar)}};
    if (m.enc_pk == m.mask_pk) return fail(ErrorCode::bad_value, "encryption and mask keys are equal");
    for (const X25519PublicKey* k : {&m.enc_pk, &m.mask_pk}) {
      if (!probe.agree(*k)) return fail(ErrorCode::bad_value, "invalid or small-order public key");
      if (advertised_keys_.count(k->bytes)) return fail(ErrorCode::bad_value, "public key already advertised by another slot");
    }
    if (m.identity && advertised_keys_.count(m.identity->key.bytes)) {
      return fail(ErrorCode::bad_value, "identity already advertised by another slot");
    }
    advertised_keys_.insert(m.enc_pk.bytes);
    advertised_keys_.insert(m.mask_pk.bytes);
    if (m.identity) advertised_keys_.insert(m.identity->key.bytes);
    return {};
  }

  void close_advertise() {
    if (!enough(mark_set(&ClientRecord::in_u1), "U1 (advertised keys)")) return;
    enter(ServerStage::share_keys);
    for (std::uint32_t u = 1; u <= p_.n; ++u) {
      ClientRecord& c = clients_[u];
      if (!c.in_u1) continue;
      NeighbourKeys out{sid_, seed_, {}};
      c.live_neighbours.clear();
      for (std::uint32_t v : graph_.neighbours(u)) {
        if (clients_[v].in_u1) c.live_neighbours.push_back(v);
      }
      std::vector<std::uint32_t> listed = c.live_neighbours;
      listed.insert(std::lower_bound(listed.begin(), listed.end(), u), u);
      for (std::uint32_t v : listed) {
        const ClientRecord& peer = clients_[v];
        out.entries.push_back({v, peer.enc_pk, peer.mask_pk, peer.identity, peer.key_signature});
      }
      sender_.send(u, std::move(out));
    }
  }

  // ---- R1 ShareKeys --------------------------------------------------------------------

  Status accept(std::uint32_t slot, const ShareKeys& m) {
    ClientRecord& c = clients_[slot];
    // Exactly one ciphertext per live neighbour, none for itself or anyone else (case 18).
    if (m.shares.size() != c.live_neighbours.size()) {
      return fail(ErrorCode::bad_value, std::to_string(m.shares.size()) + " ciphertexts for " +
                                            std::to_string(c.live_neighbours.size()) + " live neighbours");
    }
    for (std::size_t i = 0; i < m.shares.size(); ++i) {
      if (m.shares[i].slot != c.live_neighbours[i]) {
        return fail(ErrorCode::bad_value, "ciphertext for slot " + std::to_string(m.shares[i].slot) +
                                              ", not the live neighbour expected in this position");
      }
      if (m.shares[i].ciphertext.size() != kShareCiphertextBytes) {
        return fail(ErrorCode::bad_length, "ciphertext for slot " + std::to_string(m.shares[i].slot) + " has " +
                                               std::to_string(m.shares[i].ciphertext.size()) + " bytes");
      }
    }
    c.outgoing = m.shares;
    c.seed_commitment = m.seed_commitment;
    return {};
  }

  void close_share_keys() {
    if (!enough(mark_set(&ClientRecord::in_u2), "U2 (shared keys)")) return;
    enter(ServerStage::masked_input);
    std::vector<ForwardShares> inbox(p_.n + 1, ForwardShares{sid_, {}});
    for (std::uint32_t u = 1; u <= p_.n; ++u) {  // ascending u: each inbox ends up sorted by sender
      ClientRecord& c = clients_[u];
      if (!c.in_u2) continue;
      for (AddressedCiphertext& ct : c.outgoing) {
        if (clients_[ct.slot].in_u2) inbox[ct.slot].shares.push_back({u, std::move(ct.ciphertext)});
      }
      c.outgoing.clear();
    }
    for (std::uint32_t v = 1; v <= p_.n; ++v) {
      if (clients_[v].in_u2) sender_.send(v, std::move(inbox[v]));
    }
  }

  // ---- R2 MaskedInput: fold as it arrives ----------------------------------------------

  Status accept(std::uint32_t, const MaskedInput& m) { return accumulator_.add_packed(m.packed); }

  // Handled before dispatch (the client is dropped); present so every alternative has one.
  Status accept(std::uint32_t, const Abort&) { return fail(ErrorCode::out_of_order, "client aborted"); }

  void close_masked_input() {
    // U3 is frozen here: any masked input arriving later is refused (case 6). A client
    // whose input was folded in stays in U3 even if it dropped since: its input is in the
    // accumulator, so its self mask must come off, not its pairwise masks.
    std::uint32_t survivors = 0;
    for (std::uint32_t u = 1; u <= p_.n; ++u) {
      ClientRecord& c = clients_[u];
      c.in_u3 = c.in_u2 && c.answered;
      survivors += c.in_u3;
    }
    if (!enough(survivors, "U3 (masked inputs)")) return;
    if (p_.mode == ThreatModel::active) {
      enter(ServerStage::consistency_check);
      survivors_bitmap_ = bitmap_of(clients_, p_.n);
      for (std::uint32_t u = 1; u <= p_.n; ++u) {
        if (clients_[u].in_u3) sender_.send(u, SurvivorsView{sid_, survivors_bitmap_});
      }
      return;
    }
    send_unmask_requests(ServerStage::masked_input);
  }

  // ---- R3 ConsistencyCheck (active) ----------------------------------------------------

  Status accept(std::uint32_t slot, const SurvivorsSignature& m) {
    const ClientRecord& c = clients_[slot];
    if (!c.identity || !verify(c.identity->key, survivors_signing_payload(sid_, slot, survivors_bitmap_), m.signature)) {
      return fail(ErrorCode::bad_signature, "survivor signature invalid");
    }
    clients_[slot].survivors_signature = m.signature;
    return {};
  }

  // ---- R4 Unmasking --------------------------------------------------------------------

  void send_unmask_requests(ServerStage from) {
    std::uint32_t responders = 0;
    for (std::uint32_t u = 1; u <= p_.n; ++u) {
      ClientRecord& c = clients_[u];
      c.in_u4 = !c.dropped && c.in_u3 && (from != ServerStage::consistency_check || c.answered);
      responders += c.in_u4;
    }
    if (responders < p_.t) {
      abort("only " + std::to_string(responders) + " clients can answer the unmask request, need " + std::to_string(p_.t));
      return;
    }
    enter(ServerStage::unmasking);
    for (std::uint32_t u = 1; u <= p_.n; ++u) {
      ClientRecord& c = clients_[u];
      if (!c.in_u4) continue;
      UnmaskRequest out{sid_, {}, {}};
      c.expected_reveal.clear();
      for (std::uint32_t v : c.live_neighbours) {
        const ClientRecord& peer = clients_[v];
        if (!peer.in_u2) continue;
        if (!peer.in_u3) out.dropped.push_back(v);
        else if (peer.in_u4 && peer.survivors_signature) out.signatures.push_back({v, *peer.survivors_signature});
        c.expected_reveal.push_back({v, peer.in_u3 ? ShareKind::self_seed : ShareKind::mask_key});
      }
      c.expected_reveal.push_back({u, ShareKind::self_seed});
      std::sort(c.expected_reveal.begin(), c.expected_reveal.end());
      sender_.send(u, std::move(out));
    }
  }

  Status accept(std::uint32_t slot, const UnmaskResponse& m) {
    const ClientRecord& c = clients_[slot];
    std::vector<std::pair<std::uint32_t, ShareKind>> got;
    for (const RevealedShare& s : m.shares) {
      if (s.share.x != slot) return fail(ErrorCode::bad_value, "share of slot " + std::to_string(s.owner) + " has x = " + std::to_string(s.share.x));
      got.push_back({s.owner, s.kind});
    }
    std::sort(got.begin(), got.end());
    if (got != c.expected_reveal) return fail(ErrorCode::bad_value, "revealed shares differ from the ones requested");
    for (const RevealedShare& s : m.shares) {
      (s.kind == ShareKind::self_seed ? seed_shares_ : mask_shares_)[s.owner].push_back(s.share);
      ++share_counts_[{s.owner, s.kind}];
    }
    return {};
  }

  // Reconstructs `owner`'s secret of `kind` from t of its shares, trying further subsets if
  // the result does not match what the owner committed to (a holder sent a bad share).
  Result<Secret32> reconstruct(std::uint32_t owner, ShareKind kind) {
    auto& store = kind == ShareKind::self_seed ? seed_shares_ : mask_shares_;
    std::vector<ShamirShare>& shares = store[owner];
    if (shares.size() < p_.t) {
      return fail(ErrorCode::bad_value, "only " + std::to_string(shares.size()) + " shares of slot " +
                                            std::to_string(owner) + "'s " +
                                            (kind == ShareKind::self_seed ? "self seed" : "mask key") +
                                            ", need " + std::to_string(p_.t));
    }
    std::sort(shares.begin(), shares.end(), [](const ShamirShare& a, const ShamirShare& b) { return a.x < b.x; });
    // Candidate subsets: the first t; then, if a holder sent a bad share, each of the first
    // t + 1 left out once (finds one bad share wherever it is); then sliding windows.
    std::vector<std::vector<std::size_t>> candidates;
    std::vector<std::size_t> first(p_.t);
    std::iota(first.begin(), first.end(), 0);
    candidates.push_back(first);
    for (std::size_t skip = 0; shares.size() > p_.t && skip <= p_.t; ++skip) {
      std::vector<std::size_t> subset;
      for (std::size_t i = 0; i <= p_.t; ++i) {
        if (i != skip) subset.push_back(i);
      }
      candidates.push_back(subset);
    }
    for (std::size_t start = 1; start + p_.t <= shares.size() && start < kMaxReconstructionAttempts; ++start) {
      std::vector<std::size_t> window(p_.t);
      std::iota(window.begin(), window.end(), start);
      candidates.push_back(window);
    }
    for (std::size_t c = 0; c < candidates.size(); ++c) {
      std::vector<ShamirShare> subset;
      std::vector<std::uint32_t> xs;
      for (std::size_t i : candidates[c]) {
        subset.push_back(shares[i]);
        xs.push_back(shares[i].x);
      }
      auto coeffs = coefficients_for(xs);
      if (!coeffs) return coeffs.error();
      auto secret = (*coeffs)->reconstruct(subset);
      if (!secret || !matches_commitment(owner, kind, *secret)) continue;
      if (c >= 1 && c <= p_.t + 1 && shares.size() > p_.t) {
        const std::uint32_t culprit = shares[c - 1].x;  // left out in candidate c
        drops_.push_back({culprit, stage_, Error{ErrorCode::bad_value, "unmasking: slot " + std::to_string(culprit) +
                                                                           " sent an inconsistent share of slot " +
                                                                           std::to_string(owner)}});
      }
      return secret;
    }
    return fail(ErrorCode::bad_value, "slot " + std::to_string(owner) + "'s secret does not match its commitment");
  }

  bool matches_commitment(std::uint32_t owner, ShareKind kind, const Secret32& secret) const {
    if (kind == ShareKind::self_seed) return commit_self_seed(sid_, owner, secret) == clients_[owner].seed_commitment;
    return x25519_public_from_secret(secret) == clients_[owner].mask_pk;
  }

  // Lagrange coefficients are computed once per responder set and reused (most owners share one).
  Result<const LagrangeCoefficients*> coefficients_for(const std::vector<std::uint32_t>& xs) {
    auto it = lagrange_cache_.find(xs);
    if (it == lagrange_cache_.end()) {
      auto created = LagrangeCoefficients::create(xs);
      if (!created) return created.error();
      it = lagrange_cache_.emplace(xs, std::move(*created)).first;
    }
    return &it->second;
  }

  // One task per survivor (remove its self mask) and one per dropped client whose pairwise
  // masks some survivor added (remove them all: its private key is loaded once per task).
  struct RepairTask {
    std::uint32_t owner;
    Secret32 secret;                       // self-mask key, or the dropped owner's mask key
    std::vector<std::uint32_t> masked_with;  // empty for a self mask
  };

  void finish() {
    std::vector<RepairTask> tasks;
    for (std::uint32_t u = 1; u <= p_.n; ++u) {
      const ClientRecord& c = clients_[u];
      if (c.in_u3) {
        auto seed = reconstruct(u, ShareKind::self_seed);
        if (!seed) return abort(seed.error().detail);
        tasks.push_back({u, derive_self_mask_key(p_, sid_, u, *seed), {}});
      } else if (c.in_u2) {
        std::vector<std::uint32_t> masked_with;
        for (std::uint32_t v : c.live_neighbours) {
          if (clients_[v].in_u3) masked_with.push_back(v);
        }
        if (masked_with.empty()) continue;  // nobody added a mask with u: nothing to remove
        auto mask_secret = reconstruct(u, ShareKind::mask_key);
        if (!mask_secret) return abort(mask_secret.error().detail);
        tasks.push_back({u, std::move(*mask_secret), std::move(masked_with)});
      }
    }
    // The shares have served their purpose; ShamirShare wipes itself on destruction.
    seed_shares_.clear();
    mask_shares_.clear();
    if (!repair(tasks)) return;
    output_.sum = accumulator_.values();
    for (std::uint32_t u = 1; u <= p_.n; ++u) {
      if (clients_[u].in_u3) output_.survivors.push_back(u);
    }
    stage_ = ServerStage::completed;
  }

  // Runs the mask removals on the executor: one partial sum per worker, added in worker
  // order. Ring addition commutes, so the result does not depend on the worker count.
  bool repair(const std::vector<RepairTask>& tasks) {
    const std::size_t workers = std::max<std::size_t>(1, executor_.workers());
    std::vector<RingBuffer> partial(workers, RingBuffer(p_.ring_bits, p_.vector_length));
    std::vector<MaskPrg> prgs;
    for (std::size_t w = 0; w < workers; ++w) prgs.push_back(MaskPrg::create(p_.prg));
    std::vector<std::uint32_t> failed_peer(tasks.size(), 0);
    executor_.run(tasks.size(), [&](std::size_t i, std::size_t w) {
      const RepairTask& t = tasks[i];
      if (t.masked_with.empty()) {
        partial[w].add_mask(prgs[w], t.secret, /*subtract=*/true);
        return;
      }
      const X25519PreparedKey owner_key(t.secret);
      for (std::uint32_t v : t.masked_with) {
        auto key = derive_pair_mask_key(p_, sid_, t.owner, v, owner_key, clients_[t.owner].mask_pk, clients_[v].mask_pk);
        if (!key) {
          failed_peer[i] = v;
          return;
        }
        // v added +PRG(s_uv) if v > u and −PRG if v < u; take off the same.
        partial[w].add_mask(prgs[w], *key, /*subtract=*/v > t.owner);
      }
    });
    for (std::size_t w = 0; w < workers; ++w) {
      accumulator_.add(partial[w]);
      keystream_bytes_ += prgs[w].keystream_bytes();
    }
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      if (failed_peer[i]) {
        abort("pairwise key of slots " + std::to_string(tasks[i].owner) + " and " + std::to_string(failed_peer[i]) +
              " cannot be derived");
        return false;
      }
    }
    return true;
  }

  SessionParams p_;
  SessionId sid_;
  NeighbourGraph graph_;
  Digest32 seed_;
  SendToClients& sender_;
  Executor& executor_;
  const IdentityVerifier* verifier_;
  std::vector<ClientRecord> clients_;  // index = slot; [0] unused
  RingBuffer accumulator_;
  ServerStage stage_ = ServerStage::advertise_keys;
  bool closing_ = false;
  std::uint32_t pending_ = 0;  // live members of the current stage's set that have not answered
  std::array<StageCounts, 7> counts_{};
  std::vector<DropRecord> drops_;
  std::vector<std::uint8_t> survivors_bitmap_;
  std::map<std::uint32_t, std::vector<ShamirShare>> seed_shares_;
  std::map<std::uint32_t, std::vector<ShamirShare>> mask_shares_;
  std::map<std::vector<std::uint32_t>, LagrangeCoefficients> lagrange_cache_;
  std::set<std::array<std::uint8_t, 32>> advertised_keys_;
  std::map<std::pair<std::uint32_t, ShareKind>, std::uint32_t> share_counts_;  // kept after the shares are wiped
  AggregateOutput output_;
  std::optional<Error> abort_error_;
  std::uint64_t keystream_bytes_ = 0;
};

// ---- facade ----------------------------------------------------------------------------

std::string_view to_string(ServerStage stage) noexcept {
  switch (stage) {
    case ServerStage::advertise_keys: return "advertise_keys";
    case ServerStage::share_keys: return "share_keys";
    case ServerStage::masked_input: return "masked_input";
    case ServerStage::consistency_check: return "consistency_check";
    case ServerStage::unmasking: return "unmasking";
    case ServerStage::completed: return "completed";
    case ServerStage::aborted: return "aborted";
  }
  return "unknown";
}

Result<std::unique_ptr<SecAggServer>> SecAggServer::create(const SessionParams& params, const Digest32& graph_seed,
                                                           SendToClients& sender, Executor& executor,
                                                           const IdentityVerifier* verifier) {
  if (auto st = validate(params); !st) return Error{ErrorCode::invalid_argument, st.error().detail};
  if (!verify_graph_seed(params.graph_commitment, graph_seed)) {
    return fail(ErrorCode::invalid_argument, "graph seed does not open the commitment in the parameters");
  }
  if (params.mode == ThreatModel::active && !verifier) {
    return fail(ErrorCode::invalid_argument, "active mode needs an identity verifier");
  }
  auto graph = NeighbourGraph::create(params.n, params.k, graph_seed);
  if (!graph) return Error{ErrorCode::invalid_argument, graph.error().detail};
  return std::unique_ptr<SecAggServer>(new SecAggServer(
      std::make_unique<ServerCore>(params, std::move(*graph), graph_seed, sender, executor, verifier)));
}

SecAggServer::SecAggServer(std::unique_ptr<ServerCore> core) : core_(std::move(core)) {}
SecAggServer::~SecAggServer() = default;
void SecAggServer::start() { core_->start(); }
void SecAggServer::handle(std::uint32_t slot, const ClientMessage& m) { core_->handle(slot, m); }
void SecAggServer::on_deadline() { core_->on_deadline(); }
void SecAggServer::on_disconnect(std::uint32_t slot) { core_->on_disconnect(slot); }
ServerStage SecAggServer::stage() const { return core_->stage(); }
const SessionId& SecAggServer::session_id() const { return core_->sid(); }
const AggregateOutput& SecAggServer::output() const { return core_->output(); }
const std::optional<Error>& SecAggServer::abort_error() const { return core_->abort_error(); }
const std::vector<DropRecord>& SecAggServer::drops() const { return core_->drops(); }
StageCounts SecAggServer::counts(ServerStage s) const { return core_->counts(s); }
std::uint32_t SecAggServer::shares_received(std::uint32_t owner, ShareKind kind) const {
  return core_->shares_received(owner, kind);
}
std::uint64_t SecAggServer::keystream_bytes() const { return core_->keystream_bytes(); }

}  // namespace edgefed::secagg
