#include "edgefed/server/strategy.hpp"

#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>

namespace edgefed::server {
namespace {

using json = nlohmann::json;

constexpr std::array<StrategyKind, 4> kAllKinds = {StrategyKind::fedavg, StrategyKind::fedprox,
                                                   StrategyKind::fedadam, StrategyKind::fedyogi};

bool is_adaptive(StrategyKind kind) {
  return kind == StrategyKind::fedadam || kind == StrategyKind::fedyogi;
}

std::string number(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", value);
  return buf;
}

Error invalid(std::string_view field, std::string_view requirement, double got) {
  return fail(ErrorCode::invalid_argument,
              std::string(field) + " must be " + std::string(requirement) + ", got " + number(got));
}

// Whether `value` can be stored as a finite float. Checked on the double rather than by
// converting, because converting an out-of-range double to float is undefined behaviour in
// C++ (IEEE would give infinity). Slightly conservative: a value within half an ulp above
// FLT_MAX, which would round down to FLT_MAX, is rejected too.
bool fits_float(double value) {
  return std::isfinite(value) && std::abs(value) <= std::numeric_limits<float>::max();
}

struct Updated {
  double x, m, v;
};

// One element of the update rules listed in strategy.hpp, in double.
Updated update_one(const StrategyConfig& c, double x, double d, double m, double v) {
  if (!is_adaptive(c.kind)) return {x + c.server_learning_rate * d, 0.0, 0.0};
  const double d2 = d * d;
  m = c.beta1 * m + (1.0 - c.beta1) * d;
  if (c.kind == StrategyKind::fedadam) {
    v = c.beta2 * v + (1.0 - c.beta2) * d2;
  } else {
    const double sign = (v > d2) - (v < d2);
    v = v - (1.0 - c.beta2) * d2 * sign;
  }
  return {x + c.server_learning_rate * m / (std::sqrt(v) + c.tau), m, v};
}

const char* json_kind(const json& value) {
  if (value.is_string()) return "string";
  if (value.is_boolean()) return "boolean";
  if (value.is_null()) return "null";
  if (value.is_array()) return "array";
  if (value.is_object()) return "object";
  return "number";
}

}  // namespace

std::string_view to_string(StrategyKind kind) noexcept {
  switch (kind) {
    case StrategyKind::fedavg: return "fedavg";
    case StrategyKind::fedprox: return "fedprox";
    case StrategyKind::fedadam: return "fedadam";
    case StrategyKind::fedyogi: return "fedyogi";
  }
  return "unknown_strategy";
}

Result<StrategyKind> parse_strategy(std::string_view name) {
  for (StrategyKind kind : kAllKinds) {
    if (name == to_string(kind)) return kind;
  }
  return fail(ErrorCode::invalid_argument,
              "unknown strategy '" + std::string(name) + "'; expected one of fedavg, fedprox, fedadam, fedyogi");
}

Status validate(const StrategyConfig& c) {
  if (to_string(c.kind) == "unknown_strategy") {
    return fail(ErrorCode::invalid_argument, "kind is not a known strategy");
  }
  if (!std::isfinite(c.server_learning_rate) || c.server_learning_rate <= 0) {
    return invalid("server_learning_rate", "finite and > 0", c.server_learning_rate);
  }
  if (!std::isfinite(c.prox_mu) || c.prox_mu < 0) return invalid("prox_mu", "finite and >= 0", c.prox_mu);
  if (c.prox_mu != 0 && c.kind != StrategyKind::fedprox) {
    return fail(ErrorCode::invalid_argument, "prox_mu must be 0 unless kind is fedprox (kind is " +
                                                 std::string(to_string(c.kind)) + ", prox_mu " +
                                                 number(c.prox_mu) + ")");
  }
  // Written as !(in range) so that NaN fails too.
  if (!(c.beta1 >= 0 && c.beta1 < 1)) return invalid("beta1", "in [0, 1)", c.beta1);
  if (!(c.beta2 >= 0 && c.beta2 < 1)) return invalid("beta2", "in [0, 1)", c.beta2);
  if (!std::isfinite(c.tau) || c.tau <= 0) return invalid("tau", "finite and > 0", c.tau);
  return {};
}

json to_json(const StrategyConfig& c) {
  return json{{"kind", std::string(to_string(c.kind))},
              {"server_learning_rate", c.server_learning_rate},
              {"prox_mu", c.prox_mu},
              {"beta1", c.beta1},
              {"beta2", c.beta2},
              {"tau", c.tau}};
}

Result<StrategyConfig> strategy_config_from_json(const json& document) {
  if (!document.is_object()) {
    return fail(ErrorCode::bad_type, std::string("strategy config must be an object, got ") + json_kind(document));
  }
  StrategyConfig c;
  const std::pair<const char*, double*> numbers[] = {{"server_learning_rate", &c.server_learning_rate},
                                                     {"prox_mu", &c.prox_mu},
                                                     {"beta1", &c.beta1},
                                                     {"beta2", &c.beta2},
                                                     {"tau", &c.tau}};
  for (const auto& [key, value] : document.items()) {
    if (key == "kind") {
      if (!value.is_string()) {
        return fail(ErrorCode::bad_type, std::string("kind must be a string, got ") + json_kind(value));
      }
      EDGEFED_ASSIGN_OR_RETURN(c.kind, parse_strategy(value.get_ref<const std::string&>()));
      continue;
    }
    double* target = nullptr;
    for (const auto& [name, field] : numbers) {
      if (key == name) target = field;
    }
    if (target == nullptr) {
      return fail(ErrorCode::unknown_key, "unknown key '" + key + "' in strategy config");
    }
    if (!value.is_number()) {
      return fail(ErrorCode::bad_type, key + " must be a number, got " + json_kind(value));
    }
    *target = value.get<double>();
  }
  EDGEFED_TRY(validate(c));
  return c;
}

Result<std::unique_ptr<ServerOptimizer>> ServerOptimizer::create(const StrategyConfig& config,
                                                                 std::size_t length) {
  EDGEFED_TRY(validate(config));
  if (length == 0) return fail(ErrorCode::invalid_argument, "server optimizer length must be > 0");
  return std::unique_ptr<ServerOptimizer>(new ServerOptimizer(config, length));
}

ServerOptimizer::ServerOptimizer(const StrategyConfig& config, std::size_t length)
    : config_(config), length_(length) {
  if (is_adaptive(config_.kind)) {
    m_.assign(length_, 0.0f);
    v_.assign(length_, static_cast<float>(config_.tau * config_.tau));
  }
}

Status ServerOptimizer::apply(std::span<float> x, std::span<const float> delta) {
  if (x.size() != length_ || delta.size() != length_) {
    return fail(ErrorCode::invalid_argument, "apply: expected " + std::to_string(length_) +
                                                 " elements, got x " + std::to_string(x.size()) +
                                                 " and delta " + std::to_string(delta.size()));
  }
  const bool adaptive = is_adaptive(config_.kind);
  // Two passes over the same arithmetic: the first only checks, so that a bad element at the
  // end cannot leave x half-updated, and the second writes. This costs a second sweep but no
  // O(model) scratch buffer.
  for (std::size_t i = 0; i < length_; ++i) {
    if (!std::isfinite(delta[i])) {
      return fail(ErrorCode::bad_value, "apply: delta[" + std::to_string(i) + "] is not finite");
    }
    const Updated u = update_one(config_, x[i], delta[i], adaptive ? m_[i] : 0.0, adaptive ? v_[i] : 0.0);
    if (!fits_float(u.x) || !fits_float(u.m) || !fits_float(u.v)) {
      return fail(ErrorCode::bad_value,
                  "apply: update of element " + std::to_string(i) + " is not finite in float");
    }
  }
  for (std::size_t i = 0; i < length_; ++i) {
    const Updated u = update_one(config_, x[i], delta[i], adaptive ? m_[i] : 0.0, adaptive ? v_[i] : 0.0);
    x[i] = static_cast<float>(u.x);
    if (adaptive) {
      m_[i] = static_cast<float>(u.m);
      v_[i] = static_cast<float>(u.v);
    }
  }
  ++steps_;
  return {};
}

ServerOptimizer::State ServerOptimizer::state() const { return State{steps_, m_, v_}; }

Status ServerOptimizer::restore(State state) {
  const std::size_t want = is_adaptive(config_.kind) ? length_ : 0;
  if (state.m.size() != want || state.v.size() != want) {
    return fail(ErrorCode::invalid_argument,
                "restore: " + std::string(to_string(config_.kind)) + " expects m and v of " +
                    std::to_string(want) + " elements, got " + std::to_string(state.m.size()) + " and " +
                    std::to_string(state.v.size()));
  }
  for (std::size_t i = 0; i < want; ++i) {
    if (!std::isfinite(state.m[i])) {
      return fail(ErrorCode::bad_value, "restore: m[" + std::to_string(i) + "] is not finite");
    }
    if (!std::isfinite(state.v[i]) || state.v[i] < 0) {
      return fail(ErrorCode::bad_value, "restore: v[" + std::to_string(i) + "] must be finite and >= 0");
    }
  }
  steps_ = state.steps;
  m_ = std::move(state.m);
  v_ = std::move(state.v);
  return {};
}

}  // namespace edgefed::server
