// Quantization codecs: float32 tensors to and from compact encodings for the downlink and for
// model artifacts (DESIGN §5).
//
// An `EncodedTensor` is plain data: encoding, shape, scales, zero points and code bytes. The
// wire codec and the artifact reader build one from untrusted bytes, so `decode` trusts none
// of its fields and checks all of them before it allocates or writes anything.
//
// Encodings (codes are stored row-major, in the tensor's element order):
//
//   float32                     data = 4 bytes per element, IEEE-754 little-endian; lossless.
//                               No scales, no zero points. Non-finite values are rejected.
//   int8_symmetric_per_channel  data = 1 byte per element, two's complement q in [-127, 127];
//                               one scale per channel, x ≈ q * scale[c]; no zero points.
//                               scale[c] = max|x| over channel c / 127.
//   int8_asymmetric_per_tensor  data = 1 byte per element, two's complement q in [-128, 127];
//                               one scale and one zero point z in [-128, 127] for the tensor,
//                               x ≈ (q - z) * scale. The range is [min(x, 0), max(x, 0)] so
//                               0.0 is exactly representable (q = z); scale = range / 255.
//   int4_symmetric_per_channel  data = 4 bits per element, two's complement q in [-7, 7], two
//                               per byte, element 2k in the low nibble and 2k+1 in the high
//                               nibble of byte k; with an odd element count the last high
//                               nibble is padding and must be 0. One scale per channel,
//                               scale[c] = max|x| over channel c / 7; no zero points.
//   int32                       data = 4 bytes per element, two's complement little-endian;
//                               lossless integers (int32 biases of int8 graphs). No scales,
//                               no zero points. decode gives each integer as the nearest
//                               float: exact for |q| <= 2^24 (decode_int32 gives them all
//                               exactly); encode takes integral floats within the int32 range.
//
// Channels (per-channel encodings). A channel is a slice along axis 0, the output-channel axis
// of conv ([out, in, kh, kw]) and linear ([out, in]) weights: a rank >= 2 tensor of shape
// [d0, ...] has d0 channels of numel / d0 consecutive elements. A rank-0 or rank-1 tensor is
// ONE channel: a per-element scale for a bias vector would cost more than float32. A tensor
// whose d0 is 0 has no channels and no scales.
//
// Error bound. Every element of a decoded tensor is within scale/2 of the encoded value
// (`max_error_bound`), up to one float32 rounding of the decoded product, i.e. half an ulp of
// the result. Scales are rounded up so that max|x| never clamps; for the asymmetric encoding
// the zero point is nudged to an integer as in TFLite, which shifts the grid by at most half
// a step, so a clamped extreme is still within scale/2. float32 and int32 have bound 0.
// Codes round to nearest, ties away from zero, so encoding is deterministic across
// platforms.
//
// All-zero channels. A channel (or an asymmetric tensor) whose values are all ±0, or that has
// no elements, gets scale kEmptyChannelScale (1.0) and all-zero codes (asymmetric: z = -128,
// q = -128), so it decodes to exact +0.0.
//
// Errors (all malformed-input codes, see error.hpp; the detail names the field, index or
// sizes, prefixed by the encoding name):
//   truncated         data has fewer bytes than the shape needs
//   bad_length        data has more bytes than the shape needs; wrong number of scales or
//                     zero points; shape over the element limit
//   bad_value         unknown encoding; negative dimension or rank over kMaxTensorRank; a
//                     scale that is NaN, infinite, <= 0, or so large that a decoded value
//                     would overflow float32; a zero point outside [-128, 127]; a code outside
//                     its range (int8 symmetric -128, int4 nibble -8, nonzero int4 padding);
//                     a non-finite float32 element; in encode, a non-finite input element
//                     or, for int32, one that is not an integer in [-2^31, 2^31 - 1]
//   invalid_argument  caller misuse in encode/decode_into (value count or output size does
//                     not match the shape, unknown encoding passed to encode)
//
// All functions are pure: no I/O, no shared state, safe to call concurrently.
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/parameter_set.hpp"
#include "edgefed/common/result.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace edgefed {

// The numeric values are the on-wire and in-artifact tags: never renumber.
enum class Encoding : std::uint8_t {
  float32 = 0,
  int8_symmetric_per_channel = 1,
  int8_asymmetric_per_tensor = 2,
  int4_symmetric_per_channel = 3,
  int32 = 4,
};

// Stable lower_snake name ("int8_symmetric_per_channel"); "unknown_encoding" for a value
// outside the enum.
std::string_view to_string(Encoding encoding) noexcept;

// The Encoding for a tag read from the wire; bad_value for a tag we do not know.
Result<Encoding> parse_encoding(std::uint8_t tag);

// Default element limit for encode/decode: 2^28 elements (1 GiB as float32). A decoder also
// checks the data length against the shape before allocating, so a shape that claims more
// elements than its bytes hold fails without allocating even under this limit.
inline constexpr std::size_t kMaxQuantElements = std::size_t{1} << 28;

// The scale of an all-zero or empty channel.
inline constexpr float kEmptyChannelScale = 1.0f;

// Largest code magnitude of each symmetric encoding, and the code range of the asymmetric one.
inline constexpr int kInt8SymmetricMax = 127;
inline constexpr int kInt4SymmetricMax = 7;
inline constexpr int kInt8AsymmetricMin = -128;
inline constexpr int kInt8AsymmetricMax = 127;

struct EncodedTensor {
  Encoding encoding = Encoding::float32;
  Shape shape;
  std::vector<float> scales;          // scale_count(encoding, shape) entries
  std::vector<std::int32_t> zero_points;  // zero_point_count(encoding) entries
  Bytes data;                         // data_bytes(encoding, numel) bytes, layout above

  bool operator==(const EncodedTensor&) const = default;
};

// Number of scales an encoding carries for `shape`: 0 for float32, 1 for the asymmetric
// encoding, the channel count (see "Channels") for the per-channel ones. A negative d0 counts
// as 0 channels; decode rejects such a shape anyway.
std::size_t scale_count(Encoding encoding, std::span<const std::int64_t> shape) noexcept;

// Number of zero points: 1 for int8_asymmetric_per_tensor, else 0.
std::size_t zero_point_count(Encoding encoding) noexcept;

// Bytes of `data` for `numel` elements: 4n, n, n, ceil(n/2) or 4n. Saturates at SIZE_MAX.
std::size_t data_bytes(Encoding encoding, std::size_t numel) noexcept;

// Payload size for accounting: data bytes + 4 per scale + 4 per zero point (shape and tag
// excluded). For int8 per channel that is numel + 4 * channels.
std::size_t encoded_bytes(const EncodedTensor& tensor) noexcept;

// Encodes `values` (row-major, shape `shape`). Errors: bad_value naming the first NaN/±inf
// element ("element 17 is NaN"), for int32 the first non-integral or out-of-range element,
// or a bad shape; bad_length if the shape is over `max_elements`; bad_value if an
// asymmetric tensor's max(x,0) - min(x,0) overflows float32;
// invalid_argument if values.size() != numel or the encoding is unknown. The result always
// passes `validate`.
Result<EncodedTensor> encode(std::span<const std::int64_t> shape, std::span<const float> values,
                             Encoding encoding, std::size_t max_elements = kMaxQuantElements);

// Same, for a ParameterSet tensor; error details are prefixed by the tensor's name.
Result<EncodedTensor> encode(const TensorView& tensor, Encoding encoding,
                             std::size_t max_elements = kMaxQuantElements);

// An int32 tensor straight from integers, so values beyond 2^24 need not pass through
// floats. Errors as `encode`: bad_value / bad_length for the shape, invalid_argument if
// values.size() != numel.
Result<EncodedTensor> encode_int32(std::span<const std::int64_t> shape,
                                   std::span<const std::int32_t> values,
                                   std::size_t max_elements = kMaxQuantElements);

// Checks every field of an untrusted tensor (see "Errors") without allocating for the
// payload: shape and element limit first, then data length, zero points, scales, and every
// code. A tensor that passes decodes to finite floats.
Status validate(const EncodedTensor& tensor, std::size_t max_elements = kMaxQuantElements);

// Validates, then decodes into a new vector of numel floats.
Result<std::vector<float>> decode(const EncodedTensor& tensor,
                                  std::size_t max_elements = kMaxQuantElements);

// Validates, then decodes into `out` without allocating. `out` is written only on success.
// invalid_argument if out.size() != numel: compare tensor.shape with your schema first.
Status decode_into(const EncodedTensor& tensor, std::span<float> out,
                   std::size_t max_elements = kMaxQuantElements);

// Validates an int32 tensor, then returns its integers exactly. invalid_argument if the
// tensor's encoding is not int32.
Result<std::vector<std::int32_t>> decode_int32(const EncodedTensor& tensor,
                                               std::size_t max_elements = kMaxQuantElements);

// scale/2 of the scale that applies to element `element` (row-major index): the most that
// element can differ from its encoded value, before the final float rounding. 0 for float32
// and int32.
// Returns NaN if the tensor's shape, encoding or scales are malformed or `element` >= numel;
// call it on validated tensors.
float max_error_bound(const EncodedTensor& tensor, std::size_t element);

}  // namespace edgefed
