// The fleet simulator end to end, in-process: the real DeviceSession, trainer and server
// Coordinator on the virtual clock. Small fleets, an untrained model, 40 samples per device.
#include "edgefed/common/crypto.hpp"
#include "edgefed/common/log.hpp"
#include "edgefed/data/fashion_mnist.hpp"
#include "edgefed/ml/model.hpp"
#include "edgefed/sim/fleet.hpp"
#include "edgefed/sim/report.hpp"
#include "edgefed_test_support.hpp"

#include <catch2/catch.hpp>
#include "edgefed_catch_helpers.hpp"

namespace {

using namespace edgefed;

struct Files {
  Files() {
    log::set_level(log::Level::error);
    ml::use_single_thread();
    Ed25519KeyPair pair = generate_ed25519();
    if (!save_ed25519_secret_key(dir.file("model.pem"), pair.secret_key)) throw std::runtime_error("key");
    auto model = ml::Model::default_cnn();
    if (!model || !ml::save_model(*model, dir.file("m.efm"), pair.secret_key, 1)) throw std::runtime_error("model");
  }
  testing::TempDir dir;
};

const Files& files() {
  static const Files f;
  return f;
}

sim::SimConfig small_config() {
  sim::SimConfig c;
  c.model = files().dir.file("m.efm");
  c.model_key = files().dir.file("model.pem");
  c.data_dir = data::kDefaultFashionMnistDir;
  c.data.devices = 8;
  c.max_train_per_device = 40;
  c.round.target_participants = 6;
  c.round.min_participants = 3;
  c.round.expected_dropout = 0.2;
  c.round.selection_wait = std::chrono::milliseconds(1000);
  c.eval_devices = 3;
  c.eval_test_items = 200;
  auto profiles = sim::profiles_from_json(nlohmann::json::parse(R"({
    "device_classes": {"hub": {"train_macs_per_second": 1e9, "energy_nj_per_mac": 0.1}},
    "links": {"wifi": {"up_kbps": 1000, "down_kbps": 2000, "latency_ms": 10, "energy_nj_per_byte": 50}},
    "profiles": [{"name": "hub", "share": 1, "device_class": "hub", "link": "wifi"}]})"));
  if (!profiles) throw std::runtime_error(profiles.error().message());
  c.profiles = *profiles;
  return c;
}

std::vector<sim::RoundRecord> run(const sim::SimConfig& config, int rounds) {
  auto s = sim::FleetSimulator::create(config);
  REQUIRE_OK(s);
  for (int i = 0; i < rounds; ++i) REQUIRE_OK((*s)->run_round());
  return (*s)->records();
}

TEST_CASE("the same seed gives the same rounds; the virtual clock prices compute and links") {
  const sim::SimConfig config = small_config();
  const auto a = run(config, 2);
  const auto b = run(config, 2);
  REQUIRE(a.size() == 2);
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].outcome == "completed");
    CHECK(a[i].participants == b[i].participants);
    CHECK(a[i].bytes_up == b[i].bytes_up);
    CHECK(a[i].bytes_down == b[i].bytes_down);
    CHECK(a[i].sim_seconds == b[i].sim_seconds);
    CHECK(a[i].global_accuracy == b[i].global_accuracy);
    CHECK(a[i].device_accuracy == b[i].device_accuracy);
    CHECK(a[i].energy_mean_j == b[i].energy_mean_j);
  }
  // Training 40 samples at 6 M MACs each on a 1 G MAC/s device takes 0.24 s of virtual time,
  // and a round cannot be shorter than that plus the link round trips.
  CHECK(a[0].sim_seconds > 0.24);
  CHECK(a[0].energy_mean_j > 40 * 6e6 * 0.1e-9);
  // Another seed draws other cohorts and data.
  sim::SimConfig other = config;
  other.seed = 2;
  other.data.seed = 2;
  const auto c = run(other, 1);
  CHECK(c[0].device_accuracy != a[0].device_accuracy);
}

TEST_CASE("fault injection: lost masked inputs abort the round, a share-key dropout is survived") {
  sim::SimConfig config = small_config();
  config.faults.push_back({"secagg.masked_input", "drop", 1.0, 0});
  const auto lost = run(config, 1);
  CHECK(lost[0].outcome == "aborted");
  CHECK(lost[0].participants == 0);

  sim::SimConfig dropouts = small_config();
  dropouts.profiles.profiles[0].drop_probability["secagg.share_keys"] = 0.3;
  const auto survived = run(dropouts, 2);
  std::uint32_t dropped = 0;
  for (const auto& r : survived) {
    for (const auto& [stage, n] : r.dropped_by_stage) dropped += n;
  }
  CHECK(dropped > 0);
  CHECK((survived[0].outcome == "completed" || survived[1].outcome == "completed"));
}

TEST_CASE("profile errors name the entry; reports hold a row per round and a chart per metric") {
  auto bad = sim::profiles_from_json(nlohmann::json::parse(R"({"device_classes": {}, "links": {},
      "profiles": [{"name": "x", "share": 1, "device_class": "nope", "link": "wifi"}]})"));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().detail.find("profiles[0].device_class") != std::string::npos);

  std::vector<sim::RoundRecord> records(3);
  for (std::size_t i = 0; i < 3; ++i) {
    records[i].round = i + 1;
    records[i].outcome = "completed";
    records[i].global_accuracy = 0.8 + 0.01 * static_cast<double>(i);
  }
  const std::string csv = sim::rounds_csv(records);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 4);
  const std::string html = sim::html_report(records, {{"devices", 3}});
  std::size_t svgs = 0;
  for (std::size_t p = html.find("<svg"); p != std::string::npos; p = html.find("<svg", p + 1)) ++svgs;
  CHECK(svgs == 4);
  CHECK(html.find("<script") == std::string::npos);  // self-contained, static
}

}  // namespace
