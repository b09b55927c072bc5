// The SecAgg+ neighbour graph: shape (k-regular, symmetric, no self-edge), determinism and
// a pinned known answer for the seed-driven shuffle, uniformity of the shuffle, the complete
// graph, refused (n, k), and the graph-seed commitment.
//
// Golden values (n = 10, k = 4, seed = bytes 0x00..0x1f) were produced by an independent
// Python re-implementation of the PRG and shuffle documented in graph.hpp (hashlib.sha256
// over b"edgefed/v1/graph" + seed + struct.pack("<Q", i), 64-bit little-endian words,
// rejection above 2^64 - (2^64 mod m), Fisher-Yates from the top), and agree with this
// implementation. The commitment golden is hashlib.sha256(b"edgefed/v1/graph-commit" + seed).
#include "edgefed/secagg/graph.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <vector>

namespace edgefed::secagg {
namespace {

using Slots = std::vector<std::uint32_t>;

GraphSeed counting_seed() {
  GraphSeed seed{};
  for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(i);
  return seed;
}

// A distinct, well-mixed seed per index: SHA-256 of the 8-byte little-endian index.
GraphSeed seed_from(std::uint64_t index) {
  std::uint8_t raw[8];
  for (int i = 0; i < 8; ++i) raw[i] = static_cast<std::uint8_t>(index >> (8 * i));
  return sha256(ByteSpan(raw, sizeof raw));
}

NeighbourGraph make(std::uint32_t n, std::uint32_t k, const GraphSeed& seed) {
  Result<NeighbourGraph> graph = NeighbourGraph::create(n, k, seed);
  REQUIRE(graph.ok());
  return std::move(graph).value();
}

void require_regular_and_symmetric(const NeighbourGraph& g) {
  for (std::uint32_t a = 1; a <= g.n(); ++a) {
    const Slots nb = g.neighbours(a);
    REQUIRE(nb.size() == g.k());
    REQUIRE(std::is_sorted(nb.begin(), nb.end()));
    REQUIRE(std::adjacent_find(nb.begin(), nb.end()) == nb.end());
    REQUIRE(std::find(nb.begin(), nb.end(), a) == nb.end());
    const std::set<std::uint32_t> listed(nb.begin(), nb.end());
    for (std::uint32_t b = 1; b <= g.n(); ++b) {
      REQUIRE(g.are_neighbours(a, b) == (listed.count(b) == 1));
      REQUIRE(g.are_neighbours(a, b) == g.are_neighbours(b, a));
    }
  }
}

TEST_CASE("every slot has exactly k distinct neighbours and the relation is symmetric",
          "[graph]") {
  const GraphSeed seed = seed_from(1);
  for (const auto& [n, k] : std::vector<std::pair<std::uint32_t, std::uint32_t>>{
           {4, 2}, {5, 2}, {10, 4}, {11, 8}, {12, 10}, {50, 6}, {101, 30}}) {
    INFO("n=" << n << " k=" << k);
    const NeighbourGraph g = make(n, k, seed);
    CHECK_FALSE(g.is_complete());
    require_regular_and_symmetric(g);
  }
}

TEST_CASE("neighbours are the k/2 ring positions on either side", "[graph]") {
  const NeighbourGraph g = make(30, 6, seed_from(7));
  std::set<std::uint32_t> slots_seen;
  for (std::uint32_t p = 0; p < g.n(); ++p) {
    const std::uint32_t slot = g.slot_at(p);
    REQUIRE(g.position_of(slot) == p);
    slots_seen.insert(slot);
    Slots expected;
    for (std::uint32_t d = 1; d <= 3; ++d) {
      expected.push_back(g.slot_at((p + d) % 30));
      expected.push_back(g.slot_at((p + 30 - d) % 30));
    }
    std::sort(expected.begin(), expected.end());
    REQUIRE(g.neighbours(slot) == expected);
  }
  CHECK(slots_seen.size() == 30);
  CHECK(*slots_seen.begin() == 1);
  CHECK(*slots_seen.rbegin() == 30);
}

TEST_CASE("graph for a fixed seed matches the pinned known answer", "[graph]") {
  const NeighbourGraph g = make(10, 4, counting_seed());
  const Slots ring{2, 1, 6, 8, 4, 10, 9, 3, 5, 7};
  for (std::uint32_t p = 0; p < 10; ++p) CHECK(g.slot_at(p) == ring[p]);
  const std::map<std::uint32_t, Slots> expected{
      {1, {2, 6, 7, 8}}, {2, {1, 5, 6, 7}},  {3, {5, 7, 9, 10}}, {4, {6, 8, 9, 10}},
      {5, {2, 3, 7, 9}}, {6, {1, 2, 4, 8}},  {7, {1, 2, 3, 5}},  {8, {1, 4, 6, 10}},
      {9, {3, 4, 5, 10}}, {10, {3, 4, 8, 9}}};
  for (const auto& [slot, nb] : expected) {
    INFO("slot " << slot);
    CHECK(g.neighbours(slot) == nb);
  }
}

TEST_CASE("the same seed gives the same graph and different seeds different graphs",
          "[graph]") {
  const NeighbourGraph a = make(100, 6, seed_from(3));
  const NeighbourGraph b = make(100, 6, seed_from(3));
  const NeighbourGraph c = make(100, 6, seed_from(4));
  std::uint32_t differing = 0;
  for (std::uint32_t s = 1; s <= 100; ++s) {
    REQUIRE(a.neighbours(s) == b.neighbours(s));
    if (a.neighbours(s) != c.neighbours(s)) ++differing;
  }
  // Two independent shuffles of 100 slots share a neighbour list for only a few slots.
  CHECK(differing > 90);
}

TEST_CASE("k = n - 1 is the complete graph, for either parity", "[graph]") {
  for (const std::uint32_t n : {2u, 3u, 5u, 8u, 13u}) {
    INFO("n=" << n);
    const NeighbourGraph g = make(n, n - 1, seed_from(n));
    CHECK(g.is_complete());
    CHECK(g.k() == n - 1);
    require_regular_and_symmetric(g);
    Slots others;
    for (std::uint32_t s = 2; s <= n; ++s) others.push_back(s);
    CHECK(g.neighbours(1) == others);
  }
}

TEST_CASE("slots outside 1..n have no neighbours", "[graph]") {
  const NeighbourGraph g = make(10, 4, counting_seed());
  CHECK(g.neighbours(0).empty());
  CHECK(g.neighbours(11).empty());
  CHECK_FALSE(g.are_neighbours(0, 1));
  CHECK_FALSE(g.are_neighbours(1, 11));
  CHECK_FALSE(g.are_neighbours(3, 3));
  CHECK(g.position_of(0) == 10);
  CHECK(g.position_of(11) == 10);
  CHECK(g.slot_at(10) == 0);
}

TEST_CASE("invalid cohort sizes and degrees are refused", "[graph]") {
  const GraphSeed seed = counting_seed();
  const std::vector<std::pair<std::uint32_t, std::uint32_t>> invalid{
      {0, 0}, {1, 0}, {2, 0}, {3, 0}, {3, 1}, {10, 0}, {10, 1}, {10, 3}, {10, 5},
      {10, 10}, {10, 11}, {10, 100}, {9, 7}};
  for (const auto& [n, k] : invalid) {
    INFO("n=" << n << " k=" << k);
    const Result<NeighbourGraph> g = NeighbourGraph::create(n, k, seed);
    REQUIRE_FALSE(g.ok());
    CHECK(g.error().code == ErrorCode::invalid_argument);
    CHECK_FALSE(is_valid_degree(n, k));
  }
  CHECK(NeighbourGraph::create(kMaxCohortSize + 1, 4, seed).error().code ==
        ErrorCode::invalid_argument);
  CHECK(is_valid_degree(10, 8));
  CHECK(is_valid_degree(10, 9));
  CHECK(is_valid_degree(9, 8));
  CHECK(is_valid_degree(4, 2));
  CHECK(is_valid_degree(2, 1));
}

TEST_CASE("the shuffle places a slot uniformly on the ring", "[graph]") {
  // Position of slot 1 (and of slot n) over many seeds: chi-square with 9 degrees of
  // freedom. The seeds are fixed, so this never flakes; 45 is the 1 - 1e-6 quantile.
  constexpr std::uint32_t kN = 10;
  constexpr std::uint32_t kTrials = 20000;
  std::vector<double> first(kN, 0.0), last(kN, 0.0);
  for (std::uint64_t i = 0; i < kTrials; ++i) {
    const NeighbourGraph g = make(kN, 4, seed_from(1000 + i));
    first[g.position_of(1)] += 1;
    last[g.position_of(kN)] += 1;
  }
  const auto chi_square = [](const std::vector<double>& counts) {
    const double expected = double(kTrials) / kN;
    double sum = 0;
    for (const double c : counts) sum += (c - expected) * (c - expected) / expected;
    return sum;
  };
  CHECK(chi_square(first) < 45.0);
  CHECK(chi_square(last) < 45.0);
}

TEST_CASE("a large cohort builds in linear memory", "[graph]") {
  const NeighbourGraph g = make(kMaxCohortSize, 40, seed_from(9));
  CHECK(g.neighbours(1).size() == 40);
  CHECK(g.neighbours(kMaxCohortSize).size() == 40);
  const Slots nb = g.neighbours(12345);
  for (const std::uint32_t s : nb) CHECK(g.are_neighbours(s, 12345));
}

TEST_CASE("the graph-seed commitment opens with its seed and nothing else", "[graph]") {
  const GraphSeed seed = counting_seed();
  const GraphSeedCommitment commitment = commit_graph_seed(seed);
  CHECK(to_hex(commitment) == "07b5b5b9f99ace355626893773d42c007809c9fb6876cd14b815a3fe0e8fae37");
  CHECK(verify_graph_seed(commitment, seed));

  GraphSeed other = seed;
  other[31] ^= 0x01;
  CHECK_FALSE(verify_graph_seed(commitment, other));

  GraphSeedCommitment tampered = commitment;
  tampered[0] ^= 0x80;
  CHECK_FALSE(verify_graph_seed(tampered, seed));
  // The commitment is not the plain hash of the seed (domain separation).
  CHECK(commitment != sha256(seed));
}

}  // namespace
}  // namespace edgefed::secagg
