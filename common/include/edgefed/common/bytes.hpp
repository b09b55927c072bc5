// Byte buffers and bounds-checked little-endian readers/writers for binary formats.
//
// ByteReader never reads past its span: every read returns a Result, and a declared length
// is checked against the bytes that remain *before* anything is allocated for it.
#pragma once

#include "edgefed/common/result.hpp"

#include <cstdint>
#include <algorithm>
#include <bit>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace edgefed {

using Bytes = std::vector<std::uint8_t>;
using ByteSpan = std::span<const std::uint8_t>;

inline ByteSpan as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Appends fixed-width little-endian integers and floats, and raw bytes.
class ByteWriter {
 public:
  explicit ByteWriter(Bytes& out) : out_(out) {}

  template <typename T>
  void put(T value) {
    static_assert(std::is_arithmetic_v<T>);
    std::uint8_t raw[sizeof(T)];
    std::memcpy(raw, &value, sizeof(T));
    if constexpr (std::endian::native == std::endian::big) std::reverse(raw, raw + sizeof(T));
    out_.insert(out_.end(), raw, raw + sizeof(T));
  }
  void put_bytes(ByteSpan bytes) { out_.insert(out_.end(), bytes.begin(), bytes.end()); }
  std::size_t size() const { return out_.size(); }

 private:
  Bytes& out_;
};

// Reads what ByteWriter wrote. `what` names the field in errors ("tensor table: name").
class ByteReader {
 public:
  explicit ByteReader(ByteSpan in) : in_(in) {}

  template <typename T>
  Result<T> get(std::string_view what) {
    static_assert(std::is_arithmetic_v<T>);
    if (remaining() < sizeof(T)) return truncated(what, sizeof(T));
    std::uint8_t raw[sizeof(T)];
    std::memcpy(raw, in_.data() + pos_, sizeof(T));
    if constexpr (std::endian::native == std::endian::big) std::reverse(raw, raw + sizeof(T));
    pos_ += sizeof(T);
    T value;
    std::memcpy(&value, raw, sizeof(T));
    return value;
  }

  // A view of the next `n` bytes (no copy), after checking they exist.
  Result<ByteSpan> get_span(std::size_t n, std::string_view what) {
    if (remaining() < n) return truncated(what, n);
    ByteSpan s = in_.subspan(pos_, n);
    pos_ += n;
    return s;
  }

  std::size_t remaining() const { return in_.size() - pos_; }
  std::size_t position() const { return pos_; }
  bool at_end() const { return pos_ == in_.size(); }

 private:
  Error truncated(std::string_view what, std::size_t need) const {
    return Error{ErrorCode::truncated, std::string(what) + ": need " + std::to_string(need) +
                                           " bytes at offset " + std::to_string(pos_) + ", " +
                                           std::to_string(remaining()) + " left"};
  }
  ByteSpan in_;
  std::size_t pos_ = 0;
};

// Raw little-endian 64-bit load/store for hot loops over buffers already bounds-checked.
inline std::uint64_t load_le64(const std::uint8_t* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}
inline void store_le64(std::uint8_t* p, std::uint64_t v) noexcept {
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}

// Lowercase hex, for digests in logs and tests.
std::string to_hex(ByteSpan bytes);

}  // namespace edgefed
