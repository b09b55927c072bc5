// int8 kernels, integer for integer as the TFLite reference kernels (see fixed_point.hpp):
//   conv2d / fully_connected  acc = bias[c] + Σ (x − zx) × w;  y = clamp(zy + MBQM(acc, M_c, shift_c))
//                             with M_c = s_x × s_w[c] / s_y, the clamp [max(−128, zy), 127] under ReLU
//   add                       both inputs shifted left by 20, rescaled by s_i / (2 max(s_a, s_b)), summed,
//                             rescaled by 2 max(s_a, s_b) / (2^20 s_y)
//   quantize                  q = clamp(round(x / s) + z), the division in float, ties away from zero
//   dequantize                x = s × (q − z)
//   max_pool2d                the largest code (input and output share the quantization)
#include "edgefed/runtime/fixed_point.hpp"
#include "kernels.hpp"

#include <array>
#include <cmath>
#include <cstdio>
#include <string>

namespace edgefed::runtime::detail {
namespace {

constexpr int kAddLeftShift = 20;

const Tensor& tensor(const Graph& graph, int index) { return graph.tensors[static_cast<std::size_t>(index)]; }
std::ptrdiff_t offset_of(const ArenaPlan& plan, int index) { return plan.offsets[static_cast<std::size_t>(index)]; }
float scale_of(const Tensor& t) { return t.quant.scales[0]; }
std::int32_t zero_point_of(const Tensor& t) { return t.quant.zero_points[0]; }

std::string label(const Op& op) { return "op '" + op.name + "' (" + std::string(to_string(op.kind)) + ")"; }

std::string fmt(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", x);
  return buf;
}

// A multiplier the kernels can apply: shift <= `max_shift` keeps x << shift meaningful.
Result<QuantizedMultiplier> multiplier_for(double real, int max_shift, const Op& op, std::string_view what) {
  const QuantizedMultiplier m = quantize_multiplier(real);
  if (m.shift > max_shift) {
    return fail(ErrorCode::bad_value, label(op) + ": " + std::string(what) + " multiplier " + fmt(real) +
                                          " is out of the range of the fixed-point arithmetic");
  }
  return m;
}

struct ActivationRange {
  std::int32_t min = -128, max = 127;
};

ActivationRange range_of(const Op& op, std::int32_t output_zero_point) {
  ActivationRange r;
  if (op.activation == Activation::relu) r.min = std::max(r.min, output_zero_point);  // quantized 0.0
  return r;
}

// The bias is any int32: wrap as the hardware does instead of overflowing (undefined in C++).
std::int32_t wrapping_add(std::int32_t a, std::int32_t b) {
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(a) + static_cast<std::uint32_t>(b));
}

std::int8_t clamp_to(std::int32_t v, ActivationRange r) {
  return static_cast<std::int8_t>(std::clamp(v, r.min, r.max));
}

// Rows of dot products are padded to a multiple of this many int16: with the trip count known
// to be such a multiple, the compiler keeps a vector accumulator and uses multiply-add
// instructions (pmaddwd, sdot) at -O2, with no scalar remainder loop.
constexpr std::size_t kDotChunk = 16;

// Σ_j a[j] × b[j]. Kept out of line: inlined into the pixel loop, GCC loses the
// n % kDotChunk == 0 fact and stops vectorizing.
[[gnu::noinline]] std::int32_t dot(const std::int16_t* a, const std::int16_t* b, std::size_t n) {
  n &= ~(kDotChunk - 1);  // a no-op on padded rows; tells the compiler n % kDotChunk == 0
  std::int32_t sum = 0;
  for (std::size_t j = 0; j < n; ++j) sum += a[j] * b[j];
  return sum;
}

// The same for rows of one chunk (1×1 convolutions over few channels, 3×3 over one): inline,
// without the call and loop overhead that dominates at this length.
std::int32_t dot_chunk(const std::int16_t* a, const std::int16_t* b) {
  std::int32_t sum = 0;
  for (std::size_t j = 0; j < kDotChunk; ++j) sum += a[j] * b[j];
  return sum;
}

// Per output pixel, the receptive field becomes one int16 row (x − zx in OHWI order, 0 in
// the zero padding and past the end), and each output channel the dot product of that row
// with its weight row. Integer sums do not depend on order, so this is exactly Σ (x − zx) × w.
class Int8Conv final : public Kernel {
 public:
  static Result<std::unique_ptr<Kernel>> make(const Graph& graph, const Op& op, const ArenaPlan& plan) {
    auto k = std::unique_ptr<Int8Conv>(new Int8Conv(graph, op, plan));
    const double s_in = scale_of(tensor(graph, op.inputs[0]));
    const double s_out = scale_of(tensor(graph, op.output));
    const std::vector<float>& s_w = tensor(graph, op.inputs[1]).quant.scales;
    const auto channels = static_cast<std::size_t>(k->g_.out_channels);
    k->requant_.resize(channels);
    for (std::size_t c = 0; c < channels; ++c) {
      const double real = s_in * static_cast<double>(s_w[s_w.size() == 1 ? 0 : c]) / s_out;
      EDGEFED_ASSIGN_OR_RETURN(const QuantizedMultiplier m,
                               multiplier_for(real, 30, op, "output channel " + std::to_string(c)));
      k->requant_[c] = Requantizer(m);
    }
    return std::unique_ptr<Kernel>(std::move(k));
  }

  void run(std::byte* arena) override {
    const std::int8_t* x = tensor_at<const std::int8_t>(arena, in_);
    std::int8_t* dst = tensor_at<std::int8_t>(arena, out_);
    for (int oy = 0; oy < g_.height; ++oy) {
      for (int ox = 0; ox < g_.width; ++ox, dst += g_.out_channels) {
        gather(x, oy, ox);
        outputs(dst);
      }
    }
  }

 private:
  Int8Conv(const Graph& graph, const Op& op, const ArenaPlan& plan)
      : g_(ConvGeometry::of(graph, op)),
        row_((g_.taps_in() + kDotChunk - 1) / kDotChunk * kDotChunk),
        weights_(static_cast<std::size_t>(g_.out_channels) * row_, 0),
        patch_(row_, 0),
        bias_(op.inputs.size() > 2 ? tensor(graph, op.inputs[2]).i32
                                   : std::vector<std::int32_t>(static_cast<std::size_t>(g_.out_channels), 0)),
        in_zero_point_(zero_point_of(tensor(graph, op.inputs[0]))),
        out_zero_point_(zero_point_of(tensor(graph, op.output))),
        range_(range_of(op, out_zero_point_)),
        in_(offset_of(plan, op.inputs[0])),
        out_(offset_of(plan, op.output)) {
    const std::vector<std::int8_t>& ohwi = tensor(graph, op.inputs[1]).i8;
    const std::size_t taps_in = g_.taps_in();
    for (std::size_t c = 0; c < static_cast<std::size_t>(g_.out_channels); ++c) {
      std::copy(ohwi.begin() + static_cast<std::ptrdiff_t>(c * taps_in),
                ohwi.begin() + static_cast<std::ptrdiff_t>((c + 1) * taps_in),
                weights_.begin() + static_cast<std::ptrdiff_t>(c * row_));
    }
  }

  // Every output channel of one pixel from patch_. Members are read into locals first: the int8
  // stores may alias anything, which would make the compiler reload them per channel.
  void outputs(std::int8_t* dst) const {
    const std::int16_t* patch = patch_.data();
    const std::int32_t* bias = bias_.data();
    const Requantizer* requant = requant_.data();
    const std::size_t row = row_;
    const auto out_c = static_cast<std::size_t>(g_.out_channels);
    const std::int32_t zy = out_zero_point_;
    const ActivationRange range = range_;
    const std::int16_t* w = weights_.data();
    for (std::size_t c = 0; c < out_c; ++c, w += row) {
      const std::int32_t acc = row == kDotChunk ? dot_chunk(patch, w) : dot(patch, w, row);
      dst[c] = clamp_to(requant[c](wrapping_add(acc, bias[c])) + zy, range);
    }
  }

  // The receptive field of output pixel (oy, ox) into patch_; entries past taps_in stay 0.
  void gather(const std::int8_t* x, int oy, int ox) {
    const auto in_c = static_cast<std::size_t>(g_.in_channels);
    std::int16_t* p = patch_.data();
    for (int ky = 0; ky < g_.kernel_h; ++ky) {
      const int iy = oy + ky - g_.kernel_h / 2;
      for (int kx = 0; kx < g_.kernel_w; ++kx, p += in_c) {
        const int ix = ox + kx - g_.kernel_w / 2;
        if (iy < 0 || iy >= g_.height || ix < 0 || ix >= g_.width) {
          std::fill(p, p + in_c, std::int16_t{0});  // zero padding: x = zx
          continue;
        }
        const std::int8_t* src = x + (static_cast<std::size_t>(iy) * g_.width + ix) * in_c;
        for (std::size_t i = 0; i < in_c; ++i) p[i] = static_cast<std::int16_t>(src[i] - in_zero_point_);
      }
    }
  }

  ConvGeometry g_;
  std::size_t row_;                    // taps_in rounded up to kDotChunk
  std::vector<std::int16_t> weights_;  // [O][row_], int16 for 16 × 16 → 32-bit multiply-adds
  std::vector<std::int16_t> patch_;    // scratch: one receptive field
  std::vector<std::int32_t> bias_;
  std::vector<Requantizer> requant_;  // MBQM by s_x × s_w[c] / s_y
  std::int32_t in_zero_point_, out_zero_point_;
  ActivationRange range_;
  std::ptrdiff_t in_, out_;
};

// Each input's rescaled value depends on its code only, so it is tabulated once per code
// (the same integers the per-element formula gives); the sum is rescaled per element.
class Int8Add final : public Kernel {
 public:
  static Result<std::unique_ptr<Kernel>> make(const Graph& graph, const Op& op, const ArenaPlan& plan) {
    auto k = std::unique_ptr<Int8Add>(new Int8Add(graph, op, plan));
    const Tensor& a = tensor(graph, op.inputs[0]);
    const Tensor& b = tensor(graph, op.inputs[1]);
    const double s_a = scale_of(a), s_b = scale_of(b), s_y = scale_of(tensor(graph, op.output));
    const double twice_max = 2 * std::max(s_a, s_b);
    const double out_real = twice_max / (static_cast<double>(1 << kAddLeftShift) * s_y);
    if (out_real >= 1.0) {
      return fail(ErrorCode::bad_value, label(op) + ": output scale " + fmt(s_y) +
                                            " is too small for the inputs' (the add multiplier must be < 1)");
    }
    EDGEFED_ASSIGN_OR_RETURN(const QuantizedMultiplier out_scale, multiplier_for(out_real, 0, op, "output"));
    k->out_scale_ = Requantizer(out_scale);
    EDGEFED_ASSIGN_OR_RETURN(const QuantizedMultiplier a_scale, multiplier_for(s_a / twice_max, 0, op, "input a"));
    EDGEFED_ASSIGN_OR_RETURN(const QuantizedMultiplier b_scale, multiplier_for(s_b / twice_max, 0, op, "input b"));
    k->a_table_ = rescaled(zero_point_of(a), a_scale);
    k->b_table_ = rescaled(zero_point_of(b), b_scale);
    return std::unique_ptr<Kernel>(std::move(k));
  }

  void run(std::byte* arena) override {
    const std::int8_t* a = tensor_at<const std::int8_t>(arena, a_);
    const std::int8_t* b = tensor_at<const std::int8_t>(arena, b_);
    std::int8_t* y = tensor_at<std::int8_t>(arena, out_);
    const Requantizer rescale = out_scale_;  // locals: the int8 stores may alias the members
    const std::int32_t zy = out_zero_point_;
    const ActivationRange range = range_;
    const std::int64_t n = n_;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int32_t sum = a_table_[static_cast<std::uint8_t>(a[i])] + b_table_[static_cast<std::uint8_t>(b[i])];
      y[i] = clamp_to(rescale(sum) + zy, range);
    }
  }

 private:
  using Table = std::array<std::int32_t, 256>;  // indexed by the code's two's complement byte

  Int8Add(const Graph& graph, const Op& op, const ArenaPlan& plan)
      : n_(tensor(graph, op.output).numel()),
        out_zero_point_(zero_point_of(tensor(graph, op.output))),
        range_(range_of(op, out_zero_point_)),
        a_(offset_of(plan, op.inputs[0])),
        b_(offset_of(plan, op.inputs[1])),
        out_(offset_of(plan, op.output)) {}

  // (q − z) × 2^20 rescaled by m, for every code q.
  static Table rescaled(std::int32_t zero_point, QuantizedMultiplier m) {
    Table t{};
    for (int q = -128; q <= 127; ++q) {
      t[static_cast<std::uint8_t>(q)] = multiply_by_quantized_multiplier_smaller_than_one(
          (q - zero_point) * (1 << kAddLeftShift), m.multiplier, m.shift);
    }
    return t;
  }

  std::int64_t n_;
  std::int32_t out_zero_point_;
  ActivationRange range_;
  Requantizer out_scale_;  // MBQM (smaller than one) by 2 max(s_a, s_b) / (2^20 s_y)
  Table a_table_{}, b_table_{};
  std::ptrdiff_t a_, b_, out_;
};

class Quantize final : public Kernel {
 public:
  Quantize(const Graph& graph, const Op& op, const ArenaPlan& plan)
      : n_(tensor(graph, op.output).numel()),
        scale_(scale_of(tensor(graph, op.output))),
        zero_point_(zero_point_of(tensor(graph, op.output))),
        in_(offset_of(plan, op.inputs[0])),
        out_(offset_of(plan, op.output)) {}

  void run(std::byte* arena) override {
    const float* x = tensor_at<const float>(arena, in_);
    std::int8_t* y = tensor_at<std::int8_t>(arena, out_);
    // Clamped as floats first, so no value (nor NaN, which fmax drops) overflows the conversion.
    const auto lo = static_cast<float>(-128 - zero_point_);
    const auto hi = static_cast<float>(127 - zero_point_);
    for (std::int64_t i = 0; i < n_; ++i) {
      const float q = std::fmin(std::fmax(std::round(x[i] / scale_), lo), hi);
      y[i] = static_cast<std::int8_t>(static_cast<std::int32_t>(q) + zero_point_);
    }
  }

 private:
  std::int64_t n_;
  float scale_;
  std::int32_t zero_point_;
  std::ptrdiff_t in_, out_;
};

class Dequantize final : public Kernel {
 public:
  Dequantize(const Graph& graph, const Op& op, const ArenaPlan& plan)
      : n_(tensor(graph, op.output).numel()),
        scale_(scale_of(tensor(graph, op.inputs[0]))),
        zero_point_(zero_point_of(tensor(graph, op.inputs[0]))),
        in_(offset_of(plan, op.inputs[0])),
        out_(offset_of(plan, op.output)) {}

  void run(std::byte* arena) override {
    const std::int8_t* x = tensor_at<const std::int8_t>(arena, in_);
    float* y = tensor_at<float>(arena, out_);
    for (std::int64_t i = 0; i < n_; ++i) y[i] = scale_ * static_cast<float>(x[i] - zero_point_);
  }

 private:
  std::int64_t n_;
  float scale_;
  std::int32_t zero_point_;
  std::ptrdiff_t in_, out_;
};

}  // namespace

Result<std::unique_ptr<Kernel>> make_int8_kernel(const Graph& graph, const Op& op, const ArenaPlan& plan) {
  switch (op.kind) {
    case OpKind::conv2d:
    case OpKind::fully_connected: return Int8Conv::make(graph, op, plan);
    case OpKind::add: return Int8Add::make(graph, op, plan);
    case OpKind::max_pool2d: return std::unique_ptr<Kernel>(std::make_unique<MaxPool<std::int8_t>>(graph, op, plan));
    case OpKind::quantize: return std::unique_ptr<Kernel>(std::make_unique<Quantize>(graph, op, plan));
    case OpKind::dequantize: return std::unique_ptr<Kernel>(std::make_unique<Dequantize>(graph, op, plan));
    case OpKind::reshape: break;
  }
  return fail(ErrorCode::invalid_argument, label(op) + " has no int8 kernel");
}

}  // namespace edgefed::runtime::detail
