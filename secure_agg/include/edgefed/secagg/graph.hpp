// The SecAgg+ neighbour graph: who exchanges keys, shares and pairwise masks with whom.
//
// Parties are the slots 1..n of the frozen cohort. Each party deals with its k neighbours
// only (Bell et al., CCS'20), instead of all n − 1 others as in classic SecAgg (Bonawitz
// et al., CCS'17). The graph is a Harary graph over a secret-until-opened permutation:
//
//   1. A 32-byte graph seed drives a Fisher–Yates shuffle that places the n slots on a ring
//      (ring positions 0..n−1).
//   2. Each slot is linked to the k/2 slots before it and the k/2 slots after it on the
//      ring, so the graph is k-regular and symmetric. The random placement is what makes
//      the parameter analysis (params.hpp) hold: an adversary who does not know the seed
//      cannot choose whom a victim neighbours.
//
// Conventions (shared with params.hpp and the protocol):
//   - k counts the *other* parties a slot is linked to; it excludes the self-edge. In the
//     protocol each party Shamir-shares its secrets among its k neighbours *and itself*
//     (k + 1 share holders, as Google's fcp/secagg and Flower do); see params.hpp for what
//     the threshold t counts.
//   - A sparse graph has k even, 2 ≤ k ≤ n − 2.
//   - k = n − 1 (of either parity) is the complete graph: every slot neighbours every other,
//     which is classic SecAgg. For odd n − 1 there is no Harary construction with k/2 on
//     each side, so the complete graph is the definition, not a special case of the ring.
//   - Any other (n, k) is refused.
//
// The seed. The PRG is SHA-256 in counter mode:
//   block_i = SHA-256("edgefed/v1/graph" ‖ seed ‖ i as 8-byte little-endian), i = 0, 1, ...
// read as consecutive 64-bit little-endian words. Shuffle: ring = (1, 2, ..., n); for
// i = n − 1 down to 1, draw j uniform in [0, i] and swap ring[i] and ring[j]. A draw in
// [0, m) takes the next word w, rejects it while w ≥ 2^64 − (2^64 mod m), and returns
// w mod m, so every index is exactly uniform. The result depends only on the seed and n:
// it is reproducible across compilers and platforms (std::shuffle and
// std::uniform_int_distribution are not, so they are not used).
//
// The server commits to the seed before the cohort's keys are known (the commitment
// travels in SessionAnnounce) and opens it with NeighbourKeys; each client checks the
// opening with verify_graph_seed and rebuilds its own neighbour list from it (secagg.md
// §6.3, test case 19). WARNING: in the active threat model a server that colludes with
// corrupt clients must not be able to choose the seed after seeing the cohort, or it can
// surround a victim with corrupt neighbours; draw the seed from randomness it cannot
// steer (secagg.md §6.1 item 2).
//
// Complexity: memory O(n) (the permutation and its inverse, never adjacency lists);
// construction O(n) hash-driven draws; neighbours(slot) O(k log k); are_neighbours O(1).
// Thread safety: a NeighbourGraph is immutable after create(); const methods may be called
// concurrently.
#pragma once

#include "edgefed/common/crypto.hpp"
#include "edgefed/common/result.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace edgefed::secagg {

inline constexpr std::size_t kGraphSeedBytes = 32;
// Largest cohort a graph (and the parameter finder) accepts; equal to session.hpp's
// kMaxCohort (checked in params.cpp). Google's finder stops at 10^6 for want of tests;
// ours is tested up to this size.
inline constexpr std::uint32_t kMaxCohortSize = 1u << 20;

using GraphSeed = std::array<std::uint8_t, kGraphSeedBytes>;
using GraphSeedCommitment = Sha256Digest;

// SHA-256("edgefed/v1/graph-commit" ‖ seed). The seed has 256 bits of entropy, so the
// commitment hides it until it is opened.
GraphSeedCommitment commit_graph_seed(std::span<const std::uint8_t, kGraphSeedBytes> seed);

// True iff `seed` opens `commitment`. Constant-time comparison.
[[nodiscard]] bool verify_graph_seed(const GraphSeedCommitment& commitment,
                                     std::span<const std::uint8_t, kGraphSeedBytes> seed);

// True iff k is a degree NeighbourGraph accepts for n slots: even in [2, n − 2], or n − 1.
[[nodiscard]] bool is_valid_degree(std::uint32_t n, std::uint32_t k) noexcept;

class NeighbourGraph {
 public:
  // The Harary graph of degree k over the n slots, placed on the ring by `seed`.
  // Errors: invalid_argument if n < 2, n > kMaxCohortSize, or k is neither an even number
  // in [2, n − 2] nor n − 1 (see the conventions above).
  static Result<NeighbourGraph> create(std::uint32_t n, std::uint32_t k,
                                       std::span<const std::uint8_t, kGraphSeedBytes> seed);

  std::uint32_t n() const noexcept { return n_; }
  std::uint32_t k() const noexcept { return k_; }
  // True iff every slot neighbours every other slot (k = n − 1): classic SecAgg.
  bool is_complete() const noexcept { return k_ + 1 == n_; }

  // The k neighbours of `slot`, sorted ascending; never contains `slot` itself.
  // A slot outside 1..n has no neighbours (empty vector).
  std::vector<std::uint32_t> neighbours(std::uint32_t slot) const;

  // True iff a ≠ b are both in 1..n and linked. Symmetric. False for a == b (the self-edge
  // is implicit, not part of k) and for slots outside 1..n.
  bool are_neighbours(std::uint32_t a, std::uint32_t b) const noexcept;

  // Where the shuffle put `slot` on the ring (0..n−1), and its inverse; for diagnostics and
  // tests, the protocol needs only neighbours() and are_neighbours(). position_of returns n
  // for a slot outside 1..n; slot_at returns 0 (never a slot) for a position ≥ n.
  std::uint32_t position_of(std::uint32_t slot) const noexcept;
  std::uint32_t slot_at(std::uint32_t position) const noexcept;

 private:
  NeighbourGraph(std::uint32_t n, std::uint32_t k, std::vector<std::uint32_t> slot_at_position);

  std::uint32_t n_;
  std::uint32_t k_;
  std::vector<std::uint32_t> slot_at_position_;  // position -> slot (1..n)
  std::vector<std::uint32_t> position_of_slot_;  // slot - 1 -> position
};

}  // namespace edgefed::secagg
