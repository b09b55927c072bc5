// Internal: a vector in Z_{2^b} held in the narrowest native lane (uint32 for b ≤ 32, else
// uint64), so masks cost 4 keystream bytes per element whenever the ring allows it. Lane
// arithmetic wraps mod 2^32 / 2^64 and 2^b divides both, so reducing once at the end is exact.
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/secagg/primitives.hpp"

#include <cstdint>
#include <span>
#include <variant>
#include <vector>

namespace edgefed::secagg {

class RingBuffer {
 public:
  RingBuffer(std::uint32_t bits, std::size_t length);

  std::uint32_t bits() const { return bits_; }
  std::size_t size() const;

  // this ±= PRG(key) elementwise (raw lane words).
  void add_mask(MaskPrg& prg, const Secret32& key, bool subtract);
  // this += values (any width; reduced by lane wrap-around).
  void add(std::span<const std::uint64_t> values);
  // this += other (same bits and length, asserted).
  void add(const RingBuffer& other);
  // this += unpack(packed) where packed holds size() values of bits() bits, little-endian.
  // bad_length if the byte count is wrong, bad_value if padding bits are set.
  Status add_packed(ByteSpan packed);
  // The values reduced mod 2^b.
  std::vector<std::uint64_t> values() const;
  // The values reduced mod 2^b and bit-packed.
  Bytes pack() const;

 private:
  std::uint32_t bits_;
  std::variant<std::vector<std::uint32_t>, std::vector<std::uint64_t>> lanes_;
};

}  // namespace edgefed::secagg
