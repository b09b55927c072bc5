#include "edgefed/runtime/interpreter.hpp"

#include "kernels.hpp"
#include "plan.hpp"

#include <algorithm>
#include <cstring>

namespace edgefed::runtime {
namespace {

// reshape: the same bytes under another shape.
class Copy final : public detail::Kernel {
 public:
  Copy(std::ptrdiff_t in, std::ptrdiff_t out, std::size_t bytes) : in_(in), out_(out), bytes_(bytes) {}
  void run(std::byte* arena) override { std::memcpy(arena + out_, arena + in_, bytes_); }

 private:
  std::ptrdiff_t in_, out_;
  std::size_t bytes_;
};

// reshape copies whatever the dtype; dequantize is an int8 kernel with a float output.
Result<std::unique_ptr<detail::Kernel>> make_kernel(const Graph& graph, const Op& op, const ArenaPlan& plan) {
  const Tensor& out = graph.tensors[static_cast<std::size_t>(op.output)];
  if (op.kind == OpKind::reshape) {
    const std::size_t bytes = static_cast<std::size_t>(out.numel()) * (out.dtype == DType::int8 ? 1 : 4);
    const std::ptrdiff_t in_offset = plan.offsets[static_cast<std::size_t>(op.inputs[0])];
    const std::ptrdiff_t out_offset = plan.offsets[static_cast<std::size_t>(op.output)];
    return std::unique_ptr<detail::Kernel>(std::make_unique<Copy>(in_offset, out_offset, bytes));
  }
  const bool float_op = out.dtype == DType::float32 && op.kind != OpKind::dequantize;
  return float_op ? detail::make_float_kernel(graph, op, plan) : detail::make_int8_kernel(graph, op, plan);
}

// Per tensor: whether its bytes still hold its value once the last operator ran, i.e. no
// tensor written after it was placed over any of its bytes.
std::vector<bool> intact_after_run(const Graph& graph, const ArenaPlan& plan) {
  const std::vector<detail::Lifetime> life = detail::lifetimes(graph);
  const auto written_at = [&](std::size_t t) { return static_cast<int>(t) == graph.input ? -1 : life[t].first; };
  std::vector<bool> intact(life.size(), false);
  for (std::size_t t = 0; t < life.size(); ++t) {
    if (life[t].first < 0) continue;
    const auto begin = static_cast<std::size_t>(plan.offsets[t]);
    intact[t] = std::none_of(life.begin(), life.end(), [&](const detail::Lifetime& other) {
      const auto u = static_cast<std::size_t>(&other - life.data());
      if (other.first < 0 || written_at(u) <= written_at(t)) return false;
      const auto other_begin = static_cast<std::size_t>(plan.offsets[u]);
      return other_begin < begin + life[t].bytes && begin < other_begin + other.bytes;
    });
  }
  return intact;
}

}  // namespace

struct Interpreter::State {
  Graph graph;
  ArenaPlan plan;
  std::vector<std::byte> arena;
  std::vector<std::unique_ptr<detail::Kernel>> kernels;  // one per operator
  std::vector<bool> intact;
  std::size_t input_size = 0;
  std::size_t output_size = 0;

  template <typename T>
  std::span<T> values(int tensor, std::size_t count) {
    return {detail::tensor_at<T>(arena.data(), plan.offsets[static_cast<std::size_t>(tensor)]), count};
  }
  std::span<const float> float_values(int tensor) {
    return values<const float>(tensor,
                               static_cast<std::size_t>(graph.tensors[static_cast<std::size_t>(tensor)].numel()));
  }
};

Result<Interpreter> Interpreter::create(Graph graph, const InterpreterOptions& options) {
  EDGEFED_TRY(graph.validate());
  auto state = std::make_unique<State>();
  state->plan = options.preserve_all_tensors ? detail::plan_unshared(graph) : plan_arena(graph);
  state->arena.resize(state->plan.bytes);
  state->intact = intact_after_run(graph, state->plan);
  for (const Op& op : graph.ops) {
    auto kernel = make_kernel(graph, op, state->plan);
    if (!kernel) return kernel.error();
    state->kernels.push_back(std::move(kernel).value());
  }
  state->input_size = static_cast<std::size_t>(graph.tensors[static_cast<std::size_t>(graph.input)].numel());
  state->output_size = static_cast<std::size_t>(graph.tensors[static_cast<std::size_t>(graph.output)].numel());
  state->graph = std::move(graph);
  return Interpreter(std::move(state));
}

Interpreter::Interpreter(std::unique_ptr<State> state) : state_(std::move(state)) {}
Interpreter::~Interpreter() = default;
Interpreter::Interpreter(Interpreter&&) noexcept = default;
Interpreter& Interpreter::operator=(Interpreter&&) noexcept = default;

const Graph& Interpreter::graph() const { return state_->graph; }
std::size_t Interpreter::input_size() const { return state_->input_size; }
std::size_t Interpreter::output_size() const { return state_->output_size; }
std::size_t Interpreter::arena_bytes() const { return state_->plan.bytes; }

Status Interpreter::invoke(std::span<const float> input, std::span<float> logits) {
  return invoke(input, logits, Observer());
}

Status Interpreter::invoke(std::span<const float> input, std::span<float> logits, const Observer& observe) {
  State& s = *state_;
  if (input.size() != s.input_size || logits.size() != s.output_size) {
    return fail(ErrorCode::invalid_argument, "invoke with " + std::to_string(input.size()) + " input and " +
                                                 std::to_string(logits.size()) + " logit values; the graph takes " +
                                                 std::to_string(s.input_size) + " and gives " +
                                                 std::to_string(s.output_size));
  }
  std::copy(input.begin(), input.end(), s.values<float>(s.graph.input, input.size()).begin());
  if (observe) observe(s.graph.input, s.float_values(s.graph.input));
  for (std::size_t i = 0; i < s.kernels.size(); ++i) {
    s.kernels[i]->run(s.arena.data());
    const int out = s.graph.ops[i].output;
    if (observe && s.graph.tensors[static_cast<std::size_t>(out)].dtype == DType::float32) {
      observe(out, s.float_values(out));
    }
  }
  const std::span<const float> result = s.float_values(s.graph.output);
  std::copy(result.begin(), result.end(), logits.begin());
  return {};
}

std::span<const std::int8_t> Interpreter::int8_tensor(int tensor) const {
  State& s = *state_;
  if (tensor < 0 || static_cast<std::size_t>(tensor) >= s.graph.tensors.size()) return {};
  const Tensor& t = s.graph.tensors[static_cast<std::size_t>(tensor)];
  if (t.dtype != DType::int8 || t.constant || !s.intact[static_cast<std::size_t>(tensor)]) return {};
  return s.values<const std::int8_t>(tensor, static_cast<std::size_t>(t.numel()));
}

}  // namespace edgefed::runtime
