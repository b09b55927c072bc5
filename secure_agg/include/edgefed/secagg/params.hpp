// SecAgg+ parameters: the neighbour-graph degree k and the Shamir threshold t.
//
// find_graph_parameters derives (k, t) from the cohort size n and the threat assumptions,
// following the procedure of Google's fcp/secagg/server/graph_parameter_finder.cc (Bell et
// al., CCS'20). validate_graph_parameters checks explicitly configured (k, t) against the
// same inequalities (secagg.md §6.8 case 9). Both are pure functions of their arguments.
//
// Conventions (shared with graph.hpp and the protocol):
//   - k counts a party's neighbours, excluding itself (graph.hpp).
//   - Each party Shamir-shares its mask key and its self-mask seed b_u among k + 1 holders:
//     its k neighbours and itself, as Google's and Flower's implementations do. t is the
//     number of those k + 1 shares needed to reconstruct, so 2 ≤ t ≤ k + 1. The party's
//     own share is only ever revealed as a b_u share (a live party answers Unmasking for
//     itself as for a live neighbour); its own mask-key share never leaves it.
//   - corrupt fraction γ: at most ⌊γ·n⌋ clients collude with the server.
//     dropout fraction δ: at most ⌊δ·n⌋ clients drop out; the server proceeds only while at
//     least min_clients_to_proceed(n, δ) = n − ⌊δ·n⌋ = ⌈(1 − δ)·n⌉ clients are alive.
//     (Rates are turned into counts with a 1e-14 guard, so 0.33·100 counts as 33.)
//
// The bad events, each bounded for σ = 40 bits of security or η = 20 bits of correctness:
//   disconnection  the graph minus corrupt and dropped clients falls apart, so the server
//                  would learn the sum of a small component. Removing a Harary ring's
//                  vertices disconnects it only if two disjoint runs of k/2 consecutive
//                  positions are all removed; union bound over the n(n − k − 1)/2 pairs of
//                  runs: (n(n−k−1)/2) · C(n−k, B−k)/C(n, B) < 2^−41, B = ⌊γn⌋ + ⌊δn⌋.
//   leak           some client has c ≥ t corrupt neighbours, who could pool its shares. The
//                  corrupt neighbours of one client are hypergeometric (population n,
//                  ⌊γn⌋ marked, k drawn); c_max is the smallest c with Pr[X > c] < 2^−41/n
//                  (union bound over the n clients). Disconnection and leak share σ, one
//                  bit each.
//   failure        a dropped client has fewer than t surviving neighbours, so its mask key
//                  cannot be rebuilt: Pr[S < t] < 2^−20/n, S hypergeometric (population n,
//                  n − ⌊δn⌋ marked, k drawn).
//   (Strictly a client's neighbours are drawn from the n − 1 others; like Google we use
//   population n, a negligible difference that keeps its numbers reproducible.)
// t must then satisfy, in the sparse graph:
//   semi_honest  t > c_max                   (the server follows the protocol)
//   active       2t > (k + 1) + c_max         (the server may claim different dropout sets
//                                             to different holders; see below)
//   both         t ≤ t_max, the largest t with Pr[S < t] < 2^−20/n; t ≥ 2.
// and in the complete graph (k = n − 1, all corrupt clients are neighbours, all live
// clients are holders, so the bounds are exact): c_max = ⌊γn⌋, semi_honest t > c_max,
// active 2t > n + c_max, and t ≤ min_clients_to_proceed.
//
// Active ("semi-malicious") bound. A server may tell some holders that u dropped (they
// reveal mask-key shares) and others that u is alive (they reveal b_u shares); with both
// secrets it unmasks u's input. It gets both kinds from the c corrupt holders, b_u from u
// itself, and one kind from each of the other k − c honest holders, so it succeeds iff
// 2t ≤ k + 1 + c. Google's finder uses 2t > k + c_max, which ignores u's own share and
// is one short whenever c_max is odd; we keep the bound that matches the self-share
// convention (Google's own full-graph check, 2t > n + γn, counts it the same way).
// Second deviation: Google raises t to 2 after checking t ≤ t_max; we check max(t, 2).
// Both make k or t slightly larger in a few cases; see tests/unit/secagg/params_test.cpp
// for the table against Google's test expectations.
//
// Procedure (find_graph_parameters): for k = 2, 4, 6, ... up to n − 2, take the first k for
// which disconnection is unlikely enough and the smallest secure t (semi_honest:
// c_max + 1, active: ⌊(k + 1 + c_max)/2⌋ + 1, at least 2) is ≤ t_max; return that smallest
// t (it keeps reconstruction cheap). If no sparse k works (small n, or γ and δ close to the
// limits) return the complete graph, k = n − 1, with t = min_clients_to_proceed(n, δ) as
// Google's full-graph variant does; that t needs every live client's share only when
// exactly that many remain.
#pragma once

#include "edgefed/common/result.hpp"
#include "edgefed/secagg/graph.hpp"    // kMaxCohortSize, is_valid_degree
#include "edgefed/secagg/session.hpp"  // ThreatModel

#include <cstdint>

namespace edgefed::secagg {

// A cohort and what we assume about it.
struct GraphParameterRequest {
  std::uint32_t n = 0;        // cohort size, slots 1..n
  double corrupt_rate = 0.0;  // γ, in [0, 1)
  double dropout_rate = 0.0;  // δ, in [0, 1)
  ThreatModel threat_model = ThreatModel::semi_honest;
};

struct GraphParameters {
  std::uint32_t k = 0;  // neighbours per party, excluding itself; n − 1 is the complete graph
  std::uint32_t t = 0;  // shares (of the k + 1 holders) needed to reconstruct

  friend bool operator==(const GraphParameters&, const GraphParameters&) = default;
};

inline constexpr double kSecurityBits = 40.0;
inline constexpr double kCorrectnessBits = 20.0;
// Smallest cohort we run: with two parties the sum reveals each input to the other, and no
// dropout can be tolerated.
inline constexpr std::uint32_t kMinCohortSize = 3;
// Feasibility limits (Google's): beyond them no k < n keeps the bad events unlikely.
inline constexpr double kMaxBadFraction = 0.9;  // γ + δ (semi_honest), γ + 2δ (active)

// ⌈(1 − δ)·n⌉, computed as n − ⌊δ·n⌋ with the same rounding guard as the analysis.
// δ is not validated here: δ ≤ 0 or NaN gives n, δ ≥ 1 gives 0.
std::uint32_t min_clients_to_proceed(std::uint32_t n, double dropout_rate) noexcept;

// Checks the request alone. invalid_argument if n is outside [kMinCohortSize,
// kMaxCohortSize] (graph.hpp), a rate is outside [0, 1) (or NaN), γ + δ > 0.9
// (semi_honest) or γ + 2δ > 0.9 (active), or the threat model is unknown.
Status validate_graph_request(const GraphParameterRequest& request);

// The smallest even k (and the smallest t for it) meeting the bounds above, or the complete
// graph. invalid_argument if the request is invalid (validate_graph_request) or not even
// the complete graph meets the bounds (possible only for very small n, e.g. n = 10 with
// δ = 0.9). Cost grows with the k it returns: under 0.1 s at -O2 for every row of
// Google's table (n ≤ 10^6, k ≤ 11152).
Result<GraphParameters> find_graph_parameters(const GraphParameterRequest& request);

// Checks explicitly configured parameters for the request's cohort: the request itself;
// k a valid graph degree (is_valid_degree); 2 ≤ t ≤ k + 1; ⌈(1 − δ)·n⌉ ≤ min_clients ≤ n;
// and the security and correctness bounds above for (n, k, t). invalid_argument naming
// the first violated condition. find_graph_parameters' result always passes with
// min_clients = min_clients_to_proceed(n, δ).
Status validate_graph_parameters(const GraphParameterRequest& request,
                                 const GraphParameters& params, std::uint32_t min_clients);

}  // namespace edgefed::secagg
