// One accepted connection, from TCP to close, on its own strand (Beast's async-ssl session
// pattern). The chain of do_/on_ handlers is the connection's state machine:
//
//   handshake: do_tls_handshake → do_read_request → do_upgrade
//                                                   | do_respond (plain HTTP) → TLS shutdown
//   open:      do_read → do_read_some → on_read … on_frame    enqueue → do_write → on_write …
//   closing:   begin_close → do_close (after the write in flight) → on_close_done
//
// Every handler holds shared_from_this(), so the session lives while any operation is
// pending and dies with the last completion. Public members may be called from any thread;
// they post to the strand. The handler's on_close is called exactly once for a session that
// opened (finish(), as soon as the end is decided); the session leaves the registry once its
// socket is closed (release()), so stop() can wait for closing handshakes.
#pragma once

#include "beast.hpp"
#include "server_core.hpp"

#include <atomic>
#include <deque>
#include <optional>
#include <string>

namespace edgefed::net::detail {

class ServerSession : public std::enable_shared_from_this<ServerSession> {
 public:
  ServerSession(tcp::socket socket, asio::ssl::context& tls, ServerCore& core, ConnectionId id);
  ~ServerSession();
  ServerSession(const ServerSession&) = delete;
  ServerSession& operator=(const ServerSession&) = delete;

  ConnectionId id() const { return id_; }
  bool is_open() const { return open_.load(); }

  void run();
  void send(SharedFrame frame);
  void close(std::string reason);
  // stop(): abort a handshake, or close an open connection with 1001 (going away).
  void shutdown();
  // Only once the I/O threads are joined: reports a connection that did not finish.
  void abandon();

 private:
  enum class State { handshake, open, closing, closed };

  void do_tls_handshake();
  void on_tls_handshake(error_code ec);
  void do_read_request();
  void on_read_request(error_code ec, std::size_t bytes);
  void do_upgrade();
  void on_upgrade(error_code ec);
  void do_respond(http::response<http::string_body> response);
  void on_response_written(error_code ec, std::size_t bytes);
  void on_tls_shutdown(error_code ec);
  void drop_handshake(std::string_view stage, const std::string& reason);

  void do_read();
  void do_read_some();
  void on_read(error_code ec, std::size_t bytes);
  void on_read_error(error_code ec);
  void enqueue(SharedFrame frame);
  void do_write();
  void on_write(error_code ec, std::size_t bytes);
  void begin_close(websocket::close_reason reason, const Status& why, bool flush);
  void do_close();
  void on_close_done(error_code ec);
  void abort(const Status& why);
  void finish(const Status& why);
  void set_closed();
  void release();

  template <typename Callback>
  void call_handler(std::string_view what, Callback&& callback);
  void handler_failed(std::string_view what, std::string_view reason);

  const ConnectionId id_;
  ServerCore& core_;
  asio::any_io_executor strand_;
  WsStream ws_;
  State state_ = State::handshake;
  std::atomic<bool> open_{false};
  bool finished_ = false;  // on_close reported (or never owed)
  bool released_ = false;  // left the registry
  std::string device_id_;

  beast::flat_buffer http_buffer_;
  std::optional<http::request_parser<http::empty_body>> request_;
  std::optional<http::response<http::string_body>> response_;

  Bytes frame_;
  std::optional<FrameBuffer> frame_buffer_;

  std::deque<SharedFrame> queue_;  // front() is being written while writing_
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  std::optional<websocket::close_reason> close_reason_;  // set: close after the writes
  bool close_started_ = false;
};

}  // namespace edgefed::net::detail
