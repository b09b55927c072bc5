// edgefed-bench server: the real aggregation server (edgefed-server, its own process) against
// N light devices in this process, over real mutual TLS 1.3 on 127.0.0.1.
//
// Per device count N: a fresh server (fresh checkpoint) with target_participants = N runs
// `rounds` rounds. The devices are the SDK's DeviceSession (the protocol state machine every
// device runs) behind a WsClient, with a learner that skips training (a deterministic
// pseudo-random delta), so what is measured is the server and the protocol, not LibTorch.
//
// Connecting is two-phase: first every device opens its TLS + WebSocket connection
// (`connect_concurrency` handshakes in flight at most), then all send fl.hello at once, so the
// whole fleet becomes ready for a round within the server's selection_wait and the first
// cohort is all N devices. The first fl.round is held back on the device side until the
// server's idle RSS has been read (all N devices connected and holding the model).
//
// Measured: the server's RSS (VmRSS / RssAnon from /proc/PID/status) idle with N devices and
// its peak over the run (max of VmHWM and the 100 ms VmRSS samples), round wall time seen by
// the devices, and bytes per frame type from the device side (every frame the session sends
// goes through SessionPort::send; every frame received passes the driver loop).
#include "bench.hpp"

#include "edgefed/client/session.hpp"
#include "edgefed/common/config.hpp"
#include "edgefed/common/crypto.hpp"
#include "edgefed/common/protocol.hpp"
#include "edgefed/common/wire.hpp"
#include "edgefed/ml/exchange.hpp"
#include "edgefed/net/client.hpp"
#include "edgefed/secagg/csprng.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#ifndef EDGEFED_SERVER_BINARY
#define EDGEFED_SERVER_BINARY "edgefed-server"
#endif
#ifndef EDGEFED_MODEL_BINARY
#define EDGEFED_MODEL_BINARY "edgefed-model"
#endif
#ifndef EDGEFED_MAKE_DEV_CERTS
#define EDGEFED_MAKE_DEV_CERTS "scripts/make-dev-certs"
#endif

extern char** environ;

namespace edgefed::bench {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

double seconds_since(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}
double mib(std::uint64_t kib) { return static_cast<double>(kib) / 1024.0; }
double round3(double x) { return std::round(x * 1000.0) / 1000.0; }


// ---- /proc/PID/status

struct MemSample {
  std::uint64_t rss_kib = 0, hwm_kib = 0, anon_kib = 0;
  bool ok = false;  // false once the process is gone (or a zombie: no Vm* lines)
};

MemSample read_mem(pid_t pid) {
  MemSample m;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    const auto value = [&line] { return std::strtoull(line.c_str() + line.find(':') + 1, nullptr, 10); };
    if (line.rfind("VmRSS:", 0) == 0) {
      m.rss_kib = value();
      m.ok = true;
    } else if (line.rfind("VmHWM:", 0) == 0) {
      m.hwm_kib = value();
    } else if (line.rfind("RssAnon:", 0) == 0) {
      m.anon_kib = value();
    }
  }
  return m;
}

// ---- the server process

class ServerProcess {
 public:
  static Result<std::unique_ptr<ServerProcess>> spawn(const std::vector<std::string>& args, const fs::path& log_file) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return fail(ErrorCode::io_error, "pipe2 failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (rc != 0) {
      close(fds[0]);
      return fail(ErrorCode::io_error, std::string("posix_spawn ") + args[0] + ": " + std::strerror(rc));
    }
    auto p = std::unique_ptr<ServerProcess>(new ServerProcess(pid, fds[0]));
    p->reader_ = std::thread([raw = p.get()] { raw->read_stdout(); });
    p->monitor_ = std::thread([raw = p.get()] { raw->monitor(); });
    return p;
  }

  ~ServerProcess() {
    if (!exited_) {
      kill(pid_, SIGKILL);
      (void)wait_exit(10s);
    }
    stop_monitor_ = true;
    if (monitor_.joinable()) monitor_.join();
    if (reader_.joinable()) reader_.join();
    close(out_fd_);
  }

  pid_t pid() const { return pid_; }

  // The port from "edgefed-server listening on ADDR:PORT (model version V)".
  Result<std::uint16_t> wait_port(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return port_ || stdout_eof_; });
    if (port_) return *port_;
    return fail(ErrorCode::timeout, "edgefed-server printed no listening line (see its log)");
  }

  // Waits for the process to exit on its own; true if it did (then reaped).
  bool wait_exit(std::chrono::milliseconds timeout) {
    const auto until = SteadyClock::now() + timeout;
    while (!exited_) {
      int status = 0;
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        // The last samples: the monitor stops at the zombie (no Vm* lines); VmHWM was kept.
        exited_ = true;
        exit_status_ = status;
        break;
      }
      if (SteadyClock::now() >= until) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }

  // Clean stop: wait, then SIGTERM, then SIGKILL. Returns how it ended.
  std::string stop(std::chrono::milliseconds grace) {
    if (wait_exit(grace)) return describe();
    kill(pid_, SIGTERM);
    if (wait_exit(10s)) return "SIGTERM after timeout; " + describe();
    kill(pid_, SIGKILL);
    (void)wait_exit(10s);
    return "SIGKILL after timeout; " + describe();
  }

  std::string describe() const {
    if (WIFEXITED(exit_status_)) return "exit " + std::to_string(WEXITSTATUS(exit_status_));
    if (WIFSIGNALED(exit_status_)) return "signal " + std::to_string(WTERMSIG(exit_status_));
    return "?";
  }
  bool exited_cleanly() const { return exited_ && WIFEXITED(exit_status_) && WEXITSTATUS(exit_status_) == 0; }

  MemSample now() const { return read_mem(pid_); }
  std::uint64_t peak_kib() const {
    std::lock_guard lock(mutex_);
    return std::max(max_rss_kib_, last_hwm_kib_);
  }
  std::string last_stdout_line() const {
    std::lock_guard lock(mutex_);
    return last_line_;
  }

 private:
  ServerProcess(pid_t pid, int fd) : pid_(pid), out_fd_(fd) {}

  void read_stdout() {
    std::string buffer;
    char chunk[4096];
    for (;;) {
      const ssize_t n = read(out_fd_, chunk, sizeof chunk);
      if (n <= 0) break;
      buffer.append(chunk, static_cast<std::size_t>(n));
      std::size_t nl;
      while ((nl = buffer.find('\n')) != std::string::npos) {
        const std::string line = buffer.substr(0, nl);
        buffer.erase(0, nl + 1);
        std::lock_guard lock(mutex_);
        last_line_ = line;
        const auto at = line.find("listening on ");
        const auto paren = line.find(" (model version");
        if (!port_ && at != std::string::npos && paren != std::string::npos) {
          const auto colon = line.rfind(':', paren);
          if (colon != std::string::npos) port_ = static_cast<std::uint16_t>(std::stoul(line.substr(colon + 1)));
          changed_.notify_all();
        }
      }
    }
    std::lock_guard lock(mutex_);
    stdout_eof_ = true;
    changed_.notify_all();
  }

  void monitor() {
    while (!stop_monitor_) {
      const MemSample m = read_mem(pid_);
      if (m.ok) {
        std::lock_guard lock(mutex_);
        max_rss_kib_ = std::max(max_rss_kib_, m.rss_kib);
        last_hwm_kib_ = std::max(last_hwm_kib_, m.hwm_kib);
      } else if (exited_ || stdout_eof_) {
        // Gone, or a zombie whose memory is released: nothing more to read.
        if (!read_mem(pid_).ok) break;
      }
      std::this_thread::sleep_for(100ms);
    }
  }

  pid_t pid_;
  int out_fd_;
  std::atomic<bool> exited_{false};
  int exit_status_ = 0;
  std::atomic<bool> stop_monitor_{false};
  std::thread reader_, monitor_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<std::uint16_t> port_;
  bool stdout_eof_ = false;
  std::string last_line_;
  std::uint64_t max_rss_kib_ = 0, last_hwm_kib_ = 0;
};

// ---- devices

// Skips training: a deterministic pseudo-random delta in [-0.05, 0.05], 600 examples.
struct SkipLearner final : client::Learner {
  explicit SkipLearner(int device) : device(device) {}
  Result<client::LocalUpdate> train(const ml::ModelView& model, const protocol::TrainPlan&, std::uint64_t round) override {
    std::mt19937 gen(static_cast<unsigned>(device) * 7919u + static_cast<unsigned>(round));
    std::uniform_real_distribution<float> u(-0.05f, 0.05f);
    client::LocalUpdate update;
    aggregate_length = model.aggregate_length();
    update.delta.resize(aggregate_length);
    for (float& d : update.delta) d = u(gen);
    update.examples = 600;
    return update;
  }
  int device;
  std::size_t aggregate_length = 0;
};

// Shared between the driver threads and the main thread.
struct Progress {
  std::atomic<int> connected{0};
  std::atomic<int> have_model{0};
  std::atomic<int> closed{0};
  std::atomic<bool> release_rounds{false};  // false: hold fl.round until the idle RSS is read
  std::atomic<bool> stop{false};
  struct RoundTimes {
    std::optional<SteadyClock::time_point> first_plan, last_end;
    int plans = 0, ends = 0;
    std::uint32_t participants = 0;
    std::string outcome;
  };
  std::mutex mutex;
  std::map<std::uint64_t, RoundTimes> rounds;
  std::map<std::string, int> failures;  // reason → devices
  void fail(const std::string& what) {
    std::lock_guard lock(mutex);
    ++failures[what];
  }
};

struct Counter {
  std::uint64_t frames = 0, bytes = 0;
};

struct Device final : client::SessionPort {
  Device(int index, const Ed25519PublicKey& model_key)
      : index(index), learner(index), rng(static_cast<std::uint64_t>(index) + 1'000'000) {
    client::SessionOptions options;
    options.model_key = model_key;
    session = std::make_unique<client::DeviceSession>(options, client::DeviceState{}, learner, rng, *this);
  }

  // SessionPort
  void send(Bytes frame) override {
    auto env = decode_envelope(frame);
    Counter& c = up[env ? env->type : std::string("?")];
    ++c.frames;
    c.bytes += frame.size();
    if (env && env->type == "secagg.masked_input") masked_input_bytes = frame.size();
    if (conn && open) {
      if (auto st = conn->send(frame); !st) {
        open = false;
        failure = "send: " + st.error().message();
      }
    }
  }
  Status persist(const client::DeviceState&) override { return {}; }

  int index;
  SkipLearner learner;
  secagg::DeterministicCsprng rng;
  std::unique_ptr<client::DeviceSession> session;
  std::unique_ptr<net::WsClient> conn;
  bool open = false;
  bool have_model = false;
  std::vector<Bytes> held;  // fl.round frames held until the idle RSS is read
  std::map<std::string, Counter> up, down;
  std::uint64_t rounds_selected = 0;
  std::uint64_t masked_input_bytes = 0;
  std::uint64_t full_push_bytes = 0, delta_push_bytes = 0;
  std::optional<std::string> failure;
  std::string closed_with;
};

std::string device_name(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "device-%04d", i);
  return buf;
}

// One frame from the server, through the session. False: the device is done.
bool process_frame(Device& d, const Bytes& frame, Progress& progress) {
  auto env = decode_envelope(frame);
  if (!env) {
    d.failure = "undecodable frame";
    return false;
  }
  Counter& c = d.down[env->type];
  ++c.frames;
  c.bytes += frame.size();
  if (env->type == protocol::kModel) {
    auto m = protocol::decode(*env);
    if (m && std::holds_alternative<protocol::ModelPush>(*m)) {
      const auto& push = std::get<protocol::ModelPush>(*m);
      (push.kind == protocol::ModelKind::full ? d.full_push_bytes : d.delta_push_bytes) = frame.size();
    }
  } else if (env->type == protocol::kRound) {
    ++d.rounds_selected;
    const auto now = SteadyClock::now();
    std::lock_guard lock(progress.mutex);
    auto& r = progress.rounds[env->round];
    if (!r.first_plan) r.first_plan = now;
    ++r.plans;
  } else if (env->type == protocol::kError) {
    auto m = protocol::decode(*env);
    if (m && std::holds_alternative<protocol::ErrorMessage>(*m)) {
      progress.fail("fl.error from server: " + std::get<protocol::ErrorMessage>(*m).message);
    }
  }
  if (auto st = d.session->on_frame(frame); !st) {
    d.failure = "session: " + st.error().message();
    return false;
  }
  if (!d.have_model && d.session->model_version() > 0) {
    d.have_model = true;
    ++progress.have_model;
  }
  if (auto end = d.session->take_round_end()) {
    const auto now = SteadyClock::now();
    std::lock_guard lock(progress.mutex);
    auto& r = progress.rounds[end->round];
    r.last_end = now;
    ++r.ends;
    r.participants = end->participants;
    r.outcome = std::string(protocol::to_string(end->outcome));
  }
  return true;
}

// Holds fl.round, and everything after it, until the idle RSS has been read.
bool handle_frame(Device& d, Bytes frame, Progress& progress) {
  const auto is_round = [&frame] {
    auto env = decode_envelope(frame);
    return env && env->type == protocol::kRound;
  };
  if (!d.held.empty() || (!progress.release_rounds && is_round())) {
    d.held.push_back(std::move(frame));
    return true;
  }
  return process_frame(d, frame, progress);
}

void mark_closed(Device& d, Progress& progress, const std::optional<std::string>& why) {
  if (!d.open) return;
  d.open = false;
  if (why && !d.failure) d.failure = *why;
  ++progress.closed;
}

// Drives `devices` (every `stride`-th from `first`): sends their hellos, then pumps frames.
// With one device per driver it blocks in receive(); otherwise it polls round-robin.
void drive(std::vector<std::unique_ptr<Device>>& devices, std::size_t first, std::size_t stride, Progress& progress) {
  std::vector<Device*> mine;
  for (std::size_t i = first; i < devices.size(); i += stride) {
    if (devices[i]->open) mine.push_back(devices[i].get());
  }
  for (Device* d : mine) d->session->on_connected();
  const bool blocking = mine.size() == 1;
  while (!progress.stop) {
    bool any = false;
    for (Device* d : mine) {
      if (!d->open) continue;
      if (!d->held.empty() && progress.release_rounds) {
        std::vector<Bytes> held = std::move(d->held);
        d->held.clear();
        for (const auto& f : held) {
          if (d->open && !process_frame(*d, f, progress)) mark_closed(*d, progress, d->failure);
        }
        any = true;
      }
      // A few frames per device per pass, so no device starves the others.
      for (int k = 0; k < 4 && d->open; ++k) {
        auto frame = d->conn->receive(blocking ? 100ms : 0ms);
        if (!frame) {
          if (frame.error().code == ErrorCode::timeout && d->conn->is_open()) break;
          d->closed_with = frame.error().message();  // normally: the server stops after the last round
          mark_closed(*d, progress, std::nullopt);
          break;
        }
        any = true;
        if (!handle_frame(*d, std::move(*frame), progress)) {
          mark_closed(*d, progress, d->failure);
          break;
        }
      }
    }
    if (!any && !blocking) std::this_thread::sleep_for(1ms);
    if (!blocking && std::none_of(mine.begin(), mine.end(), [](Device* d) { return d->open; })) {
      std::this_thread::sleep_for(20ms);
    }
  }
}

// ---- one configuration

struct Paths {
  fs::path work, pki, model, model_key;
  std::string server_binary;
};

struct Options {
  std::uint64_t rounds = 2;
  std::size_t connect_concurrency = 50;
  std::size_t driver_threads = 4;  // 0: one per device
  std::uint64_t selection_wait_ms = 2000;
  std::uint64_t timeout_s = 900;
  std::string tier = "adapters_bn";  // what the devices aggregate (head: 31,370 values)
};

Result<json> run_one(int n, const Paths& paths, const Options& opt, const Ed25519PublicKey& model_key) {
  const fs::path dir = paths.work / ("n" + std::to_string(n));
  fs::create_directories(dir);
  fs::remove(dir / "server.ckpt");
  const std::vector<std::string> args = {
      paths.server_binary,
      "--port", "0",
      "--model", paths.model.string(),
      "--model_key", paths.model_key.string(),
      "--checkpoint", (dir / "server.ckpt").string(),
      "--tls.ca", (paths.pki / "ca.pem").string(),
      "--tls.cert", (paths.pki / "server.pem").string(),
      "--tls.key", (paths.pki / "server.key.pem").string(),
      "--rounds.max", std::to_string(opt.rounds),
      "--rounds.target_participants", std::to_string(n),
      "--rounds.min_participants", "3",
      "--rounds.expected_dropout", "0",
      "--rounds.selection_wait_ms", std::to_string(opt.selection_wait_ms),
      "--rounds.train_deadline_ms", "120000",
      "--rounds.stage_deadline_ms", "120000",
      "--exit_when_finished", "true",
      "--io_threads", "1",
      "--train.tier", opt.tier,
  };
  EDGEFED_ASSIGN_OR_RETURN(auto server, ServerProcess::spawn(args, dir / "server.log"));
  EDGEFED_ASSIGN_OR_RETURN(const std::uint16_t port, server->wait_port(60s));
  const MemSample start_mem = server->now();
  std::fprintf(stderr, "server: n=%d pid=%d port=%u rss=%.1f MiB at start\n", n, static_cast<int>(server->pid()),
               static_cast<unsigned>(port), mib(start_mem.rss_kib));

  Progress progress;
  std::vector<std::unique_ptr<Device>> devices;
  for (int i = 1; i <= n; ++i) devices.push_back(std::make_unique<Device>(i, model_key));

  // Phase 1: TLS + WebSocket, at most connect_concurrency handshakes in flight.
  const auto t0 = SteadyClock::now();
  {
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> connectors;
    const std::size_t workers = std::min<std::size_t>(opt.connect_concurrency, devices.size());
    for (std::size_t w = 0; w < workers; ++w) {
      connectors.emplace_back([&] {
        net::ClientOptions co;
        co.connect_timeout = 30s;
        for (std::size_t i; (i = next++) < devices.size();) {
          Device& d = *devices[i];
          const fs::path base = paths.pki / "devices" / device_name(d.index);
          const net::TlsConfig tls{paths.pki / "ca.pem", base.string() + ".pem", base.string() + ".key.pem", "localhost"};
          for (int attempt = 0; attempt < 3 && !d.conn; ++attempt) {
            auto c = net::WsClient::connect("127.0.0.1", port, tls, co);
            if (c) {
              d.conn = std::move(*c);
              d.open = true;
            } else if (attempt == 2) {
              progress.fail("connect: " + c.error().message());
            }
          }
          const int done = ++progress.connected;
          if (done % 100 == 0) std::fprintf(stderr, "  connected %d/%d (%.1f s)\n", done, n, seconds_since(t0));
        }
      });
    }
    for (auto& t : connectors) t.join();
  }
  const double tls_seconds = seconds_since(t0);
  const int connected = static_cast<int>(std::count_if(devices.begin(), devices.end(), [](auto& d) { return d->open; }));
  std::this_thread::sleep_for(300ms);
  const MemSample tls_only = server->now();  // connections open, no hello yet: transport cost alone
  std::fprintf(stderr, "  %d/%d TLS connections in %.2f s (server rss %.1f MiB); sending hellos\n", connected, n,
               tls_seconds, mib(tls_only.rss_kib));
  const auto t1 = SteadyClock::now();

  // Phase 2: hellos, then everyone pumps frames.
  const std::size_t drivers = opt.driver_threads == 0 ? devices.size() : std::min(opt.driver_threads, devices.size());
  std::vector<std::thread> driver_threads;
  for (std::size_t k = 0; k < drivers; ++k) {
    driver_threads.emplace_back([&, k] { drive(devices, k, drivers, progress); });
  }
  const auto deadline = SteadyClock::now() + std::chrono::seconds(opt.timeout_s);
  while (progress.have_model < connected && progress.closed == 0 && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  const double connect_seconds = tls_seconds + seconds_since(t1);
  const int ready = progress.have_model;
  std::this_thread::sleep_for(500ms);  // let the server settle (queues drained, frees done)
  const MemSample idle = server->now();
  std::fprintf(stderr, "  %d devices hold the model after %.2f s; server idle rss=%.1f MiB (anon %.1f)\n", ready,
               connect_seconds, mib(idle.rss_kib), mib(idle.anon_kib));
  progress.release_rounds = true;

  // Rounds: the server exits by itself after the last one (--exit_when_finished).
  const auto rounds_t0 = SteadyClock::now();
  while (!server->wait_exit(200ms) && SteadyClock::now() < deadline) {
  }
  const std::string server_end = server->stop(5s);
  const double run_seconds = seconds_since(rounds_t0);
  const std::uint64_t peak_kib = server->peak_kib();
  progress.stop = true;
  for (auto& t : driver_threads) t.join();
  std::fprintf(stderr, "  server ended (%s) %.1f s after release; peak rss=%.1f MiB\n", server_end.c_str(), run_seconds,
               mib(peak_kib));
  {
    std::lock_guard lock(progress.mutex);
    for (const auto& [r, t] : progress.rounds) {
      std::fprintf(stderr, "  round %llu: %s, %u participants, %d round_ends, %.2f s\n", static_cast<unsigned long long>(r),
                   t.outcome.c_str(), t.participants, t.ends,
                   t.first_plan && t.last_end ? std::chrono::duration<double>(*t.last_end - *t.first_plan).count() : -1.0);
    }
  }

  // Close the devices in parallel (each WsClient joins its I/O thread).
  {
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> closers;
    for (int w = 0; w < 8; ++w) {
      closers.emplace_back([&] {
        for (std::size_t i; (i = next++) < devices.size();) {
          if (devices[i]->conn) devices[i]->conn->close();
          devices[i]->conn.reset();
        }
      });
    }
    for (auto& t : closers) t.join();
  }

  // ---- figures
  std::map<std::string, Counter> up, down;
  std::uint64_t selected = 0, masked_input = 0, full_push = 0, delta_push = 0;
  std::size_t aggregate_length = 0;
  std::map<std::string, int> device_failures, close_reasons;
  for (const auto& d : devices) {
    for (const auto& [t, c] : d->up) {
      up[t].frames += c.frames;
      up[t].bytes += c.bytes;
    }
    for (const auto& [t, c] : d->down) {
      down[t].frames += c.frames;
      down[t].bytes += c.bytes;
    }
    selected += d->rounds_selected;
    masked_input = std::max(masked_input, d->masked_input_bytes);
    full_push = std::max(full_push, d->full_push_bytes);
    delta_push = std::max(delta_push, d->delta_push_bytes);
    aggregate_length = std::max(aggregate_length, d->learner.aggregate_length);
    if (d->failure) ++device_failures[*d->failure];
    if (!d->closed_with.empty()) ++close_reasons[d->closed_with];
  }
  const double per = selected ? 1.0 / static_cast<double>(selected) : 0.0;
  double secagg_up = 0, protocol_down = 0;
  json up_by_type = json::object(), down_by_type = json::object();
  for (const auto& [t, c] : up) {
    if (t == protocol::kHello) continue;
    secagg_up += static_cast<double>(c.bytes);
    up_by_type[t] = round3(static_cast<double>(c.bytes) * per);
  }
  for (const auto& [t, c] : down) {
    if (t == protocol::kModel || t == protocol::kWelcome) continue;
    protocol_down += static_cast<double>(c.bytes);
    down_by_type[t] = round3(static_cast<double>(c.bytes) * per);
  }
  secagg_up *= per;
  protocol_down *= per;

  json round_seconds = json::array(), participants = json::array(), outcomes = json::array();
  {
    std::lock_guard lock(progress.mutex);
    for (const auto& [r, t] : progress.rounds) {
      if (t.first_plan && t.last_end) {
        round_seconds.push_back(round3(std::chrono::duration<double>(*t.last_end - *t.first_plan).count()));
      } else {
        round_seconds.push_back(nullptr);
      }
      participants.push_back(t.participants);
      outcomes.push_back(t.outcome.empty() ? "no round_end" : t.outcome);
    }
  }
  json failures = json::object();
  for (const auto& [what, count] : progress.failures) failures[what] = count;
  for (const auto& [what, count] : device_failures) failures[what] = count;

  json row{
      {"bench", "server"},
      {"devices", n},
      {"tier", opt.tier},
      {"rounds", opt.rounds},
      {"devices_connected", connected},
      {"devices_ready", ready},
      {"tls_connect_seconds", round3(tls_seconds)},
      {"connect_seconds", round3(connect_seconds)},
      {"server_rss_start_mib", round3(mib(start_mem.rss_kib))},
      {"server_rss_tls_only_mib", round3(mib(tls_only.rss_kib))},
      {"server_rss_idle_mib", round3(mib(idle.rss_kib))},
      {"server_rss_anon_idle_mib", round3(mib(idle.anon_kib))},
      {"server_rss_peak_mib", round3(mib(peak_kib))},
      {"round_seconds", round_seconds},
      {"participants", participants},
      {"outcomes", outcomes},
      {"aggregate_length", aggregate_length},
      {"bytes_up_per_device_per_round", round3(secagg_up)},
      {"bytes_up_by_type_per_device_per_round", up_by_type},
      {"bytes_down_per_device_per_round_protocol", round3(protocol_down)},
      {"bytes_down_by_type_per_device_per_round", down_by_type},
      {"model_push_bytes_full", full_push},
      {"model_push_bytes_delta", delta_push},
      {"masked_input_bytes", masked_input},
      {"secagg_overhead_vs_masked_input", masked_input ? round3(secagg_up / static_cast<double>(masked_input)) : 0.0},
      {"secagg_overhead_vs_int8",
       aggregate_length ? round3(secagg_up / static_cast<double>(aggregate_length)) : 0.0},
      {"server_exit", server_end},
      {"driver_threads", drivers},
      {"connect_concurrency", opt.connect_concurrency},
  };
  if (!failures.empty()) row["failures"] = failures;
  json closes = json::object();
  for (const auto& [what, count] : close_reasons) closes[what] = count;
  row["device_close_reasons"] = closes;
  return row;
}

// ---- set-up shared by every configuration


void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &lim);
  }
  getrlimit(RLIMIT_NOFILE, &lim);
  std::fprintf(stderr, "RLIMIT_NOFILE: %llu\n", static_cast<unsigned long long>(lim.rlim_cur));
}

}  // namespace

int run_server(int argc, const char* const argv[]) {
  ConfigSpec spec("edgefed-bench server",
                  "the real edgefed-server process against N light devices over mutual TLS: RSS, round time, bytes");
  spec.add("devices", ConfigType::string_list, json::array({"10", "100", "1000"}), "device counts (one server run each)")
      .add("rounds", ConfigType::unsigned_integer, 2, "rounds per run")
      .add("server_binary", ConfigType::string, EDGEFED_SERVER_BINARY, "edgefed-server to run")
      .add("model_binary", ConfigType::string, EDGEFED_MODEL_BINARY, "edgefed-model (makes the untrained model)")
      .add("work_dir", ConfigType::string, (fs::temp_directory_path() / "edgefed-bench-server").string(),
           "PKI, model, checkpoints, server logs (the PKI is reused)")
      .add("connect_concurrency", ConfigType::unsigned_integer, 50, "TLS handshakes in flight at most")
      .add("driver_threads", ConfigType::unsigned_integer, 4, "threads driving the device sessions (0: one per device)")
      .add("selection_wait_ms", ConfigType::unsigned_integer, 2000, "server rounds.selection_wait_ms")
      .add("tier", ConfigType::string, "adapters_bn", "training tier: what is aggregated (adapters_bn: 672 values, head: 31,370)")
      .add("timeout_s", ConfigType::unsigned_integer, 900, "per configuration");
  int exit_code = 0;
  auto config = parse_command_line_or_report(spec, argc, argv, exit_code);
  if (!config) return exit_code;
  const auto& conf = *config;
  std::vector<int> counts;
  try {
    for (const auto& s : conf.get<std::vector<std::string>>("devices")) counts.push_back(std::stoi(s));
  } catch (const std::exception&) {
    std::fprintf(stderr, "edgefed-bench server: --devices takes comma-separated numbers\n");
    return 2;
  }
  if (counts.empty() || *std::min_element(counts.begin(), counts.end()) < 3) {
    std::fprintf(stderr, "edgefed-bench server: every device count must be at least 3\n");
    return 2;
  }
  std::sort(counts.begin(), counts.end());
  Options opt;
  opt.rounds = conf.get<std::uint64_t>("rounds");
  opt.connect_concurrency = std::max<std::size_t>(1, conf.get<std::uint64_t>("connect_concurrency"));
  opt.driver_threads = conf.get<std::uint64_t>("driver_threads");
  opt.selection_wait_ms = conf.get<std::uint64_t>("selection_wait_ms");
  opt.tier = conf.get<std::string>("tier");
  opt.timeout_s = conf.get<std::uint64_t>("timeout_s");

  raise_fd_limit();
  signal(SIGPIPE, SIG_IGN);
  Paths paths;
  paths.work = fs::absolute(conf.get<std::string>("work_dir"));
  paths.pki = paths.work / "certs";
  paths.model = paths.work / "model.efm";
  paths.model_key = paths.work / "model.pem";
  paths.server_binary = conf.get<std::string>("server_binary");
  fs::create_directories(paths.work);
  // One PKI for the largest count (make-dev-certs keeps existing files: a rerun only adds).
  if (auto st = run_command(shell_quote(EDGEFED_MAKE_DEV_CERTS) + " --out " + shell_quote(paths.pki.string()) +
                            " --devices " + std::to_string(counts.back()));
      !st) {
    std::fprintf(stderr, "edgefed-bench server: %s\n", st.error().message().c_str());
    return 1;
  }
  if (auto st = run_command(shell_quote(conf.get<std::string>("model_binary")) + " init --out " +
                            shell_quote(paths.model.string()) + " --model_key " + shell_quote(paths.model_key.string()));
      !st) {
    std::fprintf(stderr, "edgefed-bench server: %s\n", st.error().message().c_str());
    return 1;
  }
  auto model_key = load_ed25519_public_key(paths.model_key.string() + ".pub");
  if (!model_key) {
    std::fprintf(stderr, "edgefed-bench server: %s\n", model_key.error().message().c_str());
    return 1;
  }

  int failures = 0;
  std::optional<json> base;  // the 10-device row, for the ratios
  for (int n : counts) {
    std::fprintf(stderr, "server: devices=%d rounds=%llu ...\n", n, static_cast<unsigned long long>(opt.rounds));
    auto row = run_one(n, paths, opt, *model_key);
    if (!row) {
      std::fprintf(stderr, "  failed: %s\n", row.error().message().c_str());
      ++failures;
      continue;
    }
    if (n == 10) base = *row;
    if (base && n > 10) {
      (*row)["ratio_rss_vs_10"] = {
          {"idle", round3((*row)["server_rss_idle_mib"].get<double>() / (*base)["server_rss_idle_mib"].get<double>())},
          {"peak", round3((*row)["server_rss_peak_mib"].get<double>() / (*base)["server_rss_peak_mib"].get<double>())}};
    }
    const auto& parts = (*row)["participants"];
    const bool complete = parts.size() == opt.rounds &&
                          std::all_of(parts.begin(), parts.end(), [n](const json& p) { return p.get<int>() == n; });
    if (!complete) ++failures;
    std::cout << row->dump() << std::endl;
  }
  return failures ? 1 : 0;
}

}  // namespace edgefed::bench
