// What a deployed graph does on data: accuracy through the runtime (int8 arithmetic for an
// int8 graph), and latency per inference as a device would run it (batch 1, this thread).
#pragma once

#include "edgefed/common/result.hpp"
#include "edgefed/data/dataset.hpp"
#include "edgefed/runtime/interpreter.hpp"

#include <cstdint>
#include <vector>

namespace edgefed::compress {

struct GraphEvaluation {
  double accuracy = 0;
  std::size_t examples = 0;
  std::vector<std::uint8_t> predictions;  // argmax per example
};

// invalid_argument when the images do not match the graph's input size.
Result<GraphEvaluation> evaluate_graph(runtime::Interpreter& interpreter, const data::Dataset& data);

struct Latency {
  double median_ms = 0;
  double p90_ms = 0;
  std::size_t runs = 0;
};
// `warmup` untimed runs, then `runs` timed invokes cycling through the images of `data`.
Result<Latency> measure_latency(runtime::Interpreter& interpreter, const data::Dataset& data, std::size_t runs = 200,
                                std::size_t warmup = 20);

}  // namespace edgefed::compress
