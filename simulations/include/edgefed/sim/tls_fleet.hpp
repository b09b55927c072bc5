// TlsFleet: the simulator's second transport — virtual devices that talk to a running
// edgefed-server over real mutual TLS 1.3, in real time.
//
// Each device is the same client::DeviceSession and trainer as in FleetSimulator, behind a
// net::WsClient with the device certificate `<certs_dir>/device-NNNN.pem` (NNNN = index + 1).
// A few driver threads serve all devices round-robin; training uses one LibTorch model
// shared under a lock (a 2-core box trains one device at a time anyway). Profiles' stage
// dropouts close the device's connection (it reconnects `reconnect_s` later); fault rules
// drop, duplicate or corrupt frames (delays hold the frame back in real time).
//
// Rounds are observed from the devices' side: a round is recorded when the first of this
// fleet's devices gets its fl.round_end (participants come from the server's message).
// Sharding: devices with index % shard_count == shard_index run here (MPI ranks).
#pragma once

#include "edgefed/common/result.hpp"
#include "edgefed/sim/fleet.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

namespace edgefed::sim {

struct TlsTarget {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8443;
  std::filesystem::path ca_file = "certs/ca.pem";
  std::filesystem::path certs_dir = "certs/devices";
  std::string server_name = "localhost";
  std::filesystem::path model_public_key = "keys/model.pem.pub";
  std::size_t driver_threads = 2;
  double reconnect_s = 5;
  std::uint32_t shard_index = 0;
  std::uint32_t shard_count = 1;
};

class TlsFleet {
 public:
  // Loads data, connects nothing yet. Errors: the loaders', invalid_argument.
  static Result<std::unique_ptr<TlsFleet>> create(SimConfig config, TlsTarget target);
  ~TlsFleet();

  // Connects the devices (on the first call) and waits until the next round any of them
  // takes part in ends. timeout: no round within `timeout`.
  Result<RoundRecord> next_round(std::chrono::seconds timeout);
  const std::vector<RoundRecord>& records() const;
  std::uint32_t device_count() const;  // in this shard
  double device_accuracy(std::size_t devices = 0);

 private:
  struct Impl;
  explicit TlsFleet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgefed::sim
