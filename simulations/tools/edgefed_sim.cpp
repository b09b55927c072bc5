// edgefed-sim: a fleet of virtual devices running the real device and server code on a
// virtual clock (simulations/include/edgefed/sim/fleet.hpp), with a progress line per round,
// and rounds.csv, summary.json and report.html in --out.
//
//   edgefed-sim --devices 100 --rounds 10 [--config sim.json] [--faults secagg.masked_input:drop:0.05]
#include "edgefed/common/config.hpp"
#include "edgefed/common/log.hpp"
#include "edgefed/data/fashion_mnist.hpp"
#include "edgefed/server/options.hpp"
#include "edgefed/sim/fleet.hpp"
#include "edgefed/sim/report.hpp"

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
      .add("data.dir", ConfigType::string, data::kDefaultFashionMnistDir, "Fashion-MNIST directory")
      .add("data.partition", ConfigType::string, "dirichlet", "iid, dirichlet or shards")
      .add("data.alpha", ConfigType::number, 0.5, "Dirichlet label skew")
      .add("data.feature_shift", ConfigType::boolean, true, "per-device sensor shift")
      .add("data.max_train", ConfigType::unsigned_integer, 0, "cap on training samples per device (0: all)")
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
  std::fprintf(stderr, "edgefed-sim: preparing %u devices...\n", config->data.devices);
  auto sim = sim::FleetSimulator::create(*config);
  if (!sim) {
    std::fprintf(stderr, "edgefed-sim: %s\n", sim.error().message().c_str());
    return 1;
  }
  std::printf("%5s %9s %6s %8s %6s %6s %9s %9s %8s %7s %7s %7s\n", "round", "outcome", "online", "selected", "part.",
              "drop", "KiB up", "KiB down", "sim s", "wall s", "global", "device");
  for (std::uint64_t i = 0; i < rounds; ++i) {
    auto r = (*sim)->run_round();
    if (!r) {
      std::fprintf(stderr, "edgefed-sim: %s\n", r.error().message().c_str());
      break;
    }
    std::uint32_t dropped = 0;
    for (const auto& [stage, n] : r->dropped_by_stage) dropped += n;
    std::printf("%5llu %9s %6u %8u %6u %6u %9.1f %9.1f %8.1f %7.1f %7.4f %7.4f\n",
                static_cast<unsigned long long>(r->round), r->outcome.c_str(), r->online, r->selected, r->participants,
                dropped, r->bytes_up / 1024.0, r->bytes_down / 1024.0, r->sim_seconds, r->wall_seconds,
                r->global_accuracy, r->device_accuracy);
    std::fflush(stdout);
  }
  nlohmann::json report_config = c->to_json();
  if (const std::uint64_t epochs = c->get<std::uint64_t>("baseline.epochs"); epochs > 0) {
    const double federated = (*sim)->device_accuracy();
    std::fprintf(stderr, "edgefed-sim: centralized baseline, %llu epochs on the pooled device data...\n",
                 static_cast<unsigned long long>(epochs));
    auto b = (*sim)->centralized_baseline(epochs, c->get<double>("baseline.learning_rate"));
    if (!b) {
      std::fprintf(stderr, "edgefed-sim: baseline: %s\n", b.error().message().c_str());
      return 1;
    }
    std::printf("device test accuracy (mean over %u devices): federated %.4f, centralized %.4f (%zu pooled samples), "
                "gap %.2f points\n",
                (*sim)->device_count(), federated, b->device_accuracy, b->pooled_samples,
                100 * (b->device_accuracy - federated));
    report_config["comparison"] = {{"federated_device_accuracy", federated},
                                   {"centralized_device_accuracy", b->device_accuracy},
                                   {"pooled_samples", b->pooled_samples},
                                   {"gap_points", 100 * (b->device_accuracy - federated)}};
  }
  const std::filesystem::path out = c->get<std::string>("out");
  if (auto st = sim::write_reports(out, (*sim)->records(), report_config); !st) {
    std::fprintf(stderr, "edgefed-sim: %s\n", st.error().message().c_str());
    return 1;
  }
  std::printf("report: %s\n", (out / "report.html").string().c_str());
  return (*sim)->records().size() == rounds ? 0 : 1;
}
