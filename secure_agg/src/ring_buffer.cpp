#include "ring_buffer.hpp"

#include "edgefed/secagg/ring.hpp"

#include <cassert>

namespace edgefed::secagg {

namespace {
template <typename Lane>
std::vector<Lane>& lanes_of(std::variant<std::vector<std::uint32_t>, std::vector<std::uint64_t>>& v) {
  return std::get<std::vector<Lane>>(v);
}
}  // namespace

RingBuffer::RingBuffer(std::uint32_t bits, std::size_t length) : bits_(bits) {
  if (bits <= 32) lanes_ = std::vector<std::uint32_t>(length, 0);
  else lanes_ = std::vector<std::uint64_t>(length, 0);
}

std::size_t RingBuffer::size() const {
  return std::visit([](const auto& v) { return v.size(); }, lanes_);
}

void RingBuffer::add_mask(MaskPrg& prg, const Secret32& key, bool subtract) {
  std::visit([&](auto& v) { prg.add_mask(key, std::span(v), subtract); }, lanes_);
}

void RingBuffer::add(std::span<const std::uint64_t> values) {
  std::visit(
      [&](auto& v) {
        using Lane = typename std::decay_t<decltype(v)>::value_type;
        assert(values.size() == v.size());
        for (std::size_t i = 0; i < v.size(); ++i) v[i] += static_cast<Lane>(values[i]);
      },
      lanes_);
}

void RingBuffer::add(const RingBuffer& other) {
  assert(other.bits_ == bits_ && other.size() == size());
  std::visit(
      [&](auto& v) {
        using Vec = std::decay_t<decltype(v)>;
        const Vec& o = std::get<Vec>(other.lanes_);
        for (std::size_t i = 0; i < v.size(); ++i) v[i] += o[i];
      },
      lanes_);
}

Status RingBuffer::add_packed(ByteSpan packed) {
  return std::visit(
      [&](auto& v) -> Status {
        using Lane = typename std::decay_t<decltype(v)>::value_type;
        // Unpack into scratch first: a malformed input must leave the sum untouched.
        thread_local std::vector<Lane> scratch;
        scratch.resize(v.size());
        EDGEFED_TRY(unpack_ring(RingSpec{bits_}, packed, std::span<Lane>(scratch)));
        for (std::size_t i = 0; i < v.size(); ++i) v[i] += scratch[i];
        return {};
      },
      lanes_);
}

std::vector<std::uint64_t> RingBuffer::values() const {
  const std::uint64_t mask = RingSpec{bits_}.mask();
  return std::visit(
      [&](const auto& v) {
        std::vector<std::uint64_t> out(v.size());
        for (std::size_t i = 0; i < v.size(); ++i) out[i] = static_cast<std::uint64_t>(v[i]) & mask;
        return out;
      },
      lanes_);
}

Bytes RingBuffer::pack() const {
  return std::visit(
      [&](const auto& v) {
        Bytes out(packed_size(RingSpec{bits_}, v.size()));
        pack_ring(RingSpec{bits_}, std::span(v), out);
        return out;
      },
      lanes_);
}

}  // namespace edgefed::secagg
