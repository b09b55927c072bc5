#include "edgefed/runtime/graph.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <string>

namespace edgefed::runtime {
namespace {

constexpr double kBiasScaleTolerance = 1e-6;  // relative, see Graph::validate
constexpr std::int64_t kMaxInt8Products = std::int64_t{1} << 16;

std::string fmt(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", x);
  return buf;
}

Error bad(std::string detail) { return fail(ErrorCode::bad_value, std::move(detail)); }

bool known(DType d) { return d == DType::float32 || d == DType::int8 || d == DType::int32; }
bool known(Activation a) { return a == Activation::none || a == Activation::relu; }
bool known(OpKind k) { return static_cast<int>(k) <= static_cast<int>(OpKind::fully_connected); }

std::string tensor_label(const Graph& g, int index) {
  return "tensor " + std::to_string(index) + " '" + g.tensors[static_cast<std::size_t>(index)].name + "'";
}

// ---- one tensor on its own ------------------------------------------------------------------

Status check_shape(const Tensor& t, const std::string& where) {
  if (t.shape.empty() || t.shape.size() > 4) {
    return bad(where + ": rank " + std::to_string(t.shape.size()) + ", expected 1 to 4");
  }
  if (std::any_of(t.shape.begin(), t.shape.end(), [](std::int64_t d) { return d < 1; })) {
    return bad(where + ": shape " + shape_to_string(t.shape) + " has a dim below 1");
  }
  const std::int64_t n = t.numel();
  if (n < 0 || n > kMaxGraphTensorElements) {
    return bad(where + ": shape " + shape_to_string(t.shape) + " is over " + std::to_string(kMaxGraphTensorElements) +
               " elements");
  }
  if (!t.constant && (t.shape[0] != 1 || (t.shape.size() != 2 && t.shape.size() != 4))) {
    return bad(where + ": activation shape " + shape_to_string(t.shape) + ", expected [1, H, W, C] or [1, N]");
  }
  return {};
}

Status check_quant(const Tensor& t, const std::string& where) {
  const Quantization& q = t.quant;
  if (q.axis != 0) return bad(where + ": quantization axis " + std::to_string(q.axis) + ", expected 0");
  if (t.dtype == DType::float32) {
    if (!q.scales.empty() || !q.zero_points.empty()) {
      return bad(where + ": a float32 tensor has quantization parameters");
    }
    return {};
  }
  const std::string dtype(to_string(t.dtype));
  if (q.scales.empty()) return bad(where + ": " + dtype + " tensor without a quantization scale");
  if (q.zero_points.size() != q.scales.size()) {
    return bad(where + ": " + std::to_string(q.scales.size()) + " scales but " + std::to_string(q.zero_points.size()) +
               " zero points");
  }
  if (q.scales.size() > 1 && static_cast<std::int64_t>(q.scales.size()) != t.shape[0]) {
    return bad(where + ": " + std::to_string(q.scales.size()) + " scales for " + std::to_string(t.shape[0]) +
               " channels on axis 0");
  }
  if (!t.constant && q.scales.size() != 1) {
    return bad(where + ": an activation has one scale, not " + std::to_string(q.scales.size()));
  }
  for (std::size_t c = 0; c < q.scales.size(); ++c) {
    if (!std::isfinite(q.scales[c]) || !(q.scales[c] > 0.0f)) {
      return bad(where + ": scale[" + std::to_string(c) + "] = " + fmt(q.scales[c]) + " is not finite and positive");
    }
  }
  // Activations are asymmetric; weights (int8 constants) and biases (int32) symmetric.
  const bool symmetric = t.constant || t.dtype == DType::int32;
  for (std::size_t c = 0; c < q.zero_points.size(); ++c) {
    const std::int32_t z = q.zero_points[c];
    if (symmetric ? z != 0 : (z < -128 || z > 127)) {
      return bad(where + ": zero point[" + std::to_string(c) + "] = " + std::to_string(z) +
                 (symmetric ? ", expected 0" : ", outside [-128, 127]"));
    }
  }
  return {};
}

Status check_values(const Tensor& t, const std::string& where) {
  const auto n = static_cast<std::size_t>(t.numel());
  const auto want = [&](DType d) { return t.constant && t.dtype == d ? n : 0; };
  if (t.f32.size() != want(DType::float32) || t.i8.size() != want(DType::int8) || t.i32.size() != want(DType::int32)) {
    return bad(where + ": holds " + std::to_string(t.f32.size()) + " float32, " + std::to_string(t.i8.size()) +
               " int8 and " + std::to_string(t.i32.size()) + " int32 values; expected " +
               (t.constant ? std::to_string(n) + " " : "no ") +
               (t.constant ? std::string(to_string(t.dtype)) : std::string("values (an activation)")));
  }
  const auto low = std::find(t.i8.begin(), t.i8.end(), std::int8_t{-128});
  if (low != t.i8.end()) {
    return bad(where + ": element " + std::to_string(low - t.i8.begin()) +
               " has code -128, outside the weight range [-127, 127]");
  }
  const auto non_finite = std::find_if(t.f32.begin(), t.f32.end(), [](float x) { return !std::isfinite(x); });
  if (non_finite != t.f32.end()) {
    return bad(where + ": element " + std::to_string(non_finite - t.f32.begin()) + " is not finite");
  }
  return {};
}

Status check_tensor(const Tensor& t, const std::string& where) {
  if (t.name.empty()) return bad(where + ": empty name");
  if (!known(t.dtype)) return bad(where + ": unknown dtype " + std::to_string(static_cast<int>(t.dtype)));
  EDGEFED_TRY(check_shape(t, where));
  EDGEFED_TRY(check_quant(t, where));
  return check_values(t, where);
}

Status check_endpoint(const Graph& g, int index, std::string_view role, std::size_t rank) {
  const std::string what = "graph " + std::string(role);
  if (index < 0 || static_cast<std::size_t>(index) >= g.tensors.size()) {
    return bad(what + " is tensor index " + std::to_string(index) + ", out of range [0, " +
               std::to_string(g.tensors.size()) + ")");
  }
  const Tensor& t = g.tensors[static_cast<std::size_t>(index)];
  if (t.constant || t.dtype != DType::float32 || t.shape.size() != rank) {
    return bad(what + ", " + tensor_label(g, index) + ": expected a float32 activation " +
               (rank == 4 ? "[1, H, W, C]" : "[1, K]") + ", got " + (t.constant ? "a constant " : "") +
               std::string(to_string(t.dtype)) + " " + shape_to_string(t.shape));
  }
  return {};
}

// ---- one operator -----------------------------------------------------------------------

// Which operands are constants (weights, bias) and what each input is called in messages.
struct Signature {
  std::vector<std::string_view> roles;
  std::size_t constants_from;  // inputs at or after this index are constants
  std::size_t optional = 0;    // trailing roles that may be left out (a bias)
};

Signature signature_of(OpKind kind) {
  switch (kind) {
    case OpKind::conv2d:
    case OpKind::fully_connected: return {{"input", "weights", "bias"}, 1, 1};
    case OpKind::add: return {{"input a", "input b"}, 2};
    case OpKind::quantize:
    case OpKind::dequantize:
    case OpKind::max_pool2d:
    case OpKind::reshape: break;
  }
  return {{"input"}, 1};
}

// Checks one operator, in order, against what the operators before it wrote.
class OpChecker {
 public:
  static constexpr int kUnwritten = -1;   // writer of a tensor no operator wrote yet
  static constexpr int kGraphInput = -2;  // writer of the graph input

  OpChecker(const Graph& g, std::size_t index, std::vector<int>& writer)
      : g_(g), op_(g.ops[index]), index_(index), writer_(writer) {
    label_ = "op " + std::to_string(index) + " '" + op_.name + "' (" + std::string(to_string(op_.kind)) + ")";
  }

  Status check() {
    if (!known(op_.kind)) {
      return bad("op " + std::to_string(index_) + " '" + op_.name + "': unknown kind " +
                 std::to_string(static_cast<int>(op_.kind)));
    }
    EDGEFED_TRY(check_operands());
    EDGEFED_TRY(check_activation());
    EDGEFED_TRY(check_kind());
    writer_[static_cast<std::size_t>(op_.output)] = static_cast<int>(index_);
    return {};
  }

 private:
  const Tensor& in(std::size_t i) const { return g_.tensors[static_cast<std::size_t>(op_.inputs[i])]; }
  const Tensor& out() const { return g_.tensors[static_cast<std::size_t>(op_.output)]; }

  Error op_error(const std::string& what) const { return bad(label_ + ": " + what); }
  Error input_error(std::size_t i, const std::string& what) const {
    return bad(label_ + ": " + std::string(signature_of(op_.kind).roles[i]) + ", " + tensor_label(g_, op_.inputs[i]) +
               ": " + what);
  }
  Error output_error(const std::string& what) const {
    return bad(label_ + ": output, " + tensor_label(g_, op_.output) + ": " + what);
  }

  bool in_range(int t) const { return t >= 0 && static_cast<std::size_t>(t) < g_.tensors.size(); }

  Status check_operands() {
    const Signature sig = signature_of(op_.kind);
    if (op_.inputs.size() > sig.roles.size() || op_.inputs.size() + sig.optional < sig.roles.size()) {
      std::string roles;
      for (std::string_view r : sig.roles) roles += (roles.empty() ? "" : ", ") + std::string(r);
      return op_error("has " + std::to_string(op_.inputs.size()) + " inputs, expected " +
                      (sig.optional ? std::to_string(sig.roles.size() - sig.optional) + " or " : std::string()) +
                      std::to_string(sig.roles.size()) + " (" + roles + ")");
    }
    const std::string range = ", out of range [0, " + std::to_string(g_.tensors.size()) + ")";
    for (std::size_t i = 0; i < op_.inputs.size(); ++i) {
      const int t = op_.inputs[i];
      if (!in_range(t)) {
        return op_error(std::string(sig.roles[i]) + " is tensor index " + std::to_string(t) + range);
      }
      const bool want_constant = i >= sig.constants_from;
      if (in(i).constant != want_constant) {
        return input_error(i, want_constant ? "must be a constant" : "is a constant, expected an activation");
      }
      if (!want_constant && writer_[static_cast<std::size_t>(t)] == kUnwritten) {
        return input_error(i, "is read before any operator writes it");
      }
    }
    if (!in_range(op_.output)) return op_error("output is tensor index " + std::to_string(op_.output) + range);
    if (out().constant) return output_error("is a constant");
    const int previous = writer_[static_cast<std::size_t>(op_.output)];
    if (previous == kGraphInput) return output_error("is the graph input, which no operator writes");
    if (previous != kUnwritten) {
      return output_error("written twice: also by op " + std::to_string(previous) + " '" +
                          g_.ops[static_cast<std::size_t>(previous)].name + "'");
    }
    return {};
  }

  Status check_activation() const {
    if (!known(op_.activation)) {
      return op_error("unknown activation " + std::to_string(static_cast<int>(op_.activation)));
    }
    const bool fusable = op_.kind == OpKind::conv2d || op_.kind == OpKind::add || op_.kind == OpKind::fully_connected;
    if (!fusable && op_.activation != Activation::none) {
      return op_error("has fused activation " + std::string(to_string(op_.activation)) +
                      ", only conv2d, add and fully_connected fuse one");
    }
    return {};
  }

  Status check_kind() const {
    switch (op_.kind) {
      case OpKind::quantize: return check_convert(DType::float32, DType::int8);
      case OpKind::dequantize: return check_convert(DType::int8, DType::float32);
      case OpKind::conv2d: return check_conv();
      case OpKind::max_pool2d: return check_pool();
      case OpKind::add: return check_add();
      case OpKind::reshape: return check_reshape();
      case OpKind::fully_connected: return check_fc();
    }
    return {};
  }

  Status expect_output_shape(const Shape& want) const {
    if (out().shape == want) return {};
    return output_error("shape " + shape_to_string(out().shape) + ", expected " + shape_to_string(want));
  }

  Status check_convert(DType from, DType to) const {
    const auto name = [](DType d) { return std::string(to_string(d)); };
    if (in(0).dtype != from) return input_error(0, "dtype " + name(in(0).dtype) + ", expected " + name(from));
    if (out().dtype != to) return output_error("dtype " + name(out().dtype) + ", expected " + name(to));
    return expect_output_shape(in(0).shape);
  }

  bool has_bias() const { return op_.inputs.size() > 2; }

  // conv2d and fully_connected: all float32, or int8 input/weights/output with an int32 bias
  // (a missing bias counts as the right dtype).
  Status check_weighted_dtypes() const {
    const DType x = in(0).dtype, w = in(1).dtype, y = out().dtype;
    const DType b = has_bias() ? in(2).dtype : (x == DType::int8 ? DType::int32 : DType::float32);
    const bool all_float = x == DType::float32 && w == DType::float32 && b == DType::float32 && y == DType::float32;
    const bool int8 = x == DType::int8 && w == DType::int8 && b == DType::int32 && y == DType::int8;
    if (all_float || int8) return {};
    return op_error("dtypes input/weights/bias/output are " + std::string(to_string(x)) + "/" +
                    std::string(to_string(w)) + "/" + std::string(to_string(b)) + "/" + std::string(to_string(y)) +
                    "; expected all float32, or int8/int8/int32/int8");
  }

  // |x − zx| <= 255 and |w| <= 127, so up to 2^16 products always fit the int32 accumulator.
  Status check_accumulator(std::int64_t products) const {
    if (products <= kMaxInt8Products) return {};
    return input_error(1, std::to_string(products) + " products per output, over " + std::to_string(kMaxInt8Products) +
                              ": the int32 accumulator could overflow");
  }

  // bias scale[c] = input scale × weight scale[c], one bias scale per weight scale.
  Status check_int8_scales(std::size_t weight_scales, const std::string& expected) const {
    const std::vector<float>& ws = in(1).quant.scales;
    if (ws.size() != weight_scales) {
      return input_error(1, std::to_string(ws.size()) + " scales, expected " + expected);
    }
    if (!has_bias()) return {};
    const std::vector<float>& bs = in(2).quant.scales;
    if (bs.size() != ws.size()) {
      return input_error(
          2, std::to_string(bs.size()) + " scales, expected " + std::to_string(ws.size()) + " (one per weight scale)");
    }
    const double s_in = in(0).quant.scales[0];
    for (std::size_t c = 0; c < bs.size(); ++c) {
      const double want = s_in * ws[c];
      if (std::fabs(bs[c] - want) > kBiasScaleTolerance * want) {
        return input_error(2, "scale[" + std::to_string(c) + "] = " + fmt(bs[c]) +
                                  ", expected input scale × weight scale = " + fmt(want));
      }
    }
    return {};
  }

  Status check_conv() const {
    const Shape& x = in(0).shape;
    const Shape& w = in(1).shape;
    if (x.size() != 4) return input_error(0, "shape " + shape_to_string(x) + ", expected [1, H, W, C]");
    if (w.size() != 4 || w[1] % 2 == 0 || w[2] % 2 == 0 || w[3] != x[3]) {
      return input_error(
          1, "shape " + shape_to_string(w) + ", expected [O, KH, KW, " + std::to_string(x[3]) + "] with odd KH and KW");
    }
    if (has_bias() && in(2).shape != Shape{w[0]}) {
      return input_error(2, "shape " + shape_to_string(in(2).shape) + ", expected [" + std::to_string(w[0]) + "]");
    }
    EDGEFED_TRY(expect_output_shape(Shape{1, x[1], x[2], w[0]}));
    EDGEFED_TRY(check_weighted_dtypes());
    if (out().dtype != DType::int8) return {};
    EDGEFED_TRY(check_accumulator(w[1] * w[2] * w[3]));
    return check_int8_scales(static_cast<std::size_t>(w[0]), std::to_string(w[0]) + " (one per output channel)");
  }

  Status check_fc() const {
    const Shape& x = in(0).shape;
    const Shape& w = in(1).shape;
    if (x.size() != 2) return input_error(0, "shape " + shape_to_string(x) + ", expected [1, I]");
    if (w.size() != 2 || w[1] != x[1]) {
      return input_error(1, "shape " + shape_to_string(w) + ", expected [O, " + std::to_string(x[1]) + "]");
    }
    if (has_bias() && in(2).shape != Shape{w[0]}) {
      return input_error(2, "shape " + shape_to_string(in(2).shape) + ", expected [" + std::to_string(w[0]) + "]");
    }
    EDGEFED_TRY(expect_output_shape(Shape{1, w[0]}));
    EDGEFED_TRY(check_weighted_dtypes());
    if (out().dtype != DType::int8) return {};
    EDGEFED_TRY(check_accumulator(w[1]));
    return check_int8_scales(1, "1 (fully_connected weights are per tensor)");
  }

  // max_pool2d, reshape: float32 or int8 in and out, int8 keeping the quantization exactly.
  Status check_same_dtype_and_quant() const {
    const DType d = in(0).dtype;
    if (d != DType::float32 && d != DType::int8) {
      return input_error(0, "dtype " + std::string(to_string(d)) + ", expected float32 or int8");
    }
    if (out().dtype != d) {
      return output_error("dtype " + std::string(to_string(out().dtype)) + ", expected the input's " +
                          std::string(to_string(d)));
    }
    if (out().quant != in(0).quant) {
      return output_error("quantization differs from the input's (" + std::string(to_string(op_.kind)) + " keeps it)");
    }
    return {};
  }

  Status check_pool() const {
    const Shape& x = in(0).shape;
    if (x.size() != 4) return input_error(0, "shape " + shape_to_string(x) + ", expected [1, H, W, C]");
    if (op_.pool < 1) return op_error("pool " + std::to_string(op_.pool) + ", expected >= 1");
    if (x[1] % op_.pool != 0 || x[2] % op_.pool != 0) {
      return input_error(
          0, "shape " + shape_to_string(x) + ": H and W are not divisible by pool " + std::to_string(op_.pool));
    }
    EDGEFED_TRY(expect_output_shape(Shape{1, x[1] / op_.pool, x[2] / op_.pool, x[3]}));
    return check_same_dtype_and_quant();
  }

  Status check_reshape() const {
    if (out().numel() != in(0).numel()) {
      return output_error("shape " + shape_to_string(out().shape) + " has " + std::to_string(out().numel()) +
                          " elements, the input " + shape_to_string(in(0).shape) + " " + std::to_string(in(0).numel()));
    }
    return check_same_dtype_and_quant();
  }

  Status check_add() const {
    if (in(1).shape != in(0).shape) {
      return input_error(
          1, "shape " + shape_to_string(in(1).shape) + ", expected input a's " + shape_to_string(in(0).shape));
    }
    EDGEFED_TRY(expect_output_shape(in(0).shape));
    const DType a = in(0).dtype, b = in(1).dtype, y = out().dtype;
    if ((a == DType::float32 || a == DType::int8) && b == a && y == a) return {};
    return op_error("dtypes a/b/output are " + std::string(to_string(a)) + "/" + std::string(to_string(b)) + "/" +
                    std::string(to_string(y)) + "; expected all float32 or all int8");
  }

  const Graph& g_;
  const Op& op_;
  std::size_t index_;
  std::vector<int>& writer_;  // per tensor: the op that wrote it, kUnwritten or kGraphInput
  std::string label_;
};

}  // namespace

std::int64_t Tensor::numel() const {
  if (shape.size() > kMaxTensorRank) return -1;
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && n > INT64_MAX / d) return -1;
    n *= d;
  }
  return n;
}

Status Graph::validate() const {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::string where = tensor_label(*this, static_cast<int>(i));
    EDGEFED_TRY(check_tensor(tensors[i], where));
    if (!names.insert(tensors[i].name).second) return bad(where + ": duplicate name");
  }
  EDGEFED_TRY(check_endpoint(*this, input, "input", 4));
  EDGEFED_TRY(check_endpoint(*this, output, "output", 2));
  std::vector<int> writer(tensors.size(), OpChecker::kUnwritten);
  writer[static_cast<std::size_t>(input)] = OpChecker::kGraphInput;
  for (std::size_t i = 0; i < ops.size(); ++i) EDGEFED_TRY(OpChecker(*this, i, writer).check());
  if (writer[static_cast<std::size_t>(output)] < 0) {
    return bad("graph output, " + tensor_label(*this, output) + ": no operator writes it");
  }
  return {};
}

int Graph::add_tensor(Tensor tensor) {
  tensors.push_back(std::move(tensor));
  return static_cast<int>(tensors.size()) - 1;
}

void Graph::add_op(OpKind kind, std::string name, std::vector<int> inputs, int output, Activation activation) {
  Op op;
  op.kind = kind;
  op.name = std::move(name);
  op.inputs = std::move(inputs);
  op.output = output;
  op.activation = activation;
  ops.push_back(std::move(op));
}

bool Graph::is_int8() const {
  return std::any_of(tensors.begin(), tensors.end(), [](const Tensor& t) { return t.dtype == DType::int8; });
}

int Graph::find(std::string_view tensor_name) const {
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].name == tensor_name) return static_cast<int>(i);
  }
  return -1;
}

std::string_view to_string(OpKind kind) noexcept {
  switch (kind) {
    case OpKind::quantize: return "quantize";
    case OpKind::dequantize: return "dequantize";
    case OpKind::conv2d: return "conv2d";
    case OpKind::max_pool2d: return "max_pool2d";
    case OpKind::add: return "add";
    case OpKind::reshape: return "reshape";
    case OpKind::fully_connected: return "fully_connected";
  }
  return "unknown";
}

std::string_view to_string(DType dtype) noexcept {
  switch (dtype) {
    case DType::float32: return "float32";
    case DType::int8: return "int8";
    case DType::int32: return "int32";
  }
  return "unknown";
}

std::string_view to_string(Activation activation) noexcept {
  switch (activation) {
    case Activation::none: return "none";
    case Activation::relu: return "relu";
  }
  return "unknown";
}

}  // namespace edgefed::runtime
