#include "edgefed/client.hpp"

#include "edgefed/client/session.hpp"
#include "edgefed/common/artifact.hpp"
#include "edgefed/common/log.hpp"
#include "edgefed/net/client.hpp"
#include "torch_learner.hpp"

#include <atomic>
#include <mutex>
#include <thread>

namespace edgefed {

namespace {

constexpr char kStateFile[] = "device.state";
constexpr std::size_t kMaxStateBytes = 256u << 20;
using Ms = std::chrono::milliseconds;

Result<std::string> string_field(const nlohmann::json& j, const std::string& key) {
  if (!j[key].is_string()) return fail(ErrorCode::bad_type, "client config: '" + key + "' must be a string");
  return j[key].get<std::string>();
}
Result<std::uint64_t> uint_field(const nlohmann::json& j, const std::string& key) {
  // Parsed JSON text gives unsigned numbers; JSON built in C++ from int literals gives signed.
  const nlohmann::json& v = j[key];
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(v.get<std::int64_t>());
  return fail(ErrorCode::bad_type, "client config: '" + key + "' must be a non-negative integer");
}

}  // namespace

Result<ClientConfig> ClientConfig::from_json(const nlohmann::json& j) {
  if (!j.is_object()) return fail(ErrorCode::bad_type, "client config: expected a JSON object");
  ClientConfig c;
  for (const auto& [key, value] : j.items()) {
    if (key == "host") {
      EDGEFED_ASSIGN_OR_RETURN(c.host, string_field(j, key));
    } else if (key == "port") {
      EDGEFED_ASSIGN_OR_RETURN(std::uint64_t p, uint_field(j, key));
      if (p == 0 || p > 65535) return fail(ErrorCode::bad_value, "client config: 'port' must be in [1, 65535]");
      c.port = static_cast<std::uint16_t>(p);
    } else if (key == "tls") {
      if (!value.is_object()) return fail(ErrorCode::bad_type, "client config: 'tls' must be an object");
      for (const auto& [k, v] : value.items()) {
        EDGEFED_ASSIGN_OR_RETURN(std::string s, string_field(value, k));
        if (k == "ca") {
          c.ca_file = s;
        } else if (k == "cert") {
          c.cert_file = s;
        } else if (k == "key") {
          c.key_file = s;
        } else if (k == "server_name") {
          c.server_name = s;
        } else {
          return fail(ErrorCode::unknown_key, "client config: unknown key 'tls." + k + "'");
        }
      }
    } else if (key == "model_public_key") {
      EDGEFED_ASSIGN_OR_RETURN(std::string s, string_field(j, key));
      c.model_public_key = s;
    } else if (key == "state_dir") {
      EDGEFED_ASSIGN_OR_RETURN(std::string s, string_field(j, key));
      c.state_dir = s;
    } else if (key == "device_class") {
      EDGEFED_ASSIGN_OR_RETURN(c.device_class, string_field(j, key));
    } else if (key == "rounds") {
      EDGEFED_ASSIGN_OR_RETURN(c.rounds, uint_field(j, key));
    } else if (key == "connect_timeout_ms") {
      EDGEFED_ASSIGN_OR_RETURN(std::uint64_t v, uint_field(j, key));
      c.connect_timeout = Ms(v);
    } else if (key == "reconnect_min_ms") {
      EDGEFED_ASSIGN_OR_RETURN(std::uint64_t v, uint_field(j, key));
      c.reconnect_min = Ms(v);
    } else if (key == "reconnect_max_ms") {
      EDGEFED_ASSIGN_OR_RETURN(std::uint64_t v, uint_field(j, key));
      c.reconnect_max = Ms(v);
    } else if (key == "min_cohort") {
      EDGEFED_ASSIGN_OR_RETURN(std::uint64_t v, uint_field(j, key));
      if (v < 3 || v > UINT32_MAX) return fail(ErrorCode::bad_value, "client config: 'min_cohort' must be >= 3");
      c.min_cohort = static_cast<std::uint32_t>(v);
    } else if (key == "assumed_corrupt_rate" || key == "assumed_dropout_rate") {
      if (!value.is_number() || !(value.get<double>() >= 0 && value.get<double>() < 0.9)) {
        return fail(ErrorCode::bad_value, "client config: '" + key + "' must be a number in [0, 0.9)");
      }
      (key == "assumed_corrupt_rate" ? c.assumed_corrupt_rate : c.assumed_dropout_rate) = value.get<double>();
    } else {
      return fail(ErrorCode::unknown_key, "client config: unknown key '" + key + "'");
    }
  }
  if (c.cert_file.empty() || c.key_file.empty()) {
    return fail(ErrorCode::missing_field, "client config: tls.cert and tls.key (the device certificate) are required");
  }
  if (c.state_dir.empty()) return fail(ErrorCode::missing_field, "client config: 'state_dir' is required");
  if (c.reconnect_min.count() <= 0 || c.reconnect_max < c.reconnect_min) {
    return fail(ErrorCode::bad_value, "client config: need 0 < reconnect_min_ms <= reconnect_max_ms");
  }
  return c;
}

struct Client::Impl final : client::SessionPort {
  ClientConfig config;
  std::unique_ptr<client::TorchLearner> learner;
  secagg::SystemCsprng rng;
  std::unique_ptr<client::DeviceSession> session;
  std::unique_ptr<net::WsClient> connection;
  std::atomic<bool> stopped{false};
  std::function<void(std::span<const std::uint8_t>)> observer;
  mutable std::mutex stats_mutex;
  ClientStats stats;
  Ms backoff{0};

  std::filesystem::path state_path() const { return config.state_dir / kStateFile; }

  // SessionPort
  void send(Bytes frame) override {
    if (observer) observer(frame);
    if (!connection) return;
    if (auto st = connection->send(frame); !st) {
      log::debug("send failed", {{"error", st.error().message()}});
    }
  }
  Status persist(const client::DeviceState& state) override {
    EDGEFED_ASSIGN_OR_RETURN(Bytes bytes, client::encode_device_state(state));
    return save_artifact(state_path(), bytes);
  }

  void update_stats() {
    std::lock_guard lock(stats_mutex);
    const client::SessionStats& s = session->stats();
    stats.model_version = session->model_version();
    stats.rounds_completed = s.rounds_completed;
    stats.rounds_aborted = s.rounds_aborted;
    stats.bytes_sent = s.bytes_sent;
    stats.bytes_received = s.bytes_received;
  }

  void sleep_backoff() {
    backoff = backoff.count() == 0 ? config.reconnect_min : std::min(config.reconnect_max, backoff * 2);
    for (Ms slept{0}; slept < backoff && !stopped; slept += Ms(50)) std::this_thread::sleep_for(Ms(50));
  }

  void drop_connection() {
    if (connection) connection->close();
    connection.reset();
  }

  // One step of the device loop: connect if needed, then handle one frame (or time out).
  // Returns an error only for what retrying cannot fix.
  Status step() {
    if (!connection) {
      net::TlsConfig tls{config.ca_file, config.cert_file, config.key_file, config.server_name};
      net::ClientOptions options;
      options.connect_timeout = config.connect_timeout;
      auto c = net::WsClient::connect(config.host, config.port, tls, options);
      if (!c) {
        log::info("connect failed, retrying", {{"error", c.error().message()}});
        sleep_backoff();
        return {};
      }
      connection = std::move(*c);
      backoff = Ms(0);
      {
        std::lock_guard lock(stats_mutex);
        ++stats.connections;
      }
      session->on_connected();
    }
    auto frame = connection->receive(Ms(200));
    if (!frame) {
      if (frame.error().code == ErrorCode::timeout && connection->is_open()) return {};
      log::info("connection lost", {{"error", frame.error().message()}});
      drop_connection();
      sleep_backoff();
      return {};
    }
    if (auto st = session->on_frame(*frame); !st) {
      log::warn("closing the connection", {{"error", st.error().message()}});
      drop_connection();
      // A model that fails verification will fail again: that needs an operator.
      if (st.error().code == ErrorCode::bad_signature || st.error().code == ErrorCode::rollback) return st;
      sleep_backoff();
    }
    update_stats();
    return {};
  }
};

Result<std::unique_ptr<Client>> Client::create(ClientConfig config, data::Dataset training) {
  if (!training.well_formed() || training.empty()) {
    return fail(ErrorCode::invalid_argument, "client: the training data is empty or malformed");
  }
  auto impl = std::make_unique<Impl>();
  EDGEFED_ASSIGN_OR_RETURN(Ed25519PublicKey model_key, load_ed25519_public_key(config.model_public_key));
  std::error_code ec;
  std::filesystem::create_directories(config.state_dir, ec);
  if (ec) return fail(ErrorCode::io_error, "state_dir '" + config.state_dir.string() + "': " + ec.message());
  client::DeviceState state;
  const std::filesystem::path state_path = config.state_dir / kStateFile;
  if (std::filesystem::exists(state_path)) {
    EDGEFED_ASSIGN_OR_RETURN(Bytes bytes, load_file(state_path, kMaxStateBytes));
    auto decoded = client::decode_device_state(bytes);
    if (!decoded) {
      return Error{decoded.error().code, state_path.string() + ": " + decoded.error().detail +
                                             " (delete the file to start this device over)"};
    }
    state = std::move(*decoded);
  }
  client::SessionOptions options;
  options.model_key = model_key;
  options.device_class = config.device_class;
  options.secagg_policy.min_cohort = config.min_cohort;
  options.secagg_policy.assumed_corrupt_rate = config.assumed_corrupt_rate;
  options.secagg_policy.assumed_dropout_rate = config.assumed_dropout_rate;
  impl->learner = std::make_unique<client::TorchLearner>(std::move(training));
  impl->config = std::move(config);
  impl->session = std::make_unique<client::DeviceSession>(std::move(options), std::move(state), *impl->learner,
                                                          impl->rng, *impl);
  impl->update_stats();
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() {
  if (impl_->connection) impl_->connection->close();
}

Result<RoundResult> Client::run_round() {
  Impl& m = *impl_;
  while (!m.stopped) {
    EDGEFED_TRY(m.step());
    if (auto end = m.session->take_round_end()) {
      RoundResult r;
      r.round = end->round;
      r.completed = m.session->last_round_included();
      r.model_version = end->model_version;
      r.participants = end->participants;
      r.reason = end->reason;
      // Apply the model pushed right after the round end before returning.
      while (m.connection && m.session->model_version() < end->model_version && !m.stopped) {
        EDGEFED_TRY(m.step());
      }
      m.update_stats();
      return r;
    }
  }
  return fail(ErrorCode::io_error, "stopped");
}

Status Client::run() {
  std::uint64_t ended = 0;
  while (!impl_->stopped && (impl_->config.rounds == 0 || ended < impl_->config.rounds)) {
    auto r = run_round();
    if (!r) return impl_->stopped ? Status{} : Status{r.error()};
    ++ended;
    log::info("round ended", {{"round", r->round},
                              {"completed", r->completed},
                              {"model_version", r->model_version},
                              {"participants", static_cast<std::uint64_t>(r->participants)}});
  }
  return {};
}

void Client::stop() { impl_->stopped = true; }

ClientStats Client::stats() const {
  std::lock_guard lock(impl_->stats_mutex);
  return impl_->stats;
}

Result<double> Client::evaluate(const data::Dataset& data) const {
  const auto& state = impl_->session->state();
  if (!state.model) return fail(ErrorCode::invalid_argument, "client: no model yet");
  return impl_->learner->evaluate(*state.model, data);
}

void Client::set_send_observer(std::function<void(std::span<const std::uint8_t>)> observer) {
  impl_->observer = std::move(observer);
}

}  // namespace edgefed
