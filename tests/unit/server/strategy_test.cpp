#include "edgefed/server/strategy.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace edgefed::server {
namespace {

using Catch::Matchers::Contains;

// "ok" or the error code's name, so a failed CHECK prints something readable.
template <typename T>
std::string code_of(const Result<T>& r) {
  return r ? "ok" : std::string(to_string(r.error().code));
}

StrategyConfig config_of(StrategyKind kind, double lr) {
  StrategyConfig c;
  c.kind = kind;
  c.server_learning_rate = lr;
  return c;
}

std::unique_ptr<ServerOptimizer> make(const StrategyConfig& config, std::size_t length) {
  auto r = ServerOptimizer::create(config, length);
  INFO((r ? "" : r.error().message()));
  REQUIRE(r);
  return std::move(r).value();
}

void apply_ok(ServerOptimizer& opt, std::vector<float>& x, const std::vector<float>& delta) {
  auto s = opt.apply(x, delta);
  INFO((s ? "" : s.error().message()));
  REQUIRE(s);
}

void check_approx(const std::vector<float>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == Approx(want[i]).epsilon(1e-5).margin(1e-9));
  }
}

std::vector<float> random_vector(std::size_t n, std::mt19937& rng, float scale) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& e : v) e = dist(rng);
  return v;
}

// Shared by the Adam and Yogi known-answer tests: η = 0.1, β1 = 0.9, β2 = 0.99, τ = 1e-3,
// so m0 = [0, 0, 0] and v0 = τ² = [1e-6, 1e-6, 1e-6].
const std::vector<float> kX0 = {1.0f, -2.0f, 0.5f};
const std::vector<float> kDelta1 = {0.1f, -0.2f, 0.0f};
const std::vector<float> kDelta2 = {0.3f, 0.005f, -0.4f};

// ---- FedAvg / FedProx -------------------------------------------------------------------------

TEST_CASE("fedavg with learning rate 1 adds delta exactly", "[strategy]") {
  auto opt = make(config_of(StrategyKind::fedavg, 1.0), 4);
  std::vector<float> x = {1.0f, -2.5f, 3.25f, 0.1f};
  const std::vector<float> delta = {0.5f, 0.125f, -1e-3f, 0.2f};
  std::vector<float> want(4);
  for (std::size_t i = 0; i < 4; ++i) want[i] = x[i] + delta[i];
  apply_ok(*opt, x, delta);
  CHECK(x == want);
  CHECK(opt->steps() == 1);
  CHECK(opt->state() == ServerOptimizer::State{1, {}, {}});
}

TEST_CASE("fedavg with learning rate 0.5 adds half the delta", "[strategy]") {
  auto opt = make(config_of(StrategyKind::fedavg, 0.5), 3);
  std::vector<float> x = {1.0f, -2.0f, 0.3f};
  const std::vector<float> delta = {0.5f, 4.0f, 0.7f};
  std::vector<float> want(3);
  // 0.5·Δ is exact in float, so the float sum rounds once, exactly as the double path does.
  for (std::size_t i = 0; i < 3; ++i) want[i] = x[i] + 0.5f * delta[i];
  apply_ok(*opt, x, delta);
  CHECK(x == want);
  CHECK(want[0] == 1.25f);
}

TEST_CASE("fedprox updates the server model as fedavg and exposes mu for clients", "[strategy]") {
  StrategyConfig prox = config_of(StrategyKind::fedprox, 0.7);
  prox.prox_mu = 0.01;
  auto p = make(prox, 3);
  auto a = make(config_of(StrategyKind::fedavg, 0.7), 3);
  CHECK(p->client_prox_mu() == 0.01);
  CHECK(a->client_prox_mu() == 0.0);

  std::vector<float> xp = {0.1f, 0.2f, 0.3f};
  std::vector<float> xa = xp;
  for (const auto& delta : {std::vector<float>{1.0f, -0.5f, 0.25f}, std::vector<float>{-0.3f, 0.1f, 2.0f}}) {
    apply_ok(*p, xp, delta);
    apply_ok(*a, xa, delta);
  }
  CHECK(xp == xa);
  CHECK(p->state() == a->state());
}

// ---- FedAdam / FedYogi known answers ----------------------------------------------------------

TEST_CASE("fedadam matches hand-computed values over two steps", "[strategy]") {
  StrategyConfig c = config_of(StrategyKind::fedadam, 0.1);
  auto opt = make(c, 3);
  std::vector<float> x = kX0;

  // Step 1, Δ1 = [0.1, -0.2, 0]:
  //   m1 = 0.1·Δ1                 = [0.01, -0.02, 0]
  //   v1 = 0.99·1e-6 + 0.01·Δ1²   = [1.0099e-4, 4.0099e-4, 9.9e-7]
  //   √v1                         = [0.01004938, 0.02002473, 0.0009949874]
  //   x1 = x0 + 0.1·m1/(√v1 + 1e-3)
  //      = [1 + 0.001/0.01104938, -2 - 0.002/0.02102473, 0.5 + 0]
  //      = [1.090502831, -2.095126052, 0.5]
  apply_ok(*opt, x, kDelta1);
  check_approx(opt->state().m, {0.01, -0.02, 0.0});
  check_approx(opt->state().v, {1.0099e-4, 4.0099e-4, 9.9e-7});
  check_approx(x, {1.090502831, -2.095126052, 0.5});

  // Step 2, Δ2 = [0.3, 0.005, -0.4]:
  //   m2 = 0.9·m1 + 0.1·Δ2        = [0.039, -0.0175, -0.04]
  //   v2 = 0.99·v1 + 0.01·Δ2²     = [9.999801e-4, 3.972301e-4, 1.6009801e-3]
  //   √v2                         = [0.03162246, 0.01993063, 0.04001225]
  //   x2 = x1 + 0.1·m2/(√v2 + 1e-3)
  //      = [1.090502831 + 0.0039/0.03262246, -2.095126052 - 0.00175/0.02093063,
  //         0.5 - 0.004/0.04101225]
  //      = [1.210052361, -2.178735566, 0.4024681635]
  apply_ok(*opt, x, kDelta2);
  check_approx(opt->state().m, {0.039, -0.0175, -0.04});
  check_approx(opt->state().v, {9.999801e-4, 3.972301e-4, 1.6009801e-3});
  check_approx(x, {1.210052361, -2.178735566, 0.4024681635});
  CHECK(opt->steps() == 2);
}

TEST_CASE("fedyogi matches hand-computed values over two steps", "[strategy]") {
  auto opt = make(config_of(StrategyKind::fedyogi, 0.1), 3);
  std::vector<float> x = kX0;

  // Step 1, Δ1² = [0.01, 0.04, 0] against v0 = 1e-6: sign(v0 - Δ1²) = [-1, -1, +1]
  //   m1 = [0.01, -0.02, 0]                       (as Adam)
  //   v1 = v0 - 0.01·Δ1²·sign  = [1e-6 + 1e-4, 1e-6 + 4e-4, 1e-6 - 0]
  //                            = [1.01e-4, 4.01e-4, 1e-6]
  //   √v1                      = [0.01004988, 0.02002498, 0.001]
  //   x1 = [1 + 0.001/0.01104988, -2 - 0.002/0.02102498, 0.5]
  //      = [1.090498756, -2.095124922, 0.5]
  apply_ok(*opt, x, kDelta1);
  check_approx(opt->state().v, {1.01e-4, 4.01e-4, 1e-6});
  check_approx(x, {1.090498756, -2.095124922, 0.5});

  // Step 2, Δ2² = [0.09, 2.5e-5, 0.16] against v1: sign(v1 - Δ2²) = [-1, +1, -1]
  //   (element 1 takes the subtracting branch: Δ2² < v1)
  //   m2 = [0.039, -0.0175, -0.04]                (as Adam)
  //   v2 = [1.01e-4 + 9e-4, 4.01e-4 - 2.5e-7, 1e-6 + 1.6e-3]
  //      = [1.001e-3, 4.0075e-4, 1.601e-3]
  //   √v2 = [0.03163858, 0.02001874, 0.0400125]
  //   x2 = [1.090498756 + 0.0039/0.03263858, -2.095124922 - 0.00175/0.02101874,
  //         0.5 - 0.004/0.0410125]
  //      = [1.209989234, -2.178383952, 0.4024687549]
  apply_ok(*opt, x, kDelta2);
  check_approx(opt->state().m, {0.039, -0.0175, -0.04});
  check_approx(opt->state().v, {1.001e-3, 4.0075e-4, 1.601e-3});
  check_approx(x, {1.209989234, -2.178383952, 0.4024687549});
}

TEST_CASE("fedyogi grows v additively where adam decays it when delta squared exceeds v", "[strategy]") {
  auto adam = make(config_of(StrategyKind::fedadam, 0.1), 1);
  auto yogi = make(config_of(StrategyKind::fedyogi, 0.1), 1);
  std::vector<float> xa = {0.0f};
  std::vector<float> xy = {0.0f};
  // v0 = 1e-6 < Δ² = 0.25. Adam: v = 0.99·1e-6 + 0.01·0.25; Yogi: v = 1e-6 + 0.01·0.25.
  apply_ok(*adam, xa, {0.5f});
  apply_ok(*yogi, xy, {0.5f});
  CHECK(adam->state().v[0] == Approx(0.00250099).epsilon(1e-6));
  CHECK(yogi->state().v[0] == Approx(0.002501).epsilon(1e-6));
  CHECK(yogi->state().v[0] > adam->state().v[0]);
  CHECK(xy[0] < xa[0]);  // larger v, smaller step (both steps are positive)
  CHECK(xy[0] > 0.0f);
}

TEST_CASE("fedyogi leaves v unchanged when delta squared equals v", "[strategy]") {
  StrategyConfig c = config_of(StrategyKind::fedyogi, 0.1);
  c.tau = 0.5;  // v0 = τ² = 0.25 = Δ², exactly representable: sign(0) = 0
  auto opt = make(c, 1);
  std::vector<float> x = {0.0f};
  apply_ok(*opt, x, {0.5f});
  CHECK(opt->state().v[0] == 0.25f);
}

// ---- checkpoints ------------------------------------------------------------------------------

TEST_CASE("state restored into a fresh optimizer continues like an uninterrupted run", "[strategy]") {
  const StrategyKind kind = GENERATE(StrategyKind::fedavg, StrategyKind::fedprox, StrategyKind::fedadam,
                                     StrategyKind::fedyogi);
  INFO(to_string(kind));
  StrategyConfig c = config_of(kind, 0.05);
  if (kind == StrategyKind::fedprox) c.prox_mu = 0.1;
  constexpr std::size_t kLength = 257;
  std::mt19937 rng(7);
  std::vector<float> x0 = random_vector(kLength, rng, 1.0f);
  std::vector<std::vector<float>> deltas;
  for (int i = 0; i < 5; ++i) deltas.push_back(random_vector(kLength, rng, 0.1f));

  auto straight = make(c, kLength);
  std::vector<float> x_straight = x0;
  for (const auto& d : deltas) apply_ok(*straight, x_straight, d);

  auto first = make(c, kLength);
  std::vector<float> x_resumed = x0;
  for (int i = 0; i < 2; ++i) apply_ok(*first, x_resumed, deltas[i]);
  const ServerOptimizer::State saved = first->state();
  first.reset();
  auto second = make(c, kLength);
  REQUIRE(second->restore(saved));
  CHECK(second->steps() == 2);
  for (int i = 2; i < 5; ++i) apply_ok(*second, x_resumed, deltas[i]);

  CHECK(x_resumed == x_straight);
  CHECK(second->state() == straight->state());
  CHECK(second->steps() == 5);
}

TEST_CASE("restore refuses state of the wrong shape or with bad values and keeps its own", "[strategy]") {
  auto adam = make(config_of(StrategyKind::fedadam, 0.1), 3);
  std::vector<float> x = kX0;
  apply_ok(*adam, x, kDelta1);
  const ServerOptimizer::State before = adam->state();

  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    const char* name;
    ServerOptimizer::State state;
    const char* code;
  };
  const Case cases[] = {
      {"m too short", {1, {0, 0}, {1, 1, 1}}, "invalid_argument"},
      {"v too long", {1, {0, 0, 0}, {1, 1, 1, 1}}, "invalid_argument"},
      {"empty (a fedavg state)", {1, {}, {}}, "invalid_argument"},
      {"NaN in m", {1, {0, nan, 0}, {1, 1, 1}}, "bad_value"},
      {"inf in v", {1, {0, 0, 0}, {1, 1, inf}}, "bad_value"},
      {"negative v", {1, {0, 0, 0}, {1, -1e-9f, 1}}, "bad_value"},
  };
  for (const Case& k : cases) {
    INFO(k.name);
    CHECK(code_of(adam->restore(k.state)) == k.code);
    CHECK(adam->state() == before);
  }

  auto avg = make(config_of(StrategyKind::fedavg, 1.0), 3);
  CHECK(code_of(avg->restore({4, {0, 0, 0}, {1, 1, 1}})) == "invalid_argument");
  CHECK(avg->steps() == 0);
  CHECK(avg->restore({4, {}, {}}));
  CHECK(avg->steps() == 4);
}

// ---- refused inputs ---------------------------------------------------------------------------

TEST_CASE("apply refuses wrong lengths and leaves x and state unchanged", "[strategy]") {
  const StrategyKind kind = GENERATE(StrategyKind::fedavg, StrategyKind::fedadam);
  INFO(to_string(kind));
  auto opt = make(config_of(kind, 0.1), 3);
  std::vector<float> x = kX0;
  apply_ok(*opt, x, kDelta1);
  const std::vector<float> x_before = x;
  const ServerOptimizer::State state_before = opt->state();

  std::vector<float> short_x = {1.0f, 2.0f};
  const std::vector<float> long_delta = {0.1f, 0.1f, 0.1f, 0.1f};
  auto a = opt->apply(short_x, kDelta1);
  REQUIRE(code_of(a) == "invalid_argument");
  CHECK_THAT(a.error().detail, Contains("expected 3"));
  CHECK(short_x == std::vector<float>{1.0f, 2.0f});
  CHECK(code_of(opt->apply(x, long_delta)) == "invalid_argument");
  CHECK(code_of(opt->apply(x, std::span<const float>{})) == "invalid_argument");
  CHECK(x == x_before);
  CHECK(opt->state() == state_before);
}

TEST_CASE("apply refuses a non-finite delta and leaves x and state unchanged", "[strategy]") {
  const StrategyKind kind = GENERATE(StrategyKind::fedavg, StrategyKind::fedprox, StrategyKind::fedadam,
                                     StrategyKind::fedyogi);
  const float bad = GENERATE(std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                             -std::numeric_limits<float>::infinity());
  INFO(to_string(kind) << " " << bad);
  auto opt = make(config_of(kind, 0.1), 3);
  std::vector<float> x = kX0;
  apply_ok(*opt, x, kDelta1);
  const std::vector<float> x_before = x;
  const ServerOptimizer::State state_before = opt->state();

  // The bad value is last, so an implementation that wrote as it went would have changed
  // x[0] and x[1] already.
  auto s = opt->apply(x, std::vector<float>{0.5f, 0.5f, bad});
  REQUIRE(code_of(s) == "bad_value");
  CHECK_THAT(s.error().detail, Contains("delta[2]"));
  CHECK(x == x_before);
  CHECK(opt->state() == state_before);
}

TEST_CASE("apply refuses an update that overflows float and leaves x and state unchanged", "[strategy]") {
  const float big = 3e38f;
  SECTION("fedavg: x + delta past FLT_MAX") {
    auto opt = make(config_of(StrategyKind::fedavg, 1.0), 3);
    std::vector<float> x = {1.0f, 2.0f, big};
    const std::vector<float> before = x;
    CHECK(code_of(opt->apply(x, std::vector<float>{1.0f, 1.0f, big})) == "bad_value");
    CHECK(x == before);
    CHECK(opt->steps() == 0);
  }
  SECTION("fedadam: delta squared past FLT_MAX in v") {
    auto opt = make(config_of(StrategyKind::fedadam, 0.1), 3);
    std::vector<float> x = kX0;
    const ServerOptimizer::State state_before = opt->state();
    // 0.01·(1e30)² = 1e58: finite in double, not in float.
    CHECK(code_of(opt->apply(x, std::vector<float>{0.1f, 0.1f, 1e30f})) == "bad_value");
    CHECK(x == kX0);
    CHECK(opt->state() == state_before);
  }
  SECTION("a non-finite x") {
    auto opt = make(config_of(StrategyKind::fedavg, 1.0), 2);
    std::vector<float> x = {0.0f, std::numeric_limits<float>::quiet_NaN()};
    CHECK(code_of(opt->apply(x, std::vector<float>{1.0f, 1.0f})) == "bad_value");
    CHECK(x[0] == 0.0f);
  }
}

// ---- configuration ----------------------------------------------------------------------------

TEST_CASE("validate accepts the defaults and every kind with its own fields", "[strategy]") {
  CHECK(validate(StrategyConfig{}));
  StrategyConfig prox = config_of(StrategyKind::fedprox, 1.0);
  prox.prox_mu = 0.0;  // μ = 0 is FedProx degenerating to FedAvg: allowed
  CHECK(validate(prox));
  prox.prox_mu = 1.0;
  CHECK(validate(prox));
  StrategyConfig adam = config_of(StrategyKind::fedadam, 1e-2);
  adam.beta1 = 0.0;
  adam.beta2 = 0.0;
  CHECK(validate(adam));
}

TEST_CASE("validate names the offending field", "[strategy]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    const char* field;
    StrategyConfig config;
  };
  auto with = [](auto change) {
    StrategyConfig c;
    c.kind = StrategyKind::fedprox;
    change(c);
    return c;
  };
  const Case cases[] = {
      {"server_learning_rate", with([](StrategyConfig& c) { c.server_learning_rate = 0; })},
      {"server_learning_rate", with([](StrategyConfig& c) { c.server_learning_rate = -1; })},
      {"server_learning_rate", with([&](StrategyConfig& c) { c.server_learning_rate = inf; })},
      {"server_learning_rate", with([&](StrategyConfig& c) { c.server_learning_rate = nan; })},
      {"prox_mu", with([](StrategyConfig& c) { c.prox_mu = -0.1; })},
      {"prox_mu", with([&](StrategyConfig& c) { c.prox_mu = nan; })},
      {"prox_mu", with([](StrategyConfig& c) {
         c.kind = StrategyKind::fedavg;
         c.prox_mu = 0.1;
       })},
      {"prox_mu", with([](StrategyConfig& c) {
         c.kind = StrategyKind::fedadam;
         c.prox_mu = 0.1;
       })},
      {"beta1", with([](StrategyConfig& c) { c.beta1 = 1.0; })},
      {"beta1", with([](StrategyConfig& c) { c.beta1 = -0.1; })},
      {"beta1", with([&](StrategyConfig& c) { c.beta1 = nan; })},
      {"beta2", with([](StrategyConfig& c) { c.beta2 = 1.5; })},
      {"tau", with([](StrategyConfig& c) { c.tau = 0; })},
      {"tau", with([&](StrategyConfig& c) { c.tau = inf; })},
      {"kind", with([](StrategyConfig& c) { c.kind = static_cast<StrategyKind>(42); })},
  };
  for (const Case& k : cases) {
    auto s = validate(k.config);
    INFO(k.field << ": " << (s ? "ok" : s.error().detail));
    REQUIRE(code_of(s) == "invalid_argument");
    CHECK(s.error().detail.rfind(k.field, 0) == 0);
  }
}

TEST_CASE("create refuses an invalid config and a zero length", "[strategy]") {
  CHECK(code_of(ServerOptimizer::create(config_of(StrategyKind::fedavg, 0.0), 3)) == "invalid_argument");
  CHECK(code_of(ServerOptimizer::create(StrategyConfig{}, 0)) == "invalid_argument");
  auto adam = make(config_of(StrategyKind::fedadam, 0.01), 2);
  CHECK(adam->length() == 2);
  CHECK(adam->steps() == 0);
  // Initial state: m = 0, v = τ².
  CHECK(adam->state() == ServerOptimizer::State{0, {0.0f, 0.0f}, {1e-6f, 1e-6f}});
}

TEST_CASE("parse_strategy inverts to_string and lists the valid names otherwise", "[strategy]") {
  for (StrategyKind kind : {StrategyKind::fedavg, StrategyKind::fedprox, StrategyKind::fedadam,
                            StrategyKind::fedyogi}) {
    auto parsed = parse_strategy(to_string(kind));
    REQUIRE(parsed);
    CHECK(*parsed == kind);
  }
  CHECK(to_string(StrategyKind::fedyogi) == "fedyogi");
  CHECK(to_string(static_cast<StrategyKind>(42)) == "unknown_strategy");
  for (const char* bad : {"FedAvg", "", "sgd", "fedavg ", "unknown_strategy"}) {
    INFO("'" << bad << "'");
    auto r = parse_strategy(bad);
    REQUIRE(code_of(r) == "invalid_argument");
    CHECK_THAT(r.error().detail, Contains("fedavg, fedprox, fedadam, fedyogi"));
  }
}

TEST_CASE("strategy config survives a json round trip", "[strategy]") {
  StrategyConfig c;
  c.kind = StrategyKind::fedyogi;
  c.server_learning_rate = 0.0316;
  c.beta1 = 0.5;
  c.beta2 = 0.999;
  c.tau = 1e-6;
  const nlohmann::json j = to_json(c);
  CHECK(j.at("kind") == "fedyogi");
  CHECK(j.size() == 6);
  auto back = strategy_config_from_json(j);
  REQUIRE(back);
  CHECK(*back == c);
  // Through text as well, as a config file would.
  auto reparsed = strategy_config_from_json(nlohmann::json::parse(j.dump()));
  REQUIRE(reparsed);
  CHECK(*reparsed == c);
}

TEST_CASE("strategy config from json fills absent keys with defaults", "[strategy]") {
  auto r = strategy_config_from_json(nlohmann::json{{"kind", "fedprox"}, {"prox_mu", 1}});
  REQUIRE(r);
  StrategyConfig want;
  want.kind = StrategyKind::fedprox;
  want.prox_mu = 1.0;
  CHECK(*r == want);
  auto empty = strategy_config_from_json(nlohmann::json::object());
  REQUIRE(empty);
  CHECK(*empty == StrategyConfig{});
}

TEST_CASE("strategy config from json rejects unknown keys, wrong types and bad values", "[strategy]") {
  using nlohmann::json;
  auto unknown = strategy_config_from_json(json{{"kind", "fedadam"}, {"betta1", 0.9}});
  REQUIRE(code_of(unknown) == "unknown_key");
  CHECK_THAT(unknown.error().detail, Contains("'betta1'"));

  CHECK(code_of(strategy_config_from_json(json::array())) == "bad_type");
  CHECK(code_of(strategy_config_from_json(json{{"kind", 3}})) == "bad_type");
  auto typed = strategy_config_from_json(json{{"tau", "0.001"}});
  REQUIRE(code_of(typed) == "bad_type");
  CHECK_THAT(typed.error().detail, Contains("tau"));
  CHECK(code_of(strategy_config_from_json(json{{"beta1", true}})) == "bad_type");

  auto kind = strategy_config_from_json(json{{"kind", "fedsgd"}});
  REQUIRE(code_of(kind) == "invalid_argument");
  CHECK_THAT(kind.error().detail, Contains("fedsgd"));
  auto range = strategy_config_from_json(json{{"kind", "fedavg"}, {"prox_mu", 0.5}});
  REQUIRE(code_of(range) == "invalid_argument");
  CHECK_THAT(range.error().detail, Contains("prox_mu"));
}

}  // namespace
}  // namespace edgefed::server
