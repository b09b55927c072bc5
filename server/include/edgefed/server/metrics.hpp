// MetricsRegistry: the server's counters, gauges and histograms, rendered in the Prometheus
// text exposition format 0.0.4 for a `/metrics` route.
//
//   MetricsRegistry metrics;
//   Counter& frames = metrics.counter("edgefed_frames_total", "Frames received.",
//                                     {{"type", "masked_input"}});
//   frames.inc();
//   response.body = metrics.render();   // served with kPrometheusContentType
//
// Lifecycle: register a metric once (usually at start-up) and keep the reference; it stays
// valid for the registry's lifetime. Registering the same name and labels again returns the
// same object, so two components may share a metric without coordinating.
//
// Errors: registration checks its arguments and throws std::invalid_argument on a programming
// error — an invalid metric or label name, a label name given twice, a name already
// registered with another type, help text or (histograms) bucket bounds, or bad bounds.
// Nothing else throws except std::bad_alloc. Updates never fail.
//
// Thread-safety: every member of every class here may be called from any thread. Counter and
// Gauge are lock-free atomics; a Histogram has its own mutex; the registry's mutex guards
// registration and render(). render() sees each metric at some moment during the call, not
// all metrics at one instant.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace edgefed::server {

// The Content-Type of render()'s output.
inline constexpr char kPrometheusContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Label pairs (name, value), rendered in the order given. Names match [a-zA-Z_][a-zA-Z0-9_]*
// and do not start with "__" (reserved by Prometheus); values are any UTF-8 text. The same
// pairs in another order name the same series.
using Labels = std::vector<std::pair<std::string, std::string>>;

// A value that only goes up (requests served, bytes received). Starts at 0.
class Counter {
 public:
  // Adds `v`. A negative or NaN `v` is a caller bug; it is ignored so the counter stays
  // monotonic (Prometheus reads a decrease as a restart).
  void inc(double v = 1);
  double value() const;

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down (connected devices, round number). Starts at 0.
class Gauge {
 public:
  void set(double v);
  void inc(double v = 1);
  void dec(double v = 1);
  double value() const;

 private:
  std::atomic<double> value_{0};
};

// Counts observations (durations, sizes) into buckets by upper bound (`v <= bound`), plus an
// implicit +Inf bucket; also keeps their sum and count. NaN counts in +Inf only.
class Histogram {
 public:
  // `upper_bounds` must be finite and strictly increasing (a trailing +Inf is allowed and
  // dropped); empty means the +Inf bucket alone. Throws std::invalid_argument otherwise.
  explicit Histogram(std::vector<double> upper_bounds);

  void observe(double v);

  // One consistent reading: cumulative[i] counts observations <= upper_bounds()[i], and
  // cumulative.back() (the +Inf bucket) == count.
  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // upper_bounds().size() + 1 entries
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;
  // The finite bounds, without +Inf.
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }

 private:
  const std::vector<double> upper_bounds_;
  mutable std::mutex mutex_;
  std::vector<std::uint64_t> buckets_;  // per bucket, not cumulative; last is +Inf
  double sum_ = 0;
};

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Returns the metric `name` with `labels`, creating it (and its family) on first use. The
  // reference lives as long as the registry. `name` matches [a-zA-Z_:][a-zA-Z0-9_:]*; `help`
  // is one line of prose (a newline is escaped, not refused). Throws std::invalid_argument
  // as described at the top of this header.
  Counter& counter(std::string name, std::string help, Labels labels = {});
  Gauge& gauge(std::string name, std::string help, Labels labels = {});
  // `upper_bounds` as for Histogram, the same for every series of one name; "le" is not
  // allowed as a label name (the exposition format uses it for the bucket bound).
  Histogram& histogram(std::string name, std::string help, std::vector<double> upper_bounds,
                       Labels labels = {});

  // The text exposition format 0.0.4: per family, in registration order, "# HELP", "# TYPE",
  // then its series in registration order (histograms as name_bucket{le=...}, name_sum,
  // name_count). Numbers print in the shortest form that reads back exactly, integers
  // without exponent or fraction ("3", "0.25", "1e-07", "+Inf", "-Inf", "NaN"). Ends with a
  // newline unless empty.
  std::string render() const;

 private:
  enum class Type { counter, gauge, histogram };
  struct Family {
    std::string name;
    std::string help;
    Type type;
    std::vector<double> upper_bounds;  // histograms only
    // Series i has labels[i] and lives in the deque of the family's type, at index i.
    std::vector<Labels> labels;
    std::map<Labels, std::size_t> index;  // sorted labels → i
    std::deque<Counter> counters;
    std::deque<Gauge> gauges;
    std::deque<Histogram> histograms;
  };

  // Finds or creates the family and the series slot; returns the family and the series index
  // (== the deque's size when the series is new).
  std::pair<Family*, std::size_t> find_or_add(std::string name, std::string help, Type type,
                                              const std::vector<double>& upper_bounds,
                                              Labels labels);
  static void render_family(const Family& family, std::string& out);

  mutable std::mutex mutex_;
  std::deque<Family> families_;  // registration order
  std::unordered_map<std::string, std::size_t> by_name_;
};

}  // namespace edgefed::server
