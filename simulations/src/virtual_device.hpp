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

struct DeviceSetup {
  std::uint32_t index = 0;
  std::string name;                 // "sim-000042"
  const Profile* profile = nullptr; // points into the caller's ProfileLibrary
  double phase_hours = 0;           // jitter of the availability window
  data::Dataset train, test;
};

// Assigns profiles by share (seeded) and caps each device's training data; consumes `fed`.
std::vector<DeviceSetup> make_device_setups(data::FederatedData& fed, const SimConfig& config,
                                            const ProfileLibrary& profiles);

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
