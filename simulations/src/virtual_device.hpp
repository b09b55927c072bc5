// Internal: what a virtual device is made of, whatever carries its frames (the in-process
// event queue or real TLS), and its local training with the real trainer.
#pragma once

#include "edgefed/client/session.hpp"
#include "edgefed/data/federated.hpp"
#include "edgefed/ml/model.hpp"
#include "edgefed/sim/fleet.hpp"

#include <functional>
#include <string>
#include <string_view>
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

// Mean accuracy of the first `limit` devices that hold a model and have test data, each with
// its own model (global tensors + its local BatchNorm) on its own test split; −1 if none.
// `devices` holds pointers to objects with `session` (client::DeviceSession) and `setup`.
template <class Devices>
double mean_device_accuracy(ml::Model& model, const Devices& devices, std::size_t limit) {
  double sum = 0;
  std::size_t n = 0;
  for (const auto& d : devices) {
    if (n >= limit) break;
    const client::DeviceState& state = d->session->state();
    if (!state.model || d->setup.data.test_indices.empty()) continue;
    if (!model.load(state.model->values)) continue;
    sum += model.evaluate(d->setup.test_set()).accuracy;
    ++n;
  }
  return n ? sum / static_cast<double>(n) : -1;
}

// What becomes of one device → server frame of `type`: the device drops out instead of
// sending it (its profile's per-stage probability; nothing else is drawn then), or the fault
// rules lose, delay, duplicate or corrupt it (corruption is applied to `frame`). `uniform`
// draws from [0, 1); the draws are made in a fixed order, so a seeded run repeats.
struct SendFate {
  bool device_drops_out = false;
  int copies = 1;
  double delay_s = 0;
};
SendFate decide_send(const Profile& profile, const std::vector<FaultRule>& faults, std::string_view type, Bytes& frame,
                     const std::function<double()>& uniform);

// The pretrained model as the run's starting view (tier from the round settings).
struct StartModel {
  ml::ModelView view;
  Ed25519PublicKey public_key;
};
Result<StartModel> load_start_model(const SimConfig& config);

}  // namespace edgefed::sim::detail
