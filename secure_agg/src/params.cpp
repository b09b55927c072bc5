#include "edgefed/secagg/params.hpp"

#include "edgefed/secagg/graph.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <utility>

namespace edgefed::secagg {

static_assert(kMaxCohortSize == kMaxCohort,
              "graph.hpp and session.hpp disagree on the cohort limit");

namespace {

// Rates times n are turned into counts after adding this, so that 0.33 * 100, which is
// 32.999999999999996 in binary floating point, counts as 33 clients rather than 32.
constexpr double kCountGuard = 1e-14;
// Tolerance on the feasibility sums, so that 0.3 + 2 * 0.3 is not refused for rounding.
constexpr double kFeasibilityTolerance = 1e-12;
// A tail sum stops once a term is this small relative to the sum so far.
constexpr double kNegligibleTerm = 1e-17;

// ln(m!). Exact sums for small m; Stirling's series beyond, whose first omitted term is
// below 1e-19 for m ≥ 64. Used instead of std::lgamma, which is not thread-safe (signgam).
double log_factorial(std::int64_t m) {
  static const std::array<double, 64> kSmall = [] {
    std::array<double, 64> table{};
    for (std::size_t i = 2; i < table.size(); ++i) table[i] = table[i - 1] + std::log(double(i));
    return table;
  }();
  if (m < 64) return kSmall[static_cast<std::size_t>(m)];
  const double x = static_cast<double>(m);
  const double inv = 1.0 / x;
  const double inv2 = inv * inv;
  const double series =
      inv * (1.0 / 12 - inv2 * (1.0 / 360 - inv2 * (1.0 / 1260 - inv2 * (1.0 / 1680))));
  return x * std::log(x) - x + 0.5 * std::log(2 * std::numbers::pi * x) + series;
}

double log_choose(std::int64_t a, std::int64_t b) {
  return log_factorial(a) - log_factorial(b) - log_factorial(a - b);
}

// Number of marked items among `draws` taken without replacement from `population` items
// of which `marked` are marked. Tails are summed from their far end inwards, stopping at
// negligible terms, so they stay accurate down to the 2^-60 region we compare against.
class Hypergeometric {
 public:
  Hypergeometric(std::int64_t population, std::int64_t marked, std::int64_t draws)
      : population_(population), marked_(marked), draws_(draws),
        lo_(std::max<std::int64_t>(0, draws - (population - marked))),
        hi_(std::min(draws, marked)),
        mode_(std::clamp((draws + 1) * (marked + 1) / (population + 2), lo_, hi_)) {}

  // Pr[X ≤ x]
  double cdf(std::int64_t x) const {
    if (x < lo_) return 0.0;
    if (x >= hi_) return 1.0;
    if (x <= mode_) return sum_down(x);
    return std::max(0.0, 1.0 - sum_up(x + 1));
  }

  // Pr[X ≥ m]
  double upper_tail(std::int64_t m) const {
    if (m <= lo_) return 1.0;
    if (m > hi_) return 0.0;
    if (m >= mode_) return sum_up(m);
    return std::max(0.0, 1.0 - sum_down(m - 1));
  }

 private:
  double pmf(std::int64_t x) const {
    return std::exp(log_choose(marked_, x) + log_choose(population_ - marked_, draws_ - x) -
                    log_choose(population_, draws_));
  }
  // pmf(x + 1) / pmf(x), for lo ≤ x < hi.
  double ratio_up(std::int64_t x) const {
    return double(marked_ - x) * double(draws_ - x) /
           (double(x + 1) * double(population_ - marked_ - draws_ + x + 1));
  }
  // Σ pmf(y) for y ≥ m, m ≥ mode: the terms only shrink.
  double sum_up(std::int64_t m) const {
    double term = pmf(m);
    double sum = 0.0;
    for (std::int64_t x = m;; ++x) {
      sum += term;
      if (x == hi_) break;
      term *= ratio_up(x);
      if (term <= sum * kNegligibleTerm) break;
    }
    return sum;
  }
  // Σ pmf(y) for y ≤ x, x ≤ mode: the terms only shrink.
  double sum_down(std::int64_t x) const {
    double term = pmf(x);
    double sum = 0.0;
    for (std::int64_t y = x;; --y) {
      sum += term;
      if (y == lo_) break;
      term /= ratio_up(y - 1);
      if (term <= sum * kNegligibleTerm) break;
    }
    return sum;
  }

  std::int64_t population_, marked_, draws_, lo_, hi_, mode_;
};

// The threat assumptions as client counts for a cohort of n.
struct Counts {
  std::int64_t n;
  std::int64_t corrupt;  // ⌊γn⌋
  std::int64_t dropped;  // ⌊δn⌋
  std::int64_t alive() const { return n - dropped; }
};

Counts counts_for(std::uint32_t n, double corrupt_rate, double dropout_rate) {
  const auto count = [n](double rate) -> std::int64_t {
    if (!(rate > 0.0)) return 0;  // also NaN: callers validate first, this only avoids UB
    if (rate >= 1.0) return n;
    return static_cast<std::int64_t>(std::floor((rate + kCountGuard) * n));
  };
  return {n, count(corrupt_rate), count(dropout_rate)};
}

// What the analysis says about one sparse degree k (params.hpp, "bad events").
struct SparseBounds {
  bool connected = false;          // disconnection bound met
  std::int64_t max_corrupt = 0;    // c_max
  std::int64_t max_threshold = 0;  // t_max
};

SparseBounds analyse_sparse(const Counts& c, std::int64_t k) {
  SparseBounds out;
  const double log_security_per_event = -(kSecurityBits + 1) * std::numbers::ln2;
  const double log_n = std::log(double(c.n));
  const std::int64_t bad = c.corrupt + c.dropped;
  if (k > bad) {
    out.connected = true;  // not enough removed clients to cut two runs of k/2
  } else {
    const double log_run_pairs = log_n + std::log(double(c.n - k - 1)) - std::numbers::ln2;
    const double log_all_bad = log_factorial(bad) - log_factorial(bad - k) -
                               log_factorial(c.n) + log_factorial(c.n - k);
    out.connected = log_run_pairs + log_all_bad < log_security_per_event;
  }
  if (!out.connected) return out;

  const double leak_quantile = std::exp(log_security_per_event - log_n);
  const double failure_quantile = std::exp(-kCorrectnessBits * std::numbers::ln2 - log_n);
  // Smallest t with Pr[corrupt neighbours ≥ t] below the quantile; c_max = t − 1.
  const Hypergeometric corrupt(c.n, c.corrupt, k);
  std::int64_t lo = 0, hi = k + 1;
  while (lo < hi) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    if (corrupt.upper_tail(mid) < leak_quantile) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  out.max_corrupt = lo - 1;
  // Largest t with Pr[surviving neighbours < t] below the quantile.
  const Hypergeometric surviving(c.n, c.alive(), k);
  lo = 0;
  hi = k;
  while (lo < hi) {
    const std::int64_t mid = lo + (hi - lo + 1) / 2;
    if (surviving.cdf(mid - 1) < failure_quantile) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  out.max_threshold = lo;
  return out;
}

// Smallest t that keeps a client's secrets from c corrupt holders among k + 1 holders.
std::int64_t min_secure_threshold(ThreatModel model, std::int64_t k, std::int64_t c) {
  const std::int64_t t = model == ThreatModel::active ? (k + 1 + c) / 2 + 1 : c + 1;
  return std::max<std::int64_t>(t, 2);
}

Error bad(std::string detail) { return fail(ErrorCode::invalid_argument, std::move(detail)); }

std::string describe(std::uint32_t n, const GraphParameters& p) {
  return "graph parameters (n=" + std::to_string(n) + ", k=" + std::to_string(p.k) +
         ", t=" + std::to_string(p.t) + ")";
}

// The bounds of params.hpp for a valid request, a structurally valid (k, t) and min_clients.
Status check_bounds(const GraphParameterRequest& request, const GraphParameters& p,
                    std::uint32_t min_clients) {
  const Counts c = counts_for(request.n, request.corrupt_rate, request.dropout_rate);
  const std::string what = describe(request.n, p);
  const std::string model(to_string(request.threat_model));
  if (p.k + 1 == request.n) {  // complete graph: the counts are exact
    if (p.t < min_secure_threshold(request.threat_model, p.k, c.corrupt)) {
      return bad(what + ": t too small for " + std::to_string(c.corrupt) + " corrupt clients (" +
                 model + ")");
    }
    if (p.t > min_clients) {
      return bad(what + ": t exceeds min_clients " + std::to_string(min_clients) +
                 ", dropped clients could not be unmasked");
    }
    return {};
  }
  const SparseBounds b = analyse_sparse(c, p.k);
  if (!b.connected) {
    return bad(what + ": k too small, the graph of honest survivors may disconnect");
  }
  if (p.t < min_secure_threshold(request.threat_model, p.k, b.max_corrupt)) {
    return bad(what + ": t too small, a client may have " + std::to_string(b.max_corrupt) +
               " corrupt neighbours (" + model + ")");
  }
  if (p.t > b.max_threshold) {
    return bad(what + ": t too large, at most " + std::to_string(b.max_threshold) +
               " surviving neighbours are assured");
  }
  return {};
}

}  // namespace

std::uint32_t min_clients_to_proceed(std::uint32_t n, double dropout_rate) noexcept {
  return static_cast<std::uint32_t>(counts_for(n, 0.0, dropout_rate).alive());
}

Status validate_graph_request(const GraphParameterRequest& request) {
  const double gamma = request.corrupt_rate;
  const double delta = request.dropout_rate;
  if (request.n < kMinCohortSize || request.n > kMaxCohortSize) {
    return bad("cohort size " + std::to_string(request.n) + " outside [" +
               std::to_string(kMinCohortSize) + ", " + std::to_string(kMaxCohortSize) + "]");
  }
  if (!(gamma >= 0.0 && gamma < 1.0)) return bad("corrupt rate must be in [0, 1)");
  if (!(delta >= 0.0 && delta < 1.0)) return bad("dropout rate must be in [0, 1)");
  switch (request.threat_model) {
    case ThreatModel::semi_honest:
      if (gamma + delta > kMaxBadFraction + kFeasibilityTolerance) {
        return bad("semi_honest: corrupt rate + dropout rate must be <= 0.9, got " +
                   std::to_string(gamma + delta));
      }
      return {};
    case ThreatModel::active:
      if (gamma + 2 * delta > kMaxBadFraction + kFeasibilityTolerance) {
        return bad("active: corrupt rate + 2 * dropout rate must be <= 0.9, got " +
                   std::to_string(gamma + 2 * delta));
      }
      return {};
  }
  return bad("unknown threat model");
}

Result<GraphParameters> find_graph_parameters(const GraphParameterRequest& request) {
  EDGEFED_TRY(validate_graph_request(request));
  const std::uint32_t n = request.n;
  const Counts counts = counts_for(n, request.corrupt_rate, request.dropout_rate);
  for (std::uint32_t k = 2; k + 2 <= n; k += 2) {
    const SparseBounds b = analyse_sparse(counts, k);
    if (!b.connected) continue;
    const std::int64_t t = min_secure_threshold(request.threat_model, k, b.max_corrupt);
    if (t <= b.max_threshold) return GraphParameters{k, static_cast<std::uint32_t>(t)};
  }
  const std::uint32_t min_clients = min_clients_to_proceed(n, request.dropout_rate);
  const GraphParameters complete{n - 1, min_clients};
  if (complete.t < 2) {
    return bad("no secure parameters for n=" + std::to_string(n) + ": at most " +
               std::to_string(min_clients) + " clients are assured to stay");
  }
  if (Status status = check_bounds(request, complete, min_clients); !status) {
    return status.error().with_context("no secure parameters, even the complete graph fails");
  }
  return complete;
}

Status validate_graph_parameters(const GraphParameterRequest& request,
                                 const GraphParameters& params, std::uint32_t min_clients) {
  EDGEFED_TRY(validate_graph_request(request));
  const std::string what = describe(request.n, params);
  if (!is_valid_degree(request.n, params.k)) {
    return bad(what + ": k must be even in [2, n-2] or equal n-1 (complete graph)");
  }
  if (params.t < 2 || params.t > params.k + 1) return bad(what + ": t must be in [2, k+1]");
  const std::uint32_t floor_clients = min_clients_to_proceed(request.n, request.dropout_rate);
  if (min_clients < floor_clients || min_clients > request.n) {
    return bad("min_clients " + std::to_string(min_clients) +
               " must be in [ceil((1-dropout)*n) = " + std::to_string(floor_clients) +
               ", n = " + std::to_string(request.n) + "]");
  }
  return check_bounds(request, params, min_clients);
}

}  // namespace edgefed::secagg
