// Configuration: one JSON file per binary, every key overridable on the command line.
//
// A program declares its keys once in a ConfigSpec (dotted names for nesting: "tls.cert"
// is {"tls": {"cert": ...}} in the file and `--tls.cert PATH` on the command line); the
// spec then drives validation, defaults and `--help`. Precedence: defaults < file < CLI.
//
//   ConfigSpec spec("edgefed-server", "Aggregation server");
//   spec.add("port", ConfigType::unsigned_integer, 8443, "TCP port to listen on");
//   auto cli = parse_command_line(spec, argc, argv);
//   if (!cli) { std::cerr << cli.error().message() << "\n"; return 2; }
//   if (cli->help_requested) { std::cout << spec.help_text(); return 0; }
//   auto port = cli->config->get<std::uint64_t>("port");
//
// Errors name the key: unknown_key ("unknown key 'tls.cret' in server.json; did you mean
// 'tls.cert'?"), bad_type ("'port' must be an unsigned integer, got string"), bad_encoding
// (file is not JSON, with line/column), io_error (file missing or unreadable).
#pragma once

#include "edgefed/common/result.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edgefed {

enum class ConfigType { boolean, integer, unsigned_integer, number, string, string_list };

std::string_view to_string(ConfigType type);

struct ConfigOption {
  std::string key;               // dotted path, e.g. "secagg.threshold"
  ConfigType type;
  nlohmann::json default_value;  // null means "required": absent after file and CLI → error
  std::string help;
};

class Config;

class ConfigSpec {
 public:
  ConfigSpec(std::string program, std::string summary);

  // Declares a key. A duplicate key or a default of the wrong type is a programming error
  // (asserted), since specs are written in code, not read from input.
  ConfigSpec& add(std::string key, ConfigType type, nlohmann::json default_value, std::string help);

  const std::vector<ConfigOption>& options() const { return options_; }
  const ConfigOption* find(std::string_view key) const;
  // Usage text listing --config, --help, --print-config and every key with type and default.
  std::string help_text() const;
  const std::string& program() const { return program_; }

  // Validates a JSON document against the spec (unknown keys, wrong types) and fills
  // defaults. `source` names the document in errors ("server.json").
  Result<Config> from_json(const nlohmann::json& document, std::string_view source = "config") const;

 private:
  std::string program_;
  std::string summary_;
  std::vector<ConfigOption> options_;
};

// A validated configuration: every key of its spec present with the declared type. It
// holds its own values, so it may outlive the spec that made it.
class Config {
 public:
  // Typed access; the key must be declared in the spec (asserted). T is bool, std::int64_t,
  // std::uint64_t, double, std::string or std::vector<std::string>.
  template <typename T>
  T get(std::string_view key) const {
    return at(key).get<T>();
  }
  const nlohmann::json& at(std::string_view key) const;
  // The effective configuration as a nested JSON document (what --print-config prints).
  nlohmann::json to_json() const;

 private:
  friend class ConfigSpec;
  Config() = default;
  nlohmann::json values_ = nlohmann::json::object();  // flat: dotted key -> value
};

struct CommandLine {
  bool help_requested = false;   // --help: print spec.help_text() and exit 0
  bool print_config = false;     // --print-config: print config->to_json() and exit 0
  std::optional<Config> config;  // validated; absent only when help_requested
};

// Parses `--config FILE`, `--help`, `--print-config` and `--<key> VALUE` for every key.
// Unknown options and positional arguments are unknown_key / invalid_argument errors.
Result<CommandLine> parse_command_line(const ConfigSpec& spec, int argc, const char* const argv[]);

// For a binary's main(): parses like parse_command_line and handles the rest itself —
// prints the help text or the effective config (stdout) or the error (stderr, prefixed by
// the program name). Returns the config, or nullopt with `exit_code` set: 0 after --help or
// --print-config, 2 for a usage or configuration error, 1 for an I/O error.
std::optional<Config> parse_command_line_or_report(const ConfigSpec& spec, int argc, const char* const argv[],
                                                   int& exit_code);

// Reads a JSON config file (≤ 1 MiB): io_error, too_large or bad_encoding with line/column.
Result<nlohmann::json> read_json_file(const std::string& path);

}  // namespace edgefed
