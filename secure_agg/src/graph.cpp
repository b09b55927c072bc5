#include "edgefed/secagg/graph.hpp"

#include <algorithm>
#include <string>
#include <utility>

namespace edgefed::secagg {
namespace {

constexpr std::string_view kGraphPrgLabel = "edgefed/v1/graph";
constexpr std::string_view kGraphCommitLabel = "edgefed/v1/graph-commit";

// SHA-256 in counter mode over label ‖ seed ‖ counter, handed out as 64-bit words.
class GraphPrg {
 public:
  explicit GraphPrg(std::span<const std::uint8_t, kGraphSeedBytes> seed) : seed_(seed) {}

  // Uniform in [0, bound), bound ≥ 1, by rejection: 2^64 mod bound words at the top of the
  // range would otherwise make the low residues more likely.
  std::uint64_t uniform_below(std::uint64_t bound) {
    const std::uint64_t rejected_tail = (0 - bound) % bound;  // 2^64 mod bound
    const std::uint64_t limit = 0 - rejected_tail;            // 2^64 − tail (0 if tail 0)
    for (;;) {
      const std::uint64_t word = next_word();
      if (rejected_tail == 0 || word < limit) return word % bound;
    }
  }

 private:
  std::uint64_t next_word() {
    if (word_index_ == kWordsPerBlock) refill();
    std::uint64_t word = 0;
    for (std::size_t i = 0; i < 8; ++i) {
      word |= static_cast<std::uint64_t>(block_[word_index_ * 8 + i]) << (8 * i);
    }
    ++word_index_;
    return word;
  }

  void refill() {
    std::array<std::uint8_t, 8> counter{};
    for (std::size_t i = 0; i < 8; ++i) counter[i] = static_cast<std::uint8_t>(counter_ >> (8 * i));
    hasher_.update(as_bytes(kGraphPrgLabel));
    hasher_.update(seed_);
    hasher_.update(counter);
    block_ = hasher_.finish();
    ++counter_;
    word_index_ = 0;
  }

  static constexpr std::size_t kWordsPerBlock = kSha256DigestBytes / 8;
  std::span<const std::uint8_t, kGraphSeedBytes> seed_;
  Sha256 hasher_;
  Sha256Digest block_{};
  std::uint64_t counter_ = 0;
  std::size_t word_index_ = kWordsPerBlock;
};

}  // namespace

bool is_valid_degree(std::uint32_t n, std::uint32_t k) noexcept {
  if (n >= 2 && k == n - 1) return true;  // complete graph, either parity
  return n >= 4 && k >= 2 && k % 2 == 0 && k <= n - 2;
}

GraphSeedCommitment commit_graph_seed(std::span<const std::uint8_t, kGraphSeedBytes> seed) {
  Sha256 hasher;
  hasher.update(as_bytes(kGraphCommitLabel));
  hasher.update(seed);
  return hasher.finish();
}

bool verify_graph_seed(const GraphSeedCommitment& commitment,
                       std::span<const std::uint8_t, kGraphSeedBytes> seed) {
  const GraphSeedCommitment expected = commit_graph_seed(seed);
  return constant_time_equal(expected, commitment);
}

Result<NeighbourGraph> NeighbourGraph::create(std::uint32_t n, std::uint32_t k,
                                              std::span<const std::uint8_t, kGraphSeedBytes> seed) {
  if (n < 2 || n > kMaxCohortSize) {
    return fail(ErrorCode::invalid_argument,
                "neighbour graph: cohort size " + std::to_string(n) + " outside [2, " +
                    std::to_string(kMaxCohortSize) + "]");
  }
  if (!is_valid_degree(n, k)) {
    return fail(ErrorCode::invalid_argument,
                "neighbour graph: degree " + std::to_string(k) + " for " + std::to_string(n) +
                    " slots must be even in [2, n-2] or equal n-1 (complete graph)");
  }
  std::vector<std::uint32_t> ring(n);
  for (std::uint32_t i = 0; i < n; ++i) ring[i] = i + 1;
  GraphPrg prg(seed);
  for (std::uint32_t i = n - 1; i >= 1; --i) {
    const auto j = static_cast<std::uint32_t>(prg.uniform_below(std::uint64_t{i} + 1));
    std::swap(ring[i], ring[j]);
  }
  return NeighbourGraph(n, k, std::move(ring));
}

NeighbourGraph::NeighbourGraph(std::uint32_t n, std::uint32_t k,
                               std::vector<std::uint32_t> slot_at_position)
    : n_(n), k_(k), slot_at_position_(std::move(slot_at_position)), position_of_slot_(n) {
  for (std::uint32_t p = 0; p < n_; ++p) position_of_slot_[slot_at_position_[p] - 1] = p;
}

std::vector<std::uint32_t> NeighbourGraph::neighbours(std::uint32_t slot) const {
  std::vector<std::uint32_t> out;
  if (slot < 1 || slot > n_) return out;
  out.reserve(k_);
  if (is_complete()) {
    for (std::uint32_t s = 1; s <= n_; ++s) {
      if (s != slot) out.push_back(s);
    }
    return out;
  }
  const std::uint32_t p = position_of_slot_[slot - 1];
  for (std::uint32_t d = 1; d <= k_ / 2; ++d) {
    out.push_back(slot_at_position_[(p + d) % n_]);
    out.push_back(slot_at_position_[(p + n_ - d) % n_]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool NeighbourGraph::are_neighbours(std::uint32_t a, std::uint32_t b) const noexcept {
  if (a == b || a < 1 || b < 1 || a > n_ || b > n_) return false;
  if (is_complete()) return true;
  const std::uint32_t pa = position_of_slot_[a - 1];
  const std::uint32_t pb = position_of_slot_[b - 1];
  const std::uint32_t forward = pa > pb ? pa - pb : pb - pa;
  return std::min(forward, n_ - forward) <= k_ / 2;
}

std::uint32_t NeighbourGraph::position_of(std::uint32_t slot) const noexcept {
  if (slot < 1 || slot > n_) return n_;
  return position_of_slot_[slot - 1];
}

std::uint32_t NeighbourGraph::slot_at(std::uint32_t position) const noexcept {
  if (position >= n_) return 0;
  return slot_at_position_[position];
}

}  // namespace edgefed::secagg
