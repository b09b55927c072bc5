// Catch2 helpers shared by the test executables. Include after <catch2/catch.hpp>.
#pragma once

// REQUIRE_OK(result): the Result or Status is ok; otherwise the test stops and the error's
// message is printed.
#define REQUIRE_OK(expr)                                                              \
  do {                                                                                \
    const auto& require_ok_ = (expr);                                                 \
    INFO((require_ok_.ok() ? std::string("ok") : require_ok_.error().message()));     \
    REQUIRE(require_ok_.ok());                                                        \
  } while (false)
