// edgefed::Client — the device SDK.
//
//   auto config = edgefed::ClientConfig::from_json(json).value();
//   auto client = edgefed::Client::create(config, my_training_images).value();
//   client->run();                       // until config.rounds rounds ended, or stop()
//   // or one round at a time:
//   auto end = client->run_round();      // connects if needed, returns the round's outcome
//
// The client connects to the server over WebSocket + mutual TLS 1.3 with the device
// certificate (the server knows the device by the certificate's subject), downloads and
// verifies the signed int8 global model, trains the configured tier on the local data with
// LibTorch when selected, and takes part in SecAgg+ so that the server only learns the sum of
// the cohort's updates. Raw data never leaves the device; neither do BatchNorm tensors.
//
// State (model, local tensors, highest model version) lives in `state_dir` and survives
// restarts; a model whose signature or version does not verify is never loaded. Lost
// connections are retried with exponential backoff (reconnect_min .. reconnect_max).
//
// Thread-safety: run()/run_round() from one thread; stop() and the getters from any thread.
#pragma once

#include "edgefed/common/result.hpp"
#include "edgefed/data/dataset.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace edgefed {

struct ClientConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8443;
  std::filesystem::path ca_file = "certs/ca.pem";          // CA of the server certificate
  std::filesystem::path cert_file;                         // this device's certificate
  std::filesystem::path key_file;                          // and its private key
  std::string server_name = "localhost";                   // expected in the server certificate
  std::filesystem::path model_public_key = "keys/model.pem.pub";  // verifies every model
  std::filesystem::path state_dir;                         // device.state lives here
  std::string device_class = "generic";
  std::uint64_t rounds = 0;  // run() returns after this many rounds ended for the device; 0: never
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds reconnect_min{250};
  std::chrono::milliseconds reconnect_max{30'000};
  std::uint32_t min_cohort = 3;  // refuse SecAgg sessions with fewer devices
  // What this device assumes about the fleet (SecAgg γ and δ). When set, the device refuses a
  // session whose announced threshold and neighbourhood a server could beat with that share
  // of corrupt or dropped devices (secagg::ClientPolicy) — the device's defence against a
  // server that picks weak parameters. Must not exceed what the server plans for, or the
  // device refuses every round.
  std::optional<double> assumed_corrupt_rate;
  std::optional<double> assumed_dropout_rate;

  // Keys as the fields above ("host", "port", "tls": {"ca", "cert", "key", "server_name"},
  // "model_public_key", "state_dir", "device_class", "rounds", "connect_timeout_ms",
  // "reconnect_min_ms", "reconnect_max_ms", "min_cohort", "assumed_corrupt_rate",
  // "assumed_dropout_rate"). Unknown keys and wrong types are
  // errors naming the key.
  static Result<ClientConfig> from_json(const nlohmann::json& json);
};

struct RoundResult {
  std::uint64_t round = 0;
  bool completed = false;       // the aggregate included this device's update
  std::uint64_t model_version = 0;
  std::uint32_t participants = 0;
  std::string reason;           // why not, when not completed
};

struct ClientStats {
  std::uint64_t model_version = 0;
  std::uint64_t rounds_completed = 0;
  std::uint64_t rounds_aborted = 0;
  std::uint64_t connections = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
};

class Client {
 public:
  // Reads the model key and the persisted state (a corrupt state file is an error naming it;
  // delete it to start over). `training` is the device's labelled data.
  static Result<std::unique_ptr<Client>> create(ClientConfig config, data::Dataset training);
  ~Client();

  // Participates until `config.rounds` rounds ended for this device (0: until stop()).
  // Errors only for what retrying cannot fix: a model that fails verification, a corrupt
  // state directory. stop() makes it return ok.
  Status run();
  // Until the next round this device is selected for ends (connecting first if needed).
  // io_error "stopped" after stop().
  Result<RoundResult> run_round();
  void stop();

  ClientStats stats() const;
  // Accuracy of the device's current model (global + its local tensors) on `data`.
  Result<double> evaluate(const data::Dataset& data) const;
  // Observes every frame the device sends, as written to the wire (tests, accounting).
  void set_send_observer(std::function<void(std::span<const std::uint8_t>)> observer);

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgefed
