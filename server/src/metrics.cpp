#include "edgefed/server/metrics.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string_view>

namespace edgefed::server {
namespace {

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool valid_metric_name(std::string_view name) {
  auto head = [](char c) { return is_alpha(c) || c == '_' || c == ':'; };
  return !name.empty() && head(name.front()) &&
         std::all_of(name.begin(), name.end(), [&](char c) { return head(c) || is_digit(c); });
}

bool valid_label_name(std::string_view name) {
  auto head = [](char c) { return is_alpha(c) || c == '_'; };
  return !name.empty() && head(name.front()) && !name.starts_with("__") &&
         std::all_of(name.begin(), name.end(), [&](char c) { return head(c) || is_digit(c); });
}

[[noreturn]] void misuse(const std::string& name, const std::string& what) {
  throw std::invalid_argument("metric '" + name + "': " + what);
}

// Returns the finite, strictly increasing bounds without a trailing +Inf, or throws.
std::vector<double> checked_bounds(std::vector<double> bounds) {
  if (!bounds.empty() && bounds.back() == std::numeric_limits<double>::infinity()) {
    bounds.pop_back();
  }
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && !(bounds[i - 1] < bounds[i]))) {
      throw std::invalid_argument("histogram bounds must be finite and strictly increasing");
    }
  }
  return bounds;
}

// Atomic add for std::atomic<double> (C++20 fetch_add, a CAS loop in libstdc++).
void add(std::atomic<double>& target, double v) { target.fetch_add(v, std::memory_order_relaxed); }

// Shortest text that reads back to `v`. Integers print in fixed notation ("1000000", not
// "1e+06"), which the shortest-form rule alone would not give; past 1e16 doubles are sparse
// integers and the exponent form is the readable one.
void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  std::array<char, 64> buffer{};
  const bool integral = v == std::trunc(v) && std::fabs(v) < 1e16;
  const auto result = integral
                          ? std::to_chars(buffer.data(), buffer.data() + buffer.size(), v,
                                          std::chars_format::fixed)
                          : std::to_chars(buffer.data(), buffer.data() + buffer.size(), v);
  out.append(buffer.data(), result.ptr);
}

void append_escaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (quote && c == '"') out += "\\\"";
    else out += c;
  }
}

// `{a="x",b="y"}` with an optional extra pair last (a histogram's le); nothing if no labels.
void append_labels(std::string& out, const Labels& labels, std::string_view extra_name = {},
                   std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  auto pair = [&](std::string_view name, std::string_view value) {
    if (!first) out += ',';
    first = false;
    out.append(name);
    out += "=\"";
    append_escaped(out, value, true);
    out += '"';
  };
  for (const auto& [name, value] : labels) pair(name, value);
  if (!extra_name.empty()) pair(extra_name, extra_value);
  out += '}';
}

void append_sample(std::string& out, std::string_view name, std::string_view suffix,
                   const Labels& labels, double value, std::string_view le = {}) {
  out.append(name);
  out.append(suffix);
  append_labels(out, labels, le.empty() ? std::string_view{} : "le", le);
  out += ' ';
  append_number(out, value);
  out += '\n';
}

}  // namespace

// ---- Counter, Gauge

void Counter::inc(double v) {
  if (!(v >= 0)) return;  // negative or NaN: see the header
  add(value_, v);
}

double Counter::value() const { return value_.load(std::memory_order_relaxed); }

void Gauge::set(double v) { value_.store(v, std::memory_order_relaxed); }
void Gauge::inc(double v) { add(value_, v); }
void Gauge::dec(double v) { add(value_, -v); }
double Gauge::value() const { return value_.load(std::memory_order_relaxed); }

// ---- Histogram

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(checked_bounds(std::move(upper_bounds))), buckets_(upper_bounds_.size() + 1) {}

void Histogram::observe(double v) {
  // First bound >= v; NaN compares false everywhere and so lands in +Inf.
  const auto it = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), v);
  const std::size_t bucket =
      std::isnan(v) ? upper_bounds_.size() : static_cast<std::size_t>(it - upper_bounds_.begin());
  std::lock_guard lock(mutex_);
  ++buckets_[bucket];
  sum_ += v;
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot out;
  out.cumulative.reserve(buckets_.size());
  std::lock_guard lock(mutex_);
  for (std::uint64_t n : buckets_) {
    out.count += n;
    out.cumulative.push_back(out.count);
  }
  out.sum = sum_;
  return out;
}

// ---- MetricsRegistry

Counter& MetricsRegistry::counter(std::string name, std::string help, Labels labels) {
  std::lock_guard lock(mutex_);
  auto [family, i] =
      find_or_add(std::move(name), std::move(help), Type::counter, {}, std::move(labels));
  return i < family->counters.size() ? family->counters[i] : family->counters.emplace_back();
}

Gauge& MetricsRegistry::gauge(std::string name, std::string help, Labels labels) {
  std::lock_guard lock(mutex_);
  auto [family, i] =
      find_or_add(std::move(name), std::move(help), Type::gauge, {}, std::move(labels));
  return i < family->gauges.size() ? family->gauges[i] : family->gauges.emplace_back();
}

Histogram& MetricsRegistry::histogram(std::string name, std::string help,
                                      std::vector<double> upper_bounds, Labels labels) {
  std::vector<double> bounds;
  try {
    bounds = checked_bounds(std::move(upper_bounds));
  } catch (const std::invalid_argument& e) {
    misuse(name, e.what());
  }
  std::lock_guard lock(mutex_);
  auto [family, i] = find_or_add(std::move(name), std::move(help), Type::histogram, bounds,
                                 std::move(labels));
  return i < family->histograms.size() ? family->histograms[i]
                                       : family->histograms.emplace_back(std::move(bounds));
}

// Caller holds mutex_. Everything is checked before anything is added, so a throw leaves the
// registry as it was.
std::pair<MetricsRegistry::Family*, std::size_t> MetricsRegistry::find_or_add(
    std::string name, std::string help, Type type, const std::vector<double>& upper_bounds,
    Labels labels) {
  if (!valid_metric_name(name)) misuse(name, "invalid metric name");
  Labels key = labels;
  std::sort(key.begin(), key.end());
  for (std::size_t k = 0; k < key.size(); ++k) {
    const std::string& label = key[k].first;
    if (!valid_label_name(label)) misuse(name, "invalid label name '" + label + "'");
    if (k > 0 && key[k - 1].first == label) misuse(name, "label '" + label + "' given twice");
    if (type == Type::histogram && label == "le") misuse(name, "'le' is reserved in histograms");
  }

  Family* family = nullptr;
  if (auto found = by_name_.find(name); found != by_name_.end()) {
    family = &families_[found->second];
    if (family->type != type) misuse(name, "already registered as another type");
    if (family->help != help) misuse(name, "already registered with other help text");
    if (family->upper_bounds != upper_bounds) misuse(name, "already registered with other buckets");
    if (auto series = family->index.find(key); series != family->index.end()) {
      return {family, series->second};
    }
  } else {
    by_name_.emplace(name, families_.size());
    family = &families_.emplace_back(Family{std::move(name), std::move(help), type, upper_bounds,
                                            {}, {}, {}, {}, {}});
  }
  const std::size_t i = family->labels.size();
  family->index.emplace(std::move(key), i);
  family->labels.push_back(std::move(labels));
  return {family, i};
}

std::string MetricsRegistry::render() const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (const Family& family : families_) render_family(family, out);
  return out;
}

void MetricsRegistry::render_family(const Family& family, std::string& out) {
  out += "# HELP ";
  out += family.name;
  out += ' ';
  append_escaped(out, family.help, false);
  out += "\n# TYPE ";
  out += family.name;
  out += ' ';
  out += family.type == Type::counter ? "counter\n"
         : family.type == Type::gauge ? "gauge\n"
                                      : "histogram\n";
  for (std::size_t i = 0; i < family.labels.size(); ++i) {
    const Labels& labels = family.labels[i];
    switch (family.type) {
      case Type::counter:
        append_sample(out, family.name, "", labels, family.counters[i].value());
        break;
      case Type::gauge:
        append_sample(out, family.name, "", labels, family.gauges[i].value());
        break;
      case Type::histogram: {
        const Histogram::Snapshot s = family.histograms[i].snapshot();
        std::string le;
        for (std::size_t b = 0; b < s.cumulative.size(); ++b) {
          const double bound = b < family.upper_bounds.size()
                                   ? family.upper_bounds[b]
                                   : std::numeric_limits<double>::infinity();
          le.clear();
          append_number(le, bound);
          append_sample(out, family.name, "_bucket", labels, static_cast<double>(s.cumulative[b]),
                        le);
        }
        append_sample(out, family.name, "_sum", labels, s.sum);
        append_sample(out, family.name, "_count", labels, static_cast<double>(s.count));
        break;
      }
    }
  }
}

}  // namespace edgefed::server
