#include "plan.hpp"

#include <algorithm>

namespace edgefed::runtime {
namespace {

std::size_t element_bytes(DType dtype) { return dtype == DType::int8 ? 1 : 4; }

std::size_t bytes_of(const Tensor& t) {
  const std::int64_t n = t.numel();
  return n > 0 ? static_cast<std::size_t>(n) * element_bytes(t.dtype) : 0;
}

std::size_t align_up(std::size_t n) {
  return (n + detail::kArenaAlignment - 1) / detail::kArenaAlignment * detail::kArenaAlignment;
}

bool in_range(const Graph& g, int t) { return t >= 0 && static_cast<std::size_t>(t) < g.tensors.size(); }

const Shape* shape_of(const Graph& g, const Op& op, std::size_t input) {
  if (input >= op.inputs.size() || !in_range(g, op.inputs[input])) return nullptr;
  return &g.tensors[static_cast<std::size_t>(op.inputs[input])].shape;
}

std::int64_t macs_of(const Graph& g, const Op& op) {
  const Shape* x = shape_of(g, op, 0);
  const Shape* w = shape_of(g, op, 1);
  if (x == nullptr || w == nullptr) return 0;
  if (op.kind == OpKind::conv2d && x->size() == 4 && w->size() == 4) {
    return (*x)[1] * (*x)[2] * (*w)[0] * (*w)[1] * (*w)[2] * (*w)[3];
  }
  if (op.kind == OpKind::fully_connected && w->size() == 2) return (*w)[0] * (*w)[1];
  return 0;
}

}  // namespace

namespace detail {

std::vector<Lifetime> lifetimes(const Graph& graph) {
  std::vector<Lifetime> life(graph.tensors.size());
  const auto at = [&](int t) -> Lifetime* {
    if (!in_range(graph, t) || graph.tensors[static_cast<std::size_t>(t)].constant) return nullptr;
    return &life[static_cast<std::size_t>(t)];
  };
  if (Lifetime* in = at(graph.input)) *in = {0, 0, 0};
  for (std::size_t i = 0; i < graph.ops.size(); ++i) {
    const int step = static_cast<int>(i);
    for (int t : graph.ops[i].inputs) {
      if (Lifetime* l = at(t); l != nullptr && l->first >= 0) l->last = std::max(l->last, step);
    }
    if (Lifetime* out = at(graph.ops[i].output); out != nullptr && out->first < 0) *out = {step, step, 0};
  }
  if (Lifetime* out = at(graph.output); out != nullptr && out->first >= 0) {
    out->last = static_cast<int>(graph.ops.size());
  }
  for (std::size_t t = 0; t < life.size(); ++t) {
    if (life[t].first >= 0) life[t].bytes = bytes_of(graph.tensors[t]);
  }
  return life;
}

ArenaPlan plan_unshared(const Graph& graph) {
  const std::vector<Lifetime> life = lifetimes(graph);
  ArenaPlan plan{std::vector<std::ptrdiff_t>(life.size(), -1), 0};
  for (std::size_t t = 0; t < life.size(); ++t) {
    if (life[t].first < 0) continue;
    plan.offsets[t] = static_cast<std::ptrdiff_t>(align_up(plan.bytes));
    plan.bytes = align_up(plan.bytes) + life[t].bytes;
  }
  return plan;
}

}  // namespace detail

ArenaPlan plan_arena(const Graph& graph) {
  const std::vector<detail::Lifetime> life = detail::lifetimes(graph);
  std::vector<std::size_t> order;
  for (std::size_t t = 0; t < life.size(); ++t) {
    if (life[t].first >= 0) order.push_back(t);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return life[a].bytes > life[b].bytes; });

  ArenaPlan plan{std::vector<std::ptrdiff_t>(life.size(), -1), 0};
  std::vector<std::size_t> placed;
  for (std::size_t t : order) {
    // The lowest aligned offset below, between or above the placed tensors alive at the same time.
    std::vector<std::size_t> rivals;
    for (std::size_t p : placed) {
      if (life[p].overlaps(life[t])) rivals.push_back(p);
    }
    std::sort(rivals.begin(), rivals.end(),
              [&](std::size_t a, std::size_t b) { return plan.offsets[a] < plan.offsets[b]; });
    std::size_t offset = 0;
    for (std::size_t r : rivals) {
      const auto begin = static_cast<std::size_t>(plan.offsets[r]);
      if (offset + life[t].bytes <= begin) break;
      offset = std::max(offset, align_up(begin + life[r].bytes));
    }
    plan.offsets[t] = static_cast<std::ptrdiff_t>(offset);
    plan.bytes = std::max(plan.bytes, offset + life[t].bytes);
    placed.push_back(t);
  }
  return plan;
}

GraphCost cost_of(const Graph& graph) {
  GraphCost cost;
  for (const Op& op : graph.ops) {
    OpCost c{op.name, op.kind, macs_of(graph, op), 0};
    for (int t : op.inputs) {
      if (in_range(graph, t) && graph.tensors[static_cast<std::size_t>(t)].constant) {
        c.weight_bytes += bytes_of(graph.tensors[static_cast<std::size_t>(t)]);
      }
    }
    cost.macs += c.macs;
    cost.ops.push_back(std::move(c));
  }
  for (const Tensor& t : graph.tensors) {
    if (t.constant) cost.weight_bytes += bytes_of(t);
  }
  cost.peak_activation_bytes = plan_arena(graph).bytes;
  return cost;
}

}  // namespace edgefed::runtime
