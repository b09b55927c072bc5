// The one translation unit that compiles Asio, Asio's SSL glue and Beast.
//
// edgefed_net defines BOOST_ASIO_SEPARATE_COMPILATION and BOOST_BEAST_SEPARATE_COMPILATION
// PUBLIC, so every TU of edgefed (and of its users) that includes Asio or Beast sees only
// declarations and links the definitions from here — as Beast's own test/lib_asio.cpp and
// test/lib_beast.cpp do. That cuts each such TU from ~20 s to a few seconds.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
