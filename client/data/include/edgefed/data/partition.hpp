// Deterministic splits of a sample pool across simulated devices (DESIGN §6): IID, label skew
// by Dirichlet(α) per class, McMahan's pathological "shards", plus the cloud split used for
// central pre-training and each device's train/test split.
//
// Every function is a pure function of its arguments: the same labels, parameters and seed
// give the same result on every platform (edgefed::data::Rng, not <random>; see rng.hpp for
// the one caveat about libm in real-valued draws). Indices are positions in `labels` (or, for
// split_train_test, the values of `indices`), and every returned list is sorted ascending.
// A partition uses every sample exactly once.
//
// Bad parameters are caller errors: invalid_argument, with the parameter's name in the
// detail. All rounding is half-up: round(x) = floor(x + 0.5).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "edgefed/common/result.hpp"

namespace edgefed::data {

// indices[d] = the sample positions device d holds, sorted ascending.
using DeviceIndices = std::vector<std::vector<std::size_t>>;

// IID: shuffle positions 0..n-1 (Rng(seed).shuffle), then deal consecutive blocks: device d
// gets floor(n / devices) samples, plus one for d < n mod devices.
// Errors (invalid_argument): devices == 0; devices > labels.size().
[[nodiscard]] Result<DeviceIndices> partition_iid(std::span<const std::uint8_t> labels,
                                                  std::uint32_t devices, std::uint64_t seed);

// Label skew (Hsu et al. 2019; the NIID-Bench recipe) with a minimum size. With rng =
// Rng(seed) and K = max label + 1, exactly:
//
//   1. For each class c = 0..K-1 that has n_c > 0 samples, in order:
//      a. list its positions ascending, rng.shuffle them;
//      b. p = rng.dirichlet(alpha) over `devices` entries;
//      c. counts by largest remainder: q_d = n_c p_d, each device gets floor(q_d), and the
//         n_c - sum floor(q_d) left over go one each to the devices with the largest
//         fractional part q_d - floor(q_d) (lower device id first on ties);
//      d. devices 0, 1, … take consecutive runs of the shuffled list of those lengths.
//   2. Repair, one sample at a time, while some device holds fewer than min_per_device:
//      the receiver is the device with the fewest samples (lowest id on ties), the donor the
//      device with the most (lowest id on ties); the donor gives the last-assigned sample of
//      the class it holds most of (lowest class id on ties). No randomness; the donor always
//      keeps at least min_per_device (total >= devices × min_per_device is checked).
//
// Small alpha (0.1) gives each device a few dominant classes; large alpha (100) approaches
// IID. Under strong skew with many devices, repair fills near-empty devices with a single
// class, which is the point of label skew but worth knowing.
// Errors (invalid_argument): devices == 0; alpha not finite or <= 0; devices >
// labels.size(); devices × min_per_device > labels.size().
[[nodiscard]] Result<DeviceIndices> partition_dirichlet(std::span<const std::uint8_t> labels,
                                                        std::uint32_t devices, double alpha,
                                                        std::uint64_t seed,
                                                        std::size_t min_per_device = 1);

// McMahan et al. 2017's pathological non-IID split: positions sorted by (label, position),
// cut into S = devices × shards_per_device contiguous shards (shard k has floor(n / S)
// samples, plus one for k < n mod S), shard ids shuffled with Rng(seed); device d gets shards
// perm[d × shards_per_device + j] for j < shards_per_device. A device sees at most
// shards_per_device classes when every class size is a multiple of the shard size, and one
// more per shard that straddles a class boundary otherwise.
// Errors (invalid_argument): devices == 0; shards_per_device == 0; devices ×
// shards_per_device > labels.size().
[[nodiscard]] Result<DeviceIndices> partition_shards(std::span<const std::uint8_t> labels,
                                                     std::uint32_t devices,
                                                     std::uint32_t shards_per_device,
                                                     std::uint64_t seed);

// The central ("cloud") pre-training split: a uniformly random round(size × fraction)
// positions go to `cloud`, all others to `rest`. Positions 0..size-1 are shuffled with
// Rng(seed); the first round(size × fraction) form the cloud.
struct CloudSplit {
  std::vector<std::size_t> cloud;
  std::vector<std::size_t> rest;
};
inline constexpr double kDefaultCloudFraction = 0.2;
// Errors (invalid_argument): fraction not in [0, 1].
[[nodiscard]] Result<CloudSplit> split_cloud(std::size_t size,
                                             double fraction = kDefaultCloudFraction,
                                             std::uint64_t seed = 1);

// Number of test samples split_train_test takes from n: round(n × test_fraction).
std::size_t test_count(std::size_t n, double test_fraction) noexcept;

// One device's split: a copy of `indices` is shuffled with Rng(seed); the first
// test_count(n, test_fraction) values form `test`, the rest `train`.
struct TrainTestSplit {
  std::vector<std::size_t> train;
  std::vector<std::size_t> test;
};
// Errors (invalid_argument): test_fraction not in [0, 1).
[[nodiscard]] Result<TrainTestSplit> split_train_test(std::span<const std::size_t> indices,
                                                      double test_fraction, std::uint64_t seed);

}  // namespace edgefed::data
