#include "edgefed/secagg/secret.hpp"

#include <openssl/crypto.h>

namespace edgefed::secagg {

void secure_wipe(void* data, std::size_t size) noexcept {
  if (data != nullptr && size != 0) OPENSSL_cleanse(data, size);
}

bool secure_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept {
  // Lengths are public; only the contents must not leak through timing.
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace edgefed::secagg
