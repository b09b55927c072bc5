// Server optimizers ("strategies"): how the server turns a round's aggregated update into the
// next global model, after Reddi et al., "Adaptive Federated Optimization" (ICLR 2021), Alg. 2.
//
// Each round the server obtains Δ, the weighted mean over clients of (client model − global
// model), as one flat float vector over the aggregated tensors (`ParameterSet::flat()` order),
// and calls `ServerOptimizer::apply(x, Δ)` on the global model x. Per element, with
// η = server_learning_rate:
//
//   fedavg   x ← x + η·Δ
//   fedprox  x ← x + η·Δ              (server side as fedavg; clients add (μ/2)·‖w − x‖² to
//                                      their loss, μ = prox_mu, Li et al., MLSys 2020)
//   fedadam  m ← β1·m + (1−β1)·Δ
//            v ← β2·v + (1−β2)·Δ²
//            x ← x + η·m / (√v + τ)
//   fedyogi  as fedadam, but v ← v − (1−β2)·Δ²·sign(v − Δ²)   (sign(0) = 0)
//
// Initial state: m = 0, v = τ² (the paper's v₋₁ ≥ τ²). There is no bias correction, as in the
// paper. Arithmetic is done in double per element; x, m and v are stored as float.
//
// Thread safety: none. A ServerOptimizer belongs to one run and is driven by one thread.
#pragma once

#include "edgefed/common/result.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace edgefed::server {

enum class StrategyKind { fedavg, fedprox, fedadam, fedyogi };

// Stable name: "fedavg", "fedprox", "fedadam", "fedyogi"; "unknown_strategy" for a value
// outside the enum.
std::string_view to_string(StrategyKind kind) noexcept;

// The inverse of to_string; exact, lower-case. invalid_argument for any other text, with a
// detail listing the valid names.
Result<StrategyKind> parse_strategy(std::string_view name);

// Which fields a kind reads: fedavg reads server_learning_rate; fedprox adds prox_mu; fedadam
// and fedyogi add beta1, beta2 and tau. Fields a kind does not read are still range-checked.
struct StrategyConfig {
  StrategyKind kind = StrategyKind::fedavg;
  // η. 1.0 is plain FedAvg. The adaptive kinds take steps of size ≈ η per element whatever
  // the scale of Δ, so they want a much smaller η (the paper tunes it over 10^-3 … 10^0).
  double server_learning_rate = 1.0;
  // μ ≥ 0, sent to clients for their proximal term. Must be 0 unless kind is fedprox: a
  // nonzero μ with another kind would mean clients are told to regularise towards a model
  // the strategy does not assume.
  double prox_mu = 0.0;
  double beta1 = 0.9;   // first-moment decay, [0, 1)
  double beta2 = 0.99;  // second-moment decay, [0, 1)
  double tau = 1e-3;    // adaptivity / denominator floor, > 0

  friend bool operator==(const StrategyConfig&, const StrategyConfig&) = default;
};

// OK, or invalid_argument whose detail starts with the offending field name:
//   server_learning_rate  not finite or ≤ 0
//   prox_mu               not finite, < 0, or nonzero while kind is not fedprox
//   beta1, beta2          not in [0, 1)
//   tau                   not finite or ≤ 0
//   kind                  a value outside the enum
Status validate(const StrategyConfig& config);

// {"kind": "fedadam", "server_learning_rate": 0.01, "prox_mu": 0, "beta1": 0.9,
//  "beta2": 0.99, "tau": 0.001}: every field, keys named as the struct's members.
nlohmann::json to_json(const StrategyConfig& config);

// The inverse of to_json. Absent keys keep their defaults; the result is validated.
// Errors: bad_type (not an object; "kind" not a string; another field not a number),
// unknown_key (a key not listed above, named in the detail), invalid_argument (an unknown
// kind name, or a value `validate` rejects). Never throws.
Result<StrategyConfig> strategy_config_from_json(const nlohmann::json& document);

// Applies one strategy to a model of fixed length, holding the optimizer state (m, v) for it.
class ServerOptimizer {
 public:
  // Optimizer state for checkpoints. m and v hold `length()` elements for fedadam and
  // fedyogi and are empty for fedavg and fedprox. `steps` counts successful `apply` calls;
  // it is bookkeeping only (the update rules do not depend on it).
  struct State {
    std::uint64_t steps = 0;
    std::vector<float> m;
    std::vector<float> v;

    friend bool operator==(const State&, const State&) = default;
  };

  // invalid_argument if `validate(config)` fails or `length` is 0.
  static Result<std::unique_ptr<ServerOptimizer>> create(const StrategyConfig& config,
                                                         std::size_t length);

  ServerOptimizer(const ServerOptimizer&) = delete;
  ServerOptimizer& operator=(const ServerOptimizer&) = delete;

  // One server step: updates x in place (and m, v), then counts the step.
  // All or nothing: on any error x and the state are left exactly as they were.
  //   invalid_argument  x.size() or delta.size() != length()
  //   bad_value         an element of delta is NaN or infinite, or the update would make an
  //                     element of x, m or v non-finite (overflow past float's range, or x
  //                     already non-finite); the detail names the index
  // x and delta must not overlap.
  [[nodiscard]] Status apply(std::span<float> x, std::span<const float> delta);

  const StrategyConfig& config() const noexcept { return config_; }
  std::size_t length() const noexcept { return length_; }
  // μ for the clients' proximal term: config().prox_mu, hence 0 unless kind is fedprox.
  double client_prox_mu() const noexcept { return config_.prox_mu; }
  std::uint64_t steps() const noexcept { return steps_; }

  // A copy of the state, to be written into a checkpoint.
  State state() const;
  // Replaces the state with one from `state()` of an optimizer with the same config and
  // length; applying the same deltas afterwards gives bit-identical results to a run that
  // was never interrupted. The config itself is not part of State: the caller restores it
  // by creating the optimizer. On error the current state is kept:
  //   invalid_argument  m or v of the wrong size for this kind and length
  //   bad_value         an element of m or v is not finite, or an element of v is < 0
  [[nodiscard]] Status restore(State state);

 private:
  ServerOptimizer(const StrategyConfig& config, std::size_t length);

  StrategyConfig config_;
  std::size_t length_;
  std::uint64_t steps_ = 0;
  std::vector<float> m_;  // empty unless adaptive
  std::vector<float> v_;  // empty unless adaptive
};

}  // namespace edgefed::server
