#include "edgefed/common/config.hpp"

#include "edgefed_test_support.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <vector>

using namespace edgefed;
using json = nlohmann::json;

namespace {

ConfigSpec server_spec() {
  ConfigSpec spec("edgefed-server", "test server");
  spec.add("port", ConfigType::unsigned_integer, 8443, "TCP port")
      .add("tls.cert", ConfigType::string, "certs/server.pem", "server certificate")
      .add("secagg.dropout", ConfigType::number, 0.1, "expected dropout rate")
      .add("secagg.offset", ConfigType::integer, -3, "signed knob")
      .add("metrics", ConfigType::boolean, true, "serve /metrics")
      .add("strategies", ConfigType::string_list, json::array({"fedavg"}), "allowed strategies");
  return spec;
}

Result<CommandLine> run(const ConfigSpec& spec, std::vector<std::string> args) {
  std::vector<const char*> argv = {"edgefed-server"};
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_command_line(spec, static_cast<int>(argv.size()), argv.data());
}

std::string write_file(const testing::TempDir& dir, const std::string& text) {
  const std::string path = dir.file("config.json");
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("defaults apply when neither file nor command line sets a key") {
  auto cli = run(server_spec(), {});
  REQUIRE(cli);
  CHECK(cli->config->get<std::uint64_t>("port") == 8443);
  CHECK(cli->config->get<double>("secagg.dropout") == 0.1);
  CHECK(cli->config->get<std::int64_t>("secagg.offset") == -3);
  CHECK(cli->config->get<std::vector<std::string>>("strategies") == std::vector<std::string>{"fedavg"});
}

TEST_CASE("the command line overrides the file, which overrides defaults") {
  testing::TempDir dir;
  const auto path = write_file(dir, R"({"port": 9000, "tls": {"cert": "a.pem"}, "secagg": {"dropout": 1}})");
  auto cli = run(server_spec(), {"--config", path, "--tls.cert", "b.pem", "--metrics=false",
                                 "--strategies", "fedavg,fedadam"});
  REQUIRE(cli);
  const Config& c = *cli->config;
  CHECK(c.get<std::uint64_t>("port") == 9000);
  CHECK(c.get<std::string>("tls.cert") == "b.pem");
  CHECK(c.get<double>("secagg.dropout") == 1.0);  // an integer is a valid number
  CHECK_FALSE(c.get<bool>("metrics"));
  CHECK(c.get<std::vector<std::string>>("strategies") == std::vector<std::string>{"fedavg", "fedadam"});
  CHECK(c.to_json()["tls"]["cert"] == "b.pem");
}

TEST_CASE("an unknown key in the file is reported by name with a suggestion") {
  testing::TempDir dir;
  const auto path = write_file(dir, R"({"tls": {"cret": "x"}})");
  auto cli = run(server_spec(), {"--config", path});
  REQUIRE_FALSE(cli);
  CHECK(cli.error().code == ErrorCode::unknown_key);
  CHECK(cli.error().detail.find("unknown key 'tls.cret'") != std::string::npos);
  CHECK(cli.error().detail.find("did you mean 'tls.cert'?") != std::string::npos);
}

TEST_CASE("a wrong type in the file is reported by name") {
  testing::TempDir dir;
  auto cli = run(server_spec(), {"--config", write_file(dir, R"({"port": "8443"})")});
  REQUIRE_FALSE(cli);
  CHECK(cli.error().code == ErrorCode::bad_type);
  CHECK(cli.error().detail.find("'port' must be an unsigned integer, got string") != std::string::npos);
  cli = run(server_spec(), {"--config", write_file(dir, R"({"port": -1})")});
  CHECK(cli.error().detail.find("got negative integer") != std::string::npos);
  cli = run(server_spec(), {"--config", write_file(dir, R"({"tls": "x"})")});
  CHECK(cli.error().code == ErrorCode::unknown_key);
  cli = run(server_spec(), {"--config", write_file(dir, R"({"strategies": ["a", 1]})")});
  CHECK(cli.error().code == ErrorCode::bad_type);
}

TEST_CASE("a wrong type on the command line is reported by name") {
  auto cli = run(server_spec(), {"--port", "eighty"});
  REQUIRE_FALSE(cli);
  CHECK(cli.error().detail == "--port: expected an unsigned integer, got 'eighty'");
  CHECK(run(server_spec(), {"--port", "-5"}).error().code == ErrorCode::bad_type);
  CHECK(run(server_spec(), {"--metrics", "maybe"}).error().code == ErrorCode::bad_type);
  CHECK(run(server_spec(), {"--secagg.dropout", "nan"}).error().code == ErrorCode::bad_type);
}

TEST_CASE("unknown and abbreviated options are refused") {
  auto cli = run(server_spec(), {"--prot", "1"});
  REQUIRE_FALSE(cli);
  CHECK(cli.error().code == ErrorCode::unknown_key);
  CHECK(cli.error().detail.find("did you mean 'port'?") != std::string::npos);
  CHECK(run(server_spec(), {"--por", "1"}).error().code == ErrorCode::unknown_key);
  CHECK(run(server_spec(), {"stray"}).error().code == ErrorCode::invalid_argument);
}

TEST_CASE("a missing, oversized or invalid JSON file gives a clear error") {
  CHECK(run(server_spec(), {"--config", "/nonexistent/x.json"}).error().code == ErrorCode::io_error);
  testing::TempDir dir;
  auto cli = run(server_spec(), {"--config", write_file(dir, "{\"port\": 1,\n oops}")});
  REQUIRE_FALSE(cli);
  CHECK(cli.error().code == ErrorCode::bad_encoding);
  CHECK(cli.error().detail.find("line 2") != std::string::npos);
  CHECK(run(server_spec(), {"--config", write_file(dir, "[1, 2]")}).error().code == ErrorCode::bad_type);
  CHECK(run(server_spec(), {"--config", write_file(dir, std::string(2u << 20, ' '))}).error().code ==
        ErrorCode::too_large);
}

TEST_CASE("a required key without a value is reported") {
  ConfigSpec spec("tool", "needs a key");
  spec.add("model_key", ConfigType::string, nullptr, "Ed25519 signing key");
  auto cli = run(spec, {});
  REQUIRE_FALSE(cli);
  CHECK(cli.error().code == ErrorCode::missing_field);
  CHECK(cli.error().detail.find("'model_key' is required") != std::string::npos);
  REQUIRE(run(spec, {"--model_key", "k.pem"}));
}

TEST_CASE("--help needs no valid config and the help text lists every key") {
  ConfigSpec spec = server_spec();
  spec.add("required_thing", ConfigType::string, nullptr, "must be given");
  auto cli = run(spec, {"--help"});
  REQUIRE(cli);
  CHECK(cli->help_requested);
  CHECK_FALSE(cli->config);
  const std::string help = spec.help_text();
  for (const auto& o : spec.options()) CHECK(help.find("--" + o.key) != std::string::npos);
  CHECK(help.find("(default: 8443)") != std::string::npos);
  CHECK(help.find("(required)") != std::string::npos);
}

TEST_CASE("the main() helper reports help, bad options and I/O errors with distinct exit codes") {
  ConfigSpec spec = server_spec();
  const auto run_report = [&](std::vector<std::string> args, int& code) {
    std::vector<const char*> argv = {"edgefed-server"};
    for (const auto& a : args) argv.push_back(a.c_str());
    return parse_command_line_or_report(spec, static_cast<int>(argv.size()), argv.data(), code);
  };
  int code = -1;
  CHECK_FALSE(run_report({"--help"}, code));
  CHECK(code == 0);
  CHECK_FALSE(run_report({"--port", "x"}, code));
  CHECK(code == 2);
  CHECK_FALSE(run_report({"--config", "/nonexistent.json"}, code));
  CHECK(code == 1);
  auto ok = run_report({"--port", "1"}, code);
  REQUIRE(ok);
  CHECK(ok->get<std::uint64_t>("port") == 1);
}
