#include "edgefed/secagg/session.hpp"

#include "edgefed/common/crypto.hpp"
#include "edgefed/secagg/ring.hpp"

#include <cmath>
#include <string>

namespace edgefed::secagg {

std::string_view to_string(ThreatModel model) noexcept {
  switch (model) {
    case ThreatModel::semi_honest: return "semi_honest";
    case ThreatModel::active: return "active";
  }
  return "unknown";
}

namespace {
Error bad(std::string what) { return Error{ErrorCode::bad_value, "session parameters: " + std::move(what)}; }
std::string str(std::uint64_t v) { return std::to_string(v); }
}  // namespace

EncodingParams encoding_params(const SessionParams& p) {
  EncodingParams e;
  e.clip = p.clip;
  e.q = p.input_bits;
  e.b = p.ring_bits;
  e.n_max = p.n;
  return e;
}

Status validate(const SessionParams& p) {
  // Two parties would learn each other's input from the sum; one share would let any
  // single holder reveal a secret.
  if (p.n < 3 || p.n > kMaxCohort) return bad("n = " + str(p.n) + " outside [3, " + str(kMaxCohort) + "]");
  if (p.k < 1 || p.k > p.n - 1) return bad("k = " + str(p.k) + " outside [1, n − 1 = " + str(p.n - 1) + "]");
  if (p.k != p.n - 1 && p.k % 2 != 0) return bad("k = " + str(p.k) + " must be even (Harary graph) unless k = n − 1");
  if (p.t < 2 || p.t > p.k + 1) return bad("t = " + str(p.t) + " outside [2, k + 1 = " + str(p.k + 1) + "]");
  if (p.mode == ThreatModel::active && 2 * p.t <= p.k + 1) {
    return bad("active mode needs 2t > k + 1, got t = " + str(p.t) + ", k = " + str(p.k));
  }
  if (p.min_survivors < p.t || p.min_survivors > p.n) {
    return bad("min_survivors = " + str(p.min_survivors) + " outside [t = " + str(p.t) + ", n = " + str(p.n) + "]");
  }
  if (p.ring_bits < 2 || p.ring_bits > 62) return bad("ring_bits = " + str(p.ring_bits) + " outside [2, 62]");
  if (p.vector_length < 1 || p.vector_length > kMaxVectorLength) {
    return bad("vector_length = " + str(p.vector_length) + " outside [1, " + str(kMaxVectorLength) + "]");
  }
  if (p.prg != PrgKind::aes256_ctr && p.prg != PrgKind::chacha20) return bad("unknown PRG");
  if (p.mode != ThreatModel::semi_honest && p.mode != ThreatModel::active) return bad("unknown threat model");
  if (auto st = encoding_params(p).validate(); !st) return bad(st.error().detail);
  return {};
}

Bytes canonical_encoding(const SessionParams& p) {
  Bytes out;
  ByteWriter w(out);
  w.put(p.round);
  w.put(p.n);
  w.put(p.k);
  w.put(p.t);
  w.put(p.min_survivors);
  w.put(p.ring_bits);
  w.put(p.input_bits);
  w.put(p.clip);
  w.put(p.vector_length);
  w.put(static_cast<std::uint8_t>(p.prg));
  w.put(static_cast<std::uint8_t>(p.mode));
  w.put_bytes(p.graph_commitment);
  w.put_bytes(p.server_nonce);
  return out;
}

SessionId compute_session_id(const SessionParams& p) {
  Sha256 h;
  h.update(as_bytes(std::string_view("flsa/v1/sid")));
  h.update(canonical_encoding(p));
  return h.finish();
}

}  // namespace edgefed::secagg
