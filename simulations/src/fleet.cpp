#include "edgefed/sim/fleet.hpp"

#include "virtual_device.hpp"

#include "edgefed/client/session.hpp"
#include "edgefed/common/artifact.hpp"
#include "edgefed/common/log.hpp"
#include "edgefed/data/fashion_mnist.hpp"
#include "edgefed/data/rng.hpp"
#include "edgefed/ml/model.hpp"
#include "edgefed/ml/trainer.hpp"
#include "edgefed/secagg/csprng.hpp"

#include <malloc.h>

#include <chrono>
#include <cmath>
#include <queue>

namespace edgefed::sim {

namespace {

constexpr double kDay = 24 * 3600.0;
constexpr double kTick = 0.25;            // virtual seconds between coordinator ticks
constexpr double kReconnectAfter = 60.0;  // a device that dropped out comes back after this
constexpr double kTimeout = 7 * kDay;
constexpr std::uint64_t kReconnect = 1;   // Event::conn of an "online" event after a dropout

server::Clock::time_point at(double seconds) {
  return server::Clock::time_point{} +
         std::chrono::duration_cast<server::Clock::duration>(std::chrono::duration<double>(seconds));
}

// Daily windows: is `hour` (of the device's day) inside [from, to)?
bool in_window(double hour, double from, double to) {
  return from <= to ? (hour >= from && hour < to) : (hour >= from || hour < to);
}

}  // namespace

struct FleetSimulator::Impl final : server::CoordinatorPorts {
  struct Device;

  struct Event {
    double time;
    std::uint64_t order;
    enum Kind { to_server, to_device, online, offline } kind;
    std::uint32_t device;
    server::ConnectionId conn;
    std::shared_ptr<const Bytes> frame;
    bool operator>(const Event& o) const { return time != o.time ? time > o.time : order > o.order; }
  };

  // One virtual device: the real session, a learner that trains with the real trainer.
  struct Device final : client::SessionPort, client::Learner {
    Impl* sim = nullptr;
    detail::DeviceSetup setup;
    std::unique_ptr<secagg::DeterministicCsprng> rng;
    std::unique_ptr<client::DeviceSession> session;
    std::optional<server::ConnectionId> conn;
    double busy_until = 0;
    // A connection is a FIFO pipe per direction: a frame starts when the previous one has
    // left, so a small frame never overtakes a large one sent before it.
    double down_free_at = 0, up_free_at = 0;
    double energy_j = 0;  // this round
    bool trained_this_round = false;

    void send(Bytes frame) override { sim->device_send(*this, std::move(frame)); }
    Status persist(const client::DeviceState&) override { return {}; }  // state lives in the session
    Result<client::LocalUpdate> train(const ml::ModelView& view, const protocol::TrainPlan& plan,
                                      std::uint64_t round) override {
      return sim->train(*this, view, plan, round);
    }
  };

  SimConfig config;
  std::vector<std::unique_ptr<Device>> devices;
  std::map<server::ConnectionId, std::uint32_t> device_of_conn;
  server::ConnectionId next_conn = 1;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events;
  std::uint64_t next_order = 0;
  double now = 0;
  double next_tick = 0;

  secagg::DeterministicCsprng server_rng;
  secagg::Executor executor;  // inline: results independent of threads
  server::MetricsRegistry metrics;
  std::unique_ptr<server::Coordinator> coordinator;
  std::optional<ml::Model> model;  // shared by every device's learner and the evaluation
  std::unique_ptr<detail::DataSource> source;  // the pool every device's data is drawn from
  data::Dataset global_test;
  data::Rng fault_rng;

  // per-round accounting
  std::vector<RoundRecord> records;
  std::optional<server::RoundSummary> finished;
  ml::ModelView initial;  // the run's starting model, for the centralized baseline
  std::uint64_t bytes_up = 0, bytes_down = 0;
  std::uint64_t trainings = 0;

  explicit Impl(std::uint64_t seed) : server_rng(data::derive_seed(seed, 0x5e57e5)), fault_rng(data::derive_seed(seed, 0xfa17)) {}

  void push(Event e) {
    e.order = next_order++;
    events.push(std::move(e));
  }

  // ---- CoordinatorPorts
  void send(server::ConnectionId id, Bytes frame) override {
    send_shared(id, std::make_shared<const Bytes>(std::move(frame)));
  }
  void send_shared(server::ConnectionId id, std::shared_ptr<const Bytes> frame) override {
    auto it = device_of_conn.find(id);
    if (it == device_of_conn.end()) return;
    Device& d = *devices[it->second];
    bytes_down += frame->size();
    d.energy_j += static_cast<double>(frame->size()) * d.setup.profile->link.energy_nj_per_byte * 1e-9;
    const Link& link = d.setup.profile->link;
    d.down_free_at = std::max(now, d.down_free_at) + static_cast<double>(frame->size()) * 8 / (link.down_kbps * 1e3);
    push({d.down_free_at + link.latency_ms / 1e3, 0, Event::to_device, d.setup.index, id, std::move(frame)});
  }
  void close(server::ConnectionId id, std::string) override {
    auto it = device_of_conn.find(id);
    if (it == device_of_conn.end()) return;
    go_offline(*devices[it->second], /*tell_server=*/true);
  }
  Status persist(const server::Checkpoint&) override { return {}; }
  void round_finished(const server::RoundSummary& summary) override { finished = summary; }

  // ---- devices
  void device_send(Device& d, Bytes frame) {
    if (!d.conn) return;
    auto env = decode_envelope(frame);
    const std::string type = env ? env->type : "";
    const detail::SendFate fate = detail::decide_send(*d.setup.profile, config.faults, type, frame,
                                              [this] { return fault_rng.uniform01(); });
    if (fate.device_drops_out) {  // it goes away instead of sending this stage's message
      go_offline(d, true);
      push({now + kReconnectAfter, 0, Event::online, d.setup.index, kReconnect, nullptr});
      return;
    }
    const double sent_at = std::max(now, d.busy_until);
    d.energy_j += static_cast<double>(frame.size()) * d.setup.profile->link.energy_nj_per_byte * 1e-9;
    bytes_up += frame.size();
    const Link& link = d.setup.profile->link;
    d.up_free_at = std::max(sent_at, d.up_free_at) + fate.delay_s + static_cast<double>(frame.size()) * 8 / (link.up_kbps * 1e3);
    const double arrive = d.up_free_at + link.latency_ms / 1e3;
    auto shared = std::make_shared<const Bytes>(std::move(frame));
    for (int i = 0; i < fate.copies; ++i) push({arrive, 0, Event::to_server, d.setup.index, *d.conn, shared});
  }

  Result<client::LocalUpdate> train(Device& d, const ml::ModelView& view, const protocol::TrainPlan& plan,
                                    std::uint64_t round) {
    EDGEFED_ASSIGN_OR_RETURN(detail::Trained t,
                             detail::train_device(*model, d.setup, view, plan, round, config.train_macs_per_sample));
    d.busy_until = std::max(now, d.busy_until) + t.macs / d.setup.profile->device_class.train_macs_per_second;
    d.energy_j += t.macs * d.setup.profile->device_class.energy_nj_per_mac * 1e-9;
    d.trained_this_round = true;
    // Every training leaves a few hundred KiB of freed heap that glibc keeps; with thousands
    // of devices per round that is gigabytes of RSS holding nothing. Give it back regularly.
    if (++trainings % 256 == 0) ::malloc_trim(0);
    return std::move(t.update);
  }

  bool available(const Device& d, double t) const {
    const Availability& a = d.setup.profile->availability;
    if (a.kind == "always") return true;
    const double hour = std::fmod(config.start_hour + t / 3600.0 + d.setup.phase_hours + 48.0, 24.0);
    return in_window(hour, a.from_hour, a.to_hour);
  }

  // Next time (after t) the device's availability changes, by scanning in 5-minute steps.
  double next_transition(const Device& d, double t) const {
    if (d.setup.profile->availability.kind == "always") return -1;
    const bool state = available(d, t);
    for (double s = t + 300; s < t + kDay + 600; s += 300) {
      if (available(d, s) != state) return s;
    }
    return -1;
  }

  void go_online(Device& d) {
    if (d.conn || !available(d, now)) return;
    d.conn = next_conn++;
    d.down_free_at = d.up_free_at = now;
    device_of_conn[*d.conn] = d.setup.index;
    coordinator->on_open(*d.conn, d.setup.name, at(now));
    d.session->on_connected();
  }

  void go_offline(Device& d, bool tell_server) {
    if (!d.conn) return;
    const server::ConnectionId c = *d.conn;
    d.conn.reset();
    device_of_conn.erase(c);
    if (tell_server) coordinator->on_close(c, at(now));
  }

  void schedule_transition(Device& d) {
    const double t = next_transition(d, now);
    if (t < 0) return;
    push({t, 0, available(d, t) ? Event::online : Event::offline, d.setup.index, 0, nullptr});
  }

  void handle(const Event& e) {
    Device& d = *devices[e.device];
    switch (e.kind) {
      case Event::to_server:
        if (device_of_conn.count(e.conn)) coordinator->on_frame(e.conn, *e.frame, at(now));
        break;
      case Event::to_device:
        if (d.conn != e.conn) break;  // the device went away meanwhile
        if (d.busy_until > now) {     // still training: handle it when done
          push({d.busy_until, 0, Event::to_device, d.setup.index, e.conn, e.frame});
          break;
        }
        if (auto st = d.session->on_frame(*e.frame); !st) go_offline(d, true);
        break;
      case Event::online:
        go_online(d);
        if (e.conn != kReconnect) schedule_transition(d);  // a window opened: find when it closes
        break;
      case Event::offline:
        go_offline(d, true);
        schedule_transition(d);
        break;
    }
  }

  double evaluate_devices(std::size_t limit) {
    return detail::mean_device_accuracy(*model, devices, limit);
  }

  Result<RoundRecord> run_round() {
    const auto wall0 = std::chrono::steady_clock::now();
    finished.reset();
    bytes_up = bytes_down = 0;
    for (auto& d : devices) {
      d->energy_j = 0;
      d->trained_this_round = false;
    }
    const double deadline = now + kTimeout;
    while (!finished) {
      const double next_event = events.empty() ? next_tick + 1 : events.top().time;
      if (next_tick <= next_event) {
        now = next_tick;
        next_tick += kTick;
        coordinator->tick(at(now));
      } else {
        Event e = events.top();
        events.pop();
        now = e.time;
        handle(e);
      }
      if (now > deadline) return fail(ErrorCode::timeout, "no round ended within 7 virtual days");
    }
    const server::RoundSummary& s = *finished;
    RoundRecord r;
    r.round = s.round;
    r.outcome = std::string(protocol::to_string(s.outcome));
    for (const auto& d : devices) r.online += d->conn ? 1 : 0;
    r.selected = s.selected;
    r.participants = s.participants;
    r.dropped_by_stage = s.dropped_by_stage;
    r.bytes_up = bytes_up;
    r.bytes_down = bytes_down;
    r.sim_seconds = s.seconds;
    r.sim_start_s = now - s.seconds;
    double energy_sum = 0;
    std::size_t trained = 0;
    for (const auto& d : devices) {
      if (!d->trained_this_round) continue;
      energy_sum += d->energy_j;
      r.energy_max_j = std::max(r.energy_max_j, d->energy_j);
      ++trained;
    }
    r.energy_mean_j = trained ? energy_sum / static_cast<double>(trained) : 0;
    // Let the model pushed after the round reach the devices before evaluating them.
    const double settle = now + 30;
    while (!events.empty() && events.top().time <= settle) {
      Event e = events.top();
      events.pop();
      now = e.time;
      handle(e);
    }
    if (!global_test.empty()) {
      if (model->load(coordinator->model().values)) r.global_accuracy = model->evaluate(global_test).accuracy;
    }
    r.device_accuracy = evaluate_devices(config.eval_devices);
    // The pause between rounds happens on the virtual clock.
    next_tick = std::max(next_tick, now + config.round_interval_s);
    now = std::max(now, next_tick - kTick);
    // Thousands of devices' training leave freed heap behind that glibc keeps; hand it back
    // once per round so the process's RSS tracks the fleet's live state.
    ::malloc_trim(0);
    r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    records.push_back(r);
    return r;
  }
};

Result<std::unique_ptr<FleetSimulator>> FleetSimulator::create(SimConfig config) {
  auto impl = std::make_unique<Impl>(config.seed);
  ml::use_single_thread();
  if (config.profiles.profiles.empty()) return fail(ErrorCode::invalid_argument, "sim: no device profiles");
  config.round.pause_between_rounds = std::chrono::milliseconds(static_cast<std::int64_t>(config.round_interval_s * 1000));
  config.round.max_rounds = 0;

  EDGEFED_ASSIGN_OR_RETURN(detail::StartModel start, detail::load_start_model(config));
  EDGEFED_ASSIGN_OR_RETURN(Ed25519SecretKey key, load_ed25519_secret_key(config.model_key));
  server::Checkpoint state;
  state.model = start.view;
  impl->initial = state.model;
  EDGEFED_ASSIGN_OR_RETURN(ml::CnnConfig cnn, ml::CnnConfig::from_json(state.model.architecture));
  EDGEFED_ASSIGN_OR_RETURN(ml::Model m, ml::Model::default_cnn(cnn));
  impl->model.emplace(std::move(m));

  EDGEFED_ASSIGN_OR_RETURN(impl->source, detail::load_data(config));
  EDGEFED_ASSIGN_OR_RETURN(data::FederatedData fed, data::make_federated_data(impl->source->pool, impl->source->spec));
  if (config.eval_test_items > 0) {
    EDGEFED_ASSIGN_OR_RETURN(impl->global_test,
                             data::load_fashion_mnist(config.data_dir, data::Split::test, config.eval_test_items));
  }
  impl->config = config;
  EDGEFED_ASSIGN_OR_RETURN(impl->coordinator,
                           server::Coordinator::create(config.round, config.strategy, std::move(state), std::move(key),
                                                       impl->server_rng, impl->executor, *impl, impl->metrics));
  client::SessionOptions options;
  options.model_key = start.public_key;
  for (detail::DeviceSetup& setup : detail::make_device_setups(fed, impl->config, impl->config.profiles, *impl->source)) {
    auto d = std::make_unique<Impl::Device>();
    d->sim = impl.get();
    d->rng = std::make_unique<secagg::DeterministicCsprng>(data::derive_seed(config.seed, 1000000 + setup.index));
    d->setup = std::move(setup);
    d->session = std::make_unique<client::DeviceSession>(options, client::DeviceState{}, *d, *d->rng, *d);
    impl->devices.push_back(std::move(d));
  }
  // Connect whoever is available at the start; schedule availability changes.
  for (auto& d : impl->devices) {
    impl->go_online(*d);
    impl->schedule_transition(*d);
  }
  return std::unique_ptr<FleetSimulator>(new FleetSimulator(std::move(impl)));
}

FleetSimulator::FleetSimulator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FleetSimulator::~FleetSimulator() = default;
Result<RoundRecord> FleetSimulator::run_round() { return impl_->run_round(); }
const std::vector<RoundRecord>& FleetSimulator::records() const { return impl_->records; }
std::uint32_t FleetSimulator::device_count() const { return static_cast<std::uint32_t>(impl_->devices.size()); }

ml::ModelView FleetSimulator::global_model() const { return impl_->coordinator->model(); }

double FleetSimulator::device_accuracy(std::size_t devices) {
  return impl_->evaluate_devices(devices == 0 ? impl_->devices.size() : devices);
}

Result<FleetSimulator::Baseline> FleetSimulator::centralized_baseline(std::size_t epochs, double learning_rate,
                                                                      std::size_t devices) {
  Impl& m = *impl_;
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t count = devices == 0 ? m.devices.size() : std::min(devices, m.devices.size());
  data::Dataset pooled;
  for (std::size_t i = 0; i < count; ++i) {
    const data::Dataset d = m.devices[i]->setup.train_set();
    pooled.channels = d.channels;
    pooled.rows = d.rows;
    pooled.cols = d.cols;
    pooled.pixels.insert(pooled.pixels.end(), d.pixels.begin(), d.pixels.end());
    pooled.labels.insert(pooled.labels.end(), d.labels.begin(), d.labels.end());
  }
  EDGEFED_TRY(m.model->load(m.initial.values));
  m.model->set_tier(m.initial.tier, m.initial.train_head);
  EDGEFED_ASSIGN_OR_RETURN(ml::TrainConfig tc, ml::train_config_for(m.config.round.train, m.config.seed));
  tc.learning_rate = learning_rate;
  tc.epochs = epochs;
  EDGEFED_ASSIGN_OR_RETURN(ml::TrainReport report, ml::train_local(*m.model, pooled, tc));
  (void)report;
  Baseline b;
  b.pooled_samples = pooled.size();
  double sum = 0, sum_local = 0;
  const ParameterSet trained = m.model->state();
  for (std::size_t i = 0; i < count; ++i) {
    const data::Dataset test = m.devices[i]->setup.test_set();
    sum += m.model->evaluate(test).accuracy;
    m.model->reestimate_batchnorm(m.devices[i]->setup.train_set());
    sum_local += m.model->evaluate(test).accuracy;
    EDGEFED_TRY(m.model->load(trained));
  }
  b.device_accuracy = count ? sum / static_cast<double>(count) : 0;
  b.device_accuracy_local_bn = count ? sum_local / static_cast<double>(count) : 0;
  b.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return b;
}

}  // namespace edgefed::sim
