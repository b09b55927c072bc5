// TLS for edgefed's transport: mutual TLS 1.3 with a private CA.
//
// Every edgefed connection is TLS 1.3 only (minimum and maximum protocol version are both
// TLS1_3_VERSION; a TLS 1.2 peer fails the handshake). The server requires a client
// certificate that chains to `ca_file` (verify_peer | verify_fail_if_no_peer_cert); the
// client verifies the server's chain against `ca_file` and its name against `server_name`
// (SNI + host-name check; an IP literal is checked against the certificate's IP SANs).
// A device's id is the subject CN of its verified certificate ("device-0001").
//
// This header stays cheap to include: it forward-declares `boost::asio::ssl::context` and
// OpenSSL's `SSL`. Code that uses the contexts directly (tests, a custom client) includes
// <boost/asio/ssl/context.hpp> itself.
//
// Thread-safety: the factories are reentrant. A finished context may be shared by any number
// of connections on any threads (OpenSSL's SSL_CTX is reference-counted and thread-safe once
// configured); do not change its settings while connections use it.
#pragma once

#include "edgefed/common/result.hpp"

#include <filesystem>
#include <memory>
#include <string>

struct ssl_st;  // OpenSSL's SSL

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace edgefed::net {

// PEM files for one side of a connection.
//
//   ca_file    the CA certificate(s) that must have signed the peer's certificate
//   cert_file  this side's certificate, optionally followed by its intermediate chain
//   key_file   this side's private key (unencrypted PEM: PKCS#8, SEC1 or PKCS#1)
//   server_name  client only: the name the server certificate must carry (also sent as SNI)
//
// scripts/make-dev-certs writes a matching set: ca.pem, server.pem + server.key.pem,
// devices/device-NNNN.pem + .key.pem.
struct TlsConfig {
  std::filesystem::path ca_file;
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
  std::string server_name = "localhost";
};

// A configured TLS context (TLS 1.3 only). Shared because every connection's stream keeps
// a reference to the context that created it; the context must outlive those streams.
using TlsContextPtr = std::shared_ptr<boost::asio::ssl::context>;

// Builds the server's context: certificate chain and key from `cert_file`/`key_file`,
// client certificates required and verified against `ca_file`. `server_name` is unused.
// Errors:
//   io_error          a file is missing or unreadable (the detail names it)
//   bad_encoding      a file holds no parsable PEM certificate / key, or an encrypted key
//   invalid_argument  a path is empty, or the key does not belong to the certificate
//   crypto_failure    OpenSSL failed to set up the context (not caused by the inputs)
[[nodiscard]] Result<TlsContextPtr> make_server_tls_context(const TlsConfig& config);

// Builds a client's (device's) context: trusts only `ca_file`, presents `cert_file` and
// `key_file`. Leaving both `cert_file` and `key_file` empty makes a context without a client
// certificate: an edgefed server refuses such a client at the handshake (useful in tests).
// The host-name check and SNI are set per connection by `prepare_client_stream`.
// Errors: as `make_server_tls_context`; invalid_argument also when exactly one of
// cert_file / key_file is empty, or `server_name` is empty.
[[nodiscard]] Result<TlsContextPtr> make_client_tls_context(const TlsConfig& config);

// Sets SNI (for a DNS name) and the name the server certificate must match (DNS SAN, or IP
// SAN for an IP literal) on one client connection, before its handshake. A mismatch then
// fails the handshake as a certificate verification failure.
// Errors: invalid_argument for an empty name; crypto_failure if OpenSSL refuses it.
[[nodiscard]] Status prepare_client_stream(ssl_st* ssl, const std::string& server_name);

// The identity of the peer on a connection whose handshake has completed: the subject CN
// of its certificate, which must have verified (SSL_get_verify_result == X509_V_OK).
// A device id is 1–64 characters from [A-Za-z0-9._:@-].
// Errors:
//   bad_signature  no peer certificate, or it did not verify
//   bad_value      the certificate has no subject CN, or the CN is not a valid device id
[[nodiscard]] Result<std::string> verified_peer_id(const ssl_st* ssl);

}  // namespace edgefed::net
