#include "edgefed/net/server.hpp"

#include "beast.hpp"
#include "edgefed/common/log.hpp"
#include "server_core.hpp"
#include "server_session.hpp"

#include <atomic>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

namespace edgefed::net {

namespace asio = boost::asio;
using detail::error_code;
using detail::ServerCore;
using detail::ServerSession;
using detail::tcp;

namespace {

Status validate(const ServerConfig& c) {
  auto bad = [](const char* what) { return fail(ErrorCode::invalid_argument, what); };
  if (c.threads == 0) return bad("server threads must be at least 1");
  if (c.read_message_max == 0) return bad("server read_message_max must be positive");
  if (c.path.empty() || c.path.front() != '/') return bad("server path must start with '/'");
  if (c.send_queue_max_frames == 0 || c.send_queue_max_bytes == 0) {
    return bad("server send queue bounds must be positive");
  }
  if (c.max_connections == 0) return bad("server max_connections must be positive");
  if (c.handshake_timeout.count() <= 0) return bad("server handshake_timeout must be positive");
  if (c.idle_timeout.count() < 0) return bad("server idle_timeout must not be negative");
  if (c.stop_timeout.count() < 0) return bad("server stop_timeout must not be negative");
  return {};
}

// After a failed accept (EMFILE, ENOBUFS) wait before trying again instead of spinning.
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};

}  // namespace

struct WsServer::Impl {
  Impl(ServerConfig cfg, ServerHandler& handler, TlsContextPtr tls_context)
      : config(std::move(cfg)),
        tls(std::move(tls_context)),
        core(config, handler),
        ioc(static_cast<int>(config.threads)),
        accept_strand(asio::make_strand(ioc)),
        acceptor(accept_strand),
        retry_timer(accept_strand) {}

  Status listen();
  void do_accept();
  void on_accept(error_code ec, tcp::socket socket);
  void run_io();

  ServerConfig config;
  TlsContextPtr tls;
  ServerCore core;
  // Declared after what sessions reference: destroying the io_context destroys the sessions
  // whose operations were still pending at stop().
  asio::io_context ioc;
  asio::strand<asio::io_context::executor_type> accept_strand;
  tcp::acceptor acceptor;
  asio::steady_timer retry_timer;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  bool started = false;
  bool stopped = false;
  std::uint16_t port = 0;
};

Status WsServer::Impl::listen() {
  error_code ec;
  const asio::ip::address address = asio::ip::make_address(config.address, ec);
  if (ec) {
    return fail(ErrorCode::invalid_argument, "server address '" + config.address + "' is not an IP address");
  }
  const tcp::endpoint endpoint(address, config.port);
  const std::string where = config.address + ":" + std::to_string(config.port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail(ErrorCode::io_error, "listen on " + where + ": " + ec.message());
  port = acceptor.local_endpoint(ec).port();
  if (ec) return fail(ErrorCode::io_error, "listen on " + where + ": " + ec.message());
  return {};
}

// Each socket gets its own strand: one connection's handlers never run concurrently.
void WsServer::Impl::do_accept() {
  acceptor.async_accept(asio::make_strand(ioc),
                        detail::beast::bind_front_handler(&Impl::on_accept, this));
}

void WsServer::Impl::on_accept(error_code ec, tcp::socket socket) {
  if (stopping) return;
  if (ec) {
    if (ec == asio::error::operation_aborted) return;
    log::warn("accept failed", {{"reason", ec.message()}});
    retry_timer.expires_after(kAcceptRetryDelay);
    retry_timer.async_wait([this](error_code wait_ec) {
      if (!wait_ec && !stopping) do_accept();
    });
    return;
  }
  const ConnectionId id = core.next_id();
  error_code peer_ec;
  const tcp::endpoint peer = socket.remote_endpoint(peer_ec);
  auto session = std::make_shared<ServerSession>(std::move(socket), *tls, core, id);
  if (core.add(id, session)) {
    const std::string from = peer_ec ? std::string("?") : peer.address().to_string();
    log::debug("accepted", {{"conn", id}, {"peer", from}});
    session->run();
  } else {
    log::warn("connection refused", {{"conn", id}, {"reason", "max_connections reached or stopping"},
                                     {"limit", config.max_connections}});
  }
  do_accept();
}

void WsServer::Impl::run_io() {
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {  // a backstop: sessions catch handler exceptions
      log::error("I/O thread caught an exception", {{"reason", e.what()}});
    }
  }
}

Result<std::unique_ptr<WsServer>> WsServer::create(ServerConfig config, ServerHandler& handler) {
  EDGEFED_TRY(validate(config));
  Result<TlsContextPtr> tls = make_server_tls_context(config.tls);
  if (!tls) return tls.error().with_context("server TLS");
  auto impl = std::make_unique<Impl>(std::move(config), handler, std::move(tls).value());
  EDGEFED_TRY(impl->listen());
  return std::unique_ptr<WsServer>(new WsServer(std::move(impl)));
}

WsServer::WsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WsServer::~WsServer() { stop(); }

std::uint16_t WsServer::port() const { return impl_->port; }

Status WsServer::start() {
  Impl& s = *impl_;
  if (s.started || s.stopped) {
    return fail(ErrorCode::invalid_argument, "server start() after start() or stop()");
  }
  s.started = true;
  s.work.emplace(s.ioc.get_executor());
  asio::post(s.accept_strand, [&s] { s.do_accept(); });
  try {
    for (std::size_t i = 0; i < s.config.threads; ++i) s.threads.emplace_back([&s] { s.run_io(); });
  } catch (const std::system_error& e) {
    stop();
    return fail(ErrorCode::io_error, std::string("server cannot start its threads: ") + e.what());
  }
  log::info("server listening", {{"address", s.config.address}, {"port", s.port},
                                 {"path", s.config.path}, {"threads", s.config.threads}});
  return {};
}

void WsServer::stop() {
  Impl& s = *impl_;
  if (s.stopped) return;
  s.stopped = true;
  s.stopping = true;
  std::vector<std::shared_ptr<ServerSession>> sessions = s.core.begin_shutdown();
  if (!s.started) {
    error_code ignored;
    s.acceptor.close(ignored);
    return;
  }
  asio::post(s.accept_strand, [&s] {
    error_code ignored;
    s.acceptor.close(ignored);
    s.retry_timer.cancel();
  });
  for (const auto& session : sessions) session->shutdown();
  sessions.clear();
  if (!s.core.wait_until_empty(s.config.stop_timeout)) {
    log::warn("stop: connections still closing, abandoning them", {{"count", s.core.size()}});
  }
  s.work.reset();
  s.ioc.stop();
  for (std::thread& thread : s.threads) thread.join();
  s.threads.clear();
  // The I/O threads are gone: nothing else touches the sessions now.
  for (const auto& session : s.core.snapshot()) session->abandon();
  log::info("server stopped", {{"port", s.port}});
}

bool WsServer::send(ConnectionId id, Bytes frame) {
  return send(id, std::make_shared<const Bytes>(std::move(frame)));
}

bool WsServer::send(ConnectionId id, SharedFrame frame) {
  std::shared_ptr<ServerSession> session = impl_->core.find(id);
  if (!session || !session->is_open() || !frame) return false;
  session->send(std::move(frame));
  return true;
}

bool WsServer::close(ConnectionId id, std::string reason) {
  std::shared_ptr<ServerSession> session = impl_->core.find(id);
  if (!session || !session->is_open()) return false;
  session->close(std::move(reason));
  return true;
}

std::size_t WsServer::connection_count() const { return impl_->core.size(); }

}  // namespace edgefed::net
