// Session parameters: what the server announces and every client checks before it sends a
// single key. They fix the cohort (slots 1..n), the neighbour graph (k, its committed
// seed), the threshold t, the ring Z_{2^b} and the input encoding, and bind every key,
// ciphertext and signature of the session through the session id.
//
// Conventions used across edgefed::secagg:
// - Parties are slots 1..n of the frozen cohort. Slot numbers are also Shamir x-coordinates.
// - Client u's secrets are shared among its *holders*: its k graph neighbours and u itself
//   (k + 1 holders, any t of them reconstruct). k = n − 1 is the complete graph, i.e. the
//   classic protocol of Bonawitz et al. CCS'17.
// - The session id (32 bytes) is SHA-256 over the canonical encoding of the parameters; it
//   is the HKDF salt of every derived key, part of every AEAD's associated data and of every
//   signature. Its size does not depend on n.
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/secagg/primitives.hpp"
#include "edgefed/secagg/ring.hpp"

#include <array>
#include <cstdint>

namespace edgefed::secagg {

using SessionId = std::array<std::uint8_t, 32>;
using Digest32 = std::array<std::uint8_t, 32>;

enum class ThreatModel : std::uint8_t {
  semi_honest = 1,  // curious server; TLS + device authentication; no signatures
  active = 2,       // Ed25519-signed keys bound to device identity, consistency check
};
std::string_view to_string(ThreatModel model) noexcept;

inline constexpr std::uint32_t kMaxCohort = 1u << 20;
inline constexpr std::uint64_t kMaxVectorLength = 1ull << 28;

struct SessionParams {
  std::uint64_t round = 0;
  std::uint32_t n = 0;               // cohort size
  std::uint32_t k = 0;               // neighbours per client, self excluded (n − 1: complete)
  std::uint32_t t = 0;               // shares needed out of the k + 1 holders
  std::uint32_t min_survivors = 0;   // fewer masked inputs than this: abort, reveal nothing
  std::uint32_t ring_bits = 32;      // b: the sum lives in Z_{2^b}, 2..62
  std::uint32_t input_bits = 16;     // q: bits of each encoded input incl. sign (budget below)
  double clip = 1.0;                 // c: inputs are clipped to [−c, c] before encoding
  std::uint64_t vector_length = 0;   // m: ring elements per masked input (weight incl.)
  PrgKind prg = PrgKind::aes256_ctr;
  ThreatModel mode = ThreatModel::semi_honest;
  Digest32 graph_commitment{};       // SHA-256 commitment to the graph seed
  Digest32 server_nonce{};           // fresh per session: two sessions never share an id
};

// Checks that every client and the server apply to announced parameters (case 9 of the
// spec): 3 ≤ n ≤ kMaxCohort; 1 ≤ k ≤ n − 1 and k even unless k = n − 1; 2 ≤ t ≤ k + 1;
// active mode: 2t > k + 1 (a server cannot collect t shares of both secrets of one client);
// t ≤ min_survivors ≤ n; 2 ≤ b ≤ 62; overflow budget n·(2^(q−1) − 1) < 2^(b−1);
// 0 < c < ∞; 1 ≤ m ≤ kMaxVectorLength. Errors are bad_value naming the parameter.
Status validate(const SessionParams& params);

// The input encoding the parameters imply: clip c, q input bits, ring b, n_max = n.
EncodingParams encoding_params(const SessionParams& params);

// The canonical byte encoding that the session id hashes (little-endian, fixed order).
Bytes canonical_encoding(const SessionParams& params);
// sid = SHA-256("flsa/v1/sid" ‖ canonical_encoding(params)).
SessionId compute_session_id(const SessionParams& params);

}  // namespace edgefed::secagg
