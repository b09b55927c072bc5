// The fixed Ed25519 key fuzz_artifact signs with (a test key: public seed, never deployed).
#pragma once

#include "edgefed/common/crypto.hpp"

#include <array>

namespace edgefed::fuzz {

inline Ed25519SecretKey artifact_key() {
  std::array<std::uint8_t, 32> seed{};
  for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(0xA0 + i);
  return Ed25519SecretKey::from_seed(seed).value();
}

}  // namespace edgefed::fuzz
