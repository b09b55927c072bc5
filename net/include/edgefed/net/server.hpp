// WsServer: the server side of edgefed's transport — WebSocket over mutual TLS 1.3.
//
// The transport carries bytes: one WebSocket binary message is one frame, delivered whole.
// It knows nothing of the protocol; the application implements `ServerHandler` (the port)
// and answers through `send` / `close`.
//
// Per connection, in order:
//   1. TCP accept (beyond `max_connections` live connections a new socket is closed at once)
//   2. TLS 1.3 handshake; the client must present a certificate from `tls.ca_file`
//   3. one HTTP request. A WebSocket upgrade on `path` is accepted and goes on to step 4.
//      Any other request is answered and the connection closed (one request per connection,
//      `Connection: close`):
//        - an upgrade to another target: 404
//        - no `http_handler`: 404
//        - a method other than GET or HEAD: 405 with `Allow: GET, HEAD`
//        - GET or HEAD: `http_handler`'s response (see HttpHandler); HEAD gets its headers
//          and Content-Length but no body
//      Such requests are never reported to the ServerHandler. They come only from clients
//      whose certificate passed step 2, so routes such as /metrics need no auth of their own.
//   4. open: `on_open(id, device_id)`, then `on_frame` per binary message, then exactly one
//      `on_close(id, why)`
// Steps 2–3 together, including an HTTP response, must finish within `handshake_timeout`.
//
// Failures that concern one connection — failed handshake, unknown CA, no certificate,
// plaintext or TLS 1.2 client, oversized or text frame, idle timeout, a full send queue —
// close only that connection and are logged (edgefed::log, fields conn, device, reason).
// Connections that never opened are not reported to the handler.
//
// Threading: the server owns an io_context run by `threads` threads (start() to stop()).
// Each connection lives on its own strand, so the callbacks of one connection never run
// concurrently and arrive in order; callbacks of different connections may run in parallel
// when threads > 1. `send`, `close`, `connection_count` are thread-safe and may be called
// from anywhere, including from inside a callback. `start`/`stop`/destruction must come from
// one controlling thread and never from inside a callback (stop joins the I/O threads).
// Owning the io_context (rather than borrowing the caller's) keeps Asio out of this header
// and makes stop() able to guarantee that no callback runs after it returns.
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/net/tls.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace edgefed::net {

// Identifies one connection for the lifetime of a server; never reused (starts at 1).
using ConnectionId = std::uint64_t;

// A frame that several connections may send without copying it (e.g. a model pushed to the
// whole fleet): queues hold the pointer, so a thousand queued pushes cost one buffer.
using SharedFrame = std::shared_ptr<const Bytes>;

// The application's side of the server. Implementations must be thread-safe when the server
// runs more than one thread (see the header comment) and must not throw: an exception from a
// callback is logged and closes that connection. Callbacks should return quickly; they run
// on the I/O threads. The handler must outlive the server (or at least its stop()).
class ServerHandler {
 public:
  virtual ~ServerHandler() = default;

  // A device completed TLS and the WebSocket upgrade; `device_id` is the subject CN of its
  // verified certificate. Sends to `id` are accepted from this call on.
  virtual void on_open(ConnectionId id, const std::string& device_id) = 0;

  // One whole binary message, at most `read_message_max` bytes.
  virtual void on_frame(ConnectionId id, Bytes frame) = 0;

  // The connection is gone; no more callbacks for `id`, and sends to it are dropped.
  // `why` is ok for an orderly close by either side (the peer's close frame, close(), stop());
  // otherwise the Error says why:
  //   too_large  a frame over read_message_max (closed with WebSocket code 1009)
  //   bad_type   a text frame (closed with code 1008, policy error)
  //   timeout    nothing from the peer (not even a pong) for idle_timeout
  //   io_error   the peer vanished (reset, EOF, TLS error), or its send queue overflowed
  virtual void on_close(ConnectionId id, const Status& why) = 0;
};

// A plain HTTPS request (not the WebSocket upgrade) that reached the server, for
// ServerConfig::http_handler. Only GET and HEAD are passed on.
struct HttpRequest {
  std::string method;     // "GET" or "HEAD"
  std::string target;     // as sent, query included: "/metrics", "/healthz?verbose=1"
  std::string device_id;  // subject CN of the client's verified certificate
};

// The handler's answer. The server adds Content-Length, `Cache-Control: no-store`,
// `Connection: close` and `Server: edgefed`, and drops the body for HEAD.
struct HttpResponse {
  unsigned status = 404;  // 200–599, else the client gets 500; 204 and 304 send no body
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Serves the plain HTTPS requests (step 3 of the header comment). Called on the connection's
// strand, on an I/O thread: it must be thread-safe when threads > 1, should return quickly
// and must outlive the server (or its stop()). An exception from it is logged and answered
// with 500; its text is not sent. Unknown targets should return the default (404).
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct ServerConfig {
  // Where to listen. Port 0 picks an ephemeral port (see WsServer::port()). The default
  // address is loopback; use "0.0.0.0" or "::" to serve a network.
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;
  // Server certificate and key, and the CA that signs device certificates.
  TlsConfig tls;
  // The WebSocket endpoint. An upgrade request for another target gets 404.
  std::string path = "/edgefed/v1";
  // Serves GET and HEAD requests that are not a WebSocket upgrade (e.g. /metrics, /healthz).
  // Unset (the default): every such request gets 404.
  HttpHandler http_handler;
  // I/O threads running the io_context.
  std::size_t threads = 1;
  // Largest frame accepted from a device; a larger one closes that connection (too_large).
  std::size_t read_message_max = 64u << 20;
  // Limit for TLS handshake + upgrade request, and for the WebSocket closing handshake.
  std::chrono::milliseconds handshake_timeout{10'000};
  // Keepalive (Beast's idle timeout): after idle_timeout / 2 without data from a device the
  // server pings it; when idle_timeout passes without any data (a pong counts), it closes
  // the connection (timeout). Zero disables.
  std::chrono::milliseconds idle_timeout{60'000};
  // Bounds on frames queued for one connection but not yet written (one write is in flight at
  // a time). Exceeding either closes that connection (io_error): a device that does not read
  // must not make the server buffer without limit.
  std::size_t send_queue_max_frames = 256;
  std::size_t send_queue_max_bytes = 256u << 20;
  // Connections (handshaking or open) beyond this are closed right after accept.
  std::size_t max_connections = 4096;
  // How long stop() waits for connections to finish their closing handshake.
  std::chrono::milliseconds stop_timeout{5'000};
};

class WsServer {
 public:
  // Validates `config`, loads the TLS files and binds the listening socket. Nothing is
  // accepted and no callback runs before start(). `handler` must outlive the server.
  // Errors: invalid_argument (bad config value or address), the TLS errors of
  // make_server_tls_context (io_error, bad_encoding, invalid_argument), io_error when the
  // address cannot be bound (in use, no permission).
  [[nodiscard]] static Result<std::unique_ptr<WsServer>> create(ServerConfig config,
                                                                ServerHandler& handler);

  // Calls stop().
  ~WsServer();
  WsServer(const WsServer&) = delete;
  WsServer& operator=(const WsServer&) = delete;

  // The bound port (the ephemeral one if config.port was 0).
  std::uint16_t port() const;

  // Starts the I/O threads and accepting. Error: invalid_argument if called twice or after
  // stop(). Not from a callback.
  [[nodiscard]] Status start();

  // Graceful shutdown: stops accepting, aborts handshakes, closes open connections with
  // WebSocket code 1001 (going away) and waits up to stop_timeout for them; then stops and
  // joins the I/O threads. Every open connection has had its on_close when stop() returns
  // (ok for those closed in time, io_error "server stopped" for the rest), and no callback
  // runs afterwards. Idempotent. Not from a callback.
  void stop();

  // Queues `frame` as one binary message to `id`. Returns false if `id` is not open (never
  // opened, closed, or unknown); such a frame is dropped, which is harmless. Returning true
  // does not mean delivery: the connection may still close, and then on_close says why.
  // Frames to one connection are written in the order of the send calls.
  bool send(ConnectionId id, Bytes frame);
  // The same without a copy; a null frame is not sent (false).
  bool send(ConnectionId id, SharedFrame frame);

  // Closes `id` after the frames already queued to it, with WebSocket code 1000 and
  // `reason` (truncated to the 123 bytes a close frame allows). on_close(id, ok) follows.
  // Returns false if `id` is not open.
  bool close(ConnectionId id, std::string reason);

  // Live connections, handshaking ones included.
  std::size_t connection_count() const;

 private:
  struct Impl;
  explicit WsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgefed::net
