// Broken preconditions inside edgefed::data (programming bugs, never outside input):
// print what went wrong and stop, like Result::value() on an error.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace edgefed::data::detail {

[[noreturn]] inline void misuse(const char* what) noexcept {
  std::fprintf(stderr, "edgefed::data: precondition violated: %s\n", what);
  std::abort();
}

inline void require(bool condition, const char* what) noexcept {
  if (!condition) misuse(what);
}

}  // namespace edgefed::data::detail
