#include "edgefed/data/rng.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace edgefed::data {
namespace {

constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
  return (x << k) | (x >> (64 - k));
}

constexpr double kTwoPow53Inv = 1.0 / 9007199254740992.0;  // 2^-53

// Marsaglia & Tsang (2000), "A simple method for generating gamma variables", for a >= 1.
double marsaglia_tsang(Rng& rng, double a) noexcept {
  const double d = a - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x = 0.0;
    double v = 0.0;
    do {
      x = rng.normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = rng.uniform_open();
    const double x2 = x * x;
    if (u < 1.0 - 0.0331 * x2 * x2) return d * v;
    if (std::log(u) < 0.5 * x2 + d * (1.0 - v + std::log(v))) return d * v;
  }
}

}  // namespace

std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) noexcept {
  std::uint64_t s = stream + 0x5EEDULL;
  std::uint64_t state = seed ^ splitmix64(s);
  return splitmix64(state);
}

Rng::Rng(std::uint64_t seed) noexcept {
  std::uint64_t sm = seed;
  for (auto& word : state_) word = splitmix64(sm);
}

Rng Rng::from_state(const std::array<std::uint64_t, 4>& state) noexcept {
  Rng rng;
  rng.state_ = state;
  return rng;
}

std::uint64_t Rng::next_u64() noexcept {
  const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const std::uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

double Rng::uniform01() noexcept {
  return static_cast<double>(next_u64() >> 11) * kTwoPow53Inv;
}

double Rng::uniform_open() noexcept {
  return (static_cast<double>(next_u64() >> 11) + 0.5) * kTwoPow53Inv;
}

std::uint64_t Rng::below(std::uint64_t n) noexcept {
  if (n <= 1) return 0;
  const std::uint64_t threshold = (0 - n) % n;  // (2^64 - n) mod n
  for (;;) {
    const std::uint64_t x = next_u64();
    if (x >= threshold) return x % n;
  }
}

double Rng::normal() noexcept {
  if (has_spare_) {
    has_spare_ = false;
    return spare_normal_;
  }
  const double u1 = uniform_open();
  const double u2 = uniform01();
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double t = 2.0 * std::numbers::pi * u2;
  spare_normal_ = r * std::sin(t);
  has_spare_ = true;
  return r * std::cos(t);
}

double Rng::gamma(double shape) noexcept {
  if (shape >= 1.0) return marsaglia_tsang(*this, shape);
  const double g = marsaglia_tsang(*this, shape + 1.0);
  return g * std::pow(uniform_open(), 1.0 / shape);
}

double Rng::log_gamma(double shape) noexcept {
  if (shape >= 1.0) return std::log(marsaglia_tsang(*this, shape));
  const double g = marsaglia_tsang(*this, shape + 1.0);
  return std::log(g) + std::log(uniform_open()) / shape;
}

void Rng::dirichlet(double alpha, std::span<double> out) noexcept {
  if (out.empty()) return;
  for (double& x : out) x = log_gamma(alpha);
  const double top = *std::max_element(out.begin(), out.end());
  double sum = 0.0;
  for (double& x : out) {
    x = std::exp(x - top);
    sum += x;
  }
  for (double& x : out) x /= sum;  // sum >= 1: the maximum contributes exp(0)
}

}  // namespace edgefed::data
