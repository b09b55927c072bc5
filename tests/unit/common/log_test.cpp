#include "edgefed/common/log.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

using namespace edgefed;

namespace {
struct CaptureLog {
  std::vector<std::string> lines;
  CaptureLog() {
    log::set_sink([this](std::string_view l) { lines.emplace_back(l); });
  }
  ~CaptureLog() {
    log::set_sink(nullptr);
    log::set_level(log::Level::info);
    log::set_format(log::Format::logfmt);
  }
};
}  // namespace

TEST_CASE("log lines are logfmt with level, message and typed fields") {
  CaptureLog cap;
  log::info("round closed", {{"round", 3}, {"dropout", 0.25}, {"ok", true}, {"who", "device-7"}});
  REQUIRE(cap.lines.size() == 1);
  const std::string& l = cap.lines[0];
  CHECK(l.rfind("ts=", 0) == 0);
  CHECK(l.find(" level=info msg=\"round closed\" round=3 dropout=0.25 ok=true who=device-7") != std::string::npos);
}

TEST_CASE("values with spaces, quotes and control characters are quoted and escaped") {
  CaptureLog cap;
  log::warn("x", {{"path", "a b"}, {"q", "say \"hi\""}, {"nl", "line1\nline2"}, {"empty", ""}});
  REQUIRE(cap.lines.size() == 1);
  const std::string& l = cap.lines[0];
  CHECK(l.find("path=\"a b\"") != std::string::npos);
  CHECK(l.find("q=\"say \\\"hi\\\"\"") != std::string::npos);
  CHECK(l.find("nl=\"line1\\x0aline2\"") != std::string::npos);
  CHECK(l.find("empty=\"\"") != std::string::npos);
  CHECK(l.find('\n') == std::string::npos);  // one event, one line
}

TEST_CASE("events below the level are dropped") {
  CaptureLog cap;
  log::set_level(log::Level::warn);
  log::info("hidden");
  log::debug("hidden");
  log::error("shown");
  REQUIRE(cap.lines.size() == 1);
  CHECK(cap.lines[0].find("level=error") != std::string::npos);
  log::set_level(log::Level::off);
  log::error("hidden too");
  CHECK(cap.lines.size() == 1);
}

TEST_CASE("JSON format emits one parseable object per line, even for invalid UTF-8") {
  CaptureLog cap;
  log::set_format(log::Format::json);
  log::info("bytes", {{"n", std::uint64_t{18446744073709551615ull}}, {"bad", std::string("\xff\xfe")}});
  REQUIRE(cap.lines.size() == 1);
  auto j = nlohmann::json::parse(cap.lines[0]);
  CHECK(j["level"] == "info");
  CHECK(j["msg"] == "bytes");
  CHECK(j["n"].get<std::uint64_t>() == 18446744073709551615ull);
}

TEST_CASE("level names parse and unknown names are refused") {
  CHECK(log::parse_level("debug").value() == log::Level::debug);
  auto bad = log::parse_level("loud");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == ErrorCode::invalid_argument);
}
