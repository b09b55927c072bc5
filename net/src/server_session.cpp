#include "server_session.hpp"

#include "edgefed/common/log.hpp"
#include "edgefed/net/tls.hpp"
#include "error_map.hpp"

#include <exception>
#include <string>

namespace edgefed::net::detail {
namespace {

constexpr std::size_t kMaxRequestHeader = 8 * 1024;
constexpr std::size_t kMaxCloseReason = 123;  // a close frame's payload is at most 125 bytes
constexpr std::size_t kReadPiece = 1u << 20;     // most bytes one read appends to a frame

std::string reason_of(const Status& why) { return why.ok() ? "closed" : why.error().message(); }

using Request = http::request<http::empty_body>;
using Response = http::response<http::string_body>;

Response plain(http::status status, std::string body) {
  Response response;
  response.result(status);
  response.set(http::field::content_type, "text/plain; charset=utf-8");
  response.body() = std::move(body);
  return response;
}

// The answer to a request that is not our upgrade: the application's, or a refusal. The
// handler's exception text goes to the log only; the client learns just "500".
Response answer(const HttpHandler& handler, const Request& request, const std::string& device_id,
                ConnectionId id) {
  if (!handler) return plain(http::status::not_found, "not found\n");
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    Response response = plain(http::status::method_not_allowed, "method not allowed\n");
    response.set(http::field::allow, "GET, HEAD");
    return response;
  }
  const std::string target(request.target());
  auto failed = [&](std::string_view reason) {
    log::error("http handler failed", {{"conn", id}, {"device", device_id},
                                       {"target", target.substr(0, 128)}, {"reason", reason}});
    return plain(http::status::internal_server_error, "internal server error\n");
  };
  HttpResponse served;
  try {
    served = handler(HttpRequest{std::string(request.method_string()), target, device_id});
  } catch (const std::exception& e) {
    return failed(e.what());
  } catch (...) {
    return failed("not a std::exception");
  }
  // 1xx are interim answers, never a final one; Beast would throw beyond 999.
  if (served.status < 200 || served.status > 599) {
    return failed("status " + std::to_string(served.status) + " out of range");
  }
  Response response;
  response.result(served.status);
  if (!served.content_type.empty()) response.set(http::field::content_type, served.content_type);
  response.body() = std::move(served.body);
  return response;
}

websocket::close_reason make_close(websocket::close_code code, std::string_view text) {
  websocket::close_reason reason(code);
  text = text.substr(0, kMaxCloseReason);
  reason.reason.assign(text.data(), text.size());
  return reason;
}

}  // namespace

ServerSession::ServerSession(tcp::socket socket, asio::ssl::context& tls, ServerCore& core,
                             ConnectionId id)
    : id_(id), core_(core), strand_(socket.get_executor()), ws_(std::move(socket), tls) {}

template <typename Callback>
void ServerSession::call_handler(std::string_view what, Callback&& callback) {
  // The handler must not throw; if it does, only this connection pays for it.
  try {
    callback();
  } catch (const std::exception& e) {
    handler_failed(what, e.what());
  } catch (...) {
    handler_failed(what, "not a std::exception");
  }
}

void ServerSession::handler_failed(std::string_view what, std::string_view reason) {
  log::error("handler threw", {{"conn", id_}, {"device", device_id_}, {"callback", what},
                               {"reason", reason}});
  if (state_ == State::open && !finished_) {
    abort(fail(ErrorCode::io_error, "handler threw in " + std::string(what)));
  }
}

void ServerSession::run() {
  asio::dispatch(strand_, beast::bind_front_handler(&ServerSession::do_tls_handshake,
                                                    shared_from_this()));
}

// ---- handshake: TLS, then one HTTP request (upgrade or not), all within handshake_timeout

void ServerSession::do_tls_handshake() {
  if (state_ != State::handshake) return;
  beast::get_lowest_layer(ws_).expires_after(core_.config().handshake_timeout);
  ws_.next_layer().async_handshake(
      asio::ssl::stream_base::server,
      beast::bind_front_handler(&ServerSession::on_tls_handshake, shared_from_this()));
}

void ServerSession::on_tls_handshake(error_code ec) {
  if (state_ != State::handshake) return;
  if (ec) return drop_handshake("tls", to_error(ec, "tls handshake").message());
  Result<std::string> peer = verified_peer_id(ws_.next_layer().native_handle());
  if (!peer) return drop_handshake("identity", peer.error().message());
  device_id_ = std::move(peer).value();
  do_read_request();
}

void ServerSession::do_read_request() {
  request_.emplace();
  request_->header_limit(kMaxRequestHeader);
  http::async_read(ws_.next_layer(), http_buffer_, *request_,
                   beast::bind_front_handler(&ServerSession::on_read_request, shared_from_this()));
}

void ServerSession::on_read_request(error_code ec, std::size_t) {
  if (state_ != State::handshake) return;
  // The parser takes no body (empty_body), so a request with one (a POST) stops after its
  // header. That is enough to refuse it, and the connection closes after the answer anyway.
  const bool has_body = ec == http::error::unexpected_body && request_->is_header_done();
  if (ec && !has_body) return drop_handshake("http", to_error(ec, "upgrade request").message());
  const Request& request = request_->get();
  if (!websocket::is_upgrade(request)) {
    return do_respond(answer(core_.config().http_handler, request, device_id_, id_));
  }
  if (request.target() != core_.config().path) {
    return do_respond(plain(http::status::not_found, "not found\n"));
  }
  if (has_body) return drop_handshake("http", "upgrade request with a body");
  do_upgrade();
}

void ServerSession::do_upgrade() {
  // From here Beast's own timeouts govern: handshake_timeout for the upgrade and the closing
  // handshake, idle_timeout with pings while open.
  beast::get_lowest_layer(ws_).expires_never();
  const ServerConfig& config = core_.config();
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = config.handshake_timeout;
  timeouts.idle_timeout = config.idle_timeout.count() > 0
                              ? websocket::stream_base::duration(config.idle_timeout)
                              : websocket::stream_base::none();
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& response) { response.set(http::field::server, "edgefed"); }));
  ws_.read_message_max(0);  // no Beast limit: do_read_some() enforces read_message_max
  ws_.binary(true);
  ws_.auto_fragment(false);
  ws_.async_accept(request_->get(),
                   beast::bind_front_handler(&ServerSession::on_upgrade, shared_from_this()));
}

void ServerSession::on_upgrade(error_code ec) {
  if (state_ != State::handshake) return;
  if (ec) return drop_handshake("websocket", to_error(ec, "websocket upgrade").message());
  request_.reset();
  http_buffer_ = {};
  state_ = State::open;
  open_ = true;
  log::info("connection open", {{"conn", id_}, {"device", device_id_}});
  call_handler("on_open", [&] { core_.handler().on_open(id_, device_id_); });
  if (state_ == State::open) do_read();
}

// One answer to a request that is not our upgrade (/metrics, a browser), then close.
void ServerSession::do_respond(Response response) {
  const Request& request = request_->get();
  const unsigned status = response.result_int();
  log::write(status < 400 ? log::Level::debug : log::Level::info, "http request",
             {{"conn", id_}, {"device", device_id_},
              {"method", std::string(request.method_string())},
              {"target", std::string(request.target().substr(0, 128))}, {"status", status}});
  response.version(request.version());
  response.set(http::field::server, "edgefed");
  response.set(http::field::cache_control, "no-store");
  response.keep_alive(false);
  if (status == 204 || status == 304) response.body().clear();  // Beast refuses a body there
  response.prepare_payload();
  // HEAD: the Content-Length of the GET answer, no body.
  if (request.method() == http::verb::head) response.body().clear();
  response_.emplace(std::move(response));
  http::async_write(
      ws_.next_layer(), *response_,
      beast::bind_front_handler(&ServerSession::on_response_written, shared_from_this()));
}

void ServerSession::on_response_written(error_code ec, std::size_t) {
  if (state_ != State::handshake) return;
  if (ec) return drop_handshake("http", to_error(ec, "http response").message());
  ws_.next_layer().async_shutdown(
      beast::bind_front_handler(&ServerSession::on_tls_shutdown, shared_from_this()));
}

void ServerSession::on_tls_shutdown(error_code) {
  // The peer may just drop the socket instead of answering close_notify; either way we are done.
  if (state_ != State::handshake) return;
  set_closed();
}

// Wrong CA, no certificate, plaintext, TLS 1.2, timeout, garbage: log, drop, keep serving.
void ServerSession::drop_handshake(std::string_view stage, const std::string& reason) {
  log::warn("handshake failed", {{"conn", id_}, {"device", device_id_}, {"stage", stage},
                                 {"reason", reason}});
  set_closed();
}

// ---- open: one read always pending; frames delivered whole
//
// The size limit is ours, not Beast's read_message_max: when Beast refuses a message it
// sends 1009 and tears TLS down while the peer is still sending, and the teardown error then
// replaces message_too_big, so the cause would be lost. Reading in pieces of at most the
// remaining budget + 1 bytes bounds memory the same way and lets us close with 1009 ourselves.

void ServerSession::do_read() {
  frame_.clear();
  frame_buffer_.emplace(frame_);
  do_read_some();
}

void ServerSession::do_read_some() {
  const std::size_t budget = core_.config().read_message_max - frame_buffer_->size();
  ws_.async_read_some(*frame_buffer_, std::min(budget, kReadPiece) + 1,
                      beast::bind_front_handler(&ServerSession::on_read, shared_from_this()));
}

void ServerSession::on_read(error_code ec, std::size_t) {
  if (ec) return on_read_error(ec);
  // While closing, Beast's close operation reads on until the peer's close frame.
  if (state_ != State::open) return;
  if (ws_.got_text()) {
    return begin_close(make_close(websocket::close_code::policy_error, "binary frames only"),
                       fail(ErrorCode::bad_type, "text frame (binary frames only)"), false);
  }
  if (frame_buffer_->size() > core_.config().read_message_max) {
    return begin_close(make_close(websocket::close_code::too_big, "frame too large"),
                       fail(ErrorCode::too_large, "frame over read_message_max (" +
                                                      std::to_string(core_.config().read_message_max) +
                                                      " bytes)"),
                       false);
  }
  if (!ws_.is_message_done()) return do_read_some();
  frame_.resize(frame_buffer_->size());
  Bytes frame = std::move(frame_);
  call_handler("on_frame", [&] { core_.handler().on_frame(id_, std::move(frame)); });
  if (state_ == State::open) do_read();
}

void ServerSession::on_read_error(error_code ec) {
  if (state_ != State::open) {  // the end was reported; our close operation finishes it
    if (!(state_ == State::closing && close_started_)) set_closed();
    return;
  }
  if (ec == websocket::error::closed) {  // the peer closed: orderly
    log::debug("peer closed", {{"conn", id_}, {"reason", describe(ws_.reason())}});
    finish(Status{});
  } else {  // Beast has already sent 1009 for message_too_big, torn down after a timeout
    finish(to_error(ec, "read"));
  }
  set_closed();
}

// ---- writes: a bounded queue, one write in flight

void ServerSession::send(SharedFrame frame) {
  asio::post(strand_, [self = shared_from_this(), frame = std::move(frame)]() mutable {
    self->enqueue(std::move(frame));
  });
}

void ServerSession::enqueue(SharedFrame frame) {
  if (state_ != State::open) return;  // closing or closed: dropped, as documented
  const ServerConfig& config = core_.config();
  if (queue_.size() >= config.send_queue_max_frames ||
      queued_bytes_ + frame->size() > config.send_queue_max_bytes) {
    return abort(fail(ErrorCode::io_error,
                      "send queue full (" + std::to_string(queue_.size()) + " frames, " +
                          std::to_string(queued_bytes_) + " bytes): the device does not read"));
  }
  queued_bytes_ += frame->size();
  queue_.push_back(std::move(frame));
  if (!writing_) do_write();
}

void ServerSession::do_write() {
  writing_ = true;
  ws_.async_write(asio::buffer(*queue_.front()),
                  beast::bind_front_handler(&ServerSession::on_write, shared_from_this()));
}

void ServerSession::on_write(error_code ec, std::size_t) {
  writing_ = false;
  queued_bytes_ -= queue_.front()->size();
  queue_.pop_front();
  if (ec) {
    if (state_ == State::open) return abort(to_error(ec, "write"));
    if (!close_started_) set_closed();
    return;
  }
  if (!queue_.empty() && state_ != State::closed) return do_write();
  if (state_ == State::closing && !close_started_) do_close();
}

// ---- closing

void ServerSession::close(std::string reason) {
  asio::post(strand_, [self = shared_from_this(), reason = std::move(reason)] {
    if (self->state_ != State::open) return;
    self->begin_close(make_close(websocket::close_code::normal, reason), Status{}, true);
  });
}

void ServerSession::shutdown() {
  asio::post(strand_, [self = shared_from_this()] {
    if (self->state_ == State::handshake) {
      log::info("handshake aborted: server stopping", {{"conn", self->id_}});
      self->set_closed();
    } else if (self->state_ == State::open) {
      self->begin_close(make_close(websocket::close_code::going_away, "server stopping"), Status{},
                        false);
    }
  });
}

// Reports the end now; the closing handshake (after the write in flight, and the queued
// frames when `flush`) runs on, bounded by handshake_timeout.
void ServerSession::begin_close(websocket::close_reason reason, const Status& why, bool flush) {
  state_ = State::closing;
  close_reason_ = std::move(reason);
  if (!flush) {
    while (queue_.size() > (writing_ ? 1u : 0u)) {
      queued_bytes_ -= queue_.back()->size();
      queue_.pop_back();
    }
  }
  finish(why);
  if (!writing_) do_close();
}

void ServerSession::do_close() {
  close_started_ = true;
  ws_.async_close(*close_reason_,
                  beast::bind_front_handler(&ServerSession::on_close_done, shared_from_this()));
}

void ServerSession::on_close_done(error_code ec) {
  if (ec) log::debug("closing handshake failed", {{"conn", id_}, {"reason", ec.message()}});
  set_closed();
}

// No closing handshake: the peer is not reading (queue overflow) or the app failed.
void ServerSession::abort(const Status& why) {
  finish(why);
  set_closed();
}

void ServerSession::abandon() {
  finish(fail(ErrorCode::io_error, "server stopped before the connection closed"));
  set_closed();
}

// The socket is done with: cancels what is pending and leaves the registry (once).
void ServerSession::set_closed() {
  state_ = State::closed;
  beast::get_lowest_layer(ws_).close();  // noexcept; also cancels the stream's timer
  release();
}

void ServerSession::release() {
  if (released_) return;
  released_ = true;
  core_.remove(id_);
}

ServerSession::~ServerSession() { release(); }

void ServerSession::finish(const Status& why) {
  if (finished_) return;
  finished_ = true;
  if (open_.exchange(false)) {
    const bool expected = why.ok() || why.error().code == ErrorCode::timeout ||
                          why.error().code == ErrorCode::io_error;
    log::write(expected ? log::Level::info : log::Level::warn, "connection closed",
               {{"conn", id_}, {"device", device_id_}, {"reason", reason_of(why)}});
    call_handler("on_close", [&] { core_.handler().on_close(id_, why); });
  }
}

}  // namespace edgefed::net::detail
