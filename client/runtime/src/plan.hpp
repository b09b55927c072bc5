// Activation lifetimes, shared by plan_arena and the interpreter.
#pragma once

#include "edgefed/runtime/graph.hpp"
#include "edgefed/runtime/interpreter.hpp"

#include <cstddef>
#include <vector>

namespace edgefed::runtime::detail {

// The steps (operator indices) during which a tensor holds a value: from the operator that
// writes it (the graph input: step 0) to the last operator that reads it (the graph output:
// one past the last operator). first = -1 for constants and tensors nothing writes.
struct Lifetime {
  int first = -1;
  int last = -1;
  std::size_t bytes = 0;

  bool overlaps(const Lifetime& other) const { return first <= other.last && other.first <= last; }
};
std::vector<Lifetime> lifetimes(const Graph& graph);

inline constexpr std::size_t kArenaAlignment = 16;

// Every activation at its own offset (nothing shared): for Interpreter's preserve_all_tensors.
ArenaPlan plan_unshared(const Graph& graph);

}  // namespace edgefed::runtime::detail
