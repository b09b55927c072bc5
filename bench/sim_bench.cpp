// edgefed-bench sim: what the in-process fleet simulator (simulations/, FleetSimulator) costs
// per device count: set-up time, wall time per round with real LibTorch training of every
// participant, and resident memory.
//
// Per device count N, in a child process of its own (fork() before anything heavy is loaded,
// so VmHWM starts from the bench's small parent and peaks do not carry over between rows):
// a fresh FleetSimulator with N devices (Fashion-MNIST, Dirichlet α 0.5, sensor shift, at most
// `samples` training images each, the default profile library), tier adapters_bn, one local
// epoch, target_participants = N (over-selection by expected_dropout then asks for more than
// exist, so after the selection wait every ready device is in the cohort), `rounds` rounds.
// The child prints its JSON line; a child that fails or dies is reported as {"devices", "error"}.
//
// The simulation starts at 01:00 local time by default, inside every profile's availability
// window, so all N devices are online; the selection wait (virtual time, cheap) is long enough
// for the nb-iot meters to download the model (63 KB at 25 kbit/s ≈ 20 s) before round 1.
#include "bench.hpp"

#include "edgefed/common/config.hpp"
#include "edgefed/common/log.hpp"
#include "edgefed/common/process.hpp"
#include "edgefed/data/fashion_mnist.hpp"
#include "edgefed/sim/fleet.hpp"
#include "edgefed/sim/profiles.hpp"

#include <nlohmann/json.hpp>

#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#ifndef EDGEFED_MODEL_BINARY
#define EDGEFED_MODEL_BINARY "edgefed-model"
#endif
#ifndef EDGEFED_DEFAULT_PROFILES
#define EDGEFED_DEFAULT_PROFILES "simulations/profiles/default.json"
#endif

namespace edgefed::bench {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

double mib(std::size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }
double round3(double x) { return std::round(x * 1000.0) / 1000.0; }


// RssAnon of this process (bytes): what the simulator allocates, as opposed to mapped files.
std::size_t anon_bytes() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("RssAnon:", 0) == 0) return std::strtoull(line.c_str() + 8, nullptr, 10) * 1024;
  }
  return 0;
}

// Bytes malloc has handed out and not yet got back (glibc): live heap, as opposed to freed
// memory the allocator keeps in the process.
std::size_t heap_in_use_bytes() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

// The peak resident size while it runs. VmHWM alone does not do: ml::train_local resets it
// (reset_peak_resident) at the start of every device's training, so after a round it only
// covers the last device. This samples max(VmRSS, VmHWM) every 10 ms.
class PeakSampler {
 public:
  PeakSampler() : thread_([this] {
    while (!stop_) {
      sample();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }) {}
  ~PeakSampler() {
    stop_ = true;
    thread_.join();
  }
  std::size_t peak() {
    sample();
    return peak_;
  }

 private:
  void sample() {
    const std::size_t now = std::max(resident_bytes(), peak_resident_bytes());
    std::size_t seen = peak_.load();
    while (now > seen && !peak_.compare_exchange_weak(seen, now)) {
    }
  }
  std::atomic<std::size_t> peak_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct Options {
  std::uint64_t rounds = 2;
  std::size_t samples = 60;
  std::uint64_t seed = 1;
  std::string tier = "adapters_bn";
  std::uint32_t epochs = 1;
  double expected_dropout = 0.1;
  std::uint64_t selection_wait_ms = 30'000;
  double start_hour = 1.0;
  std::size_t eval_test_items = 500;
  std::size_t eval_devices = 10;
  fs::path model, model_key, profiles, data_dir;
  bool model_trained = true;
};

json error_row(int n, const std::string& what) { return json{{"bench", "sim"}, {"devices", n}, {"error", what}}; }

// One device count, in the calling (child) process.
json run_one(int n, const Options& opt) {
  const std::size_t rss_start = resident_bytes();
  PeakSampler sampler;
  sim::SimConfig sc;
  sc.rounds = opt.rounds;
  sc.seed = opt.seed;
  sc.data.devices = static_cast<std::uint32_t>(n);
  sc.data.seed = opt.seed;  // partition dirichlet, α 0.5, feature shift: the spec's defaults
  sc.max_train_per_device = opt.samples;
  // Fashion-MNIST has 48,000 non-cloud images: a fleet that needs more (samples per device
  // plus their 20 % test split) sees each image on several devices, each through its own sensor.
  const double needed = static_cast<double>(n) * static_cast<double>(opt.samples) / (1.0 - sc.data.test_fraction);
  sc.data.replicas = static_cast<std::uint32_t>(std::max(1.0, std::ceil(needed / 48000.0)));
  sc.round.target_participants = static_cast<std::uint32_t>(n);
  sc.round.min_participants = 3;
  sc.round.expected_dropout = opt.expected_dropout;
  sc.round.selection_wait = std::chrono::milliseconds(opt.selection_wait_ms);
  sc.round.train.tier = opt.tier;
  sc.round.train.epochs = opt.epochs;
  if (auto st = sc.round.validate(); !st) return error_row(n, st.error().message());
  if (auto st = sc.data.validate(); !st) return error_row(n, st.error().message());
  sc.model = opt.model;
  sc.model_key = opt.model_key;
  auto profiles = sim::load_profiles(opt.profiles);
  if (!profiles) return error_row(n, profiles.error().message());
  sc.profiles = std::move(*profiles);
  sc.start_hour = opt.start_hour;
  sc.eval_devices = opt.eval_devices;
  sc.eval_test_items = opt.eval_test_items;
  sc.data_dir = opt.data_dir;

  std::fprintf(stderr, "sim: devices=%d: creating...\n", n);
  const auto t0 = SteadyClock::now();
  auto sim = sim::FleetSimulator::create(sc);
  const double setup_seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  if (!sim) return error_row(n, sim.error().message());
  const std::size_t rss_created = resident_bytes();
  const std::size_t anon_created = anon_bytes();
  const std::size_t heap_created = heap_in_use_bytes();
  const std::size_t peak_created = sampler.peak();
  std::fprintf(stderr, "  created in %.2f s; rss %.1f MiB (peak %.1f)\n", setup_seconds, mib(rss_created),
               mib(peak_created));

  json wall = json::array(), simsec = json::array(), parts = json::array(), selected = json::array(),
       online = json::array(), outcomes = json::array(), global_acc = json::array(), device_acc = json::array(),
       rss_rounds = json::array();
  double rate_sum = 0;
  std::size_t rate_n = 0;
  std::string failure;
  for (std::uint64_t i = 0; i < opt.rounds; ++i) {
    auto r = (*sim)->run_round();
    if (!r) {
      failure = "round " + std::to_string(i + 1) + ": " + r.error().message();
      break;
    }
    wall.push_back(round3(r->wall_seconds));
    simsec.push_back(round3(r->sim_seconds));
    parts.push_back(r->participants);
    selected.push_back(r->selected);
    online.push_back(r->online);
    outcomes.push_back(r->outcome);
    global_acc.push_back(round3(r->global_accuracy));
    device_acc.push_back(round3(r->device_accuracy));
    rss_rounds.push_back(round3(mib(resident_bytes())));
    if (r->wall_seconds > 0) {
      rate_sum += r->participants / r->wall_seconds;
      ++rate_n;
    }
    std::fprintf(stderr, "  round %llu: %s, selected %u, participants %u, %.1f s wall, %.1f s virtual, rss %.1f MiB\n",
                 static_cast<unsigned long long>(r->round), r->outcome.c_str(), r->selected, r->participants,
                 r->wall_seconds, r->sim_seconds, mib(resident_bytes()));
  }
  const std::size_t rss_end = resident_bytes();
  const std::size_t anon_end = anon_bytes();
  const std::size_t heap_end = heap_in_use_bytes();
  const std::size_t peak = sampler.peak();
  json row{
      {"bench", "sim"},
      {"devices", n},
      {"rounds", opt.rounds},
      {"tier", opt.tier},
      {"epochs", opt.epochs},
      {"max_train_per_device", opt.samples},
      {"data_replicas", sc.data.replicas},
      {"model_trained", opt.model_trained},
      {"setup_seconds", round3(setup_seconds)},
      {"wall_seconds", wall},
      {"sim_seconds", simsec},
      {"online", online},
      {"selected", selected},
      {"participants", parts},
      {"outcomes", outcomes},
      {"devices_per_wall_second", rate_n ? round3(rate_sum / static_cast<double>(rate_n)) : 0.0},
      {"global_accuracy", global_acc},
      {"device_accuracy", device_acc},
      {"rss_start_mib", round3(mib(rss_start))},
      {"rss_after_create_mib", round3(mib(rss_created))},
      {"rss_anon_after_create_mib", round3(mib(anon_created))},
      {"heap_in_use_after_create_mib", round3(mib(heap_created))},
      {"peak_rss_after_create_mib", round3(mib(peak_created))},
      {"rss_after_round_mib", rss_rounds},
      {"rss_end_mib", round3(mib(rss_end))},
      {"rss_anon_end_mib", round3(mib(anon_end))},
      {"heap_in_use_end_mib", round3(mib(heap_end))},
      {"peak_rss_mib", round3(mib(peak))},
      {"rss_per_device_kib", round3(static_cast<double>(rss_end - std::min(rss_end, rss_start)) / 1024.0 / n)},
      {"peak_rss_per_device_kib", round3(static_cast<double>(peak - std::min(peak, rss_start)) / 1024.0 / n)},
  };
  if (!failure.empty()) row["error"] = failure;
  return row;
}

// Runs run_one(n) in a child; its line goes to stdout. False if the row is an error.
bool run_forked(int n, const Options& opt) {
  std::cout.flush();
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    std::cout << error_row(n, "fork failed").dump() << std::endl;
    return false;
  }
  if (pid == 0) {
    const json row = run_one(n, opt);
    std::cout << row.dump() << std::endl;
    std::fflush(nullptr);
    std::_Exit(row.contains("error") ? 1 : 0);  // no teardown of N devices and LibTorch
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status) == 0;
  const std::string why = WIFSIGNALED(status) ? "child killed by signal " + std::to_string(WTERMSIG(status)) : "child ended";
  std::fprintf(stderr, "  %s\n", why.c_str());
  std::cout << error_row(n, why).dump() << std::endl;
  return false;
}

}  // namespace

int run_sim(int argc, const char* const argv[]) {
  ConfigSpec spec("edgefed-bench sim",
                  "the in-process fleet simulator with N devices: set-up, wall time per round with real training, RSS");
  spec.add("devices", ConfigType::string_list, json::array({"100", "1000", "10000"}),
           "device counts (a fresh simulator each; all of them take part)")
      .add("rounds", ConfigType::unsigned_integer, 2, "rounds per device count")
      .add("samples", ConfigType::unsigned_integer, 60, "max_train_per_device (training images per device)")
      .add("model", ConfigType::string, "models/backbone.efm", "pretrained model (edgefed-model pretrain)")
      .add("model_key", ConfigType::string, "keys/model.pem", "its signing key")
      .add("model_binary", ConfigType::string, EDGEFED_MODEL_BINARY,
           "edgefed-model: makes an untrained model in work_dir when --model is absent")
      .add("work_dir", ConfigType::string, (fs::temp_directory_path() / "edgefed-bench-sim").string(),
           "where the untrained fallback model goes")
      .add("profiles", ConfigType::string, EDGEFED_DEFAULT_PROFILES, "device profile library (JSON)")
      .add("data_dir", ConfigType::string, data::kDefaultFashionMnistDir, "Fashion-MNIST directory")
      .add("seed", ConfigType::unsigned_integer, 1, "simulation seed")
      .add("tier", ConfigType::string, "adapters_bn", "train.tier")
      .add("epochs", ConfigType::unsigned_integer, 1, "local epochs per round")
      .add("expected_dropout", ConfigType::number, 0.1, "rounds.expected_dropout")
      .add("selection_wait_ms", ConfigType::unsigned_integer, 30000,
           "rounds.selection_wait_ms (virtual): lets every device fetch the model before round 1")
      .add("start_hour", ConfigType::number, 1.0, "local time at the start (01:00: every profile is available)")
      .add("eval_test_items", ConfigType::unsigned_integer, 500, "global test images evaluated per round")
      .add("eval_devices", ConfigType::unsigned_integer, 10, "devices evaluated per round")
      .add("log.level", ConfigType::string, "warn", "trace, debug, info, warn or error")
      .add("fork", ConfigType::boolean, true,
           "each device count in its own child process (peak RSS per count); false: in order, in this process");
  int exit_code = 0;
  auto config = parse_command_line_or_report(spec, argc, argv, exit_code);
  if (!config) return exit_code;
  const Config& c = *config;
  if (auto level = log::parse_level(c.get<std::string>("log.level")); level) {
    log::set_level(*level);
  } else {
    std::fprintf(stderr, "edgefed-bench sim: %s\n", level.error().message().c_str());
    return 2;
  }
  std::vector<int> counts;
  try {
    for (const auto& s : c.get<std::vector<std::string>>("devices")) counts.push_back(std::stoi(s));
  } catch (const std::exception&) {
    std::fprintf(stderr, "edgefed-bench sim: --devices takes comma-separated numbers\n");
    return 2;
  }
  if (counts.empty() || *std::min_element(counts.begin(), counts.end()) < 3) {
    std::fprintf(stderr, "edgefed-bench sim: every device count must be at least 3\n");
    return 2;
  }
  std::sort(counts.begin(), counts.end());

  Options opt;
  opt.rounds = c.get<std::uint64_t>("rounds");
  opt.samples = c.get<std::uint64_t>("samples");
  opt.seed = c.get<std::uint64_t>("seed");
  opt.tier = c.get<std::string>("tier");
  opt.epochs = static_cast<std::uint32_t>(c.get<std::uint64_t>("epochs"));
  opt.expected_dropout = c.get<double>("expected_dropout");
  opt.selection_wait_ms = c.get<std::uint64_t>("selection_wait_ms");
  opt.start_hour = c.get<double>("start_hour");
  opt.eval_test_items = c.get<std::uint64_t>("eval_test_items");
  opt.eval_devices = c.get<std::uint64_t>("eval_devices");
  opt.profiles = c.get<std::string>("profiles");
  opt.data_dir = c.get<std::string>("data_dir");
  opt.model = c.get<std::string>("model");
  opt.model_key = c.get<std::string>("model_key");
  if (!fs::exists(opt.model) || !fs::exists(opt.model_key)) {
    const fs::path work = fs::absolute(c.get<std::string>("work_dir"));
    std::fprintf(stderr,
                 "edgefed-bench sim: %s or %s not found. Make one (or pass --model / --model_key):\n"
                 "  build/client/ml/edgefed-model init --out %s --model_key %s   (untrained)\n"
                 "  build/client/ml/edgefed-model pretrain ...                   (the pretrained backbone)\n"
                 "measuring with an untrained model in the work directory now:\n",
                 opt.model.c_str(), opt.model_key.c_str(), opt.model.c_str(), opt.model_key.c_str());
    fs::create_directories(work);
    opt.model = work / "model.efm";
    opt.model_key = work / "model.pem";
    const std::string command = shell_quote(c.get<std::string>("model_binary")) + " init --out " +
                                shell_quote(opt.model.string()) + " --model_key " + shell_quote(opt.model_key.string());
    std::fprintf(stderr, "$ %s\n", command.c_str());
    if (std::system((command + " 1>&2").c_str()) != 0) {
      std::fprintf(stderr, "edgefed-bench sim: edgefed-model init failed; run it yourself:\n  %s\n", command.c_str());
      return 1;
    }
    opt.model_trained = false;
  }

  const bool fork_each = c.get<bool>("fork");
  int failures = 0;
  for (int n : counts) {
    if (fork_each) {
      if (!run_forked(n, opt)) ++failures;
    } else {
      const json row = run_one(n, opt);  // RSS columns then include every earlier count's leftovers
      if (row.contains("error")) ++failures;
      std::cout << row.dump() << std::endl;
    }
  }
  return failures ? 1 : 0;
}

}  // namespace edgefed::bench
