// Asio/Beast types shared by the server session and the client (sources only: public headers
// stay free of Asio). With BOOST_*_SEPARATE_COMPILATION these are declarations; the bodies
// are compiled once in asio_beast.cpp.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace edgefed::net::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using WsStream = websocket::stream<TlsStream>;
// Reads a whole message straight into a Bytes vector (no copy out of a beast buffer).
using FrameBuffer = asio::dynamic_vector_buffer<std::uint8_t, std::allocator<std::uint8_t>>;

}  // namespace edgefed::net::detail
