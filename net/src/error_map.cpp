#include "error_map.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace edgefed::net::detail {
namespace {

// The reason field of an OpenSSL error carried by Asio's ssl category, or 0.
int ssl_reason(const error_code& ec) {
  if (ec.category() != asio::error::get_ssl_category()) return 0;
  const auto packed = static_cast<unsigned long>(static_cast<unsigned int>(ec.value()));
  if (ERR_SYSTEM_ERROR(packed) || ERR_GET_LIB(packed) != ERR_LIB_SSL) return 0;
  return ERR_GET_REASON(packed);
}

bool is_version_refusal(const error_code& ec) {
  switch (ssl_reason(ec)) {
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_UNSUPPORTED_PROTOCOL:
      return true;
    default:
      return false;
  }
}

}  // namespace

bool is_certificate_refusal(const error_code& ec) {
  switch (ssl_reason(ec)) {
    case SSL_R_CERTIFICATE_VERIFY_FAILED:                // we refused the peer's chain
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:        // server: client sent none
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:        // client: we sent none
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:                   // the peer refused our chain
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:                // CertificateVerify did not verify
      return true;
    default:
      return false;
  }
}

Error to_error(const error_code& ec, std::string_view what) {
  std::string detail = std::string(what) + ": " + ec.message();
  if (ec == beast::error::timeout) return fail(ErrorCode::timeout, std::move(detail));
  if (ec == websocket::error::message_too_big) return fail(ErrorCode::too_large, std::move(detail));
  if (is_certificate_refusal(ec)) return fail(ErrorCode::bad_signature, std::move(detail));
  if (is_version_refusal(ec)) return fail(ErrorCode::unsupported_version, std::move(detail));
  return fail(ErrorCode::io_error, std::move(detail));
}

std::string describe(const websocket::close_reason& reason) {
  if (reason.code == websocket::close_code::none) return "no close code";
  std::string out = std::to_string(static_cast<unsigned>(reason.code));
  if (!reason.reason.empty()) out.append(" ").append(reason.reason.c_str(), reason.reason.size());
  return out;
}

}  // namespace edgefed::net::detail
