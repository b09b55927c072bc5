#include "edgefed/data/federated.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "edgefed/data/partition.hpp"
#include "edgefed/data/rng.hpp"

namespace edgefed::data {
namespace {

Error bad_argument(const std::string& detail) {
  return fail(ErrorCode::invalid_argument, detail);
}

// Smallest m with m - test_count(m, test_fraction) >= min_train, searched up to `limit`
// (limit + 1 means none).
std::size_t min_samples_for_train(std::size_t min_train, double test_fraction, std::size_t limit) {
  for (std::size_t m = min_train; m <= limit; ++m) {
    if (m - test_count(m, test_fraction) >= min_train) return m;
  }
  return limit + 1;
}

Result<DeviceIndices> partition_rest(std::span<const std::uint8_t> labels,
                                     const FederatedDataSpec& spec, std::size_t min_per_device) {
  const std::uint64_t seed = derive_seed(spec.seed, kPartitionStream);
  const std::size_t n = labels.size();
  switch (spec.partition) {
    case FederatedDataSpec::Partition::iid:
      // Every device gets at least floor(n / devices) >= min_per_device (checked by caller).
      return partition_iid(labels, spec.devices, seed);
    case FederatedDataSpec::Partition::shards: {
      const std::uint64_t shards = std::uint64_t{spec.devices} * spec.shards_per_device;
      if (shards <= n && n / shards * spec.shards_per_device < min_per_device) {
        return bad_argument("min_train_per_device (" + std::to_string(spec.min_train_per_device) +
                            ") needs " + std::to_string(min_per_device) +
                            " samples per device, but " + std::to_string(shards) + " shards of " +
                            std::to_string(n) + " samples give some devices only " +
                            std::to_string(n / shards * spec.shards_per_device));
      }
      return partition_shards(labels, spec.devices, spec.shards_per_device, seed);
    }
    case FederatedDataSpec::Partition::dirichlet: break;
  }
  return partition_dirichlet(labels, spec.devices, spec.alpha, seed, min_per_device);
}

Result<DeviceData> make_device(const Dataset& pool, const FederatedDataSpec& spec, std::uint32_t d,
                               std::span<const std::size_t> indices) {
  EDGEFED_ASSIGN_OR_RETURN(
      TrainTestSplit split,
      split_train_test(indices, spec.test_fraction,
                       derive_seed(derive_seed(spec.seed, kTrainTestStream), d)));
  DeviceData device;
  device.id = d;
  if (spec.feature_shift) {
    device.sensor = draw_sensor(derive_seed(spec.seed, kSensorStream), d, spec.shift_severity);
  }
  device.train_indices = std::move(split.train);
  device.test_indices = std::move(split.test);
  if (spec.materialize) {
    device.train = materialize_device(pool, spec, device, true);
    device.test = materialize_device(pool, spec, device, false);
  }
  return device;
}

}  // namespace

Status FederatedDataSpec::validate() const {
  if (devices == 0) return bad_argument("devices must be at least 1");
  if (replicas == 0 || replicas > 1000) return bad_argument("replicas must be in [1, 1000]");
  if (partition == Partition::dirichlet && !(std::isfinite(alpha) && alpha > 0.0)) {
    return bad_argument("alpha must be finite and > 0, got " + std::to_string(alpha));
  }
  if (partition == Partition::shards && shards_per_device == 0) {
    return bad_argument("shards_per_device must be at least 1");
  }
  if (!(cloud_fraction >= 0.0 && cloud_fraction <= 1.0)) {
    return bad_argument("cloud_fraction must be in [0, 1], got " + std::to_string(cloud_fraction));
  }
  if (!(test_fraction >= 0.0 && test_fraction < 1.0)) {
    return bad_argument("test_fraction must be in [0, 1), got " + std::to_string(test_fraction));
  }
  if (!(shift_severity >= 0.0f && shift_severity <= kMaxSeverity)) {
    return bad_argument("shift_severity must be in [0, " + std::to_string(kMaxSeverity) +
                        "], got " + std::to_string(shift_severity));
  }
  return {};
}

std::string_view to_string(FederatedDataSpec::Partition partition) noexcept {
  switch (partition) {
    case FederatedDataSpec::Partition::iid: return "iid";
    case FederatedDataSpec::Partition::dirichlet: return "dirichlet";
    case FederatedDataSpec::Partition::shards: return "shards";
  }
  return "unknown";
}

Result<FederatedDataSpec::Partition> parse_partition(std::string_view name) {
  for (auto p : {FederatedDataSpec::Partition::iid, FederatedDataSpec::Partition::dirichlet,
                 FederatedDataSpec::Partition::shards}) {
    if (name == to_string(p)) return p;
  }
  return bad_argument("partition must be iid, dirichlet or shards, got '" + std::string(name) +
                      "'");
}

Result<FederatedData> make_federated_data(const Dataset& train_pool,
                                          const FederatedDataSpec& spec) {
  EDGEFED_TRY(spec.validate());
  if (train_pool.empty() || !train_pool.well_formed()) {
    return bad_argument("train_pool must be a non-empty, well-formed dataset");
  }
  EDGEFED_ASSIGN_OR_RETURN(CloudSplit split, split_cloud(train_pool.size(), spec.cloud_fraction,
                                                         derive_seed(spec.seed, kCloudStream)));
  const std::size_t unique_rest = split.rest.size();
  const std::size_t rest = unique_rest * spec.replicas;
  if (rest < spec.devices) {
    return bad_argument("devices (" + std::to_string(spec.devices) + ") exceeds the " +
                        std::to_string(rest) + " samples left after the cloud split");
  }
  const std::size_t min_per_device =
      min_samples_for_train(spec.min_train_per_device, spec.test_fraction, rest / spec.devices);
  if (min_per_device > rest / spec.devices) {
    return bad_argument("min_train_per_device (" + std::to_string(spec.min_train_per_device) +
                        ") cannot be met: " + std::to_string(rest) +
                        " samples left after the cloud split for " + std::to_string(spec.devices) +
                        " devices");
  }
  std::vector<std::uint8_t> rest_labels(rest);
  for (std::size_t k = 0; k < rest; ++k) rest_labels[k] = train_pool.labels[split.rest[k % unique_rest]];
  EDGEFED_ASSIGN_OR_RETURN(DeviceIndices parts, partition_rest(rest_labels, spec, min_per_device));

  FederatedData out;
  out.cloud = train_pool.subset(split.cloud);
  out.cloud_indices = std::move(split.cloud);
  out.devices.reserve(spec.devices);
  for (std::uint32_t d = 0; d < spec.devices; ++d) {
    for (std::size_t& position : parts[d]) position = split.rest[position % unique_rest];
    if (spec.replicas > 1) std::sort(parts[d].begin(), parts[d].end());  // replicas wrap around
    EDGEFED_ASSIGN_OR_RETURN(DeviceData device, make_device(train_pool, spec, d, parts[d]));
    out.devices.push_back(std::move(device));
  }
  return out;
}

Dataset materialize_device(const Dataset& pool, const FederatedDataSpec& spec, const DeviceData& device, bool train,
                           std::size_t limit) {
  std::span<const std::size_t> indices = train ? device.train_indices : device.test_indices;
  if (limit > 0 && indices.size() > limit) indices = indices.first(limit);
  Dataset out = pool.subset(indices);
  const std::uint64_t noise = derive_seed(spec.seed, kNoiseStream);
  apply_sensor(device.sensor, out, derive_seed(noise, 2 * std::uint64_t{device.id} + (train ? 0 : 1)));
  return out;
}

Dataset shift_for_device(const Dataset& data, const FederatedDataSpec& spec,
                         const DeviceData& device) {
  return apply_sensor_copy(device.sensor, data,
                           derive_seed(derive_seed(spec.seed, kEvalNoiseStream), device.id));
}

}  // namespace edgefed::data
