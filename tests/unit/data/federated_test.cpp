// make_federated_data: sizes add up, the cloud fraction and per-device minimum hold, devices
// see their own sensor, the whole output is a pure function of the seed, and bad specs are
// refused by name. Ends with the real Fashion-MNIST pool when it is installed.
#include "edgefed/data/federated.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "data_test_util.hpp"
#include "edgefed/data/fashion_mnist.hpp"
#include "edgefed/data/partition.hpp"

namespace edgefed::data {
namespace {

using testing::Fnv1a;
using testing::random_dataset;

std::uint64_t hash_of(const FederatedData& f) {
  Fnv1a h;
  h.dataset(f.cloud);
  h.indices(f.cloud_indices);
  for (const DeviceData& d : f.devices) {
    h.u64(d.id);
    h.floats(std::vector<float>{d.sensor.contrast, d.sensor.brightness, d.sensor.rotation_degrees,
                                d.sensor.noise_std});
    h.dataset(d.train);
    h.dataset(d.test);
    h.indices(d.train_indices);
    h.indices(d.test_indices);
  }
  return h.value();
}

// Every pool position is in exactly one of: the cloud, a device's train, a device's test.
void require_exact_cover(const FederatedData& f, std::size_t n) {
  std::vector<int> seen(n, 0);
  for (std::size_t i : f.cloud_indices) ++seen.at(i);
  for (const DeviceData& d : f.devices) {
    for (std::size_t i : d.train_indices) ++seen.at(i);
    for (std::size_t i : d.test_indices) ++seen.at(i);
  }
  CHECK(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }));
}

TEST_CASE("federated data splits the pool into cloud and device shares that add up") {
  const Dataset pool = random_dataset(3000, 1, 8, 8, 1);
  FederatedDataSpec spec;
  spec.devices = 20;
  const Result<FederatedData> f = make_federated_data(pool, spec);
  REQUIRE(f.ok());
  CHECK(f->cloud.size() == 600);
  CHECK(f->cloud_indices.size() == 600);
  REQUIRE(f->devices.size() == 20);
  std::size_t total = f->cloud.size();
  for (std::uint32_t d = 0; d < 20; ++d) {
    const DeviceData& dev = f->devices[d];
    CHECK(dev.id == d);
    CHECK(dev.train.size() == dev.train_indices.size());
    CHECK(dev.test.size() == dev.test_indices.size());
    CHECK(dev.train.size() >= spec.min_train_per_device);
    const std::size_t n = dev.train.size() + dev.test.size();
    CHECK(dev.test.size() == test_count(n, spec.test_fraction));
    CHECK(dev.sensor == draw_sensor(derive_seed(spec.seed, kSensorStream), d));
    total += n;
  }
  CHECK(total == pool.size());
  require_exact_cover(*f, pool.size());
  // The cloud is unshifted and keeps its labels.
  CHECK(f->cloud.pixels == pool.subset(f->cloud_indices).pixels);
  CHECK(f->cloud.labels == pool.subset(f->cloud_indices).labels);
}

TEST_CASE("replicas let a fleet larger than the data partition each image several times") {
  const Dataset pool = random_dataset(300, 1, 8, 8, 1);
  FederatedDataSpec spec;
  spec.devices = 40;  // 240 non-cloud images: 6 per device, below the minimum of 10
  REQUIRE_FALSE(make_federated_data(pool, spec).ok());
  spec.replicas = 3;
  const Result<FederatedData> f = make_federated_data(pool, spec);
  REQUIRE(f.ok());
  std::vector<int> seen(pool.size(), 0);
  std::size_t held = 0;
  for (const DeviceData& d : f->devices) {
    CHECK(d.train.size() >= spec.min_train_per_device);
    CHECK(std::is_sorted(d.train_indices.begin(), d.train_indices.end()));
    for (std::size_t i : d.train_indices) ++seen.at(i);
    for (std::size_t i : d.test_indices) ++seen.at(i);
    held += d.train.size() + d.test.size();
  }
  CHECK(held == 3 * (pool.size() - f->cloud.size()));
  for (std::size_t i : f->cloud_indices) CHECK(seen.at(i) == 0);  // the cloud stays out
  CHECK(std::count(seen.begin(), seen.end(), 3) == static_cast<long>(pool.size() - f->cloud.size()));
  spec.replicas = 0;
  CHECK_FALSE(make_federated_data(pool, spec).ok());
}

TEST_CASE("each device sees its samples through its own sensor") {
  const Dataset pool = random_dataset(1000, 1, 8, 8, 2);
  FederatedDataSpec spec;
  spec.devices = 5;
  spec.seed = 9;
  const FederatedData f = *make_federated_data(pool, spec);
  const std::uint64_t noise = derive_seed(spec.seed, kNoiseStream);
  for (const DeviceData& dev : f.devices) {
    CHECK(dev.train.labels == pool.subset(dev.train_indices).labels);
    CHECK(dev.train.pixels == apply_sensor_copy(dev.sensor, pool.subset(dev.train_indices),
                                                derive_seed(noise, 2 * dev.id))
                                  .pixels);
    CHECK(dev.test.pixels == apply_sensor_copy(dev.sensor, pool.subset(dev.test_indices),
                                               derive_seed(noise, 2 * dev.id + 1))
                                 .pixels);
  }

  spec.feature_shift = false;
  const FederatedData plain = *make_federated_data(pool, spec);
  for (const DeviceData& dev : plain.devices) {
    CHECK(is_identity(dev.sensor));
    CHECK(dev.train.pixels == pool.subset(dev.train_indices).pixels);
    CHECK(shift_for_device(pool, spec, dev).pixels == pool.pixels);
  }
  // Partitions do not depend on the sensors.
  for (std::size_t d = 0; d < 5; ++d) {
    CHECK(plain.devices[d].train_indices == f.devices[d].train_indices);
  }
}

TEST_CASE("shift for device applies the device sensor to a shared test set") {
  const Dataset pool = random_dataset(500, 1, 8, 8, 3);
  const Dataset global_test = random_dataset(50, 1, 8, 8, 4);
  FederatedDataSpec spec;
  spec.devices = 3;
  const FederatedData f = *make_federated_data(pool, spec);
  const Dataset view = shift_for_device(global_test, spec, f.devices[1]);
  CHECK(view.pixels == apply_sensor_copy(f.devices[1].sensor, global_test,
                                         derive_seed(derive_seed(spec.seed, kEvalNoiseStream), 1))
                           .pixels);
  CHECK(view.pixels != global_test.pixels);
}

TEST_CASE("federated data is a pure function of the pool and spec") {
  const Dataset pool = random_dataset(2000, 1, 8, 8, 5);
  for (auto partition : {FederatedDataSpec::Partition::iid, FederatedDataSpec::Partition::dirichlet,
                         FederatedDataSpec::Partition::shards}) {
    FederatedDataSpec spec;
    spec.devices = 10;
    spec.partition = partition;
    CAPTURE(to_string(partition));
    const std::uint64_t a = hash_of(*make_federated_data(pool, spec));
    CHECK(a == hash_of(*make_federated_data(pool, spec)));
    spec.seed = 2;
    CHECK(a != hash_of(*make_federated_data(pool, spec)));
  }
}

TEST_CASE("every partition kind leaves each device its minimum of training samples") {
  const Dataset pool = random_dataset(2000, 1, 4, 4, 6);
  for (auto partition : {FederatedDataSpec::Partition::iid, FederatedDataSpec::Partition::dirichlet,
                         FederatedDataSpec::Partition::shards}) {
    FederatedDataSpec spec;
    spec.devices = 50;
    spec.alpha = 0.05;
    spec.partition = partition;
    spec.min_train_per_device = 20;
    spec.test_fraction = 0.3;
    const Result<FederatedData> f = make_federated_data(pool, spec);
    REQUIRE(f.ok());
    require_exact_cover(*f, pool.size());
    for (const DeviceData& dev : f->devices) CHECK(dev.train.size() >= 20);
  }
}

TEST_CASE("federated data refuses bad specs by name") {
  const Dataset pool = random_dataset(500, 1, 4, 4, 7);  // 400 left after the cloud split
  FederatedDataSpec good;
  good.devices = 5;
  REQUIRE(make_federated_data(pool, good).ok());
  using Kind = FederatedDataSpec::Partition;
  const std::vector<std::pair<void (*)(FederatedDataSpec&), std::string>> cases = {
      {[](FederatedDataSpec& s) { s.devices = 0; }, "devices"},
      {[](FederatedDataSpec& s) { s.alpha = 0; }, "alpha"},
      {[](FederatedDataSpec& s) {
         s.partition = Kind::shards;
         s.shards_per_device = 0;
       },
       "shards_per_device"},
      {[](FederatedDataSpec& s) { s.cloud_fraction = 1.2; }, "cloud_fraction"},
      {[](FederatedDataSpec& s) { s.cloud_fraction = 1.0; }, "devices"},
      {[](FederatedDataSpec& s) { s.test_fraction = 1.0; }, "test_fraction"},
      {[](FederatedDataSpec& s) { s.shift_severity = 2.5f; }, "shift_severity"},
      {[](FederatedDataSpec& s) { s.devices = 401; }, "devices"},
      // 88 samples (70 train + 18 test) per device > 400 / 5.
      {[](FederatedDataSpec& s) { s.min_train_per_device = 70; }, "min_train_per_device"},
      // 77 per device fit in 400 / 5, but 45 shards of 8 give devices only 72.
      {[](FederatedDataSpec& s) {
         s.partition = Kind::shards;
         s.shards_per_device = 9;
         s.min_train_per_device = 62;
       },
       "min_train_per_device"},
  };
  for (const auto& [mutate, name] : cases) {
    FederatedDataSpec spec = good;
    mutate(spec);
    const Result<FederatedData> f = make_federated_data(pool, spec);
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().code == ErrorCode::invalid_argument);
    CAPTURE(f.error().detail);
    CHECK(f.error().detail.find(name) != std::string::npos);
  }
  CHECK(make_federated_data(Dataset{}, good).error().code == ErrorCode::invalid_argument);
  Dataset broken = pool;
  broken.pixels.pop_back();
  CHECK(make_federated_data(broken, good).error().detail.find("train_pool") != std::string::npos);
}

TEST_CASE("partition names round trip") {
  for (auto p : {FederatedDataSpec::Partition::iid, FederatedDataSpec::Partition::dirichlet,
                 FederatedDataSpec::Partition::shards}) {
    CHECK(parse_partition(to_string(p)).value() == p);
  }
  CHECK(parse_partition("pathological").error().code == ErrorCode::invalid_argument);
}

TEST_CASE("the real fashion mnist pool splits into the default fleet") {
  if (!std::filesystem::exists(kDefaultFashionMnistDir)) {
    WARN("skipped: " << kDefaultFashionMnistDir << " not installed");
    return;
  }
  const Result<Dataset> pool = load_fashion_mnist();
  REQUIRE(pool.ok());
  const FederatedDataSpec spec;  // 100 devices, Dirichlet 0.5, 20 % cloud, shift on
  const Result<FederatedData> f = make_federated_data(*pool, spec);
  REQUIRE(f.ok());
  CHECK(f->cloud.size() == 12000);
  REQUIRE(f->devices.size() == 100);
  std::size_t total = f->cloud.size();
  for (const DeviceData& dev : f->devices) {
    CHECK(dev.train.size() >= 10);
    total += dev.train.size() + dev.test.size();
  }
  CHECK(total == kFashionMnistTrainSize);
}

}  // namespace
}  // namespace edgefed::data
