#include "edgefed/common/result.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace edgefed;

namespace {
Result<int> parse_positive(int x) {
  if (x <= 0) return fail(ErrorCode::bad_value, "x must be positive, got " + std::to_string(x));
  return x;
}
Status twice_positive(int x) {
  EDGEFED_TRY(parse_positive(x));
  EDGEFED_TRY(parse_positive(2 * x));
  return {};
}
}  // namespace

TEST_CASE("a result holds either a value or an error") {
  auto ok = parse_positive(3);
  REQUIRE(ok);
  CHECK(ok.value() == 3);
  auto bad = parse_positive(-1);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == ErrorCode::bad_value);
  CHECK(bad.error().message() == "bad_value: x must be positive, got -1");
}

TEST_CASE("EDGEFED_TRY propagates the first error") {
  CHECK(twice_positive(1).ok());
  auto st = twice_positive(0);
  REQUIRE_FALSE(st);
  CHECK(st.error().detail == "x must be positive, got 0");
}

TEST_CASE("error codes map to the receiver's action") {
  CHECK(condition_of(ErrorCode::truncated) == ErrorCondition::malformed);
  CHECK(condition_of(ErrorCode::too_large) == ErrorCondition::malformed);
  CHECK(condition_of(ErrorCode::bad_signature) == ErrorCondition::unauthorized);
  CHECK(condition_of(ErrorCode::replayed) == ErrorCondition::stale);
  CHECK(condition_of(ErrorCode::rollback) == ErrorCondition::stale);
  CHECK(condition_of(ErrorCode::unsupported_version) == ErrorCondition::unsupported);
  CHECK(condition_of(ErrorCode::unknown_key) == ErrorCondition::invalid_argument);
  CHECK(condition_of(ErrorCode::io_error) == ErrorCondition::unavailable);
  CHECK(condition_of(ErrorCode::timeout) == ErrorCondition::unavailable);
}

TEST_CASE("error codes travel as boost error_codes and compare to their condition") {
  boost::system::error_code ec = ErrorCode::bad_signature;
  CHECK(ec.category().name() == std::string("edgefed"));
  CHECK(ec.message() == "bad_signature");
  CHECK(ec == ErrorCondition::unauthorized);
  CHECK(ec != ErrorCondition::malformed);
  for (int c = 1; c <= static_cast<int>(ErrorCode::timeout); ++c) {
    CHECK(to_string(static_cast<ErrorCode>(c)) != "unknown_error");
  }
}

TEST_CASE("with_context prefixes the detail and keeps the code") {
  Error e = fail(ErrorCode::truncated, "header").with_context("artifact");
  CHECK(e.code == ErrorCode::truncated);
  CHECK(e.detail == "artifact: header");
}
