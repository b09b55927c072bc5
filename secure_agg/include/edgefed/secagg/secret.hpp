// Fixed-size secret bytes that are wiped (OPENSSL_cleanse) when destroyed or moved from.
//
// Use for every key, seed and share the protocol holds. Copies are explicit (`clone()`), so
// a secret never multiplies by accident; equality is constant-time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace edgefed::secagg {

// Wipes memory in a way the compiler cannot elide (OPENSSL_cleanse).
void secure_wipe(void* data, std::size_t size) noexcept;
// Constant-time equality of two equal-size buffers (CRYPTO_memcmp); false if sizes differ.
[[nodiscard]] bool secure_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept;

template <std::size_t N>
class SecretBytes {
 public:
  static constexpr std::size_t kSize = N;

  SecretBytes() noexcept { bytes_.fill(0); }
  explicit SecretBytes(std::span<const std::uint8_t, N> from) noexcept {
    for (std::size_t i = 0; i < N; ++i) bytes_[i] = from[i];
  }
  ~SecretBytes() { secure_wipe(bytes_.data(), N); }

  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  SecretBytes(SecretBytes&& other) noexcept : bytes_(other.bytes_) { secure_wipe(other.bytes_.data(), N); }
  SecretBytes& operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
      bytes_ = other.bytes_;
      secure_wipe(other.bytes_.data(), N);
    }
    return *this;
  }

  SecretBytes clone() const noexcept { return SecretBytes(std::span<const std::uint8_t, N>(bytes_)); }
  std::span<const std::uint8_t, N> span() const noexcept { return bytes_; }
  std::span<std::uint8_t, N> mutable_span() noexcept { return bytes_; }
  const std::uint8_t* data() const noexcept { return bytes_.data(); }
  bool operator==(const SecretBytes& other) const noexcept { return secure_equal(bytes_, other.bytes_); }

 private:
  std::array<std::uint8_t, N> bytes_;
};

using Secret32 = SecretBytes<32>;

}  // namespace edgefed::secagg
