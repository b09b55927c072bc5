#include "edgefed/secagg/csprng.hpp"

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/crypto.hpp"
#include "edgefed/secagg/primitives.hpp"
#include "openssl_support.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <string>

namespace edgefed::secagg {
namespace {

constexpr std::size_t kPurposeSlots = static_cast<std::size_t>(RngPurpose::session_nonce) + 1;

bool is_known(RngPurpose purpose) noexcept { return to_string(purpose) != "unknown"; }

}  // namespace

std::string_view to_string(RngPurpose purpose) noexcept {
  switch (purpose) {
    case RngPurpose::key_generation: return "key_generation";
    case RngPurpose::self_mask_seed: return "self_mask_seed";
    case RngPurpose::shamir_coefficients: return "shamir_coefficients";
    case RngPurpose::stochastic_rounding: return "stochastic_rounding";
    case RngPurpose::graph_seed: return "graph_seed";
    case RngPurpose::session_nonce: return "session_nonce";
  }
  return "unknown";
}

// ----- Csprng -----

std::uint64_t Csprng::next_u64(RngPurpose purpose) {
  std::array<std::uint8_t, 8> raw;
  fill(purpose, raw);
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < raw.size(); ++i) value |= std::uint64_t{raw[i]} << (8 * i);
  secure_wipe(raw.data(), raw.size());
  return value;
}

Secret32 Csprng::next_secret32(RngPurpose purpose) {
  Secret32 secret;
  fill(purpose, secret.mutable_span());
  return secret;
}

// ----- SystemCsprng -----

void SystemCsprng::fill(RngPurpose /*purpose*/, std::span<std::uint8_t> out) {
  constexpr std::size_t kMaxPiece = std::size_t{1} << 30;  // RAND_priv_bytes takes an int
  for (std::size_t done = 0; done < out.size();) {
    const std::size_t piece = std::min(out.size() - done, kMaxPiece);
    if (RAND_priv_bytes(out.data() + done, static_cast<int>(piece)) != 1) {
      // Never hand out a partially random buffer: a broken RNG must not yield keys.
      secure_wipe(out.data(), out.size());
      internal::openssl_abort("RAND_priv_bytes (system CSPRNG unavailable)");
    }
    done += piece;
  }
}

// ----- DeterministicCsprng -----

// One AES-256-CTR context per purpose, keyed on first use; the context carries the stream
// position, so consecutive fills continue the same keystream.
struct DeterministicCsprng::Streams {
  Secret32 seed;
  std::array<internal::CipherCtxPtr, kPurposeSlots> streams;
};

DeterministicCsprng::DeterministicCsprng(std::span<const std::uint8_t, 32> seed)
    : streams_(std::make_unique<Streams>()) {
  streams_->seed = Secret32(seed);
}

DeterministicCsprng::DeterministicCsprng(std::uint64_t seed)
    : streams_(std::make_unique<Streams>()) {
  Bytes le;
  ByteWriter(le).put(seed);
  Sha256Digest digest = sha256(le);
  streams_->seed = Secret32(std::span<const std::uint8_t, 32>(digest));
  secure_wipe(digest.data(), digest.size());
  secure_wipe(le.data(), le.size());
}

DeterministicCsprng::~DeterministicCsprng() = default;
DeterministicCsprng::DeterministicCsprng(DeterministicCsprng&&) noexcept = default;
DeterministicCsprng& DeterministicCsprng::operator=(DeterministicCsprng&&) noexcept = default;

void DeterministicCsprng::fill(RngPurpose purpose, std::span<std::uint8_t> out) {
  if (!streams_) internal::crypto_misuse("use of a moved-from DeterministicCsprng");
  if (!is_known(purpose))
    internal::crypto_misuse("DeterministicCsprng: RngPurpose outside the enum");
  internal::CipherCtxPtr& stream = streams_->streams[static_cast<std::size_t>(purpose)];
  if (!stream) {
    const std::string info = "edgefed/v1/rng/" + std::string(to_string(purpose));
    const Secret32 key = hkdf_sha256_key(streams_->seed.span(), {}, as_bytes(info));
    const std::array<std::uint8_t, 16> zero_iv{};
    internal::CipherCtxPtr ctx = internal::new_cipher_ctx();
    if (EVP_EncryptInit_ex2(ctx.get(), internal::aes256_ctr_cipher(), key.data(), zero_iv.data(),
                            nullptr) != 1) {
      internal::openssl_abort("EVP_EncryptInit_ex2(DeterministicCsprng)");
    }
    stream = std::move(ctx);
  }
  // The keystream is the encryption of zeros.
  std::fill(out.begin(), out.end(), std::uint8_t{0});
  internal::encrypt_update(stream.get(), out.data(), out.data(), out.size());
}

}  // namespace edgefed::secagg
