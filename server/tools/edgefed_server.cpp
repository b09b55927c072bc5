// edgefed-server: the aggregation server process.
//
//   edgefed-server --config server.json [--port 8443] [--rounds.max 10] ...
//
// Serves devices over WebSocket + mutual TLS 1.3, runs rounds with SecAgg+, pushes signed
// int8 models, checkpoints after every round and resumes from the checkpoint on restart.
// /metrics, /healthz and /api/status on the same port. SIGTERM or SIGINT: graceful stop.
// --export.every N writes the global model's deployable files (.efm, .tflite, .onnx) every
// N versions.
#include "edgefed/common/config.hpp"
#include "edgefed/common/log.hpp"
#include "edgefed/data/fashion_mnist.hpp"
#include "edgefed/export/deploy.hpp"
#include "edgefed/ml/compression.hpp"
#include "edgefed/ml/model.hpp"
#include "edgefed/server/options.hpp"
#include "edgefed/server/server.hpp"

#include <csignal>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>

namespace {

using namespace edgefed;

ConfigSpec make_spec() {
  ConfigSpec spec("edgefed-server", "federated-learning aggregation server (WebSocket over mutual TLS 1.3)");
  server::add_round_options(spec);
  spec.add("address", ConfigType::string, "127.0.0.1", "address to listen on (0.0.0.0 for all)")
      .add("port", ConfigType::unsigned_integer, 8443, "TCP port (0: ephemeral, printed at start)")
      .add("io_threads", ConfigType::unsigned_integer, 1, "transport I/O threads")
      .add("aggregation_threads", ConfigType::unsigned_integer, 1, "threads removing masks")
      .add("tls.ca", ConfigType::string, "certs/ca.pem", "CA that signs device certificates")
      .add("tls.cert", ConfigType::string, "certs/server.pem", "server certificate")
      .add("tls.key", ConfigType::string, "certs/server.key.pem", "server private key")
      .add("model", ConfigType::string, "models/backbone.efm", "initial model (edgefed-model pretrain)")
      .add("model_key", ConfigType::string, "keys/model.pem", "Ed25519 key that signs models and checkpoints")
      .add("checkpoint", ConfigType::string, "state/server.ckpt", "checkpoint file: resumed from if present")
      .add("exit_when_finished", ConfigType::boolean, false, "exit once rounds.max rounds have ended")
      .add("eval.enabled", ConfigType::boolean, false, "evaluate each new global model on the test set")
      .add("eval.data_dir", ConfigType::string, data::kDefaultFashionMnistDir, "Fashion-MNIST directory")
      .add("eval.max_items", ConfigType::unsigned_integer, 10000, "test images used")
      .add("export.every", ConfigType::unsigned_integer, 0,
           "write the global model's deployable files every N model versions (0: never)")
      .add("export.dir", ConfigType::string, "exports", "where model-v<version>.{efm,tflite,onnx} go")
      .add("export.formats", ConfigType::string, "tflite", "comma-separated: tflite, onnx (the signed .efm is always written)")
      .add("export.int8", ConfigType::boolean, true, "int8 by post-training quantization (else float32)")
      .add("export.data_dir", ConfigType::string, data::kDefaultFashionMnistDir,
           "Fashion-MNIST directory: calibration images from the server's cloud split")
      .add("log.format", ConfigType::string, "logfmt", "logfmt or json");
  return spec;
}

Result<server::ServerOptions> options_from(const Config& c) {
  server::ServerOptions o;
  o.transport.address = c.get<std::string>("address");
  const std::uint64_t port = c.get<std::uint64_t>("port");
  if (port > 65535) return fail(ErrorCode::invalid_argument, "port: " + std::to_string(port) + " is over 65535");
  o.transport.port = static_cast<std::uint16_t>(port);
  o.transport.threads = c.get<std::uint64_t>("io_threads");
  o.transport.tls.ca_file = c.get<std::string>("tls.ca");
  o.transport.tls.cert_file = c.get<std::string>("tls.cert");
  o.transport.tls.key_file = c.get<std::string>("tls.key");
  o.aggregation_threads = c.get<std::uint64_t>("aggregation_threads");
  o.initial_model = c.get<std::string>("model");
  o.model_key = c.get<std::string>("model_key");
  o.checkpoint = c.get<std::string>("checkpoint");
  if (o.checkpoint.has_parent_path()) std::filesystem::create_directories(o.checkpoint.parent_path());

  EDGEFED_ASSIGN_OR_RETURN(o.rounds, server::round_settings_from(c));
  EDGEFED_ASSIGN_OR_RETURN(o.strategy, server::strategy_from(c));
  return o;
}

// What the server does with each new global model on its background thread: evaluates it on
// the test set with LibTorch (the only torch use in the server) and, every N versions, writes
// its deployable files (exporter::export_deployable).
struct ModelHook {
  std::optional<data::Dataset> test;         // evaluation, when enabled
  std::uint64_t export_every = 0;            // 0: no export
  exporter::DeployOptions export_options;
  data::Dataset calibration;
  std::optional<Ed25519SecretKey> key;
  std::uint64_t last_exported = 0;
  std::mutex mutex;

  std::optional<double> operator()(const ml::ModelView& view) {
    std::lock_guard lock(mutex);
    auto config = ml::CnnConfig::from_json(view.architecture);
    if (!config) return std::nullopt;
    if (export_every > 0 && view.version >= last_exported + export_every) {
      last_exported = view.version;
      auto files = exporter::export_deployable(view.values, config->image_size, view.version, &calibration, *key,
                                               export_options);
      if (files) {
        log::info("exported", {{"model_version", view.version}, {"files", files->size()},
                               {"dir", export_options.dir.string()}});
      } else {
        log::warn("export failed", {{"model_version", view.version}, {"error", files.error().message()}});
      }
    }
    if (!test) return std::nullopt;
    auto model = ml::Model::default_cnn(*config);
    if (!model || !model->load(view.values)) return std::nullopt;
    return model->evaluate(*test).accuracy;
  }
};

Result<std::shared_ptr<ModelHook>> model_hook_from(const Config& c) {
  auto hook = std::make_shared<ModelHook>();
  if (c.get<bool>("eval.enabled")) {
    EDGEFED_ASSIGN_OR_RETURN(hook->test, data::load_fashion_mnist(c.get<std::string>("eval.data_dir"), data::Split::test,
                                                                  c.get<std::uint64_t>("eval.max_items")));
  }
  hook->export_every = c.get<std::uint64_t>("export.every");
  if (hook->export_every > 0) {
    hook->export_options.dir = c.get<std::string>("export.dir");
    EDGEFED_ASSIGN_OR_RETURN(hook->export_options.formats, exporter::parse_formats(c.get<std::string>("export.formats")));
    hook->export_options.int8 = c.get<bool>("export.int8");
    EDGEFED_ASSIGN_OR_RETURN(hook->key, load_ed25519_secret_key(c.get<std::string>("model_key")));
    if (hook->export_options.int8) {
      EDGEFED_ASSIGN_OR_RETURN(hook->calibration, ml::load_calibration_images(c.get<std::string>("export.data_dir"),
                                                                             hook->export_options.calibration.samples));
    }
  }
  if (!hook->test && hook->export_every == 0) return std::shared_ptr<ModelHook>();
  return hook;
}

}  // namespace

int main(int argc, char** argv) {
  const ConfigSpec spec = make_spec();
  int code = 0;
  auto config = parse_command_line_or_report(spec, argc, argv, code);
  if (!config) return code;
  if (config->get<std::string>("log.format") == "json") log::set_format(log::Format::json);

  // Signals are taken synchronously by this thread; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto options = options_from(*config);
  if (!options) {
    std::fprintf(stderr, "edgefed-server: %s\n", options.error().message().c_str());
    return 2;
  }
  ml::use_single_thread();
  auto hook = model_hook_from(*config);
  if (!hook) {
    std::fprintf(stderr, "edgefed-server: %s\n", hook.error().message().c_str());
    return hook.error().condition() == ErrorCondition::invalid_argument ? 2 : 1;
  }
  if (*hook) options->evaluate = [hook = *hook](const ml::ModelView& v) { return (*hook)(v); };
  auto server = server::AggregationServer::create(std::move(*options));
  if (!server) {
    std::fprintf(stderr, "edgefed-server: %s\n", server.error().message().c_str());
    return server.error().condition() == ErrorCondition::invalid_argument ? 2 : 1;
  }
  if (auto st = (*server)->start(); !st) {
    std::fprintf(stderr, "edgefed-server: %s\n", st.error().message().c_str());
    return 1;
  }
  std::printf("edgefed-server listening on %s:%u (model version %llu)\n", config->get<std::string>("address").c_str(),
              static_cast<unsigned>((*server)->port()),
              static_cast<unsigned long long>((*server)->model_version()));
  std::fflush(stdout);
  const bool exit_when_finished = config->get<bool>("exit_when_finished");
  for (;;) {
    const timespec wait{0, 200'000'000};
    const int sig = sigtimedwait(&signals, nullptr, &wait);
    if (sig == SIGTERM || sig == SIGINT) {
      log::info("signal received, stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
      break;
    }
    if (exit_when_finished && (*server)->finished()) {
      log::info("all rounds ended, stopping");
      break;
    }
  }
  (*server)->stop();
  std::printf("%s\n", (*server)->status().dump().c_str());
  return 0;
}
