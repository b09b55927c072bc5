#include "edgefed/common/config.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

namespace edgefed {
namespace {

using json = nlohmann::json;
namespace po = boost::program_options;

constexpr std::size_t kMaxConfigFileBytes = 1u << 20;

bool matches(ConfigType type, const json& v) {
  switch (type) {
    case ConfigType::boolean: return v.is_boolean();
    case ConfigType::integer:
      return v.is_number_integer() &&
             !(v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX));
    case ConfigType::unsigned_integer:
      return v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0);
    case ConfigType::number: return v.is_number() && std::isfinite(v.get<double>());
    case ConfigType::string: return v.is_string();
    case ConfigType::string_list:
      return v.is_array() && std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_string(); });
  }
  return false;
}

// Stores numbers in one representation per type so get<T>() is predictable.
json normalized(ConfigType type, const json& v) {
  if (type == ConfigType::integer) return v.get<std::int64_t>();
  if (type == ConfigType::unsigned_integer) return v.get<std::uint64_t>();
  if (type == ConfigType::number) return v.get<double>();
  return v;
}

std::string describe(const json& v) {
  if (v.is_number_unsigned()) return "unsigned integer";
  if (v.is_number_integer()) return "negative integer";
  if (v.is_number_float()) return "number";
  if (v.is_array()) return "array";
  if (v.is_object()) return "object";
  return v.type_name();
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string suggestion(const ConfigSpec& spec, std::string_view key) {
  const ConfigOption* best = nullptr;
  std::size_t best_distance = 3;  // suggest only close matches
  for (const ConfigOption& o : spec.options()) {
    const std::size_t d = edit_distance(key, o.key);
    if (d < best_distance) best = &o, best_distance = d;
  }
  return best ? "; did you mean '" + best->key + "'?" : "";
}

bool is_prefix_of_some_key(const ConfigSpec& spec, const std::string& prefix) {
  return std::any_of(spec.options().begin(), spec.options().end(),
                     [&](const ConfigOption& o) { return o.key.rfind(prefix + ".", 0) == 0; });
}

// Walks the document, checking each leaf against the spec; fills `flat` (dotted -> value).
Status flatten(const ConfigSpec& spec, const json& node, const std::string& prefix, std::string_view source,
               json& flat) {
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (const ConfigOption* o = spec.find(key)) {
      if (!matches(o->type, *it)) {
        return fail(ErrorCode::bad_type, std::string(source) + ": '" + key + "' must be " +
                                             std::string(to_string(o->type)) + ", got " + describe(*it));
      }
      flat[key] = normalized(o->type, *it);
    } else if (it->is_object() && is_prefix_of_some_key(spec, key)) {
      EDGEFED_TRY(flatten(spec, *it, key, source, flat));
    } else {
      return fail(ErrorCode::unknown_key,
                  "unknown key '" + key + "' in " + std::string(source) + suggestion(spec, key));
    }
  }
  return {};
}

template <typename T>
bool parse_integer(std::string_view text, T& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// Converts command-line text to a JSON value of the option's type.
Result<json> from_text(const ConfigOption& o, const std::string& text) {
  const auto bad = [&](std::string_view expected) {
    return Error{ErrorCode::bad_type, "--" + o.key + ": expected " + std::string(expected) + ", got '" + text + "'"};
  };
  switch (o.type) {
    case ConfigType::boolean:
      if (text == "true" || text == "1" || text == "yes" || text == "on") return json(true);
      if (text == "false" || text == "0" || text == "no" || text == "off") return json(false);
      return bad("true or false");
    case ConfigType::integer: {
      std::int64_t v;
      if (!parse_integer(text, v)) return bad("an integer");
      return json(v);
    }
    case ConfigType::unsigned_integer: {
      std::uint64_t v;
      if (!parse_integer(text, v)) return bad("an unsigned integer");
      return json(v);
    }
    case ConfigType::number: {
      std::istringstream in(text);
      double v;
      if (!(in >> v) || !in.eof() || !std::isfinite(v)) return bad("a finite number");
      return json(v);
    }
    case ConfigType::string: return json(text);
    case ConfigType::string_list: {
      json list = json::array();
      std::string item;
      std::istringstream in(text);
      while (std::getline(in, item, ',')) list.push_back(item);
      return list;
    }
  }
  return bad("a value");
}

void set_nested(json& document, const std::string& dotted, json value) {
  json* node = &document;
  std::size_t start = 0;
  for (std::size_t dot; (dot = dotted.find('.', start)) != std::string::npos; start = dot + 1) {
    node = &(*node)[dotted.substr(start, dot - start)];
    if (!node->is_object()) *node = json::object();
  }
  (*node)[dotted.substr(start)] = std::move(value);
}

}  // namespace

std::string_view to_string(ConfigType type) {
  switch (type) {
    case ConfigType::boolean: return "a boolean";
    case ConfigType::integer: return "an integer";
    case ConfigType::unsigned_integer: return "an unsigned integer";
    case ConfigType::number: return "a number";
    case ConfigType::string: return "a string";
    case ConfigType::string_list: return "a list of strings";
  }
  return "a value";
}

ConfigSpec::ConfigSpec(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

ConfigSpec& ConfigSpec::add(std::string key, ConfigType type, json default_value, std::string help) {
  assert(!find(key) && "duplicate config key");
  assert((default_value.is_null() || matches(type, default_value)) && "default of the wrong type");
  if (!default_value.is_null()) default_value = normalized(type, default_value);
  options_.push_back(ConfigOption{std::move(key), type, std::move(default_value), std::move(help)});
  return *this;
}

const ConfigOption* ConfigSpec::find(std::string_view key) const {
  for (const ConfigOption& o : options_) {
    if (o.key == key) return &o;
  }
  return nullptr;
}

std::string ConfigSpec::help_text() const {
  std::ostringstream out;
  out << program_ << " — " << summary_ << "\n\nUsage: " << program_ << " [--config FILE.json] [--KEY VALUE]...\n\n"
      << "  --help                 print this help and exit\n"
      << "  --config FILE          JSON file with any of the keys below (nested by the dots)\n"
      << "  --print-config         print the effective configuration as JSON and exit\n\nKeys "
      << "(command line overrides the file):\n";
  for (const ConfigOption& o : options_) {
    out << "  --" << o.key << " <" << to_string(o.type).substr(to_string(o.type).find(' ') + 1) << ">\n      "
        << o.help << (o.default_value.is_null() ? " (required)" : " (default: " + o.default_value.dump() + ")")
        << "\n";
  }
  return out.str();
}

Result<Config> ConfigSpec::from_json(const json& document, std::string_view source) const {
  if (!document.is_object()) return fail(ErrorCode::bad_type, std::string(source) + ": expected a JSON object");
  Config config;
  EDGEFED_TRY(flatten(*this, document, "", source, config.values_));
  for (const ConfigOption& o : options_) {
    if (config.values_.contains(o.key)) continue;
    if (o.default_value.is_null()) {
      return fail(ErrorCode::missing_field, "'" + o.key + "' is required (" + o.help + ")");
    }
    config.values_[o.key] = o.default_value;
  }
  return config;
}

const json& Config::at(std::string_view key) const {
  // Validation put every declared key in values_, so a miss is a key the spec never declared.
  auto it = values_.find(std::string(key));
  assert(it != values_.end() && "key not declared in the spec");
  return *it;
}

json Config::to_json() const {
  json document = json::object();
  for (auto it = values_.begin(); it != values_.end(); ++it) set_nested(document, it.key(), *it);
  return document;
}

Result<json> read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::io_error, "cannot open '" + path + "'");
  std::string text(kMaxConfigFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxConfigFileBytes) {
    return fail(ErrorCode::too_large, "'" + path + "' is larger than " + std::to_string(kMaxConfigFileBytes) + " bytes");
  }
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    return fail(ErrorCode::bad_encoding, "'" + path + "' is not valid JSON: " + e.what());
  }
}

Result<CommandLine> parse_command_line(const ConfigSpec& spec, int argc, const char* const argv[]) {
  po::options_description desc;
  desc.add_options()("help,h", "")("print-config", "")("config", po::value<std::string>());
  for (const ConfigOption& o : spec.options()) desc.add_options()(o.key.c_str(), po::value<std::string>());
  po::variables_map vm;
  try {
    // No abbreviations: "--por" must not silently mean "--port".
    const int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    const po::positional_options_description no_positionals;
    po::store(po::command_line_parser(argc, argv).options(desc).positional(no_positionals).style(style).run(), vm);
  } catch (const po::unknown_option& e) {
    const std::string name = e.get_option_name();
    const std::string bare = name.substr(name.find_first_not_of('-'));
    return fail(ErrorCode::unknown_key, "unknown option '" + name + "'" + suggestion(spec, bare) +
                                            " (see --help)");
  } catch (const po::error& e) {
    return fail(ErrorCode::invalid_argument, std::string(e.what()) + " (see --help)");
  }
  if (vm.count("help")) return CommandLine{true, false, std::nullopt};
  json document = json::object();
  if (vm.count("config")) {
    auto file = read_json_file(vm["config"].as<std::string>());
    if (!file) return file.error();
    document = std::move(*file);
    if (!document.is_object()) return fail(ErrorCode::bad_type, vm["config"].as<std::string>() + ": expected a JSON object");
  }
  for (const ConfigOption& o : spec.options()) {
    if (!vm.count(o.key)) continue;
    auto value = from_text(o, vm[o.key].as<std::string>());
    if (!value) return value.error();
    set_nested(document, o.key, std::move(*value));
  }
  const std::string source = vm.count("config") ? vm["config"].as<std::string>() : "command line";
  auto config = spec.from_json(document, source);
  if (!config) return config.error();
  return CommandLine{false, vm.count("print-config") > 0, std::move(*config)};
}

std::optional<Config> parse_command_line_or_report(const ConfigSpec& spec, int argc, const char* const argv[],
                                                   int& exit_code) {
  auto cli = parse_command_line(spec, argc, argv);
  if (!cli) {
    std::fprintf(stderr, "%s: %s\n", spec.program().c_str(), cli.error().message().c_str());
    exit_code = cli.error().condition() == ErrorCondition::unavailable ? 1 : 2;
    return std::nullopt;
  }
  if (cli->help_requested) {
    std::cout << spec.help_text();
    exit_code = 0;
    return std::nullopt;
  }
  if (cli->print_config) {
    std::cout << cli->config->to_json().dump(2) << "\n";
    exit_code = 0;
    return std::nullopt;
  }
  return std::move(cli->config);
}

}  // namespace edgefed
