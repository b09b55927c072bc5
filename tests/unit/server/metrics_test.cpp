// MetricsRegistry: exact exposition text, escaping, number formatting, registration rules
// and concurrent updates.
#include "edgefed/server/metrics.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

using edgefed::server::Counter;
using edgefed::server::Histogram;
using edgefed::server::MetricsRegistry;

TEST_CASE("a small registry renders as exact Prometheus text in registration order") {
  MetricsRegistry metrics;
  Counter& masked = metrics.counter("edgefed_frames_total", "Frames received.",
                                    {{"type", "masked_input"}, {"stage", "r2"}});
  metrics.counter("edgefed_frames_total", "Frames received.", {{"type", "shares"}, {"stage", "r1"}})
      .inc(2);
  masked.inc();
  masked.inc(2);
  metrics.gauge("edgefed_devices_connected", "Devices with an open connection.").set(7);
  auto& latency = metrics.histogram("edgefed_round_seconds", "Round duration.", {0.25, 1, 10});
  for (double v : {0.1, 0.25, 0.5, 2.0, 30.0}) latency.observe(v);

  CHECK(metrics.render() ==
        "# HELP edgefed_frames_total Frames received.\n"
        "# TYPE edgefed_frames_total counter\n"
        "edgefed_frames_total{type=\"masked_input\",stage=\"r2\"} 3\n"
        "edgefed_frames_total{type=\"shares\",stage=\"r1\"} 2\n"
        "# HELP edgefed_devices_connected Devices with an open connection.\n"
        "# TYPE edgefed_devices_connected gauge\n"
        "edgefed_devices_connected 7\n"
        "# HELP edgefed_round_seconds Round duration.\n"
        "# TYPE edgefed_round_seconds histogram\n"
        "edgefed_round_seconds_bucket{le=\"0.25\"} 2\n"
        "edgefed_round_seconds_bucket{le=\"1\"} 3\n"
        "edgefed_round_seconds_bucket{le=\"10\"} 4\n"
        "edgefed_round_seconds_bucket{le=\"+Inf\"} 5\n"
        "edgefed_round_seconds_sum 32.85\n"
        "edgefed_round_seconds_count 5\n");
}

TEST_CASE("an empty registry renders nothing") { CHECK(MetricsRegistry().render().empty()); }

TEST_CASE("histogram labels come before le and every series has sum and count") {
  MetricsRegistry metrics;
  metrics.histogram("h", "x", {1}, {{"stage", "a"}}).observe(1);
  CHECK(metrics.render() ==
        "# HELP h x\n# TYPE h histogram\n"
        "h_bucket{stage=\"a\",le=\"1\"} 1\n"
        "h_bucket{stage=\"a\",le=\"+Inf\"} 1\n"
        "h_sum{stage=\"a\"} 1\n"
        "h_count{stage=\"a\"} 1\n");
}

TEST_CASE("help text and label values are escaped") {
  MetricsRegistry metrics;
  metrics.gauge("g", "back\\slash and\nnewline \"quoted\"",
                {{"path", "C:\\dir\\"}, {"quote", "say \"hi\""}, {"nl", "a\nb"}});
  CHECK(metrics.render() ==
        "# HELP g back\\\\slash and\\nnewline \"quoted\"\n"
        "# TYPE g gauge\n"
        "g{path=\"C:\\\\dir\\\\\",quote=\"say \\\"hi\\\"\",nl=\"a\\nb\"} 0\n");
}

TEST_CASE("numbers print shortest, integers without exponent, specials by name") {
  MetricsRegistry metrics;
  const std::vector<std::pair<double, std::string>> cases = {
      {3, "3"},
      {0.25, "0.25"},
      {-2, "-2"},
      {1e6, "1000000"},
      {0.1, "0.1"},
      {1e-7, "1e-07"},
      {1e20, "1e+20"},
      {123456.5, "123456.5"},
      {std::numeric_limits<double>::infinity(), "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf"},
      {std::numeric_limits<double>::quiet_NaN(), "NaN"},
  };
  for (const auto& [value, text] : cases) {
    MetricsRegistry one;
    one.gauge("g", "h").set(value);
    CHECK(one.render() == "# HELP g h\n# TYPE g gauge\ng " + text + "\n");
  }
}

TEST_CASE("the same name and labels return the same object, in any label order") {
  MetricsRegistry metrics;
  Counter& a = metrics.counter("c", "help", {{"x", "1"}, {"y", "2"}});
  CHECK(&metrics.counter("c", "help", {{"x", "1"}, {"y", "2"}}) == &a);
  CHECK(&metrics.counter("c", "help", {{"y", "2"}, {"x", "1"}}) == &a);
  CHECK(&metrics.counter("c", "help", {{"x", "other"}, {"y", "2"}}) != &a);
  CHECK(&metrics.counter("c", "help") != &a);
  auto& g = metrics.gauge("g", "help");
  // Many more registrations must not move what was handed out.
  for (int i = 0; i < 1000; ++i) metrics.gauge("g", "help", {{"i", std::to_string(i)}});
  CHECK(&metrics.gauge("g", "help") == &g);
  auto& h = metrics.histogram("h", "help", {1, 2});
  CHECK(&metrics.histogram("h", "help", {1, 2}) == &h);
}

TEST_CASE("re-registering a name with another type, help or buckets throws") {
  MetricsRegistry metrics;
  metrics.counter("m", "help");
  metrics.histogram("h", "help", {1, 2});
  CHECK_THROWS_AS(metrics.gauge("m", "help"), std::invalid_argument);
  CHECK_THROWS_AS(metrics.histogram("m", "help", {1}), std::invalid_argument);
  CHECK_THROWS_AS(metrics.counter("m", "other help"), std::invalid_argument);
  CHECK_THROWS_AS(metrics.histogram("h", "help", {1, 3}), std::invalid_argument);
  CHECK_THROWS_AS(metrics.counter("h", "help"), std::invalid_argument);
  // The failures left the registry as it was.
  CHECK(metrics.render() ==
        "# HELP m help\n# TYPE m counter\nm 0\n"
        "# HELP h help\n# TYPE h histogram\n"
        "h_bucket{le=\"1\"} 0\nh_bucket{le=\"2\"} 0\nh_bucket{le=\"+Inf\"} 0\n"
        "h_sum 0\nh_count 0\n");
}

TEST_CASE("invalid metric and label names throw") {
  MetricsRegistry metrics;
  for (const char* name : {"", "1abc", "a-b", "a b", "é"}) {
    INFO(name);
    CHECK_THROWS_AS(metrics.counter(name, "h"), std::invalid_argument);
  }
  for (const char* name : {"a", "_a", ":a", "a:b_1", "ABC"}) {
    INFO(name);
    CHECK_NOTHROW(metrics.counter(name, "h"));
  }
  CHECK_THROWS_AS(metrics.counter("c", "h", {{"a:b", "v"}}), std::invalid_argument);
  CHECK_THROWS_AS(metrics.counter("c", "h", {{"1a", "v"}}), std::invalid_argument);
  CHECK_THROWS_AS(metrics.counter("c", "h", {{"", "v"}}), std::invalid_argument);
  CHECK_THROWS_AS(metrics.counter("c", "h", {{"__name", "v"}}), std::invalid_argument);
  CHECK_THROWS_AS(metrics.counter("c", "h", {{"a", "1"}, {"a", "2"}}), std::invalid_argument);
  CHECK_THROWS_AS(metrics.histogram("hist", "h", {1}, {{"le", "1"}}), std::invalid_argument);
  CHECK_NOTHROW(metrics.counter("c", "h", {{"le", "fine outside histograms"}, {"_x9", ""}}));
}

TEST_CASE("histogram bounds must be finite and increasing, a trailing +Inf is dropped") {
  const double inf = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(Histogram({2, 1}), std::invalid_argument);
  CHECK_THROWS_AS(Histogram({1, 1}), std::invalid_argument);
  CHECK_THROWS_AS(Histogram({std::nan(""), 1}), std::invalid_argument);
  CHECK_THROWS_AS(Histogram({-inf, 1}), std::invalid_argument);
  CHECK_THROWS_AS(Histogram({1, inf, inf}), std::invalid_argument);
  CHECK(Histogram({1, 2, inf}).upper_bounds() == std::vector<double>{1, 2});
  CHECK(Histogram({}).snapshot().cumulative.size() == 1);
  MetricsRegistry metrics;
  CHECK_THROWS_AS(metrics.histogram("h", "help", {3, 2}), std::invalid_argument);
  CHECK(metrics.render().empty());
  metrics.histogram("h", "help", {1, inf});
  CHECK_NOTHROW(metrics.histogram("h", "help", {1}));
}

TEST_CASE("histogram buckets are cumulative and NaN lands in +Inf") {
  Histogram h({1, 2});
  for (double v : {-5.0, 1.0, 1.5, 2.0, 2.5}) h.observe(v);
  h.observe(std::nan(""));
  const Histogram::Snapshot s = h.snapshot();
  CHECK(s.cumulative == std::vector<std::uint64_t>{2, 4, 6});
  CHECK(s.count == 6);
  CHECK(std::isnan(s.sum));
}

TEST_CASE("counters ignore negative and NaN increments and gauges go both ways") {
  MetricsRegistry metrics;
  Counter& c = metrics.counter("c", "h");
  c.inc(2.5);
  c.inc(-1);
  c.inc(std::nan(""));
  CHECK(c.value() == 2.5);
  auto& g = metrics.gauge("g", "h");
  g.inc(5);
  g.dec(7.5);
  CHECK(g.value() == -2.5);
  g.set(1);
  g.inc();
  g.dec();
  g.dec();
  CHECK(g.value() == 0);
}

TEST_CASE("concurrent updates are exact") {
  MetricsRegistry metrics;
  constexpr int kThreads = 4, kPerThread = 10000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics, t] {
      // Registration races too: every thread looks the metrics up itself.
      Counter& c = metrics.counter("c_total", "h", {{"shared", "yes"}});
      auto& g = metrics.gauge("g", "h");
      auto& h = metrics.histogram("h", "h", {0.5});
      for (int i = 0; i < kPerThread; ++i) {
        c.inc();
        g.inc(t % 2 == 0 ? 1 : -1);
        h.observe(i % 2 == 0 ? 0 : 1);
        if (i % 1000 == 0) (void)metrics.render();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(metrics.counter("c_total", "h", {{"shared", "yes"}}).value() == kThreads * kPerThread);
  CHECK(metrics.gauge("g", "h").value() == 0);
  const Histogram::Snapshot s = metrics.histogram("h", "h", {0.5}).snapshot();
  CHECK(s.count == kThreads * kPerThread);
  CHECK(s.cumulative.front() == kThreads * kPerThread / 2);
  CHECK(s.sum == kThreads * kPerThread / 2);
}
