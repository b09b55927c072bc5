// Internal: what a virtual device is made of, whatever carries its frames (the in-process
// event queue or real TLS), and its local training with the real trainer.
#pragma once

#include "edgefed/client/session.hpp"
#include "edgefed/data/federated.hpp"
#include "edgefed/ml/model.hpp"
#include "edgefed/sim/fleet.hpp"

#include <string>
#include <vector>

namespace edgefed::sim::detail {

// The shared image pool and the split spec every device's data is drawn from.
struct DataSource {
  data::Dataset pool;
  data::FederatedDataSpec spec;
};

struct DeviceSetup {
  std::uint32_t index = 0;
  std::string name;                 // "sim-000042"
  const Profile* profile = nullptr; // points into the caller's ProfileLibrary
  double phase_hours = 0;           // jitter of the availability window
  // Indices and sensor only: pixels are made on demand (a 10,000-device fleet would otherwise
  // hold gigabytes of shifted copies).
  data::DeviceData data;
  std::size_t train_limit = 0;      // max_train_per_device
  const DataSource* source = nullptr;

  data::Dataset train_set() const { return data::materialize_device(source->pool, source->spec, data, true, train_limit); }
  data::Dataset test_set() const { return data::materialize_device(source->pool, source->spec, data, false); }
  std::size_t train_size() const {
    return train_limit > 0 ? std::min(train_limit, data.train_indices.size()) : data.train_indices.size();
  }
};

// Loads the pool and splits it (indices only). Errors: the loader's and the split's.
Result<std::unique_ptr<DataSource>> load_data(const SimConfig& config);
// Assigns profiles by share (seeded); consumes `fed`.
std::vector<DeviceSetup> make_device_setups(data::FederatedData& fed, const SimConfig& config,
                                            const ProfileLibrary& profiles, const DataSource& source);

struct Trained {
  client::LocalUpdate update;
  double macs = 0;  // training cost on the device, for the virtual clock and energy
};

// ml::train_local on `model` (shared between devices: loaded with `view` first).
Result<Trained> train_device(ml::Model& model, const DeviceSetup& device, const ml::ModelView& view,
                             const protocol::TrainPlan& plan, std::uint64_t round, double macs_per_sample);

// The pretrained model as the run's starting view (tier from the round settings).
struct StartModel {
  ml::ModelView view;
  Ed25519PublicKey public_key;
};
Result<StartModel> load_start_model(const SimConfig& config);

}  // namespace edgefed::sim::detail
