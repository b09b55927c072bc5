#include "edgefed/common/parameter_set.hpp"

#include <cassert>
#include <cmath>
#include <cstdio>

namespace edgefed {

Result<std::size_t> checked_numel(std::span<const std::int64_t> shape, std::size_t limit) {
  if (shape.size() > kMaxTensorRank) {
    return fail(ErrorCode::bad_value, "rank " + std::to_string(shape.size()) + " exceeds " +
                                          std::to_string(kMaxTensorRank));
  }
  std::size_t n = 1;
  for (std::int64_t d : shape) {
    if (d < 0) return fail(ErrorCode::bad_value, "negative dimension in " + shape_to_string(shape));
    const auto ud = static_cast<std::size_t>(d);
    if (ud != 0 && n > limit / ud) {
      return fail(ErrorCode::bad_length, "shape " + shape_to_string(shape) +
                                             " exceeds the element limit " + std::to_string(limit));
    }
    n *= ud;
  }
  return n;
}

std::string shape_to_string(std::span<const std::int64_t> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Status ParameterSet::add(std::string name, Shape shape, std::span<const float> values) {
  if (name.empty()) return fail(ErrorCode::invalid_argument, "tensor name is empty");
  if (index_of(name)) return fail(ErrorCode::invalid_argument, "duplicate tensor name '" + name + "'");
  auto n = checked_numel(shape);
  if (!n) return Error{ErrorCode::invalid_argument, "tensor '" + name + "': " + n.error().detail};
  if (*n != values.size()) {
    return fail(ErrorCode::invalid_argument,
                "tensor '" + name + "': shape " + shape_to_string(shape) + " needs " +
                    std::to_string(*n) + " values, got " + std::to_string(values.size()));
  }
  entries_.push_back(Entry{std::move(name), std::move(shape), values_.size(), *n});
  values_.insert(values_.end(), values.begin(), values.end());
  return {};
}

Status ParameterSet::add_zeros(std::string name, Shape shape) {
  auto n = checked_numel(shape);
  if (!n) return Error{ErrorCode::invalid_argument, "tensor '" + name + "': " + n.error().detail};
  const std::vector<float> zeros(*n, 0.0f);
  return add(std::move(name), std::move(shape), zeros);
}

TensorView ParameterSet::view_of(const Entry& e) const {
  return TensorView{e.name, e.shape, std::span<const float>(values_).subspan(e.offset, e.numel)};
}

TensorView ParameterSet::at(std::size_t i) const {
  assert(i < entries_.size());
  return view_of(entries_[i]);
}

MutableTensorView ParameterSet::mutable_at(std::size_t i) {
  assert(i < entries_.size());
  const Entry& e = entries_[i];
  return MutableTensorView{e.name, e.shape, std::span<float>(values_).subspan(e.offset, e.numel)};
}

std::optional<std::size_t> ParameterSet::index_of(std::string_view name) const {
  // Linear scan: models have tens to hundreds of tensors and lookups are not on hot paths.
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].name == name) return i;
  }
  return std::nullopt;
}

std::optional<TensorView> ParameterSet::find(std::string_view name) const {
  if (auto i = index_of(name)) return at(*i);
  return std::nullopt;
}

std::optional<MutableTensorView> ParameterSet::find_mutable(std::string_view name) {
  if (auto i = index_of(name)) return mutable_at(*i);
  return std::nullopt;
}

bool ParameterSet::same_layout(const ParameterSet& other) const {
  if (entries_.size() != other.entries_.size()) return false;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].name != other.entries_[i].name || entries_[i].shape != other.entries_[i].shape) {
      return false;
    }
  }
  return true;
}

ParameterSet ParameterSet::zeros_like() const {
  ParameterSet out;
  out.entries_ = entries_;
  out.values_.assign(values_.size(), 0.0f);
  return out;
}

Comparison ParameterSet::approx_equal(const ParameterSet& other, float atol, float rtol) const {
  if (!same_layout(other)) return {false, "layouts differ (names, shapes or order)"};
  for (const Entry& e : entries_) {
    for (std::size_t k = 0; k < e.numel; ++k) {
      const float a = values_[e.offset + k];
      const float b = other.values_[e.offset + k];
      if (!(std::fabs(a - b) <= atol + rtol * std::fabs(b))) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "[%zu]: %.9g vs %.9g", k, static_cast<double>(a),
                      static_cast<double>(b));
        return {false, e.name + buf};
      }
    }
  }
  return {};
}

Status ParameterSet::axpy(float alpha, const ParameterSet& other) {
  if (!same_layout(other)) return fail(ErrorCode::invalid_argument, "axpy: layouts differ");
  for (std::size_t i = 0; i < values_.size(); ++i) values_[i] += alpha * other.values_[i];
  return {};
}

}  // namespace edgefed
