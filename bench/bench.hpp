// Shared by the edgefed-bench subcommands.
#pragma once

#include "edgefed/common/result.hpp"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

namespace edgefed::bench {

// CPU seconds consumed by the calling thread (what "one core" budgets are about).
inline double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// 'text' for a POSIX shell: single-quoted, embedded quotes closed and escaped.
inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs a shell command (arguments already shell_quote'd), its output to our stderr.
inline Status run_command(const std::string& command) {
  std::fprintf(stderr, "$ %s\n", command.c_str());
  const int rc = std::system((command + " 1>&2").c_str());
  if (rc != 0) return fail(ErrorCode::io_error, "command failed (" + std::to_string(rc) + "): " + command);
  return {};
}

int run_secagg(int argc, const char* const argv[]);
int run_train(int argc, const char* const argv[]);
int run_server(int argc, const char* const argv[]);
int run_sim(int argc, const char* const argv[]);
int run_compress(int argc, const char* const argv[]);

}  // namespace edgefed::bench
