// edgefed_runtime_speed: µs per invoke of a float graph shaped like the default model
// (28x28x1; conv3x3 16/32/64 + ReLU, adapters c -> c/8 -> c, residual adds, max pool after
// blocks 1 and 2, FC 7*7*64 -> 10) with random weights, and of its int8 version (min/max
// calibration on random images). Median of N timed invokes after a warm-up; one thread.
//
//   edgefed_runtime_speed [invokes=200]
#include "runtime_test_support.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace {

using namespace edgefed::runtime;

double median_us(Interpreter& interpreter, const std::vector<std::vector<float>>& images, int invokes) {
  std::vector<float> logits(interpreter.output_size());
  for (int i = 0; i < 20; ++i) (void)interpreter.invoke(images[static_cast<std::size_t>(i) % images.size()], logits);
  std::vector<double> us;
  for (int i = 0; i < invokes; ++i) {
    const auto& image = images[static_cast<std::size_t>(i) % images.size()];
    const auto start = std::chrono::steady_clock::now();
    const auto status = interpreter.invoke(image, logits);
    const auto stop = std::chrono::steady_clock::now();
    if (!status) {
      std::fprintf(stderr, "invoke: %s\n", status.error().message().c_str());
      std::exit(1);
    }
    us.push_back(std::chrono::duration<double, std::micro>(stop - start).count());
  }
  std::nth_element(us.begin(), us.begin() + static_cast<std::ptrdiff_t>(us.size() / 2), us.end());
  return us[us.size() / 2];
}

void report(const char* what, const Graph& graph, Interpreter& interpreter, double us) {
  const GraphCost cost = cost_of(graph);
  std::printf("%-6s %8.1f us/invoke  %9lld MACs  %7zu weight bytes  %6zu arena bytes  %.2f GMAC/s\n", what, us,
              static_cast<long long>(cost.macs), cost.weight_bytes, interpreter.arena_bytes(),
              static_cast<double>(cost.macs) / us / 1e3);
}

}  // namespace

int main(int argc, char** argv) {
  const int invokes = argc > 1 ? std::max(1, std::atoi(argv[1])) : 200;
  const Graph float_graph = testing::float_cnn(testing::CnnSpec{}, 7);
  const auto calibration = testing::random_images(32, 28 * 28, 11);
  const Graph int8_graph = testing::quantize_for_test(float_graph, calibration);
  auto f = Interpreter::create(float_graph);
  auto q = Interpreter::create(int8_graph);
  if (!f || !q) {
    std::fprintf(stderr, "create: %s\n", (!f ? f.error() : q.error()).message().c_str());
    return 1;
  }
  const auto images = testing::random_images(16, 28 * 28, 12);
  const double float_us = median_us(*f, images, invokes);
  const double int8_us = median_us(*q, images, invokes);
  std::printf("median of %d invokes, batch 1, one thread\n", invokes);
  report("float", float_graph, *f, float_us);
  report("int8", int8_graph, *q, int8_us);
  return 0;
}
