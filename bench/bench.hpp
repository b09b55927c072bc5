// Shared by the edgefed-bench subcommands.
#pragma once

#include <ctime>

namespace edgefed::bench {

// CPU seconds consumed by the calling thread (what "one core" budgets are about).
inline double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

int run_secagg(int argc, const char* const argv[]);
int run_train(int argc, const char* const argv[]);
int run_server(int argc, const char* const argv[]);
int run_sim(int argc, const char* const argv[]);
int run_compress(int argc, const char* const argv[]);

}  // namespace edgefed::bench
