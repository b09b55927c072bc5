// A simulated fleet's data in one call (DESIGN §6): a central "cloud" set for pre-training,
// then per device a label-skewed share of the rest, split into train and test, both seen
// through the device's own sensor.
//
// make_federated_data(pool, spec), exactly (n = pool.size(), streams via derive_seed):
//
//   1. cloud split: split_cloud(n, cloud_fraction, derive_seed(seed, kCloudStream));
//      `cloud` holds those samples unshifted, in pool order.
//   2. partition of the remaining positions (their labels, in pool order) over `devices`
//      with derive_seed(seed, kPartitionStream): partition_iid, partition_dirichlet(alpha,
//      min_per_device) or partition_shards(shards_per_device). min_per_device is the
//      smallest m with m - test_count(m, test_fraction) >= min_train_per_device, so every
//      device ends with at least min_train_per_device training samples; for iid and shards,
//      whose sizes are fixed, a spec that cannot meet it is refused.
//   3. device d: split_train_test(its pool indices, test_fraction,
//      derive_seed(derive_seed(seed, kTrainTestStream), d));
//   4. sensor: draw_sensor(derive_seed(seed, kSensorStream), d, shift_severity) when
//      feature_shift, else the identity; applied to train with noise seed
//      derive_seed(derive_seed(seed, kNoiseStream), 2d) and to test with ... 2d + 1.
//
// The same pool and spec give bit-identical output (the Rng caveat in rng.hpp aside).
// Evaluate a device on the shared test set with shift_for_device(global_test, spec, device).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "edgefed/common/result.hpp"
#include "edgefed/data/dataset.hpp"
#include "edgefed/data/feature_shift.hpp"

namespace edgefed::data {

inline constexpr std::uint64_t kCloudStream = 1;
inline constexpr std::uint64_t kPartitionStream = 2;
inline constexpr std::uint64_t kSensorStream = 3;
inline constexpr std::uint64_t kTrainTestStream = 4;
inline constexpr std::uint64_t kNoiseStream = 5;
inline constexpr std::uint64_t kEvalNoiseStream = 6;

struct FederatedDataSpec {
  enum class Partition { iid, dirichlet, shards };

  std::uint32_t devices = 100;
  Partition partition = Partition::dirichlet;
  double alpha = 0.5;                   // dirichlet only; > 0
  std::uint32_t shards_per_device = 2;  // shards only; >= 1
  double cloud_fraction = 0.2;          // [0, 1]
  double test_fraction = 0.2;           // [0, 1), per device
  bool feature_shift = true;
  float shift_severity = 1.0f;  // [0, kMaxSeverity]
  std::uint64_t seed = 1;
  std::size_t min_train_per_device = 10;
  // Fleets larger than the data: the non-cloud samples are partitioned as if they were
  // repeated this many times (>= 1), so one image may sit on several devices — each seeing it
  // through its own sensor. 1 keeps every image on one device. For scale tests.
  std::uint32_t replicas = 1;
  // false: devices get their indices and sensor but no pixels (DeviceData::train/test stay
  // empty); materialize_device() builds them on demand, bit-identical. For large fleets.
  bool materialize = true;

  // invalid_argument naming the first bad field; does not look at any data.
  [[nodiscard]] Status validate() const;
};

// "iid", "dirichlet", "shards" (for flags and reports), and back.
std::string_view to_string(FederatedDataSpec::Partition partition) noexcept;
[[nodiscard]] Result<FederatedDataSpec::Partition> parse_partition(std::string_view name);

struct DeviceData {
  std::uint32_t id = 0;
  SensorProfile sensor;
  Dataset train;                           // shifted by `sensor`
  Dataset test;                            // shifted by `sensor`
  std::vector<std::size_t> train_indices;  // positions in the pool, ascending (repeats with replicas > 1)
  std::vector<std::size_t> test_indices;   // positions in the pool, ascending (repeats with replicas > 1)
};

struct FederatedData {
  Dataset cloud;                           // unshifted
  std::vector<std::size_t> cloud_indices;  // positions in the pool, ascending
  std::vector<DeviceData> devices;         // devices[d].id == d
};

// See the procedure above. Errors (invalid_argument): spec.validate() fails; the pool is
// empty or not well formed; too few samples left after the cloud split for the devices and
// their minimum (the detail names the parameter).
[[nodiscard]] Result<FederatedData> make_federated_data(const Dataset& train_pool,
                                                        const FederatedDataSpec& spec);

// A device's train or test set as make_federated_data() materializes it: the pool samples at
// its indices through its sensor (same noise seeds). Precondition: `pool` is the pool the
// indices were drawn from. `limit` > 0 keeps only the first `limit` samples.
Dataset materialize_device(const Dataset& pool, const FederatedDataSpec& spec, const DeviceData& device, bool train,
                           std::size_t limit = 0);

// `data` (e.g. the global test set) as `device` sees it: its sensor, with noise seed
// derive_seed(derive_seed(spec.seed, kEvalNoiseStream), device.id).
Dataset shift_for_device(const Dataset& data, const FederatedDataSpec& spec,
                         const DeviceData& device);

}  // namespace edgefed::data
