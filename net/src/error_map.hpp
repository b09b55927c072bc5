// Asio, Beast and OpenSSL errors as edgefed Errors, and short texts for logs.
#pragma once

#include "beast.hpp"
#include "edgefed/common/result.hpp"

#include <string>
#include <string_view>

namespace edgefed::net::detail {

// `what` says where it happened ("tls handshake", "connect 127.0.0.1:4443"). Certificate
// refusals on either side → bad_signature; TLS version refusals → unsupported_version;
// Beast's timeout → timeout; message_too_big → too_large; everything else → io_error.
Error to_error(const error_code& ec, std::string_view what);

// "1009 message too big" for a received close frame; "no close code" when it had none.
std::string describe(const websocket::close_reason& reason);

// True for an OpenSSL error that means a certificate was refused (by us or by the peer).
bool is_certificate_refusal(const error_code& ec);

}  // namespace edgefed::net::detail
