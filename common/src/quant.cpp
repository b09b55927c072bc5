#include "edgefed/common/quant.hpp"

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

namespace edgefed {
namespace {

// Where scales apply: `groups` runs of `inner` consecutive elements, one scale each.
struct Layout {
  std::size_t numel = 0;
  std::size_t groups = 0;
  std::size_t inner = 0;
};

bool is_known(Encoding e) { return static_cast<std::uint8_t>(e) <= 4; }

std::string fmt(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", x);
  return buf;
}

std::string name_of(Encoding e) { return std::string(to_string(e)); }

Result<Layout> layout_of(Encoding e, std::span<const std::int64_t> shape, std::size_t limit) {
  if (!is_known(e)) {
    return fail(ErrorCode::bad_value, "unknown encoding " + std::to_string(static_cast<int>(e)));
  }
  auto n = checked_numel(shape, limit);
  if (!n) return n.error().with_context(name_of(e) + ": shape");
  Layout l{*n, scale_count(e, shape), 0};
  if (l.groups != 0) l.inner = l.numel / l.groups;
  return l;
}

Error non_finite(std::size_t i, float x) {
  const char* what = std::isnan(x) ? "NaN" : (x > 0 ? "+inf" : "-inf");
  return fail(ErrorCode::bad_value, "element " + std::to_string(i) + " is " + what);
}

void store_f32(std::uint8_t* p, float x) {
  const auto u = std::bit_cast<std::uint32_t>(x);
  for (int b = 0; b < 4; ++b) p[b] = static_cast<std::uint8_t>(u >> (8 * b));
}

std::uint32_t load_u32(const std::uint8_t* p) {
  std::uint32_t u = 0;
  for (int b = 0; b < 4; ++b) u |= std::uint32_t{p[b]} << (8 * b);
  return u;
}

float load_f32(const std::uint8_t* p) { return std::bit_cast<float>(load_u32(p)); }

void store_i32(std::uint8_t* p, std::int32_t q) {
  const auto u = static_cast<std::uint32_t>(q);
  for (int b = 0; b < 4; ++b) p[b] = static_cast<std::uint8_t>(u >> (8 * b));
}

std::int32_t load_i32(const std::uint8_t* p) { return static_cast<std::int32_t>(load_u32(p)); }

int int8_code(const Bytes& data, std::size_t i) { return static_cast<std::int8_t>(data[i]); }

int int4_code(const Bytes& data, std::size_t i) {
  const int nibble = (data[i / 2] >> (4 * (i % 2))) & 0xF;
  return nibble >= 8 ? nibble - 16 : nibble;
}

// ---- encode ---------------------------------------------------------------------------

// Smallest float scale with scale * steps >= range (so max|x| never clamps), unless that
// overflows float32 when multiplied back, in which case one ulp less.
float grid_scale(double range, int steps) {
  float s = static_cast<float>(range / steps);
  if (static_cast<double>(s) * steps < range) s = std::nextafter(s, FLT_MAX);
  if (static_cast<double>(s) * steps > FLT_MAX) s = std::nextafter(s, 0.0f);
  return s;
}

int quantize(float x, double inv_scale, int lo, int hi) {
  const double q = std::round(static_cast<double>(x) * inv_scale);
  return static_cast<int>(std::clamp(q, static_cast<double>(lo), static_cast<double>(hi)));
}

void encode_float32(std::span<const float> values, EncodedTensor& t) {
  t.data.resize(data_bytes(Encoding::float32, values.size()));
  for (std::size_t i = 0; i < values.size(); ++i) store_f32(t.data.data() + 4 * i, values[i]);
}

// Integral floats in [-2^31, 2^31); 2^31 itself is the first float past INT32_MAX.
Status encode_int32_values(std::span<const float> values, EncodedTensor& t) {
  t.data.resize(data_bytes(Encoding::int32, values.size()));
  for (std::size_t i = 0; i < values.size(); ++i) {
    const float x = values[i];
    if (std::trunc(x) != x || x < -0x1p31f || x >= 0x1p31f) {
      return fail(ErrorCode::bad_value, "element " + std::to_string(i) + " = " + fmt(x) +
                                            " is not an int32 integer");
    }
    store_i32(t.data.data() + 4 * i, static_cast<std::int32_t>(x));
  }
  return {};
}

float symmetric_scale(std::span<const float> channel, int qmax) {
  float max_abs = 0.0f;
  for (float x : channel) max_abs = std::max(max_abs, std::fabs(x));
  return max_abs > 0.0f ? grid_scale(max_abs, qmax) : kEmptyChannelScale;
}

template <bool kInt4>
void encode_symmetric(std::span<const float> values, const Layout& l, EncodedTensor& t) {
  constexpr int kQmax = kInt4 ? kInt4SymmetricMax : kInt8SymmetricMax;
  t.scales.resize(l.groups);
  t.data.assign(data_bytes(t.encoding, l.numel), 0);  // int4 ORs nibbles in; padding stays 0
  for (std::size_t c = 0; c < l.groups; ++c) {
    const auto channel = values.subspan(c * l.inner, l.inner);
    t.scales[c] = symmetric_scale(channel, kQmax);
    const double inv = 1.0 / static_cast<double>(t.scales[c]);
    for (std::size_t k = 0; k < l.inner; ++k) {
      const std::size_t i = c * l.inner + k;
      const int q = quantize(channel[k], inv, -kQmax, kQmax);
      if constexpr (kInt4) {
        t.data[i / 2] |= static_cast<std::uint8_t>((q & 0xF) << (4 * (i % 2)));
      } else {
        t.data[i] = static_cast<std::uint8_t>(q);
      }
    }
  }
}

// TFLite nudging: the real zero point -128 - lo/scale rounded to an integer, so 0.0 is exact.
int nudged_zero_point(float lo, float scale) {
  const double real = kInt8AsymmetricMin - static_cast<double>(lo) / scale;
  return static_cast<int>(std::clamp(std::round(real), double{kInt8AsymmetricMin},
                                     double{kInt8AsymmetricMax}));
}

Status encode_asymmetric(std::span<const float> values, EncodedTensor& t) {
  float lo = 0.0f, hi = 0.0f;
  for (float x : values) {
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  const double range = static_cast<double>(hi) - static_cast<double>(lo);
  if (range > FLT_MAX) {
    return fail(ErrorCode::bad_value, "value range [" + fmt(lo) + ", " + fmt(hi) +
                                          "] is too wide for one float32 scale");
  }
  const float scale = range > 0 ? grid_scale(range, 255) : kEmptyChannelScale;
  const int zp = nudged_zero_point(lo, scale);
  t.scales.assign(1, scale);
  t.zero_points.assign(1, zp);
  t.data.resize(values.size());
  const double inv = 1.0 / static_cast<double>(scale);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const int q = quantize(values[i], inv, kInt8AsymmetricMin - zp, kInt8AsymmetricMax - zp);
    t.data[i] = static_cast<std::uint8_t>(q + zp);
  }
  return {};
}

// ---- validate ---------------------------------------------------------------------------

Status check_data_length(const EncodedTensor& t, const Layout& l) {
  const std::size_t need = data_bytes(t.encoding, l.numel);
  if (t.data.size() == need) return {};
  const ErrorCode code = t.data.size() < need ? ErrorCode::truncated : ErrorCode::bad_length;
  return fail(code, "data has " + std::to_string(t.data.size()) + " bytes, shape " +
                        shape_to_string(t.shape) + " needs " + std::to_string(need));
}

Status check_zero_points(const EncodedTensor& t) {
  const std::size_t need = zero_point_count(t.encoding);
  if (t.zero_points.size() != need) {
    return fail(ErrorCode::bad_length, "has " + std::to_string(t.zero_points.size()) +
                                           " zero points, expected " + std::to_string(need));
  }
  for (std::size_t i = 0; i < need; ++i) {
    const std::int32_t z = t.zero_points[i];
    if (z < kInt8AsymmetricMin || z > kInt8AsymmetricMax) {
      return fail(ErrorCode::bad_value, "zero point " + std::to_string(z) + " outside [-128, 127]");
    }
  }
  return {};
}

// Largest |code - zero point| a decode can multiply a scale by.
double max_code_magnitude(const EncodedTensor& t) {
  switch (t.encoding) {
    case Encoding::int8_symmetric_per_channel: return kInt8SymmetricMax;
    case Encoding::int4_symmetric_per_channel: return kInt4SymmetricMax;
    case Encoding::int8_asymmetric_per_tensor: {
      const std::int32_t z = t.zero_points[0];  // checked before
      return std::max(kInt8AsymmetricMax - z, z - kInt8AsymmetricMin);
    }
    case Encoding::float32:
    case Encoding::int32: break;
  }
  return 0.0;
}

Status check_scales(const EncodedTensor& t, const Layout& l) {
  if (t.scales.size() != l.groups) {
    return fail(ErrorCode::bad_length, "has " + std::to_string(t.scales.size()) +
                                           " scales, shape " + shape_to_string(t.shape) +
                                           " needs " + std::to_string(l.groups));
  }
  const double magnitude = max_code_magnitude(t);
  for (std::size_t c = 0; c < t.scales.size(); ++c) {
    const float s = t.scales[c];
    const std::string which = "scale[" + std::to_string(c) + "] = " + fmt(s);
    if (!std::isfinite(s) || !(s > 0.0f)) {
      return fail(ErrorCode::bad_value, which + " is not finite and positive");
    }
    if (static_cast<double>(s) * magnitude > FLT_MAX) {
      return fail(ErrorCode::bad_value, which + " overflows float32 when decoded");
    }
  }
  return {};
}

Status check_float32_codes(const EncodedTensor& t, const Layout& l) {
  for (std::size_t i = 0; i < l.numel; ++i) {
    const float x = load_f32(t.data.data() + 4 * i);
    if (!std::isfinite(x)) return non_finite(i, x);
  }
  return {};
}

Status check_int8_symmetric_codes(const EncodedTensor& t) {
  const auto it = std::find(t.data.begin(), t.data.end(), std::uint8_t{0x80});
  if (it == t.data.end()) return {};
  return fail(ErrorCode::bad_value, "element " + std::to_string(it - t.data.begin()) +
                                        " has code -128, outside [-127, 127]");
}

Status check_int4_codes(const EncodedTensor& t, const Layout& l) {
  for (std::size_t i = 0; i < l.numel; ++i) {
    if (int4_code(t.data, i) == -8) {
      return fail(ErrorCode::bad_value,
                  "element " + std::to_string(i) + " has code -8, outside [-7, 7]");
    }
  }
  if (l.numel % 2 == 1 && (t.data.back() >> 4) != 0) {
    return fail(ErrorCode::bad_value, "padding nibble after the last element is not 0");
  }
  return {};
}

Status check_codes(const EncodedTensor& t, const Layout& l) {
  switch (t.encoding) {
    case Encoding::float32: return check_float32_codes(t, l);
    case Encoding::int8_symmetric_per_channel: return check_int8_symmetric_codes(t);
    case Encoding::int4_symmetric_per_channel: return check_int4_codes(t, l);
    case Encoding::int8_asymmetric_per_tensor:
    case Encoding::int32: break;  // every byte pattern is a valid code
  }
  return {};
}

// Shape first (it bounds everything else), lengths before values so no check reads past the
// data, zero points before scales since the overflow bound depends on them.
Result<Layout> checked_layout(const EncodedTensor& t, std::size_t limit) {
  auto l = layout_of(t.encoding, t.shape, limit);
  if (!l) return l.error();
  Status s = check_data_length(t, *l);
  if (s) s = check_zero_points(t);
  if (s) s = check_scales(t, *l);
  if (s) s = check_codes(t, *l);
  if (!s) return s.error().with_context(name_of(t.encoding));
  return l;
}

// ---- decode (on a validated tensor) -----------------------------------------------------

void decode_checked(const EncodedTensor& t, const Layout& l, std::span<float> out) {
  switch (t.encoding) {
    case Encoding::float32:
      for (std::size_t i = 0; i < l.numel; ++i) out[i] = load_f32(t.data.data() + 4 * i);
      return;
    case Encoding::int32:
      for (std::size_t i = 0; i < l.numel; ++i) {
        out[i] = static_cast<float>(load_i32(t.data.data() + 4 * i));
      }
      return;
    case Encoding::int8_asymmetric_per_tensor:
      for (std::size_t i = 0; i < l.numel; ++i) {
        out[i] = static_cast<float>(int8_code(t.data, i) - t.zero_points[0]) * t.scales[0];
      }
      return;
    case Encoding::int8_symmetric_per_channel:
    case Encoding::int4_symmetric_per_channel: break;
  }
  const bool int4 = t.encoding == Encoding::int4_symmetric_per_channel;
  for (std::size_t c = 0; c < l.groups; ++c) {
    const float scale = t.scales[c];
    for (std::size_t i = c * l.inner; i < (c + 1) * l.inner; ++i) {
      const int q = int4 ? int4_code(t.data, i) : int8_code(t.data, i);
      out[i] = static_cast<float>(q) * scale;
    }
  }
}

}  // namespace

std::string_view to_string(Encoding encoding) noexcept {
  switch (encoding) {
    case Encoding::float32: return "float32";
    case Encoding::int8_symmetric_per_channel: return "int8_symmetric_per_channel";
    case Encoding::int8_asymmetric_per_tensor: return "int8_asymmetric_per_tensor";
    case Encoding::int4_symmetric_per_channel: return "int4_symmetric_per_channel";
    case Encoding::int32: return "int32";
  }
  return "unknown_encoding";
}

Result<Encoding> parse_encoding(std::uint8_t tag) {
  const auto e = static_cast<Encoding>(tag);
  if (!is_known(e)) return fail(ErrorCode::bad_value, "unknown encoding " + std::to_string(tag));
  return e;
}

std::size_t scale_count(Encoding encoding, std::span<const std::int64_t> shape) noexcept {
  switch (encoding) {
    case Encoding::float32:
    case Encoding::int32: return 0;
    case Encoding::int8_asymmetric_per_tensor: return 1;
    case Encoding::int8_symmetric_per_channel:
    case Encoding::int4_symmetric_per_channel:
      if (shape.size() <= 1) return 1;
      return shape[0] > 0 ? static_cast<std::size_t>(shape[0]) : 0;
  }
  return 0;
}

std::size_t zero_point_count(Encoding encoding) noexcept {
  return encoding == Encoding::int8_asymmetric_per_tensor ? 1 : 0;
}

std::size_t data_bytes(Encoding encoding, std::size_t numel) noexcept {
  switch (encoding) {
    case Encoding::float32:
    case Encoding::int32: return numel > SIZE_MAX / 4 ? SIZE_MAX : 4 * numel;
    case Encoding::int4_symmetric_per_channel: return numel / 2 + numel % 2;
    case Encoding::int8_symmetric_per_channel:
    case Encoding::int8_asymmetric_per_tensor: return numel;
  }
  return 0;
}

std::size_t encoded_bytes(const EncodedTensor& tensor) noexcept {
  return tensor.data.size() + sizeof(float) * tensor.scales.size() +
         sizeof(std::int32_t) * tensor.zero_points.size();
}

Result<EncodedTensor> encode(std::span<const std::int64_t> shape, std::span<const float> values,
                             Encoding encoding, std::size_t max_elements) {
  if (!is_known(encoding)) return fail(ErrorCode::invalid_argument, "unknown encoding");
  auto l = layout_of(encoding, shape, max_elements);
  if (!l) return l.error();
  if (values.size() != l->numel) {
    return fail(ErrorCode::invalid_argument, "shape " + shape_to_string(shape) + " needs " +
                                                 std::to_string(l->numel) + " values, got " +
                                                 std::to_string(values.size()));
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) return non_finite(i, values[i]);
  }
  EncodedTensor t{encoding, Shape(shape.begin(), shape.end()), {}, {}, {}};
  switch (encoding) {
    case Encoding::float32: encode_float32(values, t); break;
    case Encoding::int8_symmetric_per_channel: encode_symmetric<false>(values, *l, t); break;
    case Encoding::int4_symmetric_per_channel: encode_symmetric<true>(values, *l, t); break;
    case Encoding::int8_asymmetric_per_tensor: EDGEFED_TRY(encode_asymmetric(values, t)); break;
    case Encoding::int32: EDGEFED_TRY(encode_int32_values(values, t)); break;
  }
  return t;
}

Result<EncodedTensor> encode_int32(std::span<const std::int64_t> shape,
                                   std::span<const std::int32_t> values, std::size_t max_elements) {
  auto l = layout_of(Encoding::int32, shape, max_elements);
  if (!l) return l.error();
  if (values.size() != l->numel) {
    return fail(ErrorCode::invalid_argument, "int32: shape " + shape_to_string(shape) + " needs " +
                                                 std::to_string(l->numel) + " values, got " +
                                                 std::to_string(values.size()));
  }
  EncodedTensor t{Encoding::int32, Shape(shape.begin(), shape.end()), {}, {}, {}};
  t.data.resize(data_bytes(Encoding::int32, values.size()));
  for (std::size_t i = 0; i < values.size(); ++i) store_i32(t.data.data() + 4 * i, values[i]);
  return t;
}

Result<EncodedTensor> encode(const TensorView& tensor, Encoding encoding,
                             std::size_t max_elements) {
  auto t = encode(tensor.shape, tensor.data, encoding, max_elements);
  if (!t && !tensor.name.empty()) return t.error().with_context(tensor.name);
  return t;
}

Status validate(const EncodedTensor& tensor, std::size_t max_elements) {
  auto l = checked_layout(tensor, max_elements);
  if (!l) return l.error();
  return {};
}

Result<std::vector<float>> decode(const EncodedTensor& tensor, std::size_t max_elements) {
  auto l = checked_layout(tensor, max_elements);
  if (!l) return l.error();
  std::vector<float> out(l->numel);  // only now: numel is bounded by the bytes we hold
  decode_checked(tensor, *l, out);
  return out;
}

Status decode_into(const EncodedTensor& tensor, std::span<float> out, std::size_t max_elements) {
  auto l = checked_layout(tensor, max_elements);
  if (!l) return l.error();
  if (out.size() != l->numel) {
    return fail(ErrorCode::invalid_argument, "output has " + std::to_string(out.size()) +
                                                 " elements, shape " +
                                                 shape_to_string(tensor.shape) + " has " +
                                                 std::to_string(l->numel));
  }
  decode_checked(tensor, *l, out);
  return {};
}

Result<std::vector<std::int32_t>> decode_int32(const EncodedTensor& tensor,
                                               std::size_t max_elements) {
  if (tensor.encoding != Encoding::int32) {
    return fail(ErrorCode::invalid_argument,
                "decode_int32 of a " + name_of(tensor.encoding) + " tensor");
  }
  auto l = checked_layout(tensor, max_elements);
  if (!l) return l.error();
  std::vector<std::int32_t> out(l->numel);
  for (std::size_t i = 0; i < l->numel; ++i) out[i] = load_i32(tensor.data.data() + 4 * i);
  return out;
}

float max_error_bound(const EncodedTensor& tensor, std::size_t element) {
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
  auto l = layout_of(tensor.encoding, tensor.shape, SIZE_MAX);
  if (!l || element >= l->numel) return kNaN;
  if (tensor.encoding == Encoding::float32 || tensor.encoding == Encoding::int32) return 0.0f;
  const std::size_t group = element / l->inner;  // inner > 0 since numel > 0
  if (group >= tensor.scales.size()) return kNaN;
  return tensor.scales[group] / 2.0f;
}

}  // namespace edgefed
