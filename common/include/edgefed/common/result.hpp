// Result<T>: a value or an Error, for every operation that can fail on outside input.
//
// Discipline as with absl::StatusOr: test `ok()` (or `if (result)`) first, then use
// `value()`. `value()` on an error is a programming bug and aborts. Never throws.
//
//   Result<Envelope> env = decode_envelope(bytes, limits);
//   if (!env) return env.error();            // propagate
//   use(env.value());
#pragma once

#include "edgefed/common/error.hpp"

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

namespace edgefed {

namespace detail {
[[noreturn]] inline void result_misuse(const char* what) noexcept {
  std::fprintf(stderr, "edgefed: Result misuse: %s\n", what);
  std::abort();
}
}  // namespace detail

// Builds an Error in one expression: `return fail(ErrorCode::truncated, "header");`
inline Error fail(ErrorCode code, std::string detail) { return Error{code, std::move(detail)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  static_assert(!std::is_same_v<std::decay_t<T>, Error>, "Result<Error> is ambiguous");

  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { check_ok(); return std::get<0>(state_); }
  const T& value() const& { check_ok(); return std::get<0>(state_); }
  T&& value() && { check_ok(); return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const& {
    if (ok()) detail::result_misuse("error() on a value");
    return std::get<1>(state_);
  }
  Error&& error() && {
    if (ok()) detail::result_misuse("error() on a value");
    return std::get<1>(std::move(state_));
  }

 private:
  void check_ok() const {
    if (!ok()) detail::result_misuse(std::get<1>(state_).message().c_str());
  }
  std::variant<T, Error> state_;
};

// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT: implicit

  bool ok() const noexcept { return !error_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  void value() const {
    if (!ok()) detail::result_misuse(error_->message().c_str());
  }
  const Error& error() const& {
    if (ok()) detail::result_misuse("error() on success");
    return *error_;
  }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

}  // namespace edgefed

// Propagates an error: EDGEFED_TRY(status_expr); returns its Error from the enclosing function.
#define EDGEFED_TRY(expr)                       \
  do {                                          \
    auto&& edgefed_try_result_ = (expr);        \
    if (!edgefed_try_result_) return edgefed_try_result_.error(); \
  } while (false)

// Unwraps a Result into `lhs` or returns its Error from the enclosing function:
//   EDGEFED_ASSIGN_OR_RETURN(auto slot, reader.get_uint("slot"));
#define EDGEFED_CONCAT_INNER_(a, b) a##b
#define EDGEFED_CONCAT_(a, b) EDGEFED_CONCAT_INNER_(a, b)
#define EDGEFED_ASSIGN_OR_RETURN(lhs, expr) \
  EDGEFED_ASSIGN_OR_RETURN_IMPL_(EDGEFED_CONCAT_(edgefed_result_, __LINE__), lhs, expr)
#define EDGEFED_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp) return std::move(tmp).error();              \
  lhs = std::move(tmp).value()
