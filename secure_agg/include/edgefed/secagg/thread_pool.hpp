// An Executor that runs tasks on its own threads: how a server gives mask repair several
// cores without the protocol logic ever touching a thread.
//
// run() hands out task indices from a shared counter to `threads` workers (the calling
// thread is worker 0) and returns when all are done. Which worker runs which task varies
// from run to run; the server's result does not, because each worker sums into its own
// partial accumulator and ring addition commutes.
#pragma once

#include "edgefed/secagg/ports.hpp"

#include <cstddef>

namespace edgefed::secagg {

class ThreadPoolExecutor final : public Executor {
 public:
  // threads >= 1; 1 runs everything on the calling thread.
  explicit ThreadPoolExecutor(std::size_t threads);
  std::size_t workers() const override { return threads_; }
  void run(std::size_t count, const std::function<void(std::size_t task, std::size_t worker)>& task) override;

 private:
  std::size_t threads_;
};

}  // namespace edgefed::secagg
