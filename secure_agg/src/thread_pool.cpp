#include "edgefed/secagg/thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace edgefed::secagg {

ThreadPoolExecutor::ThreadPoolExecutor(std::size_t threads) : threads_(std::max<std::size_t>(1, threads)) {}

void ThreadPoolExecutor::run(std::size_t count, const std::function<void(std::size_t, std::size_t)>& task) {
  std::atomic<std::size_t> next{0};
  const auto work = [&](std::size_t worker) {
    for (std::size_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) task(i, worker);
  };
  // Threads are started per call: a session repairs masks once, and a few microseconds of
  // thread start-up are nothing next to generating gigabytes of keystream.
  std::vector<std::thread> helpers;
  for (std::size_t w = 1; w < std::min(threads_, std::max<std::size_t>(count, 1)); ++w) helpers.emplace_back(work, w);
  work(0);
  for (std::thread& t : helpers) t.join();
}

}  // namespace edgefed::secagg
