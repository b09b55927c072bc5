#include "edgefed/sim/report.hpp"

#include "edgefed/common/artifact.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace edgefed::sim {

namespace {

std::uint32_t dropped(const RoundRecord& r) {
  std::uint32_t n = 0;
  for (const auto& [stage, count] : r.dropped_by_stage) n += count;
  return n;
}

std::string fmt(double v, int decimals = 4) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

struct Series {
  std::string name;
  std::string color;
  std::vector<double> y;  // one per round; NaN = missing
};

// A line chart: x = round number, one polyline per series, axes with a few ticks, legend.
std::string line_chart(const std::string& title, const std::string& unit, const std::vector<double>& x,
                       const std::vector<Series>& series) {
  const double w = 560, h = 260, left = 60, right = 20, top = 30, bottom = 40;
  double lo = INFINITY, hi = -INFINITY;
  for (const Series& s : series) {
    for (double v : s.y) {
      if (std::isnan(v)) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi - lo < 1e-9) hi = lo + (lo == 0 ? 1 : std::abs(lo) * 0.1);
  const double pad = (hi - lo) * 0.08;
  lo -= pad;
  hi += pad;
  const double x0 = x.empty() ? 0 : x.front(), x1 = x.empty() ? 1 : std::max(x.back(), x0 + 1);
  auto px = [&](double v) { return left + (v - x0) / (x1 - x0) * (w - left - right); };
  auto py = [&](double v) { return top + (1 - (v - lo) / (hi - lo)) * (h - top - bottom); };
  std::ostringstream o;
  o << "<figure><svg xmlns='http://www.w3.org/2000/svg' width='" << w << "' height='" << h << "' viewBox='0 0 " << w
    << " " << h << "' role='img' aria-label='" << escape(title) << "'>";
  o << "<text x='" << left << "' y='18' font-size='14' font-weight='bold'>" << escape(title) << "</text>";
  o << "<line x1='" << left << "' y1='" << h - bottom << "' x2='" << w - right << "' y2='" << h - bottom
    << "' stroke='#444'/><line x1='" << left << "' y1='" << top << "' x2='" << left << "' y2='" << h - bottom
    << "' stroke='#444'/>";
  for (int i = 0; i <= 4; ++i) {
    const double v = lo + (hi - lo) * i / 4;
    o << "<text x='" << left - 6 << "' y='" << py(v) + 4 << "' font-size='10' text-anchor='end'>" << fmt(v, hi - lo < 0.1 ? 3 : (hi - lo < 10 ? 2 : 0))
      << "</text><line x1='" << left << "' y1='" << py(v) << "' x2='" << w - right << "' y2='" << py(v)
      << "' stroke='#eee'/>";
  }
  const std::size_t step = std::max<std::size_t>(1, x.size() / 10);
  for (std::size_t i = 0; i < x.size(); i += step) {
    o << "<text x='" << px(x[i]) << "' y='" << h - bottom + 14 << "' font-size='10' text-anchor='middle'>" << x[i]
      << "</text>";
  }
  o << "<text x='" << (left + w - right) / 2 << "' y='" << h - 6 << "' font-size='11' text-anchor='middle'>round"
    << (unit.empty() ? "" : " — " + escape(unit)) << "</text>";
  double legend_x = left + 10;
  for (const Series& s : series) {
    std::string points;
    for (std::size_t i = 0; i < x.size() && i < s.y.size(); ++i) {
      if (std::isnan(s.y[i])) continue;
      points += fmt(px(x[i]), 1) + "," + fmt(py(s.y[i]), 1) + " ";
      o << "<circle cx='" << px(x[i]) << "' cy='" << py(s.y[i]) << "' r='2.5' fill='" << s.color << "'/>";
    }
    o << "<polyline fill='none' stroke='" << s.color << "' stroke-width='2' points='" << points << "'/>";
    o << "<rect x='" << legend_x << "' y='" << top << "' width='10' height='10' fill='" << s.color << "'/><text x='"
      << legend_x + 14 << "' y='" << top + 9 << "' font-size='11'>" << escape(s.name) << "</text>";
    legend_x += 24 + 7.0 * static_cast<double>(s.name.size());
  }
  o << "</svg></figure>\n";
  return o.str();
}

double or_nan(double v) { return v < 0 ? NAN : v; }

// Accuracies are -1 when not measured (e.g. no global evaluation over TLS): shown as "-" /
// an empty CSV cell, never as a number.
std::string accuracy(double v, const char* missing = "-") { return v < 0 ? missing : fmt(v); }
nlohmann::json measured(double v) { return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v); }

}  // namespace

std::string rounds_csv(const std::vector<RoundRecord>& records) {
  std::ostringstream o;
  o << "round,outcome,online,selected,participants,dropped,bytes_up,bytes_down,sim_start_s,sim_seconds,wall_seconds,"
       "global_accuracy,device_accuracy,energy_mean_j,energy_max_j\n";
  for (const RoundRecord& r : records) {
    o << r.round << ',' << r.outcome << ',' << r.online << ',' << r.selected << ',' << r.participants << ','
      << dropped(r) << ',' << r.bytes_up << ',' << r.bytes_down << ',' << fmt(r.sim_start_s, 3) << ','
      << fmt(r.sim_seconds, 3) << ',' << fmt(r.wall_seconds, 3) << ',' << accuracy(r.global_accuracy, "") << ','
      << accuracy(r.device_accuracy, "") << ',' << fmt(r.energy_mean_j, 6) << ',' << fmt(r.energy_max_j, 6) << '\n';
  }
  return o.str();
}

nlohmann::json summary_json(const std::vector<RoundRecord>& records, const nlohmann::json& config) {
  nlohmann::json rounds = nlohmann::json::array();
  std::uint64_t completed = 0;
  double wall = 0, sim = 0;
  for (const RoundRecord& r : records) {
    completed += r.outcome == "completed" ? 1 : 0;
    wall += r.wall_seconds;
    sim += r.sim_seconds;
    rounds.push_back({{"round", r.round},
                      {"outcome", r.outcome},
                      {"online", r.online},
                      {"selected", r.selected},
                      {"participants", r.participants},
                      {"dropped_by_stage", r.dropped_by_stage},
                      {"bytes_up", r.bytes_up},
                      {"bytes_down", r.bytes_down},
                      {"sim_seconds", r.sim_seconds},
                      {"wall_seconds", r.wall_seconds},
                      {"global_accuracy", measured(r.global_accuracy)},
                      {"device_accuracy", measured(r.device_accuracy)},
                      {"energy_mean_j", r.energy_mean_j}});
  }
  nlohmann::json j = {{"config", config},      {"rounds_run", records.size()}, {"rounds_completed", completed},
                      {"wall_seconds", wall},  {"sim_seconds_in_rounds", sim}, {"rounds", rounds}};
  if (!records.empty()) {
    j["final_global_accuracy"] = measured(records.back().global_accuracy);
    j["final_device_accuracy"] = measured(records.back().device_accuracy);
  }
  return j;
}

std::string html_report(const std::vector<RoundRecord>& records, const nlohmann::json& config) {
  std::vector<double> x;
  Series global{"global model", "#1f77b4", {}}, device{"device mean (own data, FedBN)", "#d62728", {}};
  Series selected{"selected", "#7f7f7f", {}}, participants{"participants", "#2ca02c", {}}, drops{"dropped", "#d62728", {}};
  Series up{"up (KiB)", "#9467bd", {}}, down{"down (KiB)", "#8c564b", {}};
  Series sim{"simulated s", "#17becf", {}}, wall{"wall s", "#ff7f0e", {}};
  for (const RoundRecord& r : records) {
    x.push_back(static_cast<double>(r.round));
    global.y.push_back(or_nan(r.global_accuracy));
    device.y.push_back(or_nan(r.device_accuracy));
    selected.y.push_back(r.selected);
    participants.y.push_back(r.participants);
    drops.y.push_back(dropped(r));
    up.y.push_back(static_cast<double>(r.bytes_up) / 1024);
    down.y.push_back(static_cast<double>(r.bytes_down) / 1024);
    sim.y.push_back(r.sim_seconds);
    wall.y.push_back(r.wall_seconds);
  }
  std::ostringstream o;
  o << "<!doctype html><html><head><meta charset='utf-8'><title>edgefed simulation report</title><style>"
       "body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
       "figure{display:inline-block;margin:0.5em}table{border-collapse:collapse;font-size:12px}"
       "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}pre{background:#f6f6f6;padding:1em;"
       "font-size:11px;overflow:auto}</style></head><body>\n";
  o << "<h1>edgefed simulation report</h1>\n";
  if (!records.empty()) {
    o << "<p>" << records.size() << " rounds; final global accuracy " << accuracy(records.back().global_accuracy)
      << ", device mean accuracy " << accuracy(records.back().device_accuracy) << ".</p>\n";
  }
  o << line_chart("Accuracy per round", "test accuracy", x, {global, device});
  o << line_chart("Participants and dropouts", "devices", x, {selected, participants, drops});
  o << line_chart("Bytes per round (all devices)", "KiB", x, {up, down});
  o << line_chart("Time per round", "seconds", x, {sim, wall});
  o << "<h2>Rounds</h2><table><tr><th>round</th><th>outcome</th><th>online</th><th>selected</th><th>participants</th>"
       "<th>dropped</th><th>KiB up</th><th>KiB down</th><th>sim s</th><th>wall s</th><th>global acc</th>"
       "<th>device acc</th><th>energy/device (J)</th></tr>\n";
  for (const RoundRecord& r : records) {
    o << "<tr><td>" << r.round << "</td><td>" << r.outcome << "</td><td>" << r.online << "</td><td>" << r.selected
      << "</td><td>" << r.participants << "</td><td>" << dropped(r) << "</td><td>" << fmt(r.bytes_up / 1024.0, 1)
      << "</td><td>" << fmt(r.bytes_down / 1024.0, 1) << "</td><td>" << fmt(r.sim_seconds, 2) << "</td><td>"
      << fmt(r.wall_seconds, 2) << "</td><td>" << accuracy(r.global_accuracy) << "</td><td>" << accuracy(r.device_accuracy)
      << "</td><td>" << fmt(r.energy_mean_j, 3) << "</td></tr>\n";
  }
  o << "</table><h2>Configuration</h2><pre>" << escape(config.dump(2)) << "</pre></body></html>\n";
  return o.str();
}

Status write_reports(const std::filesystem::path& dir, const std::vector<RoundRecord>& records,
                     const nlohmann::json& config) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(ErrorCode::io_error, dir.string() + ": " + ec.message());
  auto write = [&](const std::string& name, const std::string& text) {
    return save_artifact(dir / name, as_bytes(text));
  };
  EDGEFED_TRY(write("rounds.csv", rounds_csv(records)));
  EDGEFED_TRY(write("summary.json", summary_json(records, config).dump(2) + "\n"));
  return write("report.html", html_report(records, config));
}

}  // namespace edgefed::sim
