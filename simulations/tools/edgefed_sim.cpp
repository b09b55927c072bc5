// edgefed-sim: a fleet of virtual devices running the real device and server code on a
// virtual clock (simulations/include/edgefed/sim/fleet.hpp), with a progress line per round,
// and rounds.csv, summary.json and report.html in --out.
//
//   edgefed-sim --devices 100 --rounds 10 [--config sim.json] [--faults secagg.masked_input:drop:0.05]
#include "edgefed/common/config.hpp"
#include "edgefed/common/log.hpp"
#include "edgefed/data/fashion_mnist.hpp"
#include "edgefed/export/deploy.hpp"
#include "edgefed/ml/compression.hpp"
#include "edgefed/server/options.hpp"
#include "edgefed/sim/fleet.hpp"
#include "edgefed/sim/report.hpp"
#include "edgefed/sim/tls_fleet.hpp"

#ifdef EDGEFED_HAVE_MPI
#include <mpi.h>
#endif
#include <cstdlib>
#include <functional>
#include <optional>

#include <cstdio>
#include <sstream>

namespace {

using namespace edgefed;

ConfigSpec make_spec() {
  ConfigSpec spec("edgefed-sim", "fleet simulator: virtual devices running the real client and server code");
  spec.add("devices", ConfigType::unsigned_integer, 100, "virtual devices")
      .add("seed", ConfigType::unsigned_integer, 1, "everything random derives from it")
      .add("profiles", ConfigType::string, EDGEFED_DEFAULT_PROFILES, "device profile library (JSON)")
      .add("model", ConfigType::string, "models/backbone.efm", "pretrained model (edgefed-model pretrain)")
      .add("model_key", ConfigType::string, "keys/model.pem", "its signing key")
      .add("export.every", ConfigType::unsigned_integer, 0,
           "in-process: write the global model's deployable files every N model versions (0: never; over "
           "TLS the server exports: edgefed-server --export.every)")
      .add("export.dir", ConfigType::string, "exports", "where model-v<version>.{efm,tflite,onnx} go")
      .add("export.formats", ConfigType::string, "tflite", "comma-separated: tflite, onnx (the signed .efm is always written)")
      .add("export.int8", ConfigType::boolean, true, "int8 by post-training quantization on the cloud split (else float32)")
      .add("data.dir", ConfigType::string, data::kDefaultFashionMnistDir, "Fashion-MNIST directory")
      .add("data.partition", ConfigType::string, "dirichlet", "iid, dirichlet or shards")
      .add("data.alpha", ConfigType::number, 0.5, "Dirichlet label skew")
      .add("data.feature_shift", ConfigType::boolean, true, "per-device sensor shift")
      .add("data.max_train", ConfigType::unsigned_integer, 0, "cap on training samples per device (0: all)")
      .add("data.replicas", ConfigType::unsigned_integer, 1,
           "partition the images as if repeated this often (fleets larger than the data)")
      .add("start_hour", ConfigType::number, 22.0, "local time of day at the start")
      .add("round_interval_s", ConfigType::number, 0.0, "virtual pause between rounds")
      .add("train_macs_per_sample", ConfigType::number, 6e6, "training cost per sample (MACs, fwd + bwd)")
      .add("faults", ConfigType::string_list, nlohmann::json::array(),
           "fault rules TYPE:ACTION:PROBABILITY[:DELAY_S], ACTION drop|delay|duplicate|corrupt, TYPE a message type or *")
      .add("eval.devices", ConfigType::unsigned_integer, 20, "devices whose local accuracy is averaged")
      .add("eval.test_items", ConfigType::unsigned_integer, 2000, "global test images (0: no global evaluation)")
      .add("baseline.epochs", ConfigType::unsigned_integer, 0,
           "after the rounds: train the same tensors centrally on the pooled device data for this many epochs (0: skip)")
      .add("baseline.learning_rate", ConfigType::number, 0.05, "learning rate of the centralized baseline")
      .add("out", ConfigType::string, "reports/sim", "directory for rounds.csv, summary.json, report.html")
      .add("transport", ConfigType::string, "inprocess",
           "inprocess (virtual clock, the server logic in this process) or tls (real time, a running edgefed-server)")
      .add("server.host", ConfigType::string, "127.0.0.1", "tls: edgefed-server host")
      .add("server.port", ConfigType::unsigned_integer, 8443, "tls: edgefed-server port")
      .add("tls.ca", ConfigType::string, "certs/ca.pem", "tls: CA of the server certificate")
      .add("tls.certs_dir", ConfigType::string, "certs/devices", "tls: device-NNNN.pem/.key.pem (NNNN = index + 1)")
      .add("tls.server_name", ConfigType::string, "localhost", "tls: name in the server certificate")
      .add("model_public_key", ConfigType::string, "keys/model.pem.pub", "tls: the server's model key")
      .add("driver_threads", ConfigType::unsigned_integer, 2, "tls: threads serving the devices")
      .add("round_timeout_s", ConfigType::unsigned_integer, 600, "tls: give up when no round ends for this long")
      .add("log.level", ConfigType::string, "warn", "trace, debug, info, warn or error");
  server::add_round_options(spec);
  return spec;
}

Result<sim::FaultRule> parse_fault(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream ss(text);
  for (std::string p; std::getline(ss, p, ':');) parts.push_back(p);
  if (parts.size() < 3 || parts.size() > 4) {
    return fail(ErrorCode::invalid_argument, "faults: '" + text + "' is not TYPE:ACTION:PROBABILITY[:DELAY_S]");
  }
  sim::FaultRule r;
  r.type = parts[0];
  r.action = parts[1];
  if (r.action != "drop" && r.action != "delay" && r.action != "duplicate" && r.action != "corrupt") {
    return fail(ErrorCode::invalid_argument, "faults: action '" + r.action + "' is not drop, delay, duplicate or corrupt");
  }
  try {
    r.probability = std::stod(parts[2]);
    r.delay_s = parts.size() == 4 ? std::stod(parts[3]) : 0;
  } catch (const std::exception&) {
    return fail(ErrorCode::invalid_argument, "faults: '" + text + "': probability and delay must be numbers");
  }
  if (!(r.probability >= 0 && r.probability <= 1) || r.delay_s < 0) {
    return fail(ErrorCode::invalid_argument, "faults: '" + text + "': probability in [0, 1], delay >= 0");
  }
  return r;
}

Result<sim::SimConfig> config_from(const Config& c) {
  sim::SimConfig s;
  s.seed = c.get<std::uint64_t>("seed");
  EDGEFED_ASSIGN_OR_RETURN(s.round, server::round_settings_from(c));
  EDGEFED_ASSIGN_OR_RETURN(s.strategy, server::strategy_from(c));
  s.rounds = s.round.max_rounds == 0 ? 10 : s.round.max_rounds;
  s.data.devices = static_cast<std::uint32_t>(c.get<std::uint64_t>("devices"));
  EDGEFED_ASSIGN_OR_RETURN(s.data.partition, data::parse_partition(c.get<std::string>("data.partition")));
  s.data.alpha = c.get<double>("data.alpha");
  s.data.feature_shift = c.get<bool>("data.feature_shift");
  s.data.seed = s.seed;
  s.data.replicas = static_cast<std::uint32_t>(c.get<std::uint64_t>("data.replicas"));
  EDGEFED_TRY(s.data.validate());
  s.max_train_per_device = c.get<std::uint64_t>("data.max_train");
  s.data_dir = c.get<std::string>("data.dir");
  s.model = c.get<std::string>("model");
  s.model_key = c.get<std::string>("model_key");
  EDGEFED_ASSIGN_OR_RETURN(s.profiles, sim::load_profiles(c.get<std::string>("profiles")));
  for (const std::string& f : c.get<std::vector<std::string>>("faults")) {
    EDGEFED_ASSIGN_OR_RETURN(sim::FaultRule rule, parse_fault(f));
    s.faults.push_back(rule);
  }
  s.start_hour = c.get<double>("start_hour");
  s.round_interval_s = c.get<double>("round_interval_s");
  s.train_macs_per_sample = c.get<double>("train_macs_per_sample");
  s.eval_devices = c.get<std::uint64_t>("eval.devices");
  s.eval_test_items = c.get<std::uint64_t>("eval.test_items");
  return s;
}

#ifdef EDGEFED_HAVE_MPI
// Every rank saw the rounds its devices took part in; rank 0 merges them: per round the
// devices selected and bytes add up, participants and outcome come from the server.
std::vector<sim::RoundRecord> gather_records(const std::vector<sim::RoundRecord>& mine, int rank, int ranks) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& r : mine) {
    j.push_back({{"round", r.round}, {"outcome", r.outcome}, {"online", r.online}, {"selected", r.selected},
                 {"participants", r.participants}, {"bytes_up", r.bytes_up}, {"bytes_down", r.bytes_down},
                 {"sim_seconds", r.sim_seconds}, {"wall_seconds", r.wall_seconds},
                 {"device_accuracy", r.device_accuracy}});
  }
  const std::string text = j.dump();
  int length = static_cast<int>(text.size());
  std::vector<int> lengths(static_cast<std::size_t>(ranks));
  MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::vector<int> offsets(static_cast<std::size_t>(ranks), 0);
  int total = 0;
  for (int i = 0; i < ranks; ++i) {
    offsets[static_cast<std::size_t>(i)] = total;
    total += lengths[static_cast<std::size_t>(i)];
  }
  std::string all(static_cast<std::size_t>(rank == 0 ? total : 0), '\0');
  MPI_Gatherv(text.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR, 0, MPI_COMM_WORLD);
  if (rank != 0) return mine;
  std::map<std::uint64_t, sim::RoundRecord> merged;
  for (int i = 0; i < ranks; ++i) {
    const auto part = nlohmann::json::parse(all.substr(static_cast<std::size_t>(offsets[static_cast<std::size_t>(i)]),
                                                       static_cast<std::size_t>(lengths[static_cast<std::size_t>(i)])));
    for (const auto& e : part) {
      sim::RoundRecord& r = merged[e["round"].get<std::uint64_t>()];
      const bool first = r.round == 0;
      r.round = e["round"];
      r.outcome = e["outcome"];
      r.participants = e["participants"];
      r.online += e["online"].get<std::uint32_t>();
      r.selected += e["selected"].get<std::uint32_t>();
      r.bytes_up += e["bytes_up"].get<std::uint64_t>();
      r.bytes_down += e["bytes_down"].get<std::uint64_t>();
      r.sim_seconds = std::max(r.sim_seconds, e["sim_seconds"].get<double>());
      r.wall_seconds = std::max(r.wall_seconds, e["wall_seconds"].get<double>());
      if (first || r.device_accuracy < 0) r.device_accuracy = e["device_accuracy"];
    }
  }
  std::vector<sim::RoundRecord> out;
  for (auto& [round, r] : merged) {
    if (r.selected > r.participants) r.dropped_by_stage["unknown stage"] = r.selected - r.participants;
    out.push_back(r);
  }
  return out;
}
#endif

// Writes the global model's deployable files every `every` versions (in-process transport).
Result<std::function<void()>> make_exporter(const Config& c, sim::FleetSimulator& fleet, std::uint64_t every) {
  struct State {
    exporter::DeployOptions options;
    data::Dataset calibration;
    std::optional<Ed25519SecretKey> key;
    std::uint64_t last = 0;
  };
  auto state = std::make_shared<State>();
  state->options.dir = c.get<std::string>("export.dir");
  EDGEFED_ASSIGN_OR_RETURN(state->options.formats, exporter::parse_formats(c.get<std::string>("export.formats")));
  state->options.int8 = c.get<bool>("export.int8");
  EDGEFED_ASSIGN_OR_RETURN(state->key, load_ed25519_secret_key(c.get<std::string>("model_key")));
  if (state->options.int8) {
    EDGEFED_ASSIGN_OR_RETURN(state->calibration, ml::load_calibration_images(c.get<std::string>("data.dir"),
                                                                             state->options.calibration.samples));
  }
  state->last = fleet.global_model().version;
  return std::function<void()>([state, &fleet, every] {
    const ml::ModelView model = fleet.global_model();
    if (model.version < state->last + every) return;
    state->last = model.version;
    const auto config = ml::CnnConfig::from_json(model.architecture);
    auto files = config ? exporter::export_deployable(model.values, config->image_size, model.version,
                                                      &state->calibration, *state->key, state->options)
                        : Result<std::vector<std::filesystem::path>>(config.error());
    if (files) {
      std::fprintf(stderr, "edgefed-sim: exported model v%llu to %s (%zu files)\n",
                   static_cast<unsigned long long>(model.version), state->options.dir.c_str(), files->size());
    } else {
      std::fprintf(stderr, "edgefed-sim: export of model v%llu failed: %s\n",
                   static_cast<unsigned long long>(model.version), files.error().message().c_str());
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  const ConfigSpec spec = make_spec();
  int code = 0;
  auto c = parse_command_line_or_report(spec, argc, argv, code);
  if (!c) return code;
  if (auto level = log::parse_level(c->get<std::string>("log.level"))) log::set_level(*level);
  auto config = config_from(*c);
  if (!config) {
    std::fprintf(stderr, "edgefed-sim: %s\n", config.error().message().c_str());
    return 2;
  }
  const std::uint64_t rounds = config->rounds;
  int rank = 0, ranks = 1;
#ifdef EDGEFED_HAVE_MPI
  // Under mpirun every rank runs a shard of the devices against the same server.
  const bool mpi = std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr;
  if (mpi) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  }
#endif
  const std::string transport = c->get<std::string>("transport");
  if (transport != "inprocess" && transport != "tls") {
    std::fprintf(stderr, "edgefed-sim: transport must be inprocess or tls\n");
    return 2;
  }
  if (ranks > 1 && transport != "tls") {
    std::fprintf(stderr, "edgefed-sim: MPI scale-out shards devices against one server: use --transport tls\n");
    return 2;
  }
  std::function<Result<sim::RoundRecord>()> next_round;
  std::function<const std::vector<sim::RoundRecord>&()> records;
  std::function<double()> final_device_accuracy;
  std::unique_ptr<sim::FleetSimulator> inprocess;
  std::unique_ptr<sim::TlsFleet> tls;
  if (rank == 0) std::fprintf(stderr, "edgefed-sim: preparing %u devices (%s)...\n", config->data.devices, transport.c_str());
  if (transport == "inprocess") {
    auto s = sim::FleetSimulator::create(*config);
    if (!s) {
      std::fprintf(stderr, "edgefed-sim: %s\n", s.error().message().c_str());
      return 1;
    }
    inprocess = std::move(*s);
    next_round = [&] { return inprocess->run_round(); };
    records = [&]() -> const std::vector<sim::RoundRecord>& { return inprocess->records(); };
    final_device_accuracy = [&] { return inprocess->device_accuracy(); };
  } else {
    sim::TlsTarget target;
    target.host = c->get<std::string>("server.host");
    target.port = static_cast<std::uint16_t>(c->get<std::uint64_t>("server.port"));
    target.ca_file = c->get<std::string>("tls.ca");
    target.certs_dir = c->get<std::string>("tls.certs_dir");
    target.server_name = c->get<std::string>("tls.server_name");
    target.model_public_key = c->get<std::string>("model_public_key");
    target.driver_threads = c->get<std::uint64_t>("driver_threads");
    target.shard_index = static_cast<std::uint32_t>(rank);
    target.shard_count = static_cast<std::uint32_t>(ranks);
    auto f = sim::TlsFleet::create(*config, target);
    if (!f) {
      std::fprintf(stderr, "edgefed-sim: %s\n", f.error().message().c_str());
      return 1;
    }
    tls = std::move(*f);
    const auto timeout = std::chrono::seconds(c->get<std::uint64_t>("round_timeout_s"));
    next_round = [&tls, timeout] { return tls->next_round(timeout); };
    records = [&]() -> const std::vector<sim::RoundRecord>& { return tls->records(); };
    final_device_accuracy = [&] { return tls->device_accuracy(); };
  }
  if (rank == 0) {
    std::printf("%5s %9s %6s %8s %6s %6s %9s %9s %8s %7s %7s %7s\n", "round", "outcome", "online", "selected", "part.",
                "drop", "KiB up", "KiB down", "sim s", "wall s", "global", "device");
  }
  std::function<void()> export_if_due = [] {};
  if (const std::uint64_t every = c->get<std::uint64_t>("export.every"); every > 0 && inprocess) {
    auto exporter = make_exporter(*c, *inprocess, every);
    if (!exporter) {
      std::fprintf(stderr, "edgefed-sim: export: %s\n", exporter.error().message().c_str());
      return 2;
    }
    export_if_due = std::move(*exporter);
  }
  for (std::uint64_t i = 0; i < rounds; ++i) {
    auto r = next_round();
    if (!r) {
      std::fprintf(stderr, "edgefed-sim: %s\n", r.error().message().c_str());
      break;
    }
    std::uint32_t dropped = 0;
    for (const auto& [stage, n] : r->dropped_by_stage) dropped += n;
    if (rank == 0) {
      auto acc = [](double v) {  // -1: not measured (no global evaluation over TLS)
        char buf[16];
        if (v < 0) return std::string("      -");
        std::snprintf(buf, sizeof buf, "%7.4f", v);
        return std::string(buf);
      };
      std::printf("%5llu %9s %6u %8u %6u %6u %9.1f %9.1f %8.1f %7.1f %s %s\n",
                  static_cast<unsigned long long>(r->round), r->outcome.c_str(), r->online, r->selected,
                  r->participants, dropped, r->bytes_up / 1024.0, r->bytes_down / 1024.0, r->sim_seconds,
                  r->wall_seconds, acc(r->global_accuracy).c_str(), acc(r->device_accuracy).c_str());
      std::fflush(stdout);
    }
    export_if_due();
  }
  std::vector<sim::RoundRecord> all = records();
#ifdef EDGEFED_HAVE_MPI
  if (ranks > 1) all = gather_records(all, rank, ranks);
#endif
  nlohmann::json report_config = c->to_json();
  report_config["mpi_ranks"] = ranks;
  if (const std::uint64_t epochs = c->get<std::uint64_t>("baseline.epochs"); epochs > 0 && inprocess) {
    const double federated = final_device_accuracy();
    std::fprintf(stderr, "edgefed-sim: centralized baseline, %llu epochs on the pooled device data...\n",
                 static_cast<unsigned long long>(epochs));
    auto b = inprocess->centralized_baseline(epochs, c->get<double>("baseline.learning_rate"));
    if (!b) {
      std::fprintf(stderr, "edgefed-sim: baseline: %s\n", b.error().message().c_str());
      return 1;
    }
    std::printf("device test accuracy (mean over %u devices): federated %.4f; centralized on the pooled data %.4f, "
                "with per-device BN statistics %.4f (%zu pooled samples); federated minus best centralized %.2f points\n",
                inprocess->device_count(), federated, b->device_accuracy, b->device_accuracy_local_bn,
                b->pooled_samples, 100 * (federated - std::max(b->device_accuracy, b->device_accuracy_local_bn)));
    report_config["comparison"] = {{"federated_device_accuracy", federated},
                                   {"centralized_device_accuracy", b->device_accuracy},
                                   {"centralized_local_bn_device_accuracy", b->device_accuracy_local_bn},
                                   {"pooled_samples", b->pooled_samples},
                                   {"federated_minus_best_centralized_points",
                                    100 * (federated - std::max(b->device_accuracy, b->device_accuracy_local_bn))}};
  }
  int exit_code = all.size() >= rounds ? 0 : 1;
  if (rank == 0) {
    const std::filesystem::path out = c->get<std::string>("out");
    if (auto st = sim::write_reports(out, all, report_config); !st) {
      std::fprintf(stderr, "edgefed-sim: %s\n", st.error().message().c_str());
      exit_code = 1;
    } else {
      std::printf("report: %s\n", (out / "report.html").string().c_str());
    }
  }
  tls.reset();
  inprocess.reset();
#ifdef EDGEFED_HAVE_MPI
  if (mpi) MPI_Finalize();
#endif
  return exit_code;
}
