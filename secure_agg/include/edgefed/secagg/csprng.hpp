// Randomness for the protocol, injected so tests and the simulator are reproducible.
//
// Every draw names its purpose. A deterministic generator gives each purpose its own
// independent stream, so adding a draw for one purpose (say, an extra Shamir coefficient)
// never shifts the bytes another purpose sees (say, key generation). Production uses the
// operating system's CSPRNG through OpenSSL (RAND_priv_bytes) for every purpose.
//
// Thread-safety: a Csprng is not thread-safe; give each thread or each party its own.
#pragma once

#include "edgefed/secagg/secret.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace edgefed::secagg {

enum class RngPurpose : std::uint8_t {
  key_generation = 1,      // X25519 / Ed25519 private keys
  self_mask_seed,          // b_u
  shamir_coefficients,     // random polynomial coefficients
  stochastic_rounding,     // ring encoding
  graph_seed,              // the server's graph permutation seed
  session_nonce,           // the server's fresh nonce in the session id
};

std::string_view to_string(RngPurpose purpose) noexcept;

class Csprng {
 public:
  virtual ~Csprng() = default;
  // Fills `out` with bytes from the stream for `purpose`. Never fails: if the system
  // generator cannot deliver, the process aborts (a broken RNG must never yield keys).
  virtual void fill(RngPurpose purpose, std::span<std::uint8_t> out) = 0;

  std::uint64_t next_u64(RngPurpose purpose);
  Secret32 next_secret32(RngPurpose purpose);
};

// OpenSSL RAND_priv_bytes for every purpose.
class SystemCsprng final : public Csprng {
 public:
  void fill(RngPurpose purpose, std::span<std::uint8_t> out) override;
};

// Reproducible: purpose p's stream is the AES-256-CTR keystream (zero IV) under
// HKDF-SHA256(ikm = seed, salt = "", info = "edgefed/v1/rng/" || to_string(p)).
// For tests and simulation only: anyone who knows the seed knows every secret.
class DeterministicCsprng final : public Csprng {
 public:
  explicit DeterministicCsprng(std::span<const std::uint8_t, 32> seed);
  // Convenience: seed = SHA-256 of the 8-byte little-endian `seed`.
  explicit DeterministicCsprng(std::uint64_t seed);
  ~DeterministicCsprng() override;
  DeterministicCsprng(DeterministicCsprng&&) noexcept;
  DeterministicCsprng& operator=(DeterministicCsprng&&) noexcept;

  void fill(RngPurpose purpose, std::span<std::uint8_t> out) override;

 private:
  struct Streams;
  std::unique_ptr<Streams> streams_;
};

}  // namespace edgefed::secagg
