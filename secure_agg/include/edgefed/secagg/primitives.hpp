// Cryptographic primitives of secure aggregation, over OpenSSL 3 EVP (research/secagg.md §6.2).
//
//   X25519        key agreement (RFC 7748) for each client's `enc` and `mask` key pairs
//   HKDF-SHA256   key derivation (RFC 5869); the caller binds session id, parties and purpose
//                 into salt and info (§6.3)
//   AES-256-GCM   share transport: one derived key per message, fixed all-zero nonce
//   MaskPrg       AES-256-CTR or ChaCha20 keystream added into Z_{2^32} / Z_{2^64} vectors
//
// Failure channels (STYLE.md §2.3):
//   - Bytes from a peer -> Result. x25519_agree: bad_value when the peer key yields an
//     all-zero shared secret (small-order point). aead_open: truncated when shorter than a
//     tag, too_large over the GCM limit, bad_signature when authentication fails; the detail
//     never says more than "authentication failed", and no plaintext is released.
//   - Caller bugs (HKDF output or info over its limit, keystream over the per-key cap, a
//     moved-from MaskPrg, a PrgKind outside the enum) print a message and abort.
//   - OpenSSL failing on valid input (no default provider, out of memory) is a broken
//     environment: the OpenSSL error is printed and the process aborts. So everything that
//     cannot be fed bad outside input returns a plain value.
//
// Thread safety: the free functions may be called concurrently (algorithms are fetched once
// into thread-safe function-local statics; each call uses its own context). A MaskPrg is
// not thread-safe: give each thread its own.
//
// Secrets: keys are Secret32 (wiped on destruction and when moved from). Intermediate key
// material is wiped on every path, and OpenSSL cleanses its contexts when they are freed.
// Plaintext returned by aead_open is an ordinary Bytes: wipe it (secure_wipe) when it
// holds secret shares.
//
// This header does not expose OpenSSL (a PRIVATE dependency of edgefed_secagg).
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/secagg/csprng.hpp"
#include "edgefed/secagg/secret.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

struct evp_cipher_ctx_st;
struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept opaque here.  // OpenSSL's EVP_CIPHER_CTX, kept opaque here.

namespace edgefed::secagg {

// ---------------------------------------------------------------------------------------
// X25519 (RFC 7748)

inline constexpr std::size_t kX25519KeyBytes = 32;

// A peer's public key as it travels on the wire (32 bytes, u-coordinate, little-endian).
struct X25519PublicKey {
  std::array<std::uint8_t, kX25519KeyBytes> bytes{};

  // bad_length unless `raw` is exactly kX25519KeyBytes. Any 32 bytes are accepted here; a
  // small-order point is refused by x25519_agree.
  static Result<X25519PublicKey> from_bytes(ByteSpan raw);
  ByteSpan span() const noexcept { return bytes; }
  bool operator==(const X25519PublicKey&) const = default;
};

// A private key (the 32 raw bytes, clamped inside X25519 as RFC 7748 says) and its public key.
struct X25519KeyPair {
  Secret32 secret;
  X25519PublicKey public_key;
};

// The key pair for `secret`; any 32 bytes are a valid X25519 private key.
X25519KeyPair x25519_keypair_from_secret(Secret32 secret);

// A fresh key pair from 32 bytes drawn from `rng` under RngPurpose::key_generation, so key
// pairs are reproducible under a DeterministicCsprng.
X25519KeyPair x25519_generate(Csprng& rng);

// X25519(secret, 9): the public key belonging to `secret`.
X25519PublicKey x25519_public_from_secret(const Secret32& secret);

// A private key loaded once for many agreements. OpenSSL computes the public key whenever a
// raw X25519 private key is loaded, which doubles the cost of a one-off x25519_agree; the
// server, repairing a dropped client's masks with each of its neighbours, loads the key once.
// Move-only; agree() may be called concurrently on one object.
class X25519PreparedKey {
 public:
  explicit X25519PreparedKey(const Secret32& secret);
  ~X25519PreparedKey();
  X25519PreparedKey(X25519PreparedKey&& other) noexcept;
  X25519PreparedKey& operator=(X25519PreparedKey&& other) noexcept;
  X25519PreparedKey(const X25519PreparedKey&) = delete;
  X25519PreparedKey& operator=(const X25519PreparedKey&) = delete;

  // As x25519_agree: bad_value "invalid peer key" for an invalid or small-order peer key.
  [[nodiscard]] Result<Secret32> agree(const X25519PublicKey& peer) const;
  X25519PublicKey public_key() const;

 private:
  evp_pkey_st* pkey_;
};

// The raw shared secret X25519(own_secret, peer). Not a key: always pass it through HKDF
// with both parties' public keys in the info (§6.3).
// Errors: bad_value ("invalid peer key") when the result is all-zero, i.e. `peer` is a
// small-order point (RFC 7748 §6.1); treat it as a malformed key from that peer.
[[nodiscard]] Result<Secret32> x25519_agree(const Secret32& own_secret,
                                            const X25519PublicKey& peer);

// ---------------------------------------------------------------------------------------
// HKDF-SHA256 (RFC 5869): extract with `salt` (empty = 32 zero bytes, as the RFC), then
// expand with `info`.

inline constexpr std::size_t kHkdfSha256MaxOutputBytes = 255 * 32;
// A portable bound: OpenSSL 1.1.1 capped HKDF info at 1024 bytes (3.0.19 allows 32 KiB).
// Ours is a label plus ids and public keys, under 300 bytes.
inline constexpr std::size_t kHkdfMaxInfoBytes = 1024;

// A 32-byte key. Preconditions as hkdf_sha256.
Secret32 hkdf_sha256_key(ByteSpan ikm, ByteSpan salt, ByteSpan info);

// Fills `out` with output keying material. Preconditions (asserted, abort): out.size() <=
// kHkdfSha256MaxOutputBytes, info.size() <= kHkdfMaxInfoBytes. An empty `out` is a no-op.
void hkdf_sha256(ByteSpan ikm, ByteSpan salt, ByteSpan info, std::span<std::uint8_t> out);

// ---------------------------------------------------------------------------------------
// AEAD: AES-256-GCM with one key per message and a fixed all-zero 96-bit nonce.
//
// WARNING: a key must seal exactly one plaintext, ever. The nonce never changes, so sealing
// two different plaintexts under one key reveals their XOR and lets anyone forge tags. Derive
// each key with HKDF from the session id, both parties, the stage and the purpose (§6.3);
// a client must never send two different ShareKeys messages in one session.

inline constexpr std::size_t kGcmTagBytes = 16;
inline constexpr std::size_t kGcmNonceBytes = 12;
// GCM's limit for one message: 2^39 - 256 bits.
inline constexpr std::size_t kAeadMaxPlaintextBytes = (std::size_t{1} << 36) - 32;

// ciphertext || 16-byte tag, with `aad` authenticated but not encrypted.
// Precondition (asserted): plaintext.size() <= kAeadMaxPlaintextBytes.
Bytes aead_seal(const Secret32& key, ByteSpan aad, ByteSpan plaintext);

// The plaintext of `sealed` (= ciphertext || tag) if it authenticates under `key` and `aad`.
// Errors: truncated (shorter than the tag), too_large (over the GCM limit), bad_signature
// ("authentication failed": wrong key, wrong aad or altered bytes; never which).
// On failure no plaintext byte is released: decryption goes to scratch that is wiped.
[[nodiscard]] Result<Bytes> aead_open(const Secret32& key, ByteSpan aad, ByteSpan sealed);

// ---------------------------------------------------------------------------------------
// Mask PRG

// Which keystream expands a mask key; negotiated in the session parameters. The values are
// wire ids: never renumber.
enum class PrgKind : std::uint8_t {
  aes256_ctr = 1,  // AES-256-CTR, zero IV: fastest where AES instructions exist
  chacha20 = 2,    // ChaCha20 (RFC 8439 block function, 32-bit counter from 0, zero nonce)
};

// "aes256_ctr", "chacha20"; "unknown" for a value outside the enum.
std::string_view to_string(PrgKind kind) noexcept;

// At most this many keystream bytes per key (per call), as §6.2 recommends for AES-CTR
// (keeps the 2^32-block counter far from wrapping for ChaCha20 too).
inline constexpr std::uint64_t kMaskPrgMaxBytesPerKey = std::uint64_t{1} << 36;

// Expands 32-byte mask keys into keystream and adds it into ring vectors (§6.5):
//
//   MaskPrg prg = MaskPrg::create(params.prg);     // once per thread, at round start
//   for (each neighbour v)
//     prg.add_mask(pair_key[v], acc, /*subtract=*/u < v);
//   prg.add_mask(self_key, acc, /*subtract=*/false);
//
// Every call starts a fresh keystream (counter 0, zero IV/nonce) under its key, so the mask
// for (key, length) does not depend on earlier calls. The object owns one cipher context,
// re-keyed per call, and a kScratchBytes keystream buffer; after construction no call
// allocates. After each call the buffer and the key schedule are wiped.
//
// Move-only; using a moved-from MaskPrg aborts. Not thread-safe.
class MaskPrg {
 public:
  // Keystream is produced and consumed in pieces of this size (fits in L1/L2 cache).
  static constexpr std::size_t kScratchBytes = 16 * 1024;

  // A PRG for `kind`. A value outside the enum is a caller bug (abort): validate wire ids
  // before they reach here.
  static MaskPrg create(PrgKind kind);

  ~MaskPrg();
  MaskPrg(MaskPrg&&) noexcept;
  MaskPrg& operator=(MaskPrg&&) noexcept;
  MaskPrg(const MaskPrg&) = delete;
  MaskPrg& operator=(const MaskPrg&) = delete;

  PrgKind kind() const noexcept { return kind_; }

  // Writes the first out.size() keystream bytes under `key`.
  // Precondition (asserted): out.size() <= kMaskPrgMaxBytesPerKey.
  void keystream(const Secret32& key, std::span<std::uint8_t> out);

  // acc[i] += w_i (or -= w_i when `subtract`), wrapping mod 2^32, where w_i is the i-th
  // little-endian 32-bit word of the keystream under `key`. Adding then subtracting with one
  // key restores `acc` exactly. Precondition (asserted): 4 * acc.size() <= the per-key cap.
  void add_mask(const Secret32& key, std::span<std::uint32_t> acc, bool subtract);
  // The same over Z_{2^64} with 64-bit little-endian words.
  void add_mask(const Secret32& key, std::span<std::uint64_t> acc, bool subtract);

  // All keystream bytes this object has produced (by keystream and add_mask), e.g. for the
  // benchmarks' "PRG floor".
  std::uint64_t keystream_bytes() const noexcept { return keystream_bytes_; }

 private:
  struct CtxDeleter {
    void operator()(evp_cipher_ctx_st* ctx) const noexcept;
  };

  MaskPrg(PrgKind kind, std::unique_ptr<evp_cipher_ctx_st, CtxDeleter> ctx);
  // The context, after checking this object is not moved-from and `count` items of `unit`
  // bytes are within the per-key cap.
  evp_cipher_ctx_st* checked_ctx(std::size_t count, std::size_t unit) const;
  void rekey(const Secret32& key);
  // The next `size` (<= kScratchBytes) keystream bytes, in the scratch buffer.
  const std::uint8_t* next_chunk(std::size_t size);
  // Wipes the first `used` scratch bytes and replaces the key schedule by an all-zero key.
  void scrub(std::size_t used) noexcept;

  PrgKind kind_;
  std::unique_ptr<evp_cipher_ctx_st, CtxDeleter> ctx_;
  std::unique_ptr<std::uint8_t[]> scratch_;
  std::uint64_t keystream_bytes_ = 0;
};

// Keystream throughput of `kind` on the calling thread, in bytes per second, over `bytes`
// bytes (after a short warm-up). A measurement utility for benchmarks, not protocol logic.
double measure_prg_bytes_per_second(PrgKind kind, std::size_t bytes);

// ---------------------------------------------------------------------------------------
// Testing entry points with explicit IVs, for the published known-answer vectors.
// Protocol code uses the functions above, whose IVs are fixed.
namespace detail {

Bytes aes256_gcm_seal_with_iv(const Secret32& key, std::span<const std::uint8_t, kGcmNonceBytes> iv,
                              ByteSpan aad, ByteSpan plaintext);
[[nodiscard]] Result<Bytes> aes256_gcm_open_with_iv(
    const Secret32& key, std::span<const std::uint8_t, kGcmNonceBytes> iv, ByteSpan aad,
    ByteSpan sealed);
// `iv` is the initial 128-bit counter block (incremented big-endian).
void aes256_ctr_keystream_with_iv(const Secret32& key, std::span<const std::uint8_t, 16> iv,
                                  std::span<std::uint8_t> out);
// `iv` is OpenSSL's layout: 4-byte little-endian block counter || 12-byte nonce (RFC 8439).
void chacha20_keystream_with_iv(const Secret32& key, std::span<const std::uint8_t, 16> iv,
                                std::span<std::uint8_t> out);

}  // namespace detail

}  // namespace edgefed::secagg
