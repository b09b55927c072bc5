// AggregationServer: the Coordinator behind a real transport (WebSocket over mutual TLS 1.3),
// with a clock, checkpoints on disk and HTTPS endpoints on the same port:
//   GET /metrics      Prometheus text
//   GET /healthz      "ok" while serving
//   GET /api/status   JSON: round, stage, model version, devices, last round
// (device certificates are required for these too: the port is mTLS-only).
//
// Start-up: if `checkpoint` exists it is read (signature checked with the model key) and the
// run resumes at its round with its model; otherwise the run starts from `initial_model`
// (a signed float model from `edgefed-model pretrain`). A checkpoint is written atomically
// after every round, before the new model is pushed.
//
// Threading: transport callbacks and a ticker thread serialise on one mutex around the
// Coordinator; mask removal runs on `aggregation_threads` workers.
#pragma once

#include "edgefed/common/result.hpp"
#include "edgefed/ml/exchange.hpp"
#include "edgefed/net/server.hpp"
#include "edgefed/server/coordinator.hpp"
#include "edgefed/server/strategy.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

namespace edgefed::server {

struct ServerOptions {
  net::ServerConfig transport;
  RoundSettings rounds;
  StrategyConfig strategy;
  std::filesystem::path initial_model;  // signed float model (edgefed-model pretrain)
  std::filesystem::path model_key;      // Ed25519 secret key (PEM) that signs every model
  std::filesystem::path checkpoint;     // read on start when present; written every round
  std::size_t aggregation_threads = 1;
  std::chrono::milliseconds tick{50};
  // Optional: evaluates a new global model (on a background thread, one at a time); the
  // result is logged, exported as edgefed_eval_accuracy and shown in /api/status.
  std::function<std::optional<double>(const ml::ModelView&)> evaluate;
  // Optional: called (under the server's lock, keep it short) after every round.
  std::function<void(const RoundSummary&)> on_round;
};

class AggregationServer {
 public:
  // Loads keys, model or checkpoint and binds the port. Errors: the file and codec errors
  // (io_error, bad_signature, schema_mismatch...), invalid_argument for bad settings,
  // the transport's errors.
  static Result<std::unique_ptr<AggregationServer>> create(ServerOptions options);
  ~AggregationServer();

  Status start();
  // Graceful: closes device connections (1001), stops the ticker, waits for evaluation.
  void stop();

  std::uint16_t port() const;
  std::uint64_t model_version() const;
  bool finished() const;  // max_rounds rounds have ended
  nlohmann::json status() const;
  std::string metrics_text() const;
  // Blocks until finished() or `timeout`; true if finished.
  bool wait_finished(std::chrono::milliseconds timeout) const;

 private:
  struct Impl;
  explicit AggregationServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgefed::server
