#include "edgefed/net/client.hpp"

#include "beast.hpp"
#include "error_map.hpp"

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

namespace edgefed::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using detail::error_code;
using detail::tcp;

namespace {

Status validate(const ClientOptions& o) {
  auto bad = [](const char* what) { return fail(ErrorCode::invalid_argument, what); };
  if (o.path.empty() || o.path.front() != '/') return bad("client path must start with '/'");
  if (o.connect_timeout.count() <= 0) return bad("client connect_timeout must be positive");
  if (o.send_timeout.count() <= 0) return bad("client send_timeout must be positive");
  if (o.idle_timeout.count() < 0) return bad("client idle_timeout must not be negative");
  if (o.read_message_max == 0) return bad("client read_message_max must be positive");
  if (o.receive_queue_max == 0) return bad("client receive_queue_max must be positive");
  return {};
}

std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

constexpr std::size_t kReadPiece = 1u << 20;  // most bytes one read appends to a frame

}  // namespace

// The connection runs on `ioc`: on the caller's thread during connect(), then on io_thread.
// Everything touching `ws` runs there; the mutex guards only the inbox and the end state.
struct WsClient::Impl {
  Impl(const ClientOptions& opts, TlsContextPtr context)
      : options(opts), tls(std::move(context)), ws(ioc, *tls) {}

  Status connect(const std::string& host, std::uint16_t port, const std::string& server_name);
  void on_tcp_connect(error_code ec, const tcp::endpoint& endpoint);
  void on_tls_handshake(error_code ec);
  void on_upgrade(error_code ec);
  void set_timeouts(std::chrono::steady_clock::duration handshake, std::chrono::milliseconds idle);
  Status start_io();

  void do_read();
  void do_read_some();
  void on_read(error_code ec, std::size_t bytes);
  Error read_error(error_code ec);
  void end(const Error& why);
  void close();

  ClientOptions options;
  TlsContextPtr tls;
  asio::io_context ioc{1};
  detail::WsStream ws;
  std::string where;  // "host:port", for errors
  std::string host_header;
  std::chrono::steady_clock::time_point deadline;
  bool connect_done = false;
  std::optional<Error> connect_error;
  websocket::response_type upgrade_response;

  Bytes frame;
  std::optional<detail::FrameBuffer> frame_buffer;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread io_thread;

  mutable std::mutex mutex;
  std::condition_variable changed;
  std::deque<Bytes> inbox;
  std::optional<Error> ended;
  bool paused = false;   // inbox full: no read pending until receive() makes room
  bool closing = false;  // close() was called
  std::mutex send_mutex;  // one send at a time; close() waits for it
};

Status WsClient::Impl::connect(const std::string& host, std::uint16_t port,
                               const std::string& server_name) {
  where = host + ":" + std::to_string(port);
  host_header = where;
  error_code ec;
  tcp::resolver resolver(ioc);
  const auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec) return fail(ErrorCode::io_error, "resolve " + where + ": " + ec.message());
  EDGEFED_TRY(prepare_client_stream(ws.next_layer().native_handle(), server_name));
  deadline = std::chrono::steady_clock::now() + options.connect_timeout;
  beast::get_lowest_layer(ws).expires_at(deadline);
  beast::get_lowest_layer(ws).async_connect(
      endpoints, beast::bind_front_handler(&Impl::on_tcp_connect, this));
  // Run only until the chain ends: Beast may leave a timer armed that must not block us.
  while (!connect_done && ioc.run_one() > 0) {
  }
  ioc.restart();
  if (connect_error) return *connect_error;
  if (!connect_done) return fail(ErrorCode::io_error, "connect " + where + ": stopped");
  return {};
}

void WsClient::Impl::on_tcp_connect(error_code ec, const tcp::endpoint&) {
  if (ec) {
    connect_done = true;
    connect_error = detail::to_error(ec, "connect " + where);
    return;
  }
  ws.next_layer().async_handshake(asio::ssl::stream_base::client,
                                  beast::bind_front_handler(&Impl::on_tls_handshake, this));
}

void WsClient::Impl::on_tls_handshake(error_code ec) {
  if (ec) {
    connect_done = true;
    connect_error = detail::to_error(ec, "tls handshake with " + where);
    return;
  }
  // The WebSocket layer has its own timers: hand the rest of the deadline over to them.
  beast::get_lowest_layer(ws).expires_never();
  const auto left = deadline - std::chrono::steady_clock::now();
  set_timeouts(std::max<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(1)),
               std::chrono::milliseconds(0));
  ws.read_message_max(0);  // no Beast limit: do_read_some() enforces read_message_max
  ws.binary(true);
  ws.async_handshake(upgrade_response, host_header, options.path,
                     beast::bind_front_handler(&Impl::on_upgrade, this));
}

void WsClient::Impl::on_upgrade(error_code ec) {
  connect_done = true;
  if (ec == websocket::error::upgrade_declined) {
    connect_error = fail(ErrorCode::io_error,
                         "server " + where + " declined the WebSocket upgrade on " + options.path +
                             " (HTTP " + std::to_string(upgrade_response.result_int()) + ")");
  } else if (ec) {
    // With TLS 1.3 the server judges our certificate after our handshake has finished, so
    // its refusal (an alert) arrives here, while we wait for the upgrade response.
    connect_error = detail::to_error(ec, "websocket upgrade with " + where);
  } else {
    set_timeouts(options.connect_timeout, options.idle_timeout);
  }
}

void WsClient::Impl::set_timeouts(std::chrono::steady_clock::duration handshake,
                                  std::chrono::milliseconds idle) {
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = handshake;
  timeouts.idle_timeout = idle.count() > 0 ? websocket::stream_base::duration(idle)
                                           : websocket::stream_base::none();
  timeouts.keep_alive_pings = true;
  ws.set_option(timeouts);
}

Status WsClient::Impl::start_io() {
  work.emplace(ioc.get_executor());
  do_read();  // queued now, run by the I/O thread
  try {
    io_thread = std::thread([this] { ioc.run(); });
  } catch (const std::system_error& e) {
    return fail(ErrorCode::io_error, std::string("client cannot start its I/O thread: ") + e.what());
  }
  return {};
}

// The frame limit is checked here rather than by Beast (see server_session.cpp: Beast's own
// refusal can lose its cause to the TLS teardown).
void WsClient::Impl::do_read() {
  frame.clear();
  frame_buffer.emplace(frame);
  do_read_some();
}

void WsClient::Impl::do_read_some() {
  const std::size_t budget = options.read_message_max - frame_buffer->size();
  ws.async_read_some(*frame_buffer, std::min(budget, kReadPiece) + 1,
                     beast::bind_front_handler(&Impl::on_read, this));
}

void WsClient::Impl::on_read(error_code ec, std::size_t) {
  if (ec) return end(read_error(ec));
  if (ws.got_text() || frame_buffer->size() > options.read_message_max) {
    const bool text = ws.got_text();
    end(text ? fail(ErrorCode::bad_type, "server sent a text frame (binary frames only)")
             : fail(ErrorCode::too_large, "server sent a frame over read_message_max"));
    websocket::close_reason reason(text ? websocket::close_code::policy_error
                                        : websocket::close_code::too_big);
    ws.async_close(reason, [](error_code) {});
    return;
  }
  if (!ws.is_message_done()) return do_read_some();
  frame.resize(frame_buffer->size());
  bool room = false;
  {
    std::lock_guard lock(mutex);
    inbox.push_back(std::move(frame));
    room = inbox.size() < options.receive_queue_max;
    paused = !room;
  }
  changed.notify_all();
  if (room) do_read();
}

Error WsClient::Impl::read_error(error_code ec) {
  if (ec == websocket::error::closed) {
    std::lock_guard lock(mutex);
    if (closing) return fail(ErrorCode::io_error, "connection closed by the client");
    return fail(ErrorCode::io_error,
                "connection closed by the server (" + detail::describe(ws.reason()) + ")");
  }
  if (ec == beast::error::timeout) {
    return fail(ErrorCode::timeout,
                "nothing from the server within the idle timeout (" + ms(options.idle_timeout) + ")");
  }
  return detail::to_error(ec, "receive from " + where);
}

void WsClient::Impl::end(const Error& why) {
  {
    std::lock_guard lock(mutex);
    if (!ended) ended = why;
  }
  changed.notify_all();
}

void WsClient::Impl::close() {
  std::lock_guard send_lock(send_mutex);
  if (!io_thread.joinable()) return;
  {
    std::lock_guard lock(mutex);
    closing = true;
  }
  asio::post(ioc, [this] {
    if (!ws.is_open()) return;
    ws.async_close(websocket::close_code::normal, [this](error_code ec) {
      end(ec ? detail::to_error(ec, "close") : fail(ErrorCode::io_error, "connection closed by the client"));
    });
  });
  {
    std::unique_lock lock(mutex);
    changed.wait_for(lock, options.connect_timeout, [this] { return ended.has_value(); });
  }
  end(fail(ErrorCode::io_error, "connection closed by the client"));
  work.reset();
  ioc.stop();
  io_thread.join();
  // Cancel what is still pending and let those handlers run (they only record the end).
  beast::get_lowest_layer(ws).close();
  ioc.restart();
  ioc.poll();
}

Result<std::unique_ptr<WsClient>> WsClient::connect(const std::string& host, std::uint16_t port,
                                                    const TlsConfig& tls,
                                                    const ClientOptions& options) {
  EDGEFED_TRY(validate(options));
  Result<TlsContextPtr> context = make_client_tls_context(tls);
  if (!context) return context.error().with_context("client TLS");
  auto impl = std::make_unique<Impl>(options, std::move(context).value());
  EDGEFED_TRY(impl->connect(host, port, tls.server_name));
  EDGEFED_TRY(impl->start_io());
  return std::unique_ptr<WsClient>(new WsClient(std::move(impl)));
}

WsClient::WsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WsClient::~WsClient() { impl_->close(); }

Status WsClient::send(ByteSpan frame) {
  Impl& c = *impl_;
  std::lock_guard send_lock(c.send_mutex);
  {
    std::lock_guard lock(c.mutex);
    if (c.ended) return fail(ErrorCode::io_error, "connection is closed (" + c.ended->message() + ")");
  }
  auto buffer = std::make_shared<Bytes>(frame.begin(), frame.end());
  auto written = std::make_shared<std::promise<error_code>>();
  std::future<error_code> result = written->get_future();
  asio::post(c.ioc, [&c, buffer, written] {
    c.ws.async_write(asio::buffer(*buffer),
                     [buffer, written](error_code ec, std::size_t) { written->set_value(ec); });
  });
  if (result.wait_for(c.options.send_timeout) != std::future_status::ready) {
    Error error = fail(ErrorCode::timeout, "send: frame not written within " + ms(c.options.send_timeout));
    c.end(error);
    asio::post(c.ioc, [&c] { beast::get_lowest_layer(c.ws).close(); });
    return error;
  }
  const error_code ec = result.get();
  if (!ec) return {};
  Error error = detail::to_error(ec, "send to " + c.where);
  c.end(error);
  return error;
}

Result<Bytes> WsClient::receive(std::chrono::milliseconds timeout) {
  Impl& c = *impl_;
  std::unique_lock lock(c.mutex);
  if (!c.changed.wait_for(lock, timeout, [&c] { return !c.inbox.empty() || c.ended.has_value(); })) {
    return fail(ErrorCode::timeout, "no frame within " + ms(timeout));
  }
  if (c.inbox.empty()) return *c.ended;
  Bytes next = std::move(c.inbox.front());
  c.inbox.pop_front();
  if (c.paused && !c.ended) {
    c.paused = false;
    asio::post(c.ioc, [&c] { c.do_read(); });
  }
  return next;
}

void WsClient::close() { impl_->close(); }

bool WsClient::is_open() const {
  std::lock_guard lock(impl_->mutex);
  return !impl_->ended.has_value();
}

}  // namespace edgefed::net
