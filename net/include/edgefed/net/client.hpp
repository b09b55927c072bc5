// WsClient: a blocking WebSocket-over-mutual-TLS-1.3 client, for devices and tests.
//
//   auto client = WsClient::connect("127.0.0.1", port, tls);
//   if (!client) return client.error();     // bad_signature: a certificate was refused
//   EDGEFED_TRY((*client)->send(frame));
//   Result<Bytes> reply = (*client)->receive(std::chrono::seconds(5));
//
// One binary WebSocket message is one frame. The client keeps one background I/O thread per
// connection: it reads ahead into a small inbox (at most `receive_queue_max` frames; then it
// stops reading, so a slow application pushes back on the server instead of buffering) and
// answers the server's pings even while the application is busy.
//
// Thread-safety: all member functions may be called from any thread. Concurrent send() calls
// are serialized; concurrent receive() calls each get a different frame. close() may race
// with both; they then fail with io_error.
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/net/tls.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace edgefed::net {

struct ClientOptions {
  // The server's WebSocket endpoint.
  std::string path = "/edgefed/v1";
  // Limit for TCP connect + TLS handshake + WebSocket upgrade together. Name resolution
  // uses the system resolver and its own timeouts.
  std::chrono::milliseconds connect_timeout{10'000};
  // Largest frame accepted from the server; a larger one ends the connection (too_large).
  std::size_t read_message_max = 64u << 20;
  // How long send() waits for its frame to be written; on expiry the connection is closed.
  std::chrono::milliseconds send_timeout{30'000};
  // Keepalive: ping the server after idle_timeout / 2 without data; end the connection
  // when idle_timeout passes without any data, a pong included (receive then fails with
  // timeout and is_open() turns false). Zero disables.
  std::chrono::milliseconds idle_timeout{60'000};
  // Frames read ahead and held until receive() takes them.
  std::size_t receive_queue_max = 16;
};

class WsClient {
 public:
  // Connects to host:port (name or IP literal), verifies the server certificate against
  // tls.ca_file and tls.server_name, presents tls.cert_file, and upgrades to WebSocket on
  // options.path. Errors:
  //   bad_signature        a certificate was refused: the server's by us (unknown CA, wrong
  //                        name, expired), or ours by the server (unknown CA, none given)
  //   unsupported_version  the server does not speak TLS 1.3
  //   timeout              connect_timeout passed
  //   io_error             name not resolved, connection refused or reset, the server
  //                        declined the upgrade (wrong path: HTTP 404), a plaintext server
  //   io_error, bad_encoding, invalid_argument: the TLS file errors of make_client_tls_context
  [[nodiscard]] static Result<std::unique_ptr<WsClient>> connect(const std::string& host,
                                                                 std::uint16_t port,
                                                                 const TlsConfig& tls,
                                                                 const ClientOptions& options = {});

  // Closes the connection (as close()) and joins the I/O thread.
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // Sends `frame` as one binary message and waits until it is written to the socket.
  // Errors: io_error when the connection is closed or fails; timeout after send_timeout
  // (the connection is then closed: a half-written message cannot be taken back).
  [[nodiscard]] Status send(ByteSpan frame);

  // The next frame from the server, waiting up to `timeout`. Frames already received are
  // returned even after the connection ended; then the reason it ended:
  //   timeout    no frame within `timeout` (the connection is fine; call again), or the
  //              keepalive (idle_timeout) expired (is_open() is then false)
  //   io_error   the connection is closed (the detail carries the close code and reason
  //              from the server, e.g. "1001 server stopping"), reset, or close() was called
  //   too_large  the server sent a frame over read_message_max (we close with 1009)
  //   bad_type   the server sent a text frame (we close with 1008)
  [[nodiscard]] Result<Bytes> receive(std::chrono::milliseconds timeout);

  // Starts the WebSocket closing handshake (code 1000) and waits for it up to
  // connect_timeout, then releases the socket. Idempotent.
  void close();

  // False once the connection has ended for any reason.
  bool is_open() const;

 private:
  struct Impl;
  explicit WsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgefed::net
