#include "edgefed/secagg/primitives.hpp"

#include "openssl_support.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace edgefed::secagg {

// ----- internal support (openssl_support.hpp) -----

namespace internal {

void openssl_abort(const char* what) noexcept {
  char reason[256] = "no OpenSSL error queued";
  if (const unsigned long e = ERR_get_error()) ERR_error_string_n(e, reason, sizeof reason);
  std::fprintf(stderr, "edgefed: OpenSSL failed in %s: %s\n", what, reason);
  std::abort();
}

void crypto_misuse(const char* what) noexcept {
  std::fprintf(stderr, "edgefed: crypto misuse: %s\n", what);
  std::abort();
}

CipherCtxPtr new_cipher_ctx() {
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) openssl_abort("EVP_CIPHER_CTX_new");
  return ctx;
}

namespace {
struct CipherDeleter {
  void operator()(EVP_CIPHER* c) const noexcept { EVP_CIPHER_free(c); }
};
using CipherPtr = std::unique_ptr<EVP_CIPHER, CipherDeleter>;

// Explicit fetching once: passing EVP_aes_256_ctr() etc. would look the provider
// implementation up again on every init.
const EVP_CIPHER* checked(const CipherPtr& cipher, const char* name) {
  if (!cipher) openssl_abort(name);
  return cipher.get();
}
}  // namespace

const EVP_CIPHER* aes256_ctr_cipher() {
  static const CipherPtr cipher(EVP_CIPHER_fetch(nullptr, "AES-256-CTR", nullptr));
  return checked(cipher, "EVP_CIPHER_fetch(AES-256-CTR)");
}

const EVP_CIPHER* aes256_gcm_cipher() {
  static const CipherPtr cipher(EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr));
  return checked(cipher, "EVP_CIPHER_fetch(AES-256-GCM)");
}

const EVP_CIPHER* chacha20_cipher() {
  static const CipherPtr cipher(EVP_CIPHER_fetch(nullptr, "ChaCha20", nullptr));
  return checked(cipher, "EVP_CIPHER_fetch(ChaCha20)");
}

void update_in_pieces(UpdateFn update, EVP_CIPHER_CTX* ctx, const std::uint8_t* in,
                      std::uint8_t* out, std::size_t size, const char* what) {
  constexpr std::size_t kMaxPiece = std::size_t{1} << 30;  // OpenSSL lengths are int
  for (std::size_t done = 0; done < size;) {
    const std::size_t piece = std::min(size - done, kMaxPiece);
    int written = 0;
    const bool ok = update(ctx, out == nullptr ? nullptr : out + done, &written, in + done,
                           static_cast<int>(piece)) == 1;
    if (!ok || (out != nullptr && static_cast<std::size_t>(written) != piece)) openssl_abort(what);
    done += piece;
  }
}

void encrypt_update(EVP_CIPHER_CTX* ctx, const std::uint8_t* in, std::uint8_t* out,
                    std::size_t size) {
  update_in_pieces(&EVP_EncryptUpdate, ctx, in, out, size, "EVP_EncryptUpdate");
}

}  // namespace internal

using internal::crypto_misuse;
using internal::openssl_abort;

namespace {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};
struct KdfDeleter {
  void operator()(EVP_KDF* p) const noexcept { EVP_KDF_free(p); }
};
struct KdfCtxDeleter {
  void operator()(EVP_KDF_CTX* p) const noexcept { EVP_KDF_CTX_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;
using KdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, KdfCtxDeleter>;

constexpr std::array<std::uint8_t, 16> kZeroIv{};
constexpr std::array<std::uint8_t, kGcmNonceBytes> kZeroNonce{};
constexpr std::array<std::uint8_t, 32> kZeroKey{};

// OpenSSL may reject a null pointer even with length 0.
const unsigned char* nonnull_data(ByteSpan s) {
  static const unsigned char kNothing = 0;
  return s.empty() ? &kNothing : s.data();
}

PkeyPtr x25519_private_pkey(const Secret32& secret) {
  PkeyPtr pkey(
      EVP_PKEY_new_raw_private_key_ex(nullptr, "X25519", nullptr, secret.data(), Secret32::kSize));
  if (!pkey) openssl_abort("EVP_PKEY_new_raw_private_key_ex(X25519)");
  return pkey;
}

// Fetched once (non-const: EVP_KDF_CTX_new wants it so). OpenSSL 3.0 cannot duplicate an
// HKDF context, so each call makes one and names the digest; the provider caches that lookup.
EVP_KDF* hkdf_kdf() {
  static const std::unique_ptr<EVP_KDF, KdfDeleter> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) openssl_abort("EVP_KDF_fetch(HKDF)");
  return kdf.get();
}

OSSL_PARAM octet_param(const char* name, ByteSpan bytes) {
  // OpenSSL only reads these; its API is not const-correct.
  return OSSL_PARAM_construct_octet_string(name, const_cast<unsigned char*>(nonnull_data(bytes)),
                                           bytes.size());
}

Bytes gcm_seal(const Secret32& key, std::span<const std::uint8_t, kGcmNonceBytes> iv, ByteSpan aad,
               ByteSpan plaintext) {
  if (plaintext.size() > kAeadMaxPlaintextBytes)
    crypto_misuse("aead_seal: plaintext over GCM limit");
  const internal::CipherCtxPtr ctx = internal::new_cipher_ctx();
  // The default GCM IV length is 12 bytes, the size of `iv`.
  if (EVP_EncryptInit_ex2(ctx.get(), internal::aes256_gcm_cipher(), key.data(), iv.data(),
                          nullptr) != 1) {
    openssl_abort("EVP_EncryptInit_ex2(AES-256-GCM)");
  }
  internal::update_in_pieces(&EVP_EncryptUpdate, ctx.get(), aad.data(), nullptr, aad.size(),
                             "EVP_EncryptUpdate(GCM aad)");
  Bytes sealed(plaintext.size() + kGcmTagBytes);
  internal::encrypt_update(ctx.get(), plaintext.data(), sealed.data(), plaintext.size());
  std::uint8_t final_block[16];
  int written = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), final_block, &written) != 1 || written != 0) {
    openssl_abort("EVP_EncryptFinal_ex(GCM)");
  }
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
                                        sealed.data() + plaintext.size(), kGcmTagBytes),
      OSSL_PARAM_construct_end()};
  if (EVP_CIPHER_CTX_get_params(ctx.get(), params) != 1) openssl_abort("GCM get tag");
  return sealed;
}

Result<Bytes> gcm_open(const Secret32& key, std::span<const std::uint8_t, kGcmNonceBytes> iv,
                       ByteSpan aad, ByteSpan sealed) {
  // Lengths first, before any arithmetic on them.
  if (sealed.size() < kGcmTagBytes) {
    return fail(ErrorCode::truncated, "sealed message shorter than the 16-byte tag");
  }
  if (sealed.size() - kGcmTagBytes > kAeadMaxPlaintextBytes) {
    return fail(ErrorCode::too_large, "sealed message over the AES-GCM limit");
  }
  const ByteSpan ciphertext = sealed.first(sealed.size() - kGcmTagBytes);
  const ByteSpan tag = sealed.last(kGcmTagBytes);

  const internal::CipherCtxPtr ctx = internal::new_cipher_ctx();
  if (EVP_DecryptInit_ex2(ctx.get(), internal::aes256_gcm_cipher(), key.data(), iv.data(),
                          nullptr) != 1) {
    openssl_abort("EVP_DecryptInit_ex2(AES-256-GCM)");
  }
  internal::update_in_pieces(&EVP_DecryptUpdate, ctx.get(), aad.data(), nullptr, aad.size(),
                             "EVP_DecryptUpdate(GCM aad)");
  // OpenSSL writes plaintext before it has checked the tag: decrypt into scratch and hand
  // it out only once EVP_DecryptFinal_ex has accepted the tag.
  Bytes scratch(ciphertext.size());
  internal::update_in_pieces(&EVP_DecryptUpdate, ctx.get(), ciphertext.data(), scratch.data(),
                             ciphertext.size(), "EVP_DecryptUpdate(GCM)");
  OSSL_PARAM params[] = {octet_param(OSSL_CIPHER_PARAM_AEAD_TAG, tag), OSSL_PARAM_construct_end()};
  if (EVP_CIPHER_CTX_set_params(ctx.get(), params) != 1) openssl_abort("GCM set tag");
  std::uint8_t final_block[16];
  int written = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), final_block, &written) != 1) {
    secure_wipe(scratch.data(), scratch.size());
    ERR_clear_error();
    return fail(ErrorCode::bad_signature, "authentication failed");
  }
  return scratch;
}

void stream_keystream_with_iv(const EVP_CIPHER* cipher, const Secret32& key,
                              std::span<const std::uint8_t, 16> iv, std::span<std::uint8_t> out) {
  const internal::CipherCtxPtr ctx = internal::new_cipher_ctx();
  if (EVP_EncryptInit_ex2(ctx.get(), cipher, key.data(), iv.data(), nullptr) != 1) {
    openssl_abort("EVP_EncryptInit_ex2(keystream)");
  }
  std::fill(out.begin(), out.end(), std::uint8_t{0});
  internal::encrypt_update(ctx.get(), out.data(), out.data(), out.size());
}

// An all-zero page-backed source for the keystream: encrypting zeros yields the keystream.
alignas(64) const std::uint8_t kZeros[MaskPrg::kScratchBytes] = {};

template <typename Word>
Word load_le(const std::uint8_t* p) noexcept {
  Word w;
  std::memcpy(&w, p, sizeof w);
  if constexpr (std::endian::native == std::endian::big) {
    if constexpr (sizeof(Word) == 4) w = __builtin_bswap32(w);
    if constexpr (sizeof(Word) == 8) w = __builtin_bswap64(w);
  }
  return w;
}

// The hot loop: acc[i] +/-= keystream word i. GCC's -O2 cost model will not vectorise a
// loop of unknown length whose pointers may alias, so the body works on explicit 16-byte
// vectors (SSE2 / NEON) loaded with memcpy, which also settles aliasing and alignment. The
// lanes are the little-endian words only on a little-endian host; elsewhere the scalar
// loop does all the work.
template <typename Word, bool kSubtract>
void apply_words(Word* acc, const std::uint8_t* keystream, std::size_t count) noexcept {
  using Vec [[gnu::vector_size(16)]] = Word;
  constexpr std::size_t kLanes = sizeof(Vec) / sizeof(Word);
  std::size_t i = 0;
  if constexpr (std::endian::native == std::endian::little) {
    for (; i + kLanes <= count; i += kLanes) {
      Vec a;
      Vec k;
      std::memcpy(&a, acc + i, sizeof a);
      std::memcpy(&k, keystream + i * sizeof(Word), sizeof k);
      if constexpr (kSubtract) {
        a -= k;
      } else {
        a += k;
      }
      std::memcpy(acc + i, &a, sizeof a);
    }
  }
  for (; i < count; ++i) {
    if constexpr (kSubtract) {
      acc[i] -= load_le<Word>(keystream + i * sizeof(Word));
    } else {
      acc[i] += load_le<Word>(keystream + i * sizeof(Word));
    }
  }
}

}  // namespace

// ----- X25519 -----

Result<X25519PublicKey> X25519PublicKey::from_bytes(ByteSpan raw) {
  if (raw.size() != kX25519KeyBytes) {
    return fail(ErrorCode::bad_length,
                "X25519 public key must be 32 bytes, got " + std::to_string(raw.size()));
  }
  X25519PublicKey key;
  std::copy(raw.begin(), raw.end(), key.bytes.begin());
  return key;
}

X25519KeyPair x25519_keypair_from_secret(Secret32 secret) {
  const X25519PublicKey public_key = x25519_public_from_secret(secret);
  return X25519KeyPair{std::move(secret), public_key};
}

X25519KeyPair x25519_generate(Csprng& rng) {
  return x25519_keypair_from_secret(rng.next_secret32(RngPurpose::key_generation));
}

X25519PublicKey x25519_public_from_secret(const Secret32& secret) {
  const PkeyPtr pkey = x25519_private_pkey(secret);
  X25519PublicKey out;
  std::size_t len = out.bytes.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), out.bytes.data(), &len) != 1 ||
      len != out.bytes.size()) {
    openssl_abort("EVP_PKEY_get_raw_public_key(X25519)");
  }
  return out;
}

namespace {

Result<Secret32> agree_with(EVP_PKEY* own, const X25519PublicKey& peer) {
  const PkeyPtr peer_key(EVP_PKEY_new_raw_public_key_ex(nullptr, "X25519", nullptr,
                                                        peer.bytes.data(), peer.bytes.size()));
  if (!peer_key) {
    ERR_clear_error();
    return fail(ErrorCode::bad_value, "invalid peer key");
  }
  const PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, own, nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1) openssl_abort("EVP_PKEY_derive_init(X25519)");
  Secret32 shared;
  std::size_t len = Secret32::kSize;
  // OpenSSL's X25519 fails the derivation when the result is all-zero (a small-order peer
  // point); the peer's bytes are outside input, so any failure here is "invalid peer key".
  const bool derived = EVP_PKEY_derive_set_peer_ex(ctx.get(), peer_key.get(), 1) == 1 &&
                       EVP_PKEY_derive(ctx.get(), shared.mutable_span().data(), &len) == 1 &&
                       len == Secret32::kSize;
  ERR_clear_error();
  // Checked again here (constant time) so the guarantee does not rest on one OpenSSL detail.
  std::uint8_t any_bit = 0;
  for (const std::uint8_t b : shared.span()) any_bit |= b;
  if (!derived || any_bit == 0) return fail(ErrorCode::bad_value, "invalid peer key");
  return shared;
}

}  // namespace

Result<Secret32> x25519_agree(const Secret32& own_secret, const X25519PublicKey& peer) {
  const PkeyPtr own = x25519_private_pkey(own_secret);
  return agree_with(own.get(), peer);
}

X25519PreparedKey::X25519PreparedKey(const Secret32& secret) : pkey_(x25519_private_pkey(secret).release()) {}
X25519PreparedKey::~X25519PreparedKey() { EVP_PKEY_free(pkey_); }
X25519PreparedKey::X25519PreparedKey(X25519PreparedKey&& other) noexcept : pkey_(other.pkey_) { other.pkey_ = nullptr; }
X25519PreparedKey& X25519PreparedKey::operator=(X25519PreparedKey&& other) noexcept {
  if (this != &other) {
    EVP_PKEY_free(pkey_);
    pkey_ = other.pkey_;
    other.pkey_ = nullptr;
  }
  return *this;
}

Result<Secret32> X25519PreparedKey::agree(const X25519PublicKey& peer) const {
  if (!pkey_) crypto_misuse("X25519PreparedKey used after move");
  return agree_with(pkey_, peer);
}

X25519PublicKey X25519PreparedKey::public_key() const {
  if (!pkey_) crypto_misuse("X25519PreparedKey used after move");
  X25519PublicKey out;
  std::size_t len = out.bytes.size();
  if (EVP_PKEY_get_raw_public_key(pkey_, out.bytes.data(), &len) != 1 || len != out.bytes.size()) {
    openssl_abort("EVP_PKEY_get_raw_public_key(X25519)");
  }
  return out;
}

// ----- HKDF-SHA256 -----

Secret32 hkdf_sha256_key(ByteSpan ikm, ByteSpan salt, ByteSpan info) {
  Secret32 key;
  hkdf_sha256(ikm, salt, info, key.mutable_span());
  return key;
}

void hkdf_sha256(ByteSpan ikm, ByteSpan salt, ByteSpan info, std::span<std::uint8_t> out) {
  if (out.size() > kHkdfSha256MaxOutputBytes)
    crypto_misuse("hkdf_sha256: output over 255 * 32 bytes");
  if (info.size() > kHkdfMaxInfoBytes) crypto_misuse("hkdf_sha256: info over kHkdfMaxInfoBytes");
  if (out.empty()) return;
  const KdfCtxPtr ctx(EVP_KDF_CTX_new(hkdf_kdf()));
  if (!ctx) openssl_abort("EVP_KDF_CTX_new(HKDF)");
  char digest[] = "SHA256";
  // An absent salt is RFC 5869's "HashLen zeros", which HMAC treats like an empty key.
  OSSL_PARAM params[5];
  std::size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = octet_param(OSSL_KDF_PARAM_KEY, ikm);
  if (!salt.empty()) params[n++] = octet_param(OSSL_KDF_PARAM_SALT, salt);
  if (!info.empty()) params[n++] = octet_param(OSSL_KDF_PARAM_INFO, info);
  params[n] = OSSL_PARAM_construct_end();
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    openssl_abort("EVP_KDF_derive(HKDF)");
  }
}

// ----- AEAD -----

Bytes aead_seal(const Secret32& key, ByteSpan aad, ByteSpan plaintext) {
  return gcm_seal(key, kZeroNonce, aad, plaintext);
}

Result<Bytes> aead_open(const Secret32& key, ByteSpan aad, ByteSpan sealed) {
  return gcm_open(key, kZeroNonce, aad, sealed);
}

// ----- Mask PRG -----

std::string_view to_string(PrgKind kind) noexcept {
  switch (kind) {
    case PrgKind::aes256_ctr: return "aes256_ctr";
    case PrgKind::chacha20: return "chacha20";
  }
  return "unknown";
}

void MaskPrg::CtxDeleter::operator()(evp_cipher_ctx_st* ctx) const noexcept {
  EVP_CIPHER_CTX_free(ctx);
}

MaskPrg MaskPrg::create(PrgKind kind) {
  const EVP_CIPHER* cipher = nullptr;
  switch (kind) {
    case PrgKind::aes256_ctr: cipher = internal::aes256_ctr_cipher(); break;
    case PrgKind::chacha20: cipher = internal::chacha20_cipher(); break;
  }
  if (cipher == nullptr) crypto_misuse("MaskPrg::create: PrgKind outside the enum");
  std::unique_ptr<evp_cipher_ctx_st, CtxDeleter> ctx(EVP_CIPHER_CTX_new());
  if (!ctx) openssl_abort("EVP_CIPHER_CTX_new");
  // Bind the cipher once; every call then re-keys with a null cipher, which keeps the
  // provider context and allocates nothing.
  if (EVP_EncryptInit_ex2(ctx.get(), cipher, kZeroKey.data(), kZeroIv.data(), nullptr) != 1) {
    openssl_abort("EVP_EncryptInit_ex2(MaskPrg)");
  }
  return MaskPrg(kind, std::move(ctx));
}

MaskPrg::MaskPrg(PrgKind kind, std::unique_ptr<evp_cipher_ctx_st, CtxDeleter> ctx)
    : kind_(kind), ctx_(std::move(ctx)), scratch_(new std::uint8_t[kScratchBytes]()) {}

MaskPrg::~MaskPrg() {
  if (scratch_) secure_wipe(scratch_.get(), kScratchBytes);
}

MaskPrg::MaskPrg(MaskPrg&&) noexcept = default;

MaskPrg& MaskPrg::operator=(MaskPrg&& other) noexcept {
  if (this != &other) {
    if (scratch_) secure_wipe(scratch_.get(), kScratchBytes);
    kind_ = other.kind_;
    ctx_ = std::move(other.ctx_);
    scratch_ = std::move(other.scratch_);
    keystream_bytes_ = other.keystream_bytes_;
  }
  return *this;
}

evp_cipher_ctx_st* MaskPrg::checked_ctx(std::size_t count, std::size_t unit) const {
  if (!ctx_) crypto_misuse("use of a moved-from MaskPrg");
  // Divide rather than multiply, so a huge count cannot overflow the check.
  if (count > kMaskPrgMaxBytesPerKey / unit) {
    crypto_misuse("MaskPrg: over 2^36 keystream bytes for one key");
  }
  return ctx_.get();
}

void MaskPrg::rekey(const Secret32& key) {
  // A null cipher keeps the bound one; the zero IV restarts the counter (and, for
  // ChaCha20, the nonce) at 0 and drops any partial block.
  if (EVP_EncryptInit_ex2(ctx_.get(), nullptr, key.data(), kZeroIv.data(), nullptr) != 1) {
    openssl_abort("EVP_EncryptInit_ex2(MaskPrg re-key)");
  }
}

const std::uint8_t* MaskPrg::next_chunk(std::size_t size) {
  internal::encrypt_update(ctx_.get(), kZeros, scratch_.get(), size);
  keystream_bytes_ += size;
  return scratch_.get();
}

void MaskPrg::scrub(std::size_t used) noexcept {
  secure_wipe(scratch_.get(), used);
  if (EVP_EncryptInit_ex2(ctx_.get(), nullptr, kZeroKey.data(), kZeroIv.data(), nullptr) != 1) {
    openssl_abort("EVP_EncryptInit_ex2(MaskPrg scrub)");
  }
}

void MaskPrg::keystream(const Secret32& key, std::span<std::uint8_t> out) {
  EVP_CIPHER_CTX* ctx = checked_ctx(out.size(), 1);
  rekey(key);
  // Straight into the caller's buffer, from the shared zero source.
  for (std::size_t done = 0; done < out.size();) {
    const std::size_t piece = std::min(out.size() - done, kScratchBytes);
    internal::encrypt_update(ctx, kZeros, out.data() + done, piece);
    done += piece;
  }
  keystream_bytes_ += out.size();
  scrub(0);
}

namespace {
// Adds or subtracts the keystream words into `acc`, one scratch-sized chunk at a time;
// returns how many scratch bytes were written (to wipe).
template <typename Word, typename NextChunk>
std::size_t apply_mask(std::span<Word> acc, bool subtract, NextChunk next_chunk) {
  constexpr std::size_t kWordsPerChunk = MaskPrg::kScratchBytes / sizeof(Word);
  std::size_t scratch_used = 0;
  for (std::size_t done = 0; done < acc.size();) {
    const std::size_t count = std::min(acc.size() - done, kWordsPerChunk);
    const std::uint8_t* keystream = next_chunk(count * sizeof(Word));
    if (subtract) {
      apply_words<Word, true>(acc.data() + done, keystream, count);
    } else {
      apply_words<Word, false>(acc.data() + done, keystream, count);
    }
    scratch_used = std::max(scratch_used, count * sizeof(Word));
    done += count;
  }
  return scratch_used;
}
}  // namespace

void MaskPrg::add_mask(const Secret32& key, std::span<std::uint32_t> acc, bool subtract) {
  checked_ctx(acc.size(), sizeof(std::uint32_t));
  rekey(key);
  const std::size_t used =
      apply_mask(acc, subtract, [this](std::size_t n) { return next_chunk(n); });
  scrub(used);
}

void MaskPrg::add_mask(const Secret32& key, std::span<std::uint64_t> acc, bool subtract) {
  checked_ctx(acc.size(), sizeof(std::uint64_t));
  rekey(key);
  const std::size_t used =
      apply_mask(acc, subtract, [this](std::size_t n) { return next_chunk(n); });
  scrub(used);
}

double measure_prg_bytes_per_second(PrgKind kind, std::size_t bytes) {
  if (bytes == 0) return 0.0;
  constexpr std::size_t kBufferBytes = std::size_t{1} << 20;
  MaskPrg prg = MaskPrg::create(kind);
  const Secret32 key;  // all-zero: a throughput measurement needs no secret
  std::vector<std::uint8_t> buffer(std::min(bytes, kBufferBytes));
  prg.keystream(key, buffer);  // warm-up: page faults, provider and CPU-feature dispatch
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t remaining = bytes; remaining > 0;) {
    const std::size_t piece = std::min(remaining, buffer.size());
    prg.keystream(key, std::span<std::uint8_t>(buffer).first(piece));
    remaining -= piece;
  }
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  return elapsed.count() > 0 ? static_cast<double>(bytes) / elapsed.count() : 0.0;
}

// ----- testing entry points -----

namespace detail {

Bytes aes256_gcm_seal_with_iv(const Secret32& key, std::span<const std::uint8_t, kGcmNonceBytes> iv,
                              ByteSpan aad, ByteSpan plaintext) {
  return gcm_seal(key, iv, aad, plaintext);
}

Result<Bytes> aes256_gcm_open_with_iv(const Secret32& key,
                                      std::span<const std::uint8_t, kGcmNonceBytes> iv,
                                      ByteSpan aad, ByteSpan sealed) {
  return gcm_open(key, iv, aad, sealed);
}

void aes256_ctr_keystream_with_iv(const Secret32& key, std::span<const std::uint8_t, 16> iv,
                                  std::span<std::uint8_t> out) {
  stream_keystream_with_iv(internal::aes256_ctr_cipher(), key, iv, out);
}

void chacha20_keystream_with_iv(const Secret32& key, std::span<const std::uint8_t, 16> iv,
                                std::span<std::uint8_t> out) {
  stream_keystream_with_iv(internal::chacha20_cipher(), key, iv, out);
}

}  // namespace detail

}  // namespace edgefed::secagg
