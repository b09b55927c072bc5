// ParameterSet: an ordered collection of named float32 tensors with shapes.
//
// All tensors live in one contiguous float buffer, in insertion order, so the whole set is
// also one flat vector (`flat()`): what secure aggregation masks, what the quantizer and the
// wire codec walk. Views (`TensorView`, `MutableTensorView`) are cheap, non-owning, and stay
// valid until the set is modified structurally (`add`) or destroyed.
//
// Names are unique. Shapes have rank 0..8 with non-negative dims; a rank-0 tensor has one
// element. Not thread-safe for concurrent mutation.
#pragma once

#include "edgefed/common/result.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace edgefed {

using Shape = std::vector<std::int64_t>;

inline constexpr std::size_t kMaxTensorRank = 8;

// Number of elements of `shape`, or an error if a dim is negative, the rank is over
// kMaxTensorRank, or the product overflows `limit`.
Result<std::size_t> checked_numel(std::span<const std::int64_t> shape,
                                  std::size_t limit = SIZE_MAX);

// "[64, 3, 3, 3]"
std::string shape_to_string(std::span<const std::int64_t> shape);

struct TensorView {
  std::string_view name;
  std::span<const std::int64_t> shape;
  std::span<const float> data;
};

struct MutableTensorView {
  std::string_view name;
  std::span<const std::int64_t> shape;
  std::span<float> data;
};

// Result of comparing two sets: equal, or where the first difference is.
struct Comparison {
  bool equal = true;
  std::string difference;  // empty when equal: "conv1.weight[17]: 0.51 vs 0.49"
  explicit operator bool() const { return equal; }
};

class ParameterSet {
 public:
  ParameterSet() = default;

  // Appends a tensor. Errors: invalid_argument for a duplicate or empty name, a bad shape,
  // or `values.size()` != the shape's element count.
  Status add(std::string name, Shape shape, std::span<const float> values);
  // Appends a zero-filled tensor (same errors as add, but no value count to mismatch).
  Status add_zeros(std::string name, Shape shape);

  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }
  // Total element count over all tensors (== flat().size()).
  std::size_t numel() const noexcept { return values_.size(); }

  // i-th tensor in insertion order; i < size() is a precondition (asserted).
  TensorView at(std::size_t i) const;
  MutableTensorView mutable_at(std::size_t i);
  // Tensor by name, or nullopt.
  std::optional<TensorView> find(std::string_view name) const;
  std::optional<MutableTensorView> find_mutable(std::string_view name);
  std::optional<std::size_t> index_of(std::string_view name) const;

  // Every tensor's values, concatenated in order.
  std::span<const float> flat() const noexcept { return values_; }
  std::span<float> mutable_flat() noexcept { return values_; }

  // Same names, shapes and order (values ignored).
  bool same_layout(const ParameterSet& other) const;
  // A zero-valued set with this set's layout.
  ParameterSet zeros_like() const;

  // Same layout and every element within `atol + rtol * |other|`. NaN never compares equal.
  Comparison approx_equal(const ParameterSet& other, float atol = 1e-6f,
                          float rtol = 1e-5f) const;

  // this += alpha * other; invalid_argument if layouts differ.
  Status axpy(float alpha, const ParameterSet& other);

 private:
  struct Entry {
    std::string name;
    Shape shape;
    std::size_t offset;
    std::size_t numel;
  };
  TensorView view_of(const Entry& e) const;

  std::vector<Entry> entries_;
  std::vector<float> values_;
};

}  // namespace edgefed
