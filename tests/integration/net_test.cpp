// edgefed::net over real TLS 1.3 on 127.0.0.1: a generated development PKI, a WsServer with
// a recording (echoing) handler, WsClients, and raw Asio/Beast/OpenSSL clients for the
// hostile cases. Each refusal case also shows that the server keeps serving others.
#include "edgefed/common/log.hpp"
#include "edgefed/net/client.hpp"
#include "edgefed/net/server.hpp"
#include "edgefed/net/tls.hpp"
#include "edgefed_test_support.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <catch2/catch.hpp>
#include "edgefed_catch_helpers.hpp"
#include <openssl/ssl.h>

#include <array>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <thread>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = edgefed::net;
using edgefed::Bytes;
using edgefed::ErrorCode;
using edgefed::ErrorCondition;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;


// ---- PKI: the development script, run once per process into a temp dir

struct Pki {
  Pki() {
    edgefed::log::set_level(edgefed::log::Level::error);  // refusals below are expected
    for (const auto& [name, devices] : {std::pair{"main", 3}, std::pair{"stranger", 1}}) {
      const std::string command = std::string("'") + EDGEFED_MAKE_DEV_CERTS + "' --out '" +
                                  dir.file(name) + "' --devices " + std::to_string(devices) +
                                  " 2>/dev/null";
      if (std::system(command.c_str()) != 0) throw std::runtime_error("make-dev-certs failed");
    }
  }
  std::filesystem::path path(const std::string& relative) const { return dir.path() / relative; }
  edgefed::testing::TempDir dir;
};

const Pki& pki() {
  static const Pki instance;
  return instance;
}

net::TlsConfig server_tls() {
  return {pki().path("main/ca.pem"), pki().path("main/server.pem"), pki().path("main/server.key.pem")};
}

// Device `n` of `root`'s CA, trusting the main CA (the one that signed the server).
net::TlsConfig device_tls(int n = 1, const std::string& root = "main") {
  const std::string id = "device-000" + std::to_string(n);
  return {pki().path("main/ca.pem"), pki().path(root + "/devices/" + id + ".pem"),
          pki().path(root + "/devices/" + id + ".key.pem")};
}

Bytes random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = static_cast<std::uint8_t>(rng());
  return out;
}

// ---- the application side: records every callback, echoes frames back

class Recorder : public net::ServerHandler {
  template <typename F>
  auto locked(F&& f) const {
    std::lock_guard lock(mutex_);
    return f();
  }

 public:
  void on_open(net::ConnectionId id, const std::string& device_id) override {
    std::lock_guard lock(mutex_);
    opens.emplace(id, device_id);
    changed_.notify_all();
  }
  void on_frame(net::ConnectionId id, Bytes frame) override {
    if (net::WsServer* server = server_.load()) server->send(id, frame);
    std::lock_guard lock(mutex_);
    ++frames[id];
    changed_.notify_all();
  }
  void on_close(net::ConnectionId id, const edgefed::Status& why) override {
    std::lock_guard lock(mutex_);
    closes.emplace(id, why);
    changed_.notify_all();
  }

  void echo_through(net::WsServer* server) { server_ = server; }

  // Waits until `done(*this)` holds (checked under the lock), at most `limit`.
  bool wait(const std::function<bool(const Recorder&)>& done, std::chrono::milliseconds limit = 10s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return done(*this); });
  }
  std::size_t open_count() const { return locked([&] { return opens.size(); }); }
  std::size_t close_count() const { return locked([&] { return closes.size(); }); }
  // The id of the (only / last) connection opened by `device`, 0 if none.
  net::ConnectionId id_of(const std::string& device) const {
    return locked([&] {
      net::ConnectionId found = 0;
      for (const auto& [id, name] : opens) if (name == device) found = id;
      return found;
    });
  }
  edgefed::Status close_of(net::ConnectionId id) const {
    return locked([&] { return closes.at(id); });
  }

  // Read these only inside wait() predicates (under the lock).
  std::map<net::ConnectionId, std::string> opens;
  std::map<net::ConnectionId, edgefed::Status> closes;
  std::map<net::ConnectionId, int> frames;

 private:
  std::atomic<net::WsServer*> server_{nullptr};
  mutable std::mutex mutex_;
  std::condition_variable changed_;
};

// A started server on an ephemeral loopback port with an echoing Recorder.
struct Fixture {
  explicit Fixture(const std::function<void(net::ServerConfig&)>& tweak = {}) {
    net::ServerConfig config;
    config.tls = server_tls();
    config.stop_timeout = 3s;
    if (tweak) tweak(config);
    auto created = net::WsServer::create(config, handler);
    REQUIRE_OK(created);
    server = std::move(created).value();
    handler.echo_through(server.get());
    REQUIRE_OK(server->start());
  }
  ~Fixture() { server->stop(); }

  edgefed::Result<std::unique_ptr<net::WsClient>> connect(net::TlsConfig tls = device_tls(),
                                                          net::ClientOptions options = {}) {
    return net::WsClient::connect("127.0.0.1", server->port(), tls, options);
  }

  // A fresh device connects, and a frame goes there and back.
  void expect_service(int device = 2) {
    auto client = connect(device_tls(device));
    REQUIRE_OK(client);
    const Bytes frame = random_bytes(100, static_cast<unsigned>(device));
    REQUIRE_OK((*client)->send(frame));
    auto echo = (*client)->receive(5s);
    REQUIRE_OK(echo);
    CHECK(*echo == frame);
  }

  Recorder handler;  // outlives the server
  std::unique_ptr<net::WsServer> server;
};

// ---- raw peers for the hostile cases

// Reads until the peer closes or fails the connection; true if that happened within `limit`.
bool closed_by_peer(tcp::socket& socket, asio::io_context& ioc, std::chrono::milliseconds limit) {
  std::array<char, 4096> buffer{};
  bool closed = false;
  std::function<void()> read = [&] {
    socket.async_read_some(asio::buffer(buffer), [&](boost::system::error_code ec, std::size_t) {
      if (ec) closed = true;
      else read();
    });
  };
  read();
  ioc.restart();
  ioc.run_for(limit);
  return closed;
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

tcp::endpoint loopback(std::uint16_t port) { return {asio::ip::address_v4::loopback(), port}; }

// A Beast WebSocket client on the real PKI, for what WsClient cannot do (text frames, not
// reading). Every wait is bounded.
struct RawWs {
  explicit RawWs(std::uint16_t port) : context(net::make_client_tls_context(device_tls()).value()),
                                       ws(ioc, *context) {
    beast::get_lowest_layer(ws).connect(loopback(port));
    REQUIRE_OK(net::prepare_client_stream(ws.next_layer().native_handle(), "localhost"));
    ws.next_layer().handshake(asio::ssl::stream_base::client);
    ws.handshake("localhost", "/edgefed/v1");
  }
  boost::system::error_code read(std::chrono::milliseconds limit = 5s) {
    boost::system::error_code result = asio::error::timed_out;
    ws.async_read(buffer, [&](boost::system::error_code ec, std::size_t) { result = ec; });
    ioc.restart();
    ioc.run_for(limit);
    return result;
  }
  asio::io_context ioc;
  net::TlsContextPtr context;
  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws;
  beast::flat_buffer buffer;
};

// One HTTPS request on its own connection, every step bounded: what a Prometheus scraper or
// a browser with a device certificate does.
struct HttpsReply {
  boost::system::error_code ec;  // of the first step that failed (timed_out if one hung)
  http::response<http::string_body> response;
  bool closed_cleanly = false;  // after the response, the server sent close_notify
};

HttpsReply https_request(std::uint16_t port, http::verb method, const std::string& target,
                         const std::string& body = {}, const net::TlsConfig& tls = device_tls()) {
  asio::io_context ioc;
  auto context = net::make_client_tls_context(tls).value();
  beast::ssl_stream<beast::tcp_stream> stream(ioc, *context);
  HttpsReply reply;
  auto step = [&](auto start) {
    reply.ec = asio::error::timed_out;
    start([&](boost::system::error_code ec, auto&&...) { reply.ec = ec; });
    ioc.restart();
    ioc.run_for(5s);
    return !reply.ec;
  };
  beast::get_lowest_layer(stream).connect(loopback(port));
  REQUIRE_OK(net::prepare_client_stream(stream.native_handle(), "localhost"));
  http::request<http::string_body> request{method, target, 11};
  request.set(http::field::host, "localhost");
  request.body() = body;
  request.prepare_payload();
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.skip(method == http::verb::head);  // a HEAD answer has Content-Length but no body
  if (!step([&](auto h) { stream.async_handshake(asio::ssl::stream_base::client, h); }) ||
      !step([&](auto h) { http::async_write(stream, request, h); }) ||
      !step([&](auto h) { http::async_read(stream, buffer, parser, h); })) {
    return reply;
  }
  reply.response = parser.release();
  std::array<char, 64> rest{};
  step([&](auto h) { stream.async_read_some(asio::buffer(rest), h); });
  reply.closed_cleanly = reply.ec == asio::error::eof;
  reply.ec = {};
  return reply;
}

// An HttpHandler that serves /metrics and /boom (throws), and records what it saw.
struct MetricsRoute {
  net::HttpResponse operator()(const net::HttpRequest& request) {
    {
      std::lock_guard lock(mutex);
      seen.push_back(request);
    }
    if (request.target == "/boom") throw std::runtime_error("secret detail");
    if (request.target == "/bad-status") return {42, "text/plain", "?"};
    if (request.target != "/metrics") return {};
    return {200, "text/plain; version=0.0.4; charset=utf-8", "edgefed_up 1\n"};
  }
  std::size_t calls() {
    std::lock_guard lock(mutex);
    return seen.size();
  }
  std::mutex mutex;
  std::vector<net::HttpRequest> seen;
};

// Captures log lines at info level while alive.
struct LogCapture {
  LogCapture() {
    edgefed::log::set_level(edgefed::log::Level::info);
    edgefed::log::set_sink([this](std::string_view line) {
      std::lock_guard lock(mutex);
      lines.emplace_back(line);
    });
  }
  ~LogCapture() {
    edgefed::log::set_sink(nullptr);
    edgefed::log::set_level(edgefed::log::Level::error);
  }
  bool contains(std::string_view a, std::string_view b) {
    std::lock_guard lock(mutex);
    for (const auto& line : lines) {
      if (line.find(a) != std::string::npos && line.find(b) != std::string::npos) return true;
    }
    return false;
  }
  std::mutex mutex;
  std::vector<std::string> lines;
};

}  // namespace

TEST_CASE("a device connects over mutual TLS and the server sees its device id") {
  Fixture f;
  auto client = f.connect();
  REQUIRE_OK(client);
  REQUIRE(f.handler.wait([](const Recorder& r) { return r.opens.size() == 1; }));
  CHECK(f.handler.opens.begin()->second == "device-0001");
  CHECK((*client)->is_open());
  CHECK(f.server->connection_count() == 1);
}

TEST_CASE("frames echo both ways in order, from empty to 1 MiB") {
  Fixture f;
  auto client = f.connect();
  REQUIRE_OK(client);
  std::vector<Bytes> frames = {{}, {42}, random_bytes(1000, 1), random_bytes(1u << 20, 2)};
  for (int i = 0; i < 20; ++i) frames.push_back(random_bytes(10 + i, 100 + i));
  for (const Bytes& frame : frames) REQUIRE_OK((*client)->send(frame));
  for (const Bytes& frame : frames) {
    auto echo = (*client)->receive(5s);
    REQUIRE_OK(echo);
    CHECK(*echo == frame);
  }
}

TEST_CASE("receive with nothing to read times out and the connection stays usable") {
  Fixture f;
  auto client = f.connect();
  REQUIRE_OK(client);
  auto nothing = (*client)->receive(50ms);
  REQUIRE_FALSE(nothing.ok());
  CHECK(nothing.error().code == ErrorCode::timeout);
  REQUIRE_OK((*client)->send(Bytes{1, 2, 3}));
  auto echo = (*client)->receive(5s);
  REQUIRE_OK(echo);
  CHECK(*echo == Bytes{1, 2, 3});
}

TEST_CASE("a device whose certificate comes from another CA is refused at the handshake") {
  Fixture f;
  LogCapture log;
  auto client = f.connect(device_tls(1, "stranger"));
  REQUIRE_FALSE(client.ok());
  INFO(client.error().message());
  CHECK(client.error().condition() == ErrorCondition::unauthorized);
  CHECK(f.handler.open_count() == 0);
  CHECK(eventually([&] { return log.contains("handshake failed", "conn="); }));
  f.expect_service();
}

TEST_CASE("a device that trusts another CA refuses the server") {
  Fixture f;
  net::TlsConfig tls = device_tls(1, "stranger");
  tls.ca_file = pki().path("stranger/ca.pem");
  auto client = f.connect(tls);
  REQUIRE_FALSE(client.ok());
  INFO(client.error().message());
  CHECK(client.error().code == ErrorCode::bad_signature);
  CHECK(f.handler.open_count() == 0);
  f.expect_service();
}

TEST_CASE("a server certificate without the expected name is refused") {
  Fixture f;
  net::TlsConfig tls = device_tls();
  tls.server_name = "elsewhere.example";
  auto client = f.connect(tls);
  REQUIRE_FALSE(client.ok());
  CHECK(client.error().code == ErrorCode::bad_signature);
}

TEST_CASE("a client without a certificate is refused") {
  Fixture f;
  net::TlsConfig tls = device_tls();
  tls.cert_file.clear();
  tls.key_file.clear();
  auto client = f.connect(tls);
  REQUIRE_FALSE(client.ok());
  INFO(client.error().message());
  CHECK(client.error().condition() == ErrorCondition::unauthorized);
  CHECK(f.handler.open_count() == 0);
  f.expect_service();
}

TEST_CASE("a plaintext client is refused and the server keeps serving others") {
  Fixture f;
  LogCapture log;
  for (std::string_view bytes : {"GET /edgefed/v1 HTTP/1.1\r\nHost: localhost\r\n\r\n",
                                 "hello, this is not TLS\r\n\r\n"}) {
    asio::io_context ioc;
    tcp::socket socket(ioc);
    socket.connect(loopback(f.server->port()));
    asio::write(socket, asio::buffer(bytes.data(), bytes.size()));
    CHECK(closed_by_peer(socket, ioc, 5s));
  }
  CHECK(f.handler.open_count() == 0);
  CHECK(eventually([&] { return log.contains("handshake failed", "stage=tls"); }));
  f.expect_service();
}

TEST_CASE("a TLS 1.2-only client is refused") {
  Fixture f;
  asio::io_context ioc;
  asio::ssl::context context(asio::ssl::context::tls_client);
  SSL_CTX_set_max_proto_version(context.native_handle(), TLS1_2_VERSION);
  context.load_verify_file(pki().path("main/ca.pem").string());
  context.use_certificate_chain_file(device_tls().cert_file.string());
  context.use_private_key_file(device_tls().key_file.string(), asio::ssl::context::pem);
  context.set_verify_mode(asio::ssl::verify_peer);
  asio::ssl::stream<tcp::socket> stream(ioc, context);
  stream.next_layer().connect(loopback(f.server->port()));
  boost::system::error_code result = asio::error::timed_out;
  stream.async_handshake(asio::ssl::stream_base::client, [&](boost::system::error_code ec) { result = ec; });
  ioc.run_for(5s);
  INFO(result.message());
  CHECK(result);
  CHECK(result != asio::error::timed_out);
  CHECK(f.handler.open_count() == 0);
  f.expect_service();
}

TEST_CASE("a client that never finishes its handshake is dropped after the handshake timeout") {
  Fixture f([](net::ServerConfig& c) { c.handshake_timeout = 300ms; });
  asio::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(loopback(f.server->port()));
  CHECK(closed_by_peer(socket, ioc, 5s));
  CHECK(eventually([&] { return f.server->connection_count() == 0; }));
}

TEST_CASE("an oversized frame closes that connection only") {
  Fixture f([](net::ServerConfig& c) { c.read_message_max = 64 * 1024; });
  auto big = f.connect(device_tls(1));
  auto other = f.connect(device_tls(2));
  REQUIRE_OK(big);
  REQUIRE_OK(other);
  REQUIRE(f.handler.wait([](const Recorder& r) { return r.opens.size() == 2; }));
  const net::ConnectionId big_id = f.handler.id_of("device-0001");

  REQUIRE_OK((*big)->send(random_bytes(64 * 1024 + 1, 3)));
  auto refused = (*big)->receive(5s);
  REQUIRE_FALSE(refused.ok());
  INFO(refused.error().message());
  CHECK(refused.error().code == ErrorCode::io_error);
  CHECK(refused.error().detail.find("1009") != std::string::npos);
  REQUIRE(f.handler.wait([&](const Recorder& r) { return r.closes.count(big_id) == 1; }));
  CHECK(f.handler.close_of(big_id).error().code == ErrorCode::too_large);

  const Bytes frame = random_bytes(64 * 1024, 4);  // at the limit: fine
  REQUIRE_OK((*other)->send(frame));
  auto echo = (*other)->receive(5s);
  REQUIRE_OK(echo);
  CHECK(*echo == frame);
}

TEST_CASE("a text frame closes that connection with a policy error") {
  Fixture f;
  RawWs raw(f.server->port());
  raw.ws.text(true);
  raw.ws.write(asio::buffer(std::string("hello")));
  CHECK(raw.read() == websocket::error::closed);
  CHECK(raw.ws.reason().code == websocket::close_code::policy_error);
  REQUIRE(f.handler.wait([](const Recorder& r) { return r.closes.size() == 1; }));
  CHECK(f.handler.closes.begin()->second.error().code == ErrorCode::bad_type);
  f.expect_service();
}

TEST_CASE("a device that stops answering pings is closed after the idle timeout") {
  Fixture f([](net::ServerConfig& c) { c.idle_timeout = 200ms; });
  RawWs raw(f.server->port());  // never reads, so never answers a ping
  REQUIRE(f.handler.wait([](const Recorder& r) { return r.closes.size() == 1; }, 5s));
  CHECK(f.handler.closes.begin()->second.error().code == ErrorCode::timeout);
}

TEST_CASE("an idle device that answers pings stays connected") {
  Fixture f([](net::ServerConfig& c) { c.idle_timeout = 100ms; });
  auto client = f.connect();
  REQUIRE_OK(client);
  std::this_thread::sleep_for(600ms);
  CHECK(f.handler.close_count() == 0);
  REQUIRE_OK((*client)->send(Bytes{7}));
  auto echo = (*client)->receive(5s);
  REQUIRE_OK(echo);
}

TEST_CASE("a device that stops reading is closed when its send queue overflows") {
  Fixture f([](net::ServerConfig& c) {
    c.send_queue_max_frames = 4;
    c.send_queue_max_bytes = 1u << 20;
  });
  net::ClientOptions options;
  options.receive_queue_max = 1;
  auto client = f.connect(device_tls(), options);
  REQUIRE_OK(client);
  REQUIRE(f.handler.wait([](const Recorder& r) { return r.opens.size() == 1; }));
  const net::ConnectionId id = f.handler.id_of("device-0001");
  const Bytes frame = random_bytes(64 * 1024, 5);
  for (int i = 0; i < 1000 && f.server->send(id, frame); ++i) {
  }
  REQUIRE(f.handler.wait([&](const Recorder& r) { return r.closes.count(id) == 1; }));
  const edgefed::Status why = f.handler.close_of(id);
  REQUIRE_FALSE(why.ok());
  CHECK(why.error().detail.find("send queue full") != std::string::npos);
  f.expect_service();
}

TEST_CASE("without an http handler plain HTTPS gets 404 and a wrong path refuses the upgrade") {
  Fixture f;
  for (http::verb method : {http::verb::get, http::verb::head, http::verb::post}) {
    const HttpsReply reply = https_request(f.server->port(), method, "/metrics");
    REQUIRE_FALSE(reply.ec);
    CHECK(reply.response.result() == http::status::not_found);
    CHECK(reply.closed_cleanly);
  }

  net::ClientOptions options;
  options.path = "/elsewhere";
  auto client = f.connect(device_tls(), options);
  REQUIRE_FALSE(client.ok());
  CHECK(client.error().code == ErrorCode::io_error);
  CHECK(client.error().detail.find("404") != std::string::npos);
  CHECK(f.handler.open_count() == 0);
}

TEST_CASE("the http handler answers GET with its status, content type and body, then closes") {
  MetricsRoute route;
  Fixture f([&](net::ServerConfig& c) { c.http_handler = std::ref(route); });
  const HttpsReply reply = https_request(f.server->port(), http::verb::get, "/metrics?x=1");
  REQUIRE_FALSE(reply.ec);
  CHECK(reply.response.result() == http::status::not_found);  // the handler's default

  const HttpsReply metrics = https_request(f.server->port(), http::verb::get, "/metrics");
  REQUIRE_FALSE(metrics.ec);
  const auto& response = metrics.response;
  CHECK(response.result() == http::status::ok);
  CHECK(response[http::field::content_type] == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(response.body() == "edgefed_up 1\n");
  CHECK(response[http::field::content_length] == "13");
  CHECK(response[http::field::cache_control] == "no-store");
  CHECK(response[http::field::connection] == "close");
  CHECK(metrics.closed_cleanly);

  std::lock_guard lock(route.mutex);
  REQUIRE(route.seen.size() == 2);
  CHECK(route.seen[0].target == "/metrics?x=1");
  CHECK(route.seen[1].method == "GET");
  CHECK(route.seen[1].target == "/metrics");
  CHECK(route.seen[1].device_id == "device-0001");
  CHECK(f.handler.open_count() == 0);  // plain requests never reach the ServerHandler
}

TEST_CASE("the http handler answers HEAD with the GET headers and no body") {
  MetricsRoute route;
  Fixture f([&](net::ServerConfig& c) { c.http_handler = std::ref(route); });
  const HttpsReply reply = https_request(f.server->port(), http::verb::head, "/metrics");
  REQUIRE_FALSE(reply.ec);
  CHECK(reply.response.result() == http::status::ok);
  CHECK(reply.response[http::field::content_length] == "13");
  CHECK(reply.response[http::field::content_type] == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(reply.response.body().empty());
  CHECK(reply.closed_cleanly);  // no stray body bytes before close_notify
  std::lock_guard lock(route.mutex);
  REQUIRE(route.seen.size() == 1);
  CHECK(route.seen[0].method == "HEAD");
}

TEST_CASE("methods other than GET and HEAD get 405 and never reach the http handler") {
  MetricsRoute route;
  Fixture f([&](net::ServerConfig& c) { c.http_handler = std::ref(route); });
  for (auto [method, body] :
       {std::pair{http::verb::post, ""}, std::pair{http::verb::post, "a=1"},
        std::pair{http::verb::delete_, ""}, std::pair{http::verb::put, "x"}}) {
    const HttpsReply reply = https_request(f.server->port(), method, "/metrics", body);
    INFO(std::string(http::to_string(method)) << " body '" << body << "'");
    REQUIRE_FALSE(reply.ec);
    CHECK(reply.response.result() == http::status::method_not_allowed);
    CHECK(reply.response[http::field::allow] == "GET, HEAD");
    CHECK(reply.response[http::field::connection] == "close");
  }
  CHECK(route.calls() == 0);
  f.expect_service();
}

TEST_CASE("an http handler that throws or returns a bad status gives 500 and serving goes on") {
  MetricsRoute route;
  Fixture f([&](net::ServerConfig& c) { c.http_handler = std::ref(route); });
  LogCapture log;
  for (const char* target : {"/boom", "/bad-status"}) {
    const HttpsReply reply = https_request(f.server->port(), http::verb::get, target);
    INFO(target);
    REQUIRE_FALSE(reply.ec);
    CHECK(reply.response.result() == http::status::internal_server_error);
    CHECK(reply.response.body().find("secret") == std::string::npos);
    CHECK(reply.closed_cleanly);
  }
  CHECK(log.contains("http handler failed", "secret detail"));
  CHECK(https_request(f.server->port(), http::verb::get, "/metrics").response.result() ==
        http::status::ok);
  f.expect_service();
}

TEST_CASE("with an http handler set the WebSocket path still upgrades and a wrong path gets 404") {
  MetricsRoute route;
  Fixture f([&](net::ServerConfig& c) { c.http_handler = std::ref(route); });
  f.expect_service();
  net::ClientOptions options;
  options.path = "/metrics";
  auto client = f.connect(device_tls(), options);
  REQUIRE_FALSE(client.ok());
  CHECK(client.error().detail.find("404") != std::string::npos);
  CHECK(route.calls() == 0);  // an upgrade request is never the handler's
}

TEST_CASE("with an http handler set a client without a certificate still fails the handshake") {
  MetricsRoute route;
  Fixture f([&](net::ServerConfig& c) { c.http_handler = std::ref(route); });
  net::TlsConfig tls = device_tls();
  tls.cert_file.clear();
  tls.key_file.clear();
  const HttpsReply reply = https_request(f.server->port(), http::verb::get, "/metrics", "", tls);
  INFO(reply.ec.message());
  CHECK(reply.ec);
  CHECK(reply.ec != asio::error::timed_out);
  CHECK(route.calls() == 0);
  const HttpsReply stranger =
      https_request(f.server->port(), http::verb::get, "/metrics", "", device_tls(1, "stranger"));
  CHECK(stranger.ec);
  CHECK(route.calls() == 0);
  CHECK(https_request(f.server->port(), http::verb::get, "/metrics").response.result() ==
        http::status::ok);
}

TEST_CASE("many sequential and concurrent connections work") {
  Fixture f([](net::ServerConfig& c) { c.threads = 2; });
  for (int i = 0; i < 30; ++i) {
    auto client = f.connect(device_tls(1 + i % 3));
    REQUIRE_OK(client);
    REQUIRE_OK((*client)->send(Bytes{static_cast<std::uint8_t>(i)}));
    auto echo = (*client)->receive(5s);
    REQUIRE_OK(echo);
    CHECK(*echo == Bytes{static_cast<std::uint8_t>(i)});
  }
  constexpr int kThreads = 5, kPerThread = 10;
  std::vector<std::unique_ptr<net::WsClient>> clients(kThreads * kPerThread);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kPerThread; ++k) {
        auto client = f.connect(device_tls(1 + k % 3));
        if (!client) { ++failures; continue; }
        clients[t * kPerThread + k] = std::move(client).value();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  REQUIRE(failures == 0);
  CHECK(f.server->connection_count() == clients.size());
  for (std::size_t i = 0; i < clients.size(); ++i) {
    REQUIRE_OK(clients[i]->send(random_bytes(1000, static_cast<unsigned>(i))));
  }
  for (std::size_t i = 0; i < clients.size(); ++i) {
    auto echo = clients[i]->receive(5s);
    REQUIRE_OK(echo);
    CHECK(*echo == random_bytes(1000, static_cast<unsigned>(i)));
  }
  clients.clear();
  CHECK(f.handler.wait([](const Recorder& r) { return r.closes.size() == 80; }));
  for (const auto& [id, why] : f.handler.closes) CHECK(why.ok());
}

TEST_CASE("stop closes every connection and returns") {
  Fixture f;
  std::vector<std::unique_ptr<net::WsClient>> clients;
  for (int i = 1; i <= 3; ++i) {
    auto client = f.connect(device_tls(i));
    REQUIRE_OK(client);
    clients.push_back(std::move(client).value());
  }
  REQUIRE(f.handler.wait([](const Recorder& r) { return r.opens.size() == 3; }));
  const auto started = std::chrono::steady_clock::now();
  f.server->stop();
  CHECK(std::chrono::steady_clock::now() - started < 3s);
  CHECK(f.handler.close_count() == 3);
  CHECK(f.server->connection_count() == 0);
  for (const auto& [id, why] : f.handler.closes) CHECK(why.ok());
  for (auto& client : clients) {
    auto end = client->receive(5s);
    REQUIRE_FALSE(end.ok());
    CHECK(end.error().detail.find("1001") != std::string::npos);
  }
  f.server->stop();  // idempotent
  CHECK_FALSE(f.connect().ok());
}

TEST_CASE("server send and close to a closed or unknown connection are harmless") {
  Fixture f;
  auto client = f.connect();
  REQUIRE_OK(client);
  REQUIRE(f.handler.wait([](const Recorder& r) { return r.opens.size() == 1; }));
  const net::ConnectionId id = f.handler.id_of("device-0001");
  (*client)->close();
  REQUIRE(f.handler.wait([&](const Recorder& r) { return r.closes.count(id) == 1; }));
  CHECK(f.handler.close_of(id).ok());
  CHECK_FALSE(f.server->send(id, Bytes{1, 2, 3}));
  CHECK_FALSE(f.server->close(id, "again"));
  CHECK_FALSE(f.server->send(id + 1000, Bytes{1}));
  f.expect_service();
}

TEST_CASE("the server closes a connection on request after the frames queued before") {
  Fixture f;
  auto client = f.connect();
  REQUIRE_OK(client);
  REQUIRE(f.handler.wait([](const Recorder& r) { return r.opens.size() == 1; }));
  const net::ConnectionId id = f.handler.id_of("device-0001");
  REQUIRE(f.server->send(id, Bytes{9}));
  REQUIRE(f.server->close(id, "round over"));
  auto last = (*client)->receive(5s);
  REQUIRE_OK(last);
  CHECK(*last == Bytes{9});
  auto end = (*client)->receive(5s);
  REQUIRE_FALSE(end.ok());
  CHECK(end.error().detail.find("1000 round over") != std::string::npos);
  CHECK(f.handler.close_of(id).ok());
}

TEST_CASE("TLS configuration errors name the cause") {
  net::TlsConfig missing = server_tls();
  missing.cert_file = pki().path("main/nope.pem");
  auto a = net::make_server_tls_context(missing);
  REQUIRE_FALSE(a.ok());
  CHECK(a.error().code == ErrorCode::io_error);

  net::TlsConfig garbage = server_tls();
  garbage.ca_file = pki().path("garbage.pem");
  std::ofstream(garbage.ca_file) << "-----BEGIN CERTIFICATE-----\nnot base64\n";
  auto b = net::make_server_tls_context(garbage);
  REQUIRE_FALSE(b.ok());
  CHECK(b.error().code == ErrorCode::bad_encoding);

  net::TlsConfig mismatch = device_tls(1);
  mismatch.key_file = device_tls(2).key_file;
  auto c = net::make_client_tls_context(mismatch);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code == ErrorCode::invalid_argument);

  net::ServerConfig config;
  config.tls = missing;
  Recorder handler;
  auto server = net::WsServer::create(config, handler);
  REQUIRE_FALSE(server.ok());
  CHECK(server.error().code == ErrorCode::io_error);
}

TEST_CASE("a refused connection to a closed port is an io_error") {
  std::uint16_t port = 0;
  {
    Fixture f;
    port = f.server->port();
  }
  auto client = net::WsClient::connect("127.0.0.1", port, device_tls());
  REQUIRE_FALSE(client.ok());
  CHECK(client.error().code == ErrorCode::io_error);
}
