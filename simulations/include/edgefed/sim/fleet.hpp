// FleetSimulator: many virtual devices running the real device code against the real server
// logic, in one process, on a virtual clock.
//
// Each virtual device is a client::DeviceSession (the same protocol state machine, SecAgg+
// client and model verification as edgefed-client) whose Learner is the real trainer
// (ml::train_local on its own shard, one LibTorch model shared by all devices, loaded with
// the device's view before each use); the server is server::Coordinator, the state machine
// edgefed-server runs. Frames travel through an event queue: every frame takes its link's
// latency + size / bandwidth, training takes samples × epochs × MACs per sample / the device
// class's MAC rate, and a device handles nothing while it is busy. Devices are online inside
// their availability window (profiles.hpp), drop out at a stage with their profile's
// probability, and configured fault rules drop, delay, duplicate or corrupt frames. Energy per
// device and round = MACs × energy/MAC + bytes × energy/byte. Everything random is seeded:
// the same config gives the same rounds.
#pragma once

#include "edgefed/common/result.hpp"
#include "edgefed/data/federated.hpp"
#include "edgefed/server/coordinator.hpp"
#include "edgefed/sim/profiles.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace edgefed::sim {

// A fault injected into device → server frames of one type ("secagg.masked_input"; "*" for
// any): drop (lost), delay (by delay_s), duplicate (delivered twice), corrupt (a byte flipped).
struct FaultRule {
  std::string type = "*";
  std::string action = "drop";
  double probability = 0;
  double delay_s = 0;
};

struct SimConfig {
  std::uint64_t rounds = 10;
  std::uint64_t seed = 1;
  data::FederatedDataSpec data;         // devices, partition, α, feature shift, seed
  std::size_t max_train_per_device = 0; // 0: the device's whole shard
  server::RoundSettings round;          // cohort, deadlines (virtual seconds), training plan
  server::StrategyConfig strategy;
  std::filesystem::path model;          // pretrained model (edgefed-model pretrain)
  std::filesystem::path model_key;      // its signing key
  ProfileLibrary profiles;
  std::vector<FaultRule> faults;
  double start_hour = 22;               // local time of day when the simulation starts
  double round_interval_s = 0;          // virtual pause between rounds
  double train_macs_per_sample = 6e6;   // forward + backward of the default CNN (~2 M MACs forward)
  std::size_t eval_devices = 20;        // devices whose local accuracy is averaged per round
  std::size_t eval_test_items = 2000;   // global test images for the server model
  std::filesystem::path data_dir;       // Fashion-MNIST
};

struct RoundRecord {
  std::uint64_t round = 0;
  std::string outcome;
  std::uint32_t online = 0;        // devices online when the round ended
  std::uint32_t selected = 0;
  std::uint32_t participants = 0;
  std::map<std::string, std::uint32_t> dropped_by_stage;
  std::uint64_t bytes_up = 0;      // all device → server bytes during the round
  std::uint64_t bytes_down = 0;    // all server → device bytes, model pushes included
  double sim_start_s = 0;          // virtual time the round started (first plan sent)
  double sim_seconds = 0;          // virtual duration
  double wall_seconds = 0;
  double global_accuracy = -1;     // server model on the global test set (its BN statistics)
  double device_accuracy = -1;     // mean over eval_devices of their model on their own test split
  double energy_mean_j = 0;        // per participating device
  double energy_max_j = 0;
};

class FleetSimulator {
 public:
  // Loads data, model and key; builds the devices. Errors: the loaders', invalid_argument.
  static Result<std::unique_ptr<FleetSimulator>> create(SimConfig config);
  ~FleetSimulator();

  // Runs the virtual clock until the next round ends (or 7 virtual days pass: timeout).
  Result<RoundRecord> run_round();
  const std::vector<RoundRecord>& records() const;
  std::uint32_t device_count() const;
  // The server's current global model (version, architecture, every tensor).
  ml::ModelView global_model() const;

  // Mean accuracy over `devices` devices (0: all) of each one's current model on its own test
  // split — the federated result under FedBN.
  double device_accuracy(std::size_t devices = 0);

  // The centralized reference: the initial model's same trainable tensors (the run's tier)
  // trained on the pooled training data of every device (their sensors applied, as they
  // hold it) for `epochs`, then evaluated on every device's test split, one shared model.
  struct Baseline {
    double device_accuracy = 0;           // mean over devices, the shared model as trained
    double device_accuracy_local_bn = 0;  // same, after each device re-estimates BN statistics on
                                          // its own training data (no labels) — FedBN's advantage
    std::size_t pooled_samples = 0;
    double wall_seconds = 0;
  };
  Result<Baseline> centralized_baseline(std::size_t epochs, double learning_rate, std::size_t devices = 0);

 private:
  struct Impl;
  explicit FleetSimulator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgefed::sim
