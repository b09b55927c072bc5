// The aggregation server and devices over real mutual TLS 1.3 on 127.0.0.1.
//
// Devices here are the SDK's DeviceSession (the protocol state machine every device runs)
// behind a WsClient, with a fake learner whose deltas the test knows exactly — so the
// server's aggregate can be checked against plaintext FedAvg — and hooks that kill a device
// or make it misbehave at a chosen moment. The privacy case runs the real edgefed::Client
// (LibTorch training on Fashion-MNIST) and inspects every byte it sends.
#include "edgefed/client.hpp"
#include "edgefed/client/session.hpp"
#include "edgefed/common/artifact.hpp"
#include "edgefed/common/log.hpp"
#include "edgefed/data/fashion_mnist.hpp"
#include "edgefed/ml/model.hpp"
#include "edgefed/net/client.hpp"
#include "edgefed/secagg/messages.hpp"
#include "edgefed/server/server.hpp"
#include "edgefed_test_support.hpp"

#include <catch2/catch.hpp>
#include "edgefed_catch_helpers.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_set>

namespace {

using namespace edgefed;
using namespace std::chrono_literals;
namespace fs = std::filesystem;


constexpr int kDevices = 12;

// ---- fixtures: a PKI (plus a stranger CA), an untrained model and its signing key

struct World {
  World() {
    log::set_level(std::getenv("EDGEFED_TEST_LOG") ? log::Level::info : log::Level::error);
    ml::use_single_thread();
    for (const auto& [name, devices] : {std::pair{"pki", kDevices}, std::pair{"stranger", 1}}) {
      const std::string command = std::string("'") + EDGEFED_MAKE_DEV_CERTS + "' --out '" + path(name).string() +
                                  "' --devices " + std::to_string(devices) + " >/dev/null 2>&1";
      if (std::system(command.c_str()) != 0) throw std::runtime_error("make-dev-certs failed");
    }
    Ed25519KeyPair pair = generate_ed25519();
    if (!save_ed25519_secret_key(path("model.pem"), pair.secret_key)) throw std::runtime_error("key");
    if (!save_ed25519_public_key(path("model.pem.pub"), pair.public_key)) throw std::runtime_error("key");
    auto model = ml::Model::default_cnn();
    if (!model || !ml::save_model(*model, path("initial.efm"), pair.secret_key, 1)) throw std::runtime_error("model");
    model_public = pair.public_key;
  }
  fs::path path(const std::string& relative) const { return dir.path() / relative; }
  std::string device_name(int i) const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "device-%04d", i);
    return buf;
  }
  fs::path cert(int i) const { return path("pki/devices/" + device_name(i) + ".pem"); }
  fs::path key(int i) const { return path("pki/devices/" + device_name(i) + ".key.pem"); }
  testing::TempDir dir;
  Ed25519PublicKey model_public;
};

const World& world() {
  static const World instance;
  return instance;
}

// ---- an in-process server that records every round

struct TestServer {
  explicit TestServer(server::RoundSettings rounds, std::string checkpoint_name = "") {
    server::ServerOptions o;
    o.transport.tls = {world().path("pki/ca.pem"), world().path("pki/server.pem"), world().path("pki/server.key.pem"),
                       "localhost"};
    o.transport.idle_timeout = 60s;
    o.rounds = std::move(rounds);
    o.initial_model = world().path("initial.efm");
    o.model_key = world().path("model.pem");
    static int counter = 0;
    checkpoint = world().path(checkpoint_name.empty() ? "ckpt-" + std::to_string(++counter) : checkpoint_name);
    o.checkpoint = checkpoint;
    o.on_round = [this](const server::RoundSummary& s) {
      std::lock_guard lock(mutex);
      summaries.push_back(s);
      auto bytes = load_file(checkpoint, 1u << 28);
      auto c = bytes ? server::decode_checkpoint(*bytes, world().model_public) : Result<server::Checkpoint>(bytes.error());
      if (c) globals.push_back(c->model.aggregate_values());
      changed.notify_all();
    };
    auto s = server::AggregationServer::create(std::move(o));
    if (!s) FAIL(s.error().message());
    server = std::move(*s);
    REQUIRE_OK(server->start());
  }
  bool wait_rounds(std::size_t n, std::chrono::seconds timeout) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return summaries.size() >= n; });
  }
  std::unique_ptr<server::AggregationServer> server;
  fs::path checkpoint;
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<server::RoundSummary> summaries;
  std::vector<std::vector<float>> globals;  // aggregated tensors after each round (from the checkpoint)
};

server::RoundSettings fast_settings(std::uint32_t participants, std::uint64_t rounds) {
  server::RoundSettings r;
  r.max_rounds = rounds;
  r.target_participants = participants;
  r.min_participants = 3;
  r.expected_dropout = 0.0;
  r.selection_wait = 300ms;
  r.train_deadline = 20s;
  r.stage_deadline = 4s;
  r.resume_grace = 200ms;
  r.clip = 0.1;
  r.input_bits = 16;
  r.weight_cap = 600;
  return r;
}

// ---- devices: DeviceSession + WsClient + a learner with known deltas

struct FakeLearner final : client::Learner {
  explicit FakeLearner(int device) : device(device) {}
  Result<client::LocalUpdate> train(const ml::ModelView& model, const protocol::TrainPlan&, std::uint64_t round) override {
    std::mt19937 gen(static_cast<unsigned>(device * 1000 + round));
    std::uniform_real_distribution<float> u(-0.05f, 0.05f);
    client::LocalUpdate update;
    update.delta.resize(model.aggregate_length());
    for (float& d : update.delta) d = u(gen);
    update.examples = 100 + 40 * static_cast<std::uint64_t>(device);  // weights differ
    std::lock_guard lock(mutex);
    deltas[round] = update.delta;
    inputs[round] = model.aggregate_values();
    return update;
  }
  int device;
  std::mutex mutex;
  std::map<std::uint64_t, std::vector<float>> deltas;  // by round
  std::map<std::uint64_t, std::vector<float>> inputs;  // global model it trained on, by round
};

struct TestDevice final : client::SessionPort {
  TestDevice(int index, std::uint16_t port) : index(index), learner(index), rng(static_cast<std::uint64_t>(index)) {
    client::SessionOptions options;
    options.model_key = world().model_public;
    session = std::make_unique<client::DeviceSession>(options, client::DeviceState{}, learner, rng, *this);
    thread = std::thread([this, port] { loop(port); });
  }
  ~TestDevice() override { kill(); }

  // Ends the device abruptly: its connection drops, nothing more is sent.
  void kill() {
    stop = true;
    if (thread.joinable()) thread.join();
  }

  // SessionPort
  void send(Bytes frame) override {
    sent_types.push_back(decode_envelope(frame).value().type);
    sent.push_back(frame);
    if (conn) (void)conn->send(frame);
    if (after_send) after_send(*this, sent_types.back());
  }
  Status persist(const client::DeviceState&) override { return {}; }

  void loop(std::uint16_t port) {
    auto c = net::WsClient::connect("127.0.0.1", port,
                                    {world().path("pki/ca.pem"), world().cert(index), world().key(index), "localhost"});
    if (!c) {
      connect_error = c.error();
      return;
    }
    conn = std::move(*c);
    session->on_connected();
    while (!stop) {
      auto frame = conn->receive(50ms);
      if (!frame) {
        if (frame.error().code == ErrorCode::timeout && conn->is_open()) continue;
        closed_with = frame.error();
        break;
      }
      auto env = decode_envelope(*frame);
      if (env) {
        std::lock_guard lock(mutex);
        received_types.push_back(env->type);
        if (env->type == protocol::kError) errors.push_back(std::get<protocol::ErrorMessage>(protocol::decode(*env).value()));
      }
      if (env && before_receive) before_receive(*this, *env);
      if (auto st = session->on_frame(*frame); !st) {
        session_error = st.error();
        break;
      }
      if (auto end = session->take_round_end()) {
        std::lock_guard lock(mutex);
        ends.push_back(*end);
      }
    }
    if (conn) conn->close();
  }

  std::vector<protocol::ErrorMessage> error_messages() {
    std::lock_guard lock(mutex);
    return errors;
  }

  int index;
  FakeLearner learner;
  secagg::DeterministicCsprng rng;
  std::unique_ptr<client::DeviceSession> session;
  std::unique_ptr<net::WsClient> conn;
  std::atomic<bool> stop{false};
  std::thread thread;
  std::mutex mutex;
  std::vector<std::string> received_types;
  std::vector<protocol::ErrorMessage> errors;
  std::vector<protocol::RoundEnd> ends;
  std::vector<Bytes> sent;               // device thread only
  std::vector<std::string> sent_types;   // device thread only
  std::optional<Error> connect_error, closed_with, session_error;
  // Hooks, run on the device's thread.
  std::function<void(TestDevice&, const Envelope&)> before_receive;
  std::function<void(TestDevice&, const std::string&)> after_send;
};

std::vector<std::unique_ptr<TestDevice>> start_devices(int first, int count, std::uint16_t port) {
  std::vector<std::unique_ptr<TestDevice>> out;
  for (int i = first; i < first + count; ++i) out.push_back(std::make_unique<TestDevice>(i, port));
  return out;
}

// ---- the cases

TEST_CASE("10 devices x 3 rounds: the new global model is plaintext FedAvg of the deltas within the quantization bound") {
  TestServer s(fast_settings(10, 3));
  auto devices = start_devices(1, 10, s.server->port());
  REQUIRE(s.wait_rounds(3, 120s));

  for (std::size_t r = 0; r < 3; ++r) {
    const server::RoundSummary& summary = s.summaries[r];
    INFO("round " << summary.round);
    REQUIRE(summary.outcome == protocol::RoundOutcome::completed);
    REQUIRE(summary.participants == 10);
    const std::uint64_t round = summary.round;
    // The model every device trained on in this round is the previous round's global.
    const std::vector<float>& before = devices[0]->learner.inputs.at(round);
    for (auto& d : devices) REQUIRE(d->learner.inputs.at(round) == before);
    if (r > 0) REQUIRE(before == s.globals[r - 1]);
    const std::vector<float>& after = s.globals[r];
    REQUIRE(after.size() == before.size());

    // Plaintext FedAvg: Σ w_u Δ_u / Σ w_u, w_u = min(examples, cap) / cap.
    std::vector<double> fedavg(before.size(), 0.0);
    double weight_sum = 0;
    for (auto& d : devices) {
      const double w = std::min<double>(100 + 40.0 * d->index, 600) / 600;
      weight_sum += w;
      const auto& delta = d->learner.deltas.at(round);
      for (std::size_t i = 0; i < delta.size(); ++i) fedavg[i] += w * delta[i];
    }
    double max_step = 0;
    for (double& v : fedavg) {
      v /= weight_sum;
      max_step = std::max(max_step, std::abs(v));
    }
    // Bounds: the ring encoding (stochastic rounding, step c/M per device, also in the weight
    // lane) and the int8 model step with error feedback (≤ half a scale now and last round).
    const double M = 32767.0, c = 0.1, n = 10;
    const double ring = (n * c / M + max_step * n / M) / weight_sum;
    const double int8 = 2 * (max_step * 1.5) / 127;
    const double bound = ring + int8 + 1e-6;
    double worst = 0, worst_unweighted = 0;
    for (std::size_t i = 0; i < before.size(); ++i) {
      worst = std::max(worst, std::abs(after[i] - (before[i] + fedavg[i])));
      double plain = 0;
      for (auto& d : devices) plain += d->learner.deltas.at(round)[i] / n;
      worst_unweighted = std::max(worst_unweighted, std::abs(after[i] - (before[i] + plain)));
    }
    INFO("worst deviation " << worst << " bound " << bound << " max step " << max_step);
    CHECK(worst <= bound);
    // The check is sharp enough to tell a weighted from an unweighted mean.
    CHECK(worst_unweighted > 3 * bound);
  }
  // Devices hold exactly the server's model (same int8 decode, same float additions) once
  // the push after the last round has arrived.
  for (auto& d : devices) {
    for (int i = 0; i < 200 && d->session->model_version() != s.server->model_version(); ++i) {
      std::this_thread::sleep_for(20ms);
    }
    CHECK(d->session->model_version() == s.server->model_version());
  }
  const auto& held = devices[3]->session->state().model->aggregate_values();
  CHECK(held == s.globals[2]);
}

TEST_CASE("a device killed after ShareKeys: the round completes without it") {
  server::RoundSettings settings = fast_settings(6, 2);
  settings.expected_dropout = 0.2;
  settings.target_participants = 5;  // cohort ⌈5 / 0.8⌉ = 7 > 6 devices: starts with all 6
  TestServer s(settings);
  std::atomic<bool> killed{false};
  auto devices = start_devices(1, 6, s.server->port());
  devices[2]->after_send = [&](TestDevice& d, const std::string& type) {
    if (type == "secagg.share_keys") {
      killed = true;
      d.stop = true;  // leaves the loop and drops the connection: never sends its masked input
    }
  };
  REQUIRE(s.wait_rounds(1, 60s));
  REQUIRE(killed);
  const server::RoundSummary& summary = s.summaries[0];
  CHECK(summary.outcome == protocol::RoundOutcome::completed);
  CHECK(summary.participants == 5);
  std::uint32_t dropped = 0;
  for (const auto& [stage, count] : summary.dropped_by_stage) dropped += count;
  CHECK(dropped == 1);
  // The survivors got the round's end and the next model.
  REQUIRE(s.wait_rounds(2, 60s));
  CHECK(devices[0]->session->model_version() >= 2);
}

TEST_CASE("certificates from another CA and plaintext connections are refused at the handshake") {
  TestServer s(fast_settings(3, 1));
  const World& w = world();
  auto stranger = net::WsClient::connect("127.0.0.1", s.server->port(),
                                         {w.path("pki/ca.pem"), w.path("stranger/devices/device-0001.pem"),
                                          w.path("stranger/devices/device-0001.key.pem"), "localhost"});
  REQUIRE_FALSE(stranger);
  CHECK(stranger.error().code == ErrorCode::bad_signature);

  // Plaintext: an HTTP upgrade request over bare TCP gets no HTTP answer, only a closed socket.
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), s.server->port()});
  const std::string request = "GET /edgefed/v1 HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\r\n";
  boost::asio::write(socket, boost::asio::buffer(request));
  std::array<char, 256> reply{};
  boost::system::error_code ec;
  const std::size_t n = boost::asio::read(socket, boost::asio::buffer(reply), ec);
  CHECK(ec);  // closed
  CHECK(std::string(reply.data(), n).find("HTTP/1.1") == std::string::npos);

  // The server still serves legitimate devices.
  auto devices = start_devices(1, 3, s.server->port());
  CHECK(s.wait_rounds(1, 60s));
  CHECK(s.summaries[0].outcome == protocol::RoundOutcome::completed);
}

TEST_CASE("malformed, oversized and replayed frames: an error to that connection only, the others finish") {
  // Expecting dropouts makes the SecAgg+ graph dense enough that losing two devices leaves
  // every other device with live neighbours (with δ = 0 the finder picks k = 2).
  server::RoundSettings settings = fast_settings(7, 2);
  settings.expected_dropout = 0.3;
  settings.target_participants = 5;  // cohort ⌈5 / 0.7⌉ = 8 > 7 devices: starts with all 7
  TestServer s(settings);
  auto devices = start_devices(1, 7, s.server->port());
  REQUIRE(s.wait_rounds(1, 60s));
  REQUIRE(s.summaries[0].participants == 7);

  // Round 2: device 1 sends garbage, device 2 an oversized frame, device 3 replays its
  // masked input of round 1 — each as soon as the round plan arrives.
  Bytes replay;
  for (std::size_t i = 0; i < devices[2]->sent_types.size(); ++i) {
    if (devices[2]->sent_types[i] == "secagg.masked_input") replay = devices[2]->sent[i];
  }
  REQUIRE_FALSE(replay.empty());
  devices[0]->before_receive = [](TestDevice& d, const Envelope& e) {
    if (e.type == protocol::kRound) (void)d.conn->send(Bytes{0xde, 0xad, 0xbe, 0xef});
  };
  devices[1]->before_receive = [](TestDevice& d, const Envelope& e) {
    if (e.type == protocol::kRound) (void)d.conn->send(Bytes(200'000, 0xa5));
  };
  devices[2]->before_receive = [replay](TestDevice& d, const Envelope& e) {
    if (e.type == protocol::kRound) (void)d.conn->send(replay);
  };
  REQUIRE(s.wait_rounds(2, 60s));
  const server::RoundSummary& summary = s.summaries[1];
  for (const auto& [stage, count] : summary.dropped_by_stage) UNSCOPED_INFO("dropped at " << stage << ": " << count);
  CHECK(summary.participants == 5);  // the garbage and oversized senders were dropped
  CHECK(summary.outcome == protocol::RoundOutcome::completed);

  auto errors_of = [](TestDevice& d) { return d.error_messages(); };
  const auto e1 = errors_of(*devices[0]);
  REQUIRE(e1.size() == 1);
  CHECK(e1[0].code == "bad_encoding");
  CHECK(e1[0].fatal);
  const auto e2 = errors_of(*devices[1]);
  REQUIRE(e2.size() == 1);
  CHECK(e2[0].code == "too_large");
  CHECK(e2[0].fatal);
  const auto e3 = errors_of(*devices[2]);
  REQUIRE(e3.size() == 1);
  CHECK(e3[0].code == "replayed");
  CHECK_FALSE(e3[0].fatal);
  for (int i = 3; i < 7; ++i) CHECK(errors_of(*devices[i]).empty());
  // The replaying device stayed in the round: its update is in the aggregate.
  std::lock_guard lock(devices[2]->mutex);
  REQUIRE_FALSE(devices[2]->ends.empty());
  CHECK(devices[2]->ends.back().outcome == protocol::RoundOutcome::completed);
}

TEST_CASE("the HTTPS endpoints answer on the device port") {
  TestServer s(fast_settings(3, 1));
  auto devices = start_devices(1, 3, s.server->port());
  REQUIRE(s.wait_rounds(1, 60s));
  const std::string metrics = s.server->metrics_text();
  CHECK(metrics.find("edgefed_rounds_total{outcome=\"completed\"} 1") != std::string::npos);
  CHECK(metrics.find("edgefed_model_version 2") != std::string::npos);
  const nlohmann::json status = s.server->status();
  CHECK(status["model_version"] == 2);
  CHECK(status["last_round"]["participants"] == 3);
}

// Every 16-byte window of `haystack`, hashed.
std::unordered_set<std::string_view> windows_of(const Bytes& haystack, std::size_t width) {
  std::unordered_set<std::string_view> out;
  for (std::size_t i = 0; i + width <= haystack.size(); ++i) {
    out.insert(std::string_view(reinterpret_cast<const char*>(haystack.data()) + i, width));
  }
  return out;
}

// Windows of a sample that are "recognisable": at least 8 distinct byte values (so runs of
// background zeros, which any byte stream contains, do not count).
bool recognisable(std::string_view w) {
  std::array<bool, 256> seen{};
  int distinct = 0;
  for (char c : w) {
    const auto b = static_cast<unsigned char>(c);
    if (!seen[b]) ++distinct;
    seen[b] = true;
  }
  return distinct >= 8;
}

// How many recognisable windows of `data`'s samples (as float32 and as uint8 pixels) occur in
// `sent`.
std::size_t leaked_windows(const data::Dataset& data, const Bytes& sent) {
  constexpr std::size_t kWidth = 16;
  const auto windows = windows_of(sent, kWidth);
  std::size_t hits = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const auto image = data.image(i);
    std::string as_u8(image.size(), '\0');
    for (std::size_t p = 0; p < image.size(); ++p) as_u8[p] = static_cast<char>(std::lround(image[p] * 255.0f));
    const std::string_view as_f32(reinterpret_cast<const char*>(image.data()), image.size() * sizeof(float));
    for (std::string_view s : {std::string_view(as_u8), as_f32}) {
      for (std::size_t p = 0; p + kWidth <= s.size(); p += 1) {
        const std::string_view w = s.substr(p, kWidth);
        if (recognisable(w) && windows.count(w)) ++hits;
      }
    }
  }
  return hits;
}

TEST_CASE("privacy: nothing a device sends during a round contains its training samples") {
  auto pool = data::load_fashion_mnist(data::kDefaultFashionMnistDir, data::Split::train, 600);
  REQUIRE_OK(pool);
  TestServer s(fast_settings(3, 1));
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<data::Dataset> shards;
  std::vector<Bytes> sent(3);
  for (int i = 0; i < 3; ++i) {
    std::vector<std::size_t> idx;
    for (std::size_t k = static_cast<std::size_t>(i) * 200; k < static_cast<std::size_t>(i + 1) * 200; ++k) idx.push_back(k);
    shards.push_back(pool->subset(idx));
    ClientConfig config;
    config.port = s.server->port();
    config.ca_file = world().path("pki/ca.pem");
    config.cert_file = world().cert(10 + i);
    config.key_file = world().key(10 + i);
    config.model_public_key = world().path("model.pem.pub");
    config.state_dir = world().path("privacy-state-" + std::to_string(i));
    config.rounds = 1;
    auto c = Client::create(config, shards.back());
    REQUIRE_OK(c);
    (*c)->set_send_observer([&sent, i](std::span<const std::uint8_t> frame) {
      sent[i].insert(sent[i].end(), frame.begin(), frame.end());
    });
    clients.push_back(std::move(*c));
  }
  std::vector<std::thread> threads;
  std::vector<Status> results(3);
  for (int i = 0; i < 3; ++i) threads.emplace_back([&, i] { results[i] = clients[i]->run(); });
  for (auto& t : threads) t.join();
  for (const Status& r : results) REQUIRE_OK(r);
  REQUIRE(s.wait_rounds(1, 10s));
  REQUIRE(s.summaries[0].outcome == protocol::RoundOutcome::completed);

  for (int i = 0; i < 3; ++i) {
    INFO("device " << i << " sent " << sent[i].size() << " bytes");
    REQUIRE(sent[i].size() > 1000);  // it did take part: hello, keys, shares, masked input
    CHECK(leaked_windows(shards[i], sent[i]) == 0);
  }
  // Positive control: the same search finds a sample that is in the bytes.
  Bytes planted = sent[0];
  const auto image = shards[0].image(7);
  const auto* raw = reinterpret_cast<const std::uint8_t*>(image.data());
  planted.insert(planted.end(), raw + 1200, raw + 1600);
  CHECK(leaked_windows(shards[0], planted) > 0);
}

}  // namespace
