#include "edgefed/sim/tls_fleet.hpp"

#include "edgefed/client/session.hpp"
#include "edgefed/common/log.hpp"
#include "edgefed/data/fashion_mnist.hpp"
#include "edgefed/data/rng.hpp"
#include "edgefed/net/client.hpp"
#include "edgefed/secagg/csprng.hpp"
#include "virtual_device.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>

namespace edgefed::sim {

namespace {
using SteadyClock = std::chrono::steady_clock;
}

struct TlsFleet::Impl {
  struct Device final : client::SessionPort, client::Learner {
    Impl* fleet = nullptr;
    detail::DeviceSetup setup;
    secagg::SystemCsprng rng;  // real sessions over a real network: real secrets
    std::unique_ptr<client::DeviceSession> session;
    std::unique_ptr<net::WsClient> conn;
    SteadyClock::time_point reconnect_at{};
    bool drop_requested = false;
    std::deque<std::pair<SteadyClock::time_point, Bytes>> delayed;

    void send(Bytes frame) override { fleet->device_send(*this, std::move(frame)); }
    Status persist(const client::DeviceState&) override { return {}; }
    Result<client::LocalUpdate> train(const ml::ModelView& view, const protocol::TrainPlan& plan,
                                      std::uint64_t round) override {
      std::lock_guard lock(fleet->model_mutex);
      EDGEFED_ASSIGN_OR_RETURN(detail::Trained t, detail::train_device(*fleet->model, setup, view, plan, round,
                                                                       fleet->config.train_macs_per_sample));
      return std::move(t.update);
    }
  };

  struct Observed {
    SteadyClock::time_point first_plan;
    std::uint32_t selected = 0;
    bool recorded = false;
  };

  SimConfig config;
  TlsTarget target;
  std::vector<std::unique_ptr<Device>> devices;
  std::mutex model_mutex;
  std::optional<ml::Model> model;
  std::unique_ptr<detail::DataSource> source;  // the pool every device's data is drawn from
  // Drivers step devices under a shared lock; reading device state from outside (evaluation,
  // counting) takes it exclusively, which pauses the fleet for that moment.
  std::shared_mutex sessions_mutex;
  data::Rng fault_rng{1};
  std::mutex fault_mutex;
  std::vector<std::thread> drivers;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> bytes_up{0}, bytes_down{0};
  std::uint64_t bytes_up_mark = 0, bytes_down_mark = 0;

  std::mutex rounds_mutex;
  std::condition_variable rounds_changed;
  std::map<std::uint64_t, Observed> observed;
  std::deque<RoundRecord> ended;
  std::vector<RoundRecord> records;
  SteadyClock::time_point last_end = SteadyClock::now();

  ~Impl() {
    stop = true;
    for (auto& t : drivers) t.join();
  }

  double uniform() {
    std::lock_guard lock(fault_mutex);
    return fault_rng.uniform01();
  }

  void device_send(Device& d, Bytes frame) {
    if (!d.conn || d.drop_requested) return;
    auto env = decode_envelope(frame);
    const std::string type = env ? env->type : "";
    const detail::SendFate fate =
        detail::decide_send(*d.setup.profile, config.faults, type, frame, [this] { return uniform(); });
    if (fate.device_drops_out) {
      d.drop_requested = true;  // the driver closes the connection after this step
      return;
    }
    for (int i = 0; i < fate.copies; ++i) {
      if (fate.delay_s > 0 || !d.delayed.empty()) {  // keep the connection's order behind a delayed frame
        d.delayed.emplace_back(SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                                                        std::chrono::duration<double>(fate.delay_s)),
                               frame);
        continue;
      }
      bytes_up += frame.size();
      (void)d.conn->send(frame);
    }
  }

  void connect(Device& d) {
    char cert[64];
    std::snprintf(cert, sizeof cert, "device-%04u", d.setup.index + 1);
    net::TlsConfig tls{target.ca_file, target.certs_dir / (std::string(cert) + ".pem"),
                       target.certs_dir / (std::string(cert) + ".key.pem"), target.server_name};
    auto c = net::WsClient::connect(target.host, target.port, tls);
    if (!c) {
      log::debug("sim device connect failed", {{"device", std::string(cert)}, {"error", c.error().message()}});
      d.reconnect_at = SteadyClock::now() + std::chrono::seconds(static_cast<long>(target.reconnect_s));
      return;
    }
    d.conn = std::move(*c);
    d.drop_requested = false;
    d.session->on_connected();
  }

  void disconnect(Device& d) {
    if (d.conn) d.conn->close();
    d.conn.reset();
    d.delayed.clear();
    d.reconnect_at = SteadyClock::now() + std::chrono::seconds(static_cast<long>(target.reconnect_s));
  }

  void observe(const Envelope& env) {
    if (env.type == protocol::kRoundEnd) {
      // The server's own account (a device that lost its slot only knows it was left out).
      if (auto m = protocol::decode(env); m && std::holds_alternative<protocol::RoundEnd>(*m)) {
        round_ended(std::get<protocol::RoundEnd>(*m));
      }
      return;
    }
    if (env.type != protocol::kRound) return;
    std::lock_guard lock(rounds_mutex);
    Observed& o = observed[env.round];
    if (o.selected == 0) o.first_plan = SteadyClock::now();
    ++o.selected;
  }

  void round_ended(const protocol::RoundEnd& end) {
    std::lock_guard lock(rounds_mutex);
    Observed& o = observed[end.round];
    if (o.recorded) return;
    o.recorded = true;
    RoundRecord r;
    r.round = end.round;
    r.outcome = std::string(protocol::to_string(end.outcome));
    r.selected = o.selected;  // of this fleet (shard)
    r.participants = end.participants;
    // Over TLS the stage a device was lost in is the server's knowledge; the count is not.
    if (o.selected > end.participants) r.dropped_by_stage["unknown stage"] = o.selected - end.participants;
    const auto now = SteadyClock::now();
    r.sim_seconds = std::chrono::duration<double>(now - (o.selected ? o.first_plan : last_end)).count();
    last_end = now;
    ended.push_back(r);
    rounds_changed.notify_all();
  }

  // One driver thread: devices i with i % threads == k.
  void drive(std::size_t k, std::size_t threads) {
    while (!stop) {
      bool busy = false;
      for (std::size_t i = k; i < devices.size() && !stop; i += threads) {
        std::shared_lock step(sessions_mutex);
        Device& d = *devices[i];
        const auto now = SteadyClock::now();
        if (!d.conn) {
          if (now >= d.reconnect_at) connect(d);
          continue;
        }
        while (!d.delayed.empty() && d.delayed.front().first <= now) {
          bytes_up += d.delayed.front().second.size();
          (void)d.conn->send(d.delayed.front().second);
          d.delayed.pop_front();
        }
        auto frame = d.conn->receive(std::chrono::milliseconds(0));
        if (!frame) {
          if (frame.error().code != ErrorCode::timeout || !d.conn->is_open()) disconnect(d);
          continue;
        }
        busy = true;
        bytes_down += frame->size();
        if (auto env = decode_envelope(*frame, DecodeLimits{})) observe(*env);
        if (auto st = d.session->on_frame(*frame); !st) {
          disconnect(d);
          continue;
        }
        if (d.drop_requested) disconnect(d);
        (void)d.session->take_round_end();  // rounds are recorded from the server's fl.round_end
      }
      if (!busy) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  double evaluate_devices(std::size_t limit) {
    std::unique_lock pause(sessions_mutex);
    std::lock_guard lock(model_mutex);
    return detail::mean_device_accuracy(*model, devices, limit);
  }
};

Result<std::unique_ptr<TlsFleet>> TlsFleet::create(SimConfig config, TlsTarget target) {
  ml::use_single_thread();
  if (config.profiles.profiles.empty()) return fail(ErrorCode::invalid_argument, "sim: no device profiles");
  if (target.shard_count == 0 || target.shard_index >= target.shard_count) {
    return fail(ErrorCode::invalid_argument, "sim: shard index must be below the shard count");
  }
  auto impl = std::make_unique<Impl>();
  EDGEFED_ASSIGN_OR_RETURN(Ed25519PublicKey key, load_ed25519_public_key(target.model_public_key));
  EDGEFED_ASSIGN_OR_RETURN(ml::Model m, ml::Model::default_cnn());
  impl->model.emplace(std::move(m));
  EDGEFED_ASSIGN_OR_RETURN(impl->source, detail::load_data(config));
  EDGEFED_ASSIGN_OR_RETURN(data::FederatedData fed, data::make_federated_data(impl->source->pool, impl->source->spec));
  impl->config = std::move(config);
  impl->target = std::move(target);
  impl->fault_rng = data::Rng(data::derive_seed(impl->config.seed, 0xfa17 + impl->target.shard_index));
  client::SessionOptions options;
  options.model_key = key;
  for (detail::DeviceSetup& setup : detail::make_device_setups(fed, impl->config, impl->config.profiles, *impl->source)) {
    if (setup.index % impl->target.shard_count != impl->target.shard_index) continue;
    auto d = std::make_unique<Impl::Device>();
    d->fleet = impl.get();
    d->setup = std::move(setup);
    d->session = std::make_unique<client::DeviceSession>(options, client::DeviceState{}, *d, d->rng, *d);
    impl->devices.push_back(std::move(d));
  }
  return std::unique_ptr<TlsFleet>(new TlsFleet(std::move(impl)));
}

TlsFleet::TlsFleet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsFleet::~TlsFleet() = default;

Result<RoundRecord> TlsFleet::next_round(std::chrono::seconds timeout) {
  Impl& m = *impl_;
  if (m.drivers.empty()) {
    const std::size_t threads = std::max<std::size_t>(1, std::min(m.target.driver_threads, m.devices.size()));
    for (std::size_t k = 0; k < threads; ++k) m.drivers.emplace_back([&m, k, threads] { m.drive(k, threads); });
  }
  RoundRecord r;
  {
    std::unique_lock lock(m.rounds_mutex);
    if (!m.rounds_changed.wait_for(lock, timeout, [&] { return !m.ended.empty(); })) {
      return fail(ErrorCode::timeout, "sim: no round ended within " + std::to_string(timeout.count()) + " s");
    }
    r = m.ended.front();
    m.ended.pop_front();
  }
  // Give the model push after the round a moment to arrive before evaluating.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::uint64_t up = m.bytes_up.load(), down = m.bytes_down.load();
  r.bytes_up = up - m.bytes_up_mark;
  r.bytes_down = down - m.bytes_down_mark;
  m.bytes_up_mark = up;
  m.bytes_down_mark = down;
  {
    std::unique_lock pause(m.sessions_mutex);
    for (const auto& d : m.devices) r.online += d->conn ? 1 : 0;
  }
  r.device_accuracy = m.evaluate_devices(m.config.eval_devices);
  r.wall_seconds = r.sim_seconds;  // real time: the simulated and the wall clock are one
  m.records.push_back(r);
  return r;
}

const std::vector<RoundRecord>& TlsFleet::records() const { return impl_->records; }
std::uint32_t TlsFleet::device_count() const { return static_cast<std::uint32_t>(impl_->devices.size()); }
double TlsFleet::device_accuracy(std::size_t devices) {
  return impl_->evaluate_devices(devices == 0 ? impl_->devices.size() : devices);
}

}  // namespace edgefed::sim
