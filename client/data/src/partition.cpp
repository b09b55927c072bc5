#include "edgefed/data/partition.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "edgefed/data/rng.hpp"
#include "misuse.hpp"

namespace edgefed::data {
namespace {

Error bad_argument(const std::string& detail) {
  return fail(ErrorCode::invalid_argument, detail);
}

Status check_devices(std::uint32_t devices, std::size_t samples) {
  if (devices == 0) return bad_argument("devices must be at least 1");
  if (devices > samples) {
    return bad_argument("devices (" + std::to_string(devices) +
                        ") exceeds the number of samples (" + std::to_string(samples) + ")");
  }
  return {};
}

std::size_t round_half_up(double x) noexcept {
  return static_cast<std::size_t>(std::floor(x + 0.5));
}

std::vector<std::size_t> iota_vector(std::size_t n) {
  std::vector<std::size_t> v(n);
  std::iota(v.begin(), v.end(), std::size_t{0});
  return v;
}

void sort_each(DeviceIndices& parts) {
  for (auto& part : parts) std::sort(part.begin(), part.end());
}

// Step 1c of partition_dirichlet: integer counts summing to n, proportional to p.
std::vector<std::size_t> largest_remainder(std::size_t n, std::span<const double> p) {
  const std::size_t k = p.size();
  std::vector<std::size_t> counts(k);
  std::vector<double> frac(k);
  std::size_t assigned = 0;
  for (std::size_t d = 0; d < k; ++d) {
    const double q = static_cast<double>(n) * p[d];
    const double base = std::floor(q);
    counts[d] = static_cast<std::size_t>(base);
    frac[d] = q - base;
    assigned += counts[d];
  }
  // sum floor(q_d) <= sum q_d = n up to rounding, and an integer, so assigned <= n.
  detail::require(assigned <= n, "largest_remainder: proportions sum above 1");
  std::vector<std::size_t> order = iota_vector(k);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return frac[a] > frac[b]; });
  for (std::size_t j = 0; assigned < n; ++j, ++assigned) ++counts[order[j % k]];
  return counts;
}

// Index of the largest (want_max) or smallest element; the lowest index wins ties.
std::size_t extreme(std::span<const std::size_t> values, bool want_max) noexcept {
  std::size_t best = 0;
  for (std::size_t i = 1; i < values.size(); ++i) {
    if (want_max ? values[i] > values[best] : values[i] < values[best]) best = i;
  }
  return best;
}

// Step 2 of partition_dirichlet. held[d][c] = device d's samples of class c, in assignment
// order; totals[d] = their count.
void repair_minimum(std::vector<std::vector<std::vector<std::size_t>>>& held,
                    std::vector<std::size_t>& totals, std::size_t min_per_device) {
  for (;;) {
    const std::size_t receiver = extreme(totals, false);
    if (totals[receiver] >= min_per_device) return;
    const std::size_t donor = extreme(totals, true);
    std::vector<std::size_t> per_class(held[donor].size());
    for (std::size_t c = 0; c < per_class.size(); ++c) per_class[c] = held[donor][c].size();
    const std::size_t cls = extreme(per_class, true);
    held[receiver][cls].push_back(held[donor][cls].back());
    held[donor][cls].pop_back();
    --totals[donor];
    ++totals[receiver];
  }
}

}  // namespace

Result<DeviceIndices> partition_iid(std::span<const std::uint8_t> labels, std::uint32_t devices,
                                    std::uint64_t seed) {
  EDGEFED_TRY(check_devices(devices, labels.size()));
  std::vector<std::size_t> order = iota_vector(labels.size());
  Rng rng(seed);
  rng.shuffle(std::span(order));
  DeviceIndices parts(devices);
  const std::size_t base = labels.size() / devices;
  const std::size_t extra = labels.size() % devices;
  auto next = order.begin();
  for (std::size_t d = 0; d < devices; ++d) {
    const std::size_t take = base + (d < extra ? 1 : 0);
    parts[d].assign(next, next + static_cast<std::ptrdiff_t>(take));
    next += static_cast<std::ptrdiff_t>(take);
  }
  sort_each(parts);
  return parts;
}

Result<DeviceIndices> partition_dirichlet(std::span<const std::uint8_t> labels,
                                          std::uint32_t devices, double alpha, std::uint64_t seed,
                                          std::size_t min_per_device) {
  EDGEFED_TRY(check_devices(devices, labels.size()));
  if (!std::isfinite(alpha) || alpha <= 0.0) {
    return bad_argument("alpha must be finite and > 0, got " + std::to_string(alpha));
  }
  if (min_per_device > labels.size() / devices) {
    return bad_argument("min_per_device (" + std::to_string(min_per_device) + ") × devices (" +
                        std::to_string(devices) + ") exceeds the number of samples (" +
                        std::to_string(labels.size()) + ")");
  }
  const std::size_t classes = std::size_t{*std::max_element(labels.begin(), labels.end())} + 1;
  std::vector<std::vector<std::size_t>> by_class(classes);
  for (std::size_t i = 0; i < labels.size(); ++i) by_class[labels[i]].push_back(i);

  Rng rng(seed);
  std::vector<double> p(devices);
  std::vector<std::vector<std::vector<std::size_t>>> held(
      devices, std::vector<std::vector<std::size_t>>(classes));
  std::vector<std::size_t> totals(devices, 0);
  for (std::size_t c = 0; c < classes; ++c) {
    std::vector<std::size_t>& members = by_class[c];
    if (members.empty()) continue;
    rng.shuffle(std::span(members));
    rng.dirichlet(alpha, p);
    const std::vector<std::size_t> counts = largest_remainder(members.size(), p);
    auto next = members.begin();
    for (std::size_t d = 0; d < devices; ++d) {
      held[d][c].assign(next, next + static_cast<std::ptrdiff_t>(counts[d]));
      next += static_cast<std::ptrdiff_t>(counts[d]);
      totals[d] += counts[d];
    }
  }
  repair_minimum(held, totals, min_per_device);

  DeviceIndices parts(devices);
  for (std::size_t d = 0; d < devices; ++d) {
    parts[d].reserve(totals[d]);
    for (const auto& run : held[d]) parts[d].insert(parts[d].end(), run.begin(), run.end());
  }
  sort_each(parts);
  return parts;
}

Result<DeviceIndices> partition_shards(std::span<const std::uint8_t> labels, std::uint32_t devices,
                                       std::uint32_t shards_per_device, std::uint64_t seed) {
  if (devices == 0) return bad_argument("devices must be at least 1");
  if (shards_per_device == 0) return bad_argument("shards_per_device must be at least 1");
  const std::uint64_t shards = std::uint64_t{devices} * shards_per_device;
  if (shards > labels.size()) {
    return bad_argument("devices × shards_per_device (" + std::to_string(shards) +
                        ") exceeds the number of samples (" + std::to_string(labels.size()) + ")");
  }
  std::vector<std::size_t> order = iota_vector(labels.size());
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return labels[a] < labels[b]; });
  const std::size_t n = labels.size();
  const std::size_t shard_count = static_cast<std::size_t>(shards);
  const std::size_t base = n / shard_count;
  const std::size_t extra = n % shard_count;
  auto shard_start = [&](std::size_t k) { return k * base + std::min(k, extra); };

  std::vector<std::size_t> perm = iota_vector(shard_count);
  Rng rng(seed);
  rng.shuffle(std::span(perm));
  DeviceIndices parts(devices);
  for (std::size_t d = 0; d < devices; ++d) {
    for (std::size_t j = 0; j < shards_per_device; ++j) {
      const std::size_t k = perm[d * shards_per_device + j];
      parts[d].insert(parts[d].end(), order.begin() + static_cast<std::ptrdiff_t>(shard_start(k)),
                      order.begin() + static_cast<std::ptrdiff_t>(shard_start(k + 1)));
    }
  }
  sort_each(parts);
  return parts;
}

Result<CloudSplit> split_cloud(std::size_t size, double fraction, std::uint64_t seed) {
  if (!(fraction >= 0.0 && fraction <= 1.0)) {
    return bad_argument("cloud fraction must be in [0, 1], got " + std::to_string(fraction));
  }
  std::vector<std::size_t> order = iota_vector(size);
  Rng rng(seed);
  rng.shuffle(std::span(order));
  const std::size_t k = std::min(size, round_half_up(static_cast<double>(size) * fraction));
  CloudSplit split;
  split.cloud.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k));
  split.rest.assign(order.begin() + static_cast<std::ptrdiff_t>(k), order.end());
  std::sort(split.cloud.begin(), split.cloud.end());
  std::sort(split.rest.begin(), split.rest.end());
  return split;
}

std::size_t test_count(std::size_t n, double test_fraction) noexcept {
  return std::min(n, round_half_up(static_cast<double>(n) * test_fraction));
}

Result<TrainTestSplit> split_train_test(std::span<const std::size_t> indices, double test_fraction,
                                        std::uint64_t seed) {
  if (!(test_fraction >= 0.0 && test_fraction < 1.0)) {
    return bad_argument("test_fraction must be in [0, 1), got " + std::to_string(test_fraction));
  }
  std::vector<std::size_t> order(indices.begin(), indices.end());
  Rng rng(seed);
  rng.shuffle(std::span(order));
  const std::size_t k = test_count(order.size(), test_fraction);
  TrainTestSplit split;
  split.test.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k));
  split.train.assign(order.begin() + static_cast<std::ptrdiff_t>(k), order.end());
  std::sort(split.train.begin(), split.train.end());
  std::sort(split.test.begin(), split.test.end());
  return split;
}

}  // namespace edgefed::data
