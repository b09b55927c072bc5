#include "edgefed/server/server.hpp"

#include "edgefed/common/artifact.hpp"
#include "edgefed/common/log.hpp"
#include "edgefed/secagg/thread_pool.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace edgefed::server {

namespace {
constexpr std::size_t kMaxModelFileBytes = 256u << 20;
}

struct AggregationServer::Impl final : net::ServerHandler, CoordinatorPorts {
  ServerOptions options;
  Ed25519PublicKey model_public;
  std::optional<Ed25519SecretKey> checkpoint_key;  // signs checkpoints; loaded once at start
  MetricsRegistry metrics;
  secagg::SystemCsprng rng;
  std::unique_ptr<secagg::ThreadPoolExecutor> executor;
  std::unique_ptr<Coordinator> coordinator;
  std::unique_ptr<net::WsServer> transport;

  mutable std::mutex mutex;  // guards coordinator and the fields below
  mutable std::condition_variable changed;
  std::thread ticker;
  bool stopping = false;
  std::thread evaluator;
  std::optional<double> last_accuracy;
  std::uint64_t evaluated_version = 0;

  // net::ServerHandler — transport threads.
  void on_open(net::ConnectionId id, const std::string& device_id) override {
    std::lock_guard lock(mutex);
    coordinator->on_open(id, device_id, Clock::now());
  }
  void on_frame(net::ConnectionId id, Bytes frame) override {
    std::lock_guard lock(mutex);
    coordinator->on_frame(id, frame, Clock::now());
  }
  void on_close(net::ConnectionId id, const Status& why) override {
    std::lock_guard lock(mutex);
    if (!why) log::debug("connection closed", {{"conn", std::to_string(id)}, {"why", why.error().message()}});
    coordinator->on_close(id, Clock::now());
  }

  // CoordinatorPorts — called with the mutex held.
  void send(ConnectionId id, Bytes frame) override { transport->send(id, std::move(frame)); }
  void send_shared(ConnectionId id, std::shared_ptr<const Bytes> frame) override {
    transport->send(id, std::move(frame));
  }
  void close(ConnectionId id, std::string reason) override { transport->close(id, std::move(reason)); }
  Status persist(const Checkpoint& checkpoint) override {
    if (options.checkpoint.empty()) return {};
    EDGEFED_ASSIGN_OR_RETURN(Bytes bytes, encode_checkpoint(checkpoint, *checkpoint_key));
    return save_artifact(options.checkpoint, bytes);
  }
  void round_finished(const RoundSummary& summary) override {
    if (options.on_round) options.on_round(summary);
    if (summary.outcome == protocol::RoundOutcome::completed && options.evaluate) start_evaluation();
    changed.notify_all();
  }

  void start_evaluation() {
    if (evaluator.joinable()) return;  // one at a time; the next round evaluates the newer model
    ml::ModelView snapshot = coordinator->model();
    evaluator = std::thread([this, snapshot = std::move(snapshot)] {
      const std::optional<double> accuracy = options.evaluate(snapshot);
      std::lock_guard lock(mutex);
      if (accuracy) {
        last_accuracy = accuracy;
        evaluated_version = snapshot.version;
        metrics.gauge("edgefed_eval_accuracy", "Test accuracy of the global model (evaluation hook)").set(*accuracy);
        log::info("evaluation", {{"model_version", snapshot.version}, {"accuracy", *accuracy}});
      }
      // Detach ourselves: the next completed round may start another evaluation.
      evaluator.detach();
    });
  }

  net::HttpResponse http(const net::HttpRequest& request) {
    net::HttpResponse r;
    if (request.target == "/metrics") {
      r.status = 200;
      r.content_type = kPrometheusContentType;
      r.body = metrics.render();
    } else if (request.target == "/healthz") {
      r.status = 200;
      r.body = "ok\n";
    } else if (request.target == "/api/status") {
      r.status = 200;
      r.content_type = "application/json";
      r.body = status().dump(2) + "\n";
    } else {
      r.status = 404;
      r.body = "not found: try /metrics, /healthz or /api/status\n";
    }
    return r;
  }

  nlohmann::json status() const {
    std::lock_guard lock(mutex);
    nlohmann::json j = coordinator->status();
    if (last_accuracy) j["evaluation"] = {{"model_version", evaluated_version}, {"accuracy", *last_accuracy}};
    return j;
  }

  void tick_loop() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      try {
        coordinator->tick(Clock::now());
      } catch (const std::exception& e) {
        // Nothing in the coordinator is meant to throw; if something does (bad_alloc), log it
        // and keep serving rather than take every device down with the process.
        log::error("coordinator tick failed", {{"error", e.what()}});
      }
      changed.notify_all();
      changed.wait_for(lock, options.tick, [this] { return stopping; });
    }
  }
};

Result<std::unique_ptr<AggregationServer>> AggregationServer::create(ServerOptions options) {
  auto impl = std::make_unique<Impl>();
  EDGEFED_ASSIGN_OR_RETURN(Ed25519SecretKey key, load_ed25519_secret_key(options.model_key));
  impl->model_public = derive_public_key(key);
  impl->checkpoint_key = key.clone();
  Checkpoint state;
  if (!options.checkpoint.empty() && std::filesystem::exists(options.checkpoint)) {
    EDGEFED_ASSIGN_OR_RETURN(Bytes bytes, load_file(options.checkpoint, kMaxModelFileBytes));
    auto restored = decode_checkpoint(bytes, impl->model_public);
    if (!restored) {
      return Error{restored.error().code, options.checkpoint.string() + ": " + restored.error().detail};
    }
    state = std::move(*restored);
    log::info("resuming from checkpoint", {{"path", options.checkpoint.string()},
                                           {"model_version", state.model.version},
                                           {"next_round", state.next_round}});
  } else {
    EDGEFED_ASSIGN_OR_RETURN(Bytes bytes, load_file(options.initial_model, kMaxModelFileBytes));
    auto artifact = read_artifact(bytes, impl->model_public);
    if (!artifact) {
      return Error{artifact.error().code, options.initial_model.string() + ": " + artifact.error().detail};
    }
    EDGEFED_ASSIGN_OR_RETURN(ml::Tier tier, ml::parse_tier(options.rounds.train.tier));
    EDGEFED_ASSIGN_OR_RETURN(state.model, ml::view_from_pretrained(*artifact, tier, /*train_head=*/false));
    if (state.model.version == 0) state.model.version = 1;  // devices hold 0 = nothing
    log::info("starting from the initial model", {{"path", options.initial_model.string()},
                                                  {"model_version", state.model.version}});
  }
  impl->executor = std::make_unique<secagg::ThreadPoolExecutor>(std::max<std::size_t>(1, options.aggregation_threads));
  EDGEFED_ASSIGN_OR_RETURN(impl->coordinator,
                           Coordinator::create(options.rounds, options.strategy, std::move(state), std::move(key),
                                               impl->rng, *impl->executor, *impl, impl->metrics));
  Impl* raw = impl.get();
  options.transport.http_handler = [raw](const net::HttpRequest& r) { return raw->http(r); };
  EDGEFED_ASSIGN_OR_RETURN(impl->transport, net::WsServer::create(options.transport, *impl));
  impl->options = std::move(options);
  return std::unique_ptr<AggregationServer>(new AggregationServer(std::move(impl)));
}

AggregationServer::AggregationServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AggregationServer::~AggregationServer() { stop(); }

Status AggregationServer::start() {
  EDGEFED_TRY(impl_->transport->start());
  impl_->ticker = std::thread([this] { impl_->tick_loop(); });
  log::info("server listening", {{"port", static_cast<std::uint64_t>(port())}});
  return {};
}

void AggregationServer::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->changed.notify_all();
  if (impl_->ticker.joinable()) impl_->ticker.join();
  impl_->transport->stop();
  // An evaluation in flight detaches itself; wait for it to finish with the model.
  for (;;) {
    {
      std::lock_guard lock(impl_->mutex);
      if (!impl_->evaluator.joinable()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::uint16_t AggregationServer::port() const { return impl_->transport->port(); }

std::uint64_t AggregationServer::model_version() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->coordinator->model_version();
}

bool AggregationServer::finished() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->coordinator->finished();
}

nlohmann::json AggregationServer::status() const { return impl_->status(); }
std::string AggregationServer::metrics_text() const { return impl_->metrics.render(); }

bool AggregationServer::wait_finished(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->changed.wait_for(lock, timeout, [this] { return impl_->coordinator->finished(); });
}

}  // namespace edgefed::server
