#include "edgefed/compress/evaluate.hpp"

#include <algorithm>
#include <chrono>

namespace edgefed::compress {

namespace {
Status check_input(const runtime::Interpreter& interpreter, const data::Dataset& data) {
  if (data.empty()) return fail(ErrorCode::invalid_argument, "evaluate: no images");
  if (data.image_size() != interpreter.input_size()) {
    return fail(ErrorCode::invalid_argument, "evaluate: images have " + std::to_string(data.image_size()) +
                                                 " values, the graph takes " + std::to_string(interpreter.input_size()));
  }
  return {};
}
}  // namespace

Result<GraphEvaluation> evaluate_graph(runtime::Interpreter& interpreter, const data::Dataset& data) {
  EDGEFED_TRY(check_input(interpreter, data));
  GraphEvaluation e;
  e.examples = data.size();
  e.predictions.reserve(data.size());
  std::vector<float> logits(interpreter.output_size());
  std::size_t correct = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    EDGEFED_TRY(interpreter.invoke(data.image(i), logits));
    const auto best = static_cast<std::uint8_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    e.predictions.push_back(best);
    correct += best == data.labels[i];
  }
  e.accuracy = static_cast<double>(correct) / static_cast<double>(data.size());
  return e;
}

Result<Latency> measure_latency(runtime::Interpreter& interpreter, const data::Dataset& data, std::size_t runs,
                                std::size_t warmup) {
  EDGEFED_TRY(check_input(interpreter, data));
  if (runs == 0) return fail(ErrorCode::invalid_argument, "measure_latency: runs must be positive");
  std::vector<float> logits(interpreter.output_size());
  for (std::size_t i = 0; i < warmup; ++i) EDGEFED_TRY(interpreter.invoke(data.image(0), logits));
  std::vector<double> ms;
  ms.reserve(runs);
  for (std::size_t i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    EDGEFED_TRY(interpreter.invoke(data.image(i % data.size()), logits));
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return Latency{ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 9 / 10)], runs};
}

}  // namespace edgefed::compress
