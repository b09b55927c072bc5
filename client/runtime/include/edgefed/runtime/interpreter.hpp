// Runs a Graph on one input at a time, the way a device would: every activation lives in one
// arena planned before the first run, weights are prepared once (layouts, requantization
// multipliers), and `invoke` allocates nothing.
//
// int8 arithmetic follows the TFLite reference kernels: int32 accumulators, per-channel
// requantization by a 31-bit fixed-point multiplier and a power-of-two shift with
// round-half-away-from-zero (gemmlowp's SaturatingRoundingDoublingHighMul + RoundingDivideByPOT),
// ADD rescaling both inputs with a left shift of 20. Results are therefore those of integer
// arithmetic, not of float simulation, and agree with TFLite-conformant runtimes to ~1 LSB.
//
// Thread-safety: one Interpreter per thread; the Graph is copied in and never shared.
#pragma once

#include "edgefed/runtime/graph.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <span>

namespace edgefed::runtime {

// Where each activation tensor lives in the arena: tensors whose lifetimes (first write to
// last read) overlap never share bytes. Greedy by size, largest first (TFLM's GreedyMemoryPlanner).
//
// A tensor lives from the operator that writes it (the graph input from step 0) to the last
// operator that reads it; the graph output to the end. An operator's output therefore never
// shares bytes with its inputs. Each tensor takes the lowest offset, a multiple of 16, that
// clears every already placed tensor alive at the same time. Meant for a graph that passes
// validate; any other gives a meaningless plan, safely.
struct ArenaPlan {
  std::vector<std::ptrdiff_t> offsets;  // per tensor; -1 for constants and tensors nothing writes
  std::size_t bytes = 0;                // arena size = peak activation memory
};
ArenaPlan plan_arena(const Graph& graph);

// Static cost of a graph (as plan_arena, for a graph that passes validate).
struct OpCost {
  std::string name;
  OpKind kind;
  std::int64_t macs = 0;         // multiply-accumulates of one inference: conv2d H·W·O·KH·KW·I,
                                 // fully_connected O·I, every other operator 0
  std::size_t weight_bytes = 0;  // constants read by this operator, at their dtype's size
};
struct GraphCost {
  std::vector<OpCost> ops;
  std::int64_t macs = 0;
  std::size_t weight_bytes = 0;           // all constants: what the device keeps in flash
  std::size_t peak_activation_bytes = 0;  // plan_arena(graph).bytes
};
GraphCost cost_of(const Graph& graph);

struct InterpreterOptions {
  // Give every activation its own bytes instead of sharing them by lifetime, so int8_tensor
  // can return any int8 activation after invoke (as TFLite's preserve_all_tensors). Costs
  // arena memory, not time.
  bool preserve_all_tensors = false;
};

class Interpreter {
 public:
  // Validates the graph (Graph::validate) and prepares it. invalid_argument / bad_value on a
  // graph it cannot run, naming the operator (e.g. an int8 add whose output scale is under
  // 2 max(input scales) / 2^20, a requantization multiplier of 2^30 or more).
  static Result<Interpreter> create(Graph graph, const InterpreterOptions& options = {});
  ~Interpreter();
  Interpreter(Interpreter&&) noexcept;
  Interpreter& operator=(Interpreter&&) noexcept;

  const Graph& graph() const;
  std::size_t input_size() const;   // H × W × C
  std::size_t output_size() const;  // K
  std::size_t arena_bytes() const;

  // One inference: `input` is the image channels-last (for one channel: row-major pixels),
  // `logits` receives K floats. invalid_argument when a span has the wrong size.
  Status invoke(std::span<const float> input, std::span<float> logits);

  // As invoke, and calls `observe(tensor index, values)` for the graph input before the first
  // operator, then for each float32 activation right after the operator that writes it
  // (calibration of the quantizer). `values` is valid only during the call.
  using Observer = std::function<void(int tensor, std::span<const float> values)>;
  Status invoke(std::span<const float> input, std::span<float> logits, const Observer& observe);

  // The int8 codes of an int8 activation after the last invoke (tests, agreement checks).
  // Empty for an index out of range, a tensor that is not an int8 activation, and one whose
  // bytes a later tensor reused (see InterpreterOptions::preserve_all_tensors). Before the
  // first invoke the codes are zeros.
  std::span<const std::int8_t> int8_tensor(int tensor) const;

 private:
  struct State;
  explicit Interpreter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace edgefed::runtime
