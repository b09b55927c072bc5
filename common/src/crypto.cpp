#include "edgefed/common/crypto.hpp"

#include "file_io.hpp"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <span>

namespace edgefed {
namespace {

// OpenSSL failing on valid input means the environment is broken (see the header).
[[noreturn]] void openssl_abort(const char* what) noexcept {
  char reason[256] = "no OpenSSL error queued";
  if (const unsigned long e = ERR_get_error()) ERR_error_string_n(e, reason, sizeof reason);
  std::fprintf(stderr, "edgefed: OpenSSL failed in %s: %s\n", what, reason);
  std::abort();
}

[[noreturn]] void crypto_misuse(const char* what) noexcept {
  std::fprintf(stderr, "edgefed: crypto misuse: %s\n", what);
  std::abort();
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct MdDeleter {
  void operator()(EVP_MD* p) const noexcept { EVP_MD_free(p); }
};
struct BioDeleter {
  void operator()(BIO* p) const noexcept { BIO_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

const EVP_MD* sha256_md() {
  // Fetched once: implicit fetching by name on every call costs a provider lookup.
  static const std::unique_ptr<EVP_MD, MdDeleter> md(EVP_MD_fetch(nullptr, "SHA256", nullptr));
  if (!md) openssl_abort("EVP_MD_fetch(SHA256)");
  return md.get();
}

// OpenSSL may reject a null pointer even with length 0.
const unsigned char* nonnull_data(ByteSpan s) {
  static const unsigned char kNothing = 0;
  return s.empty() ? &kNothing : s.data();
}

MdCtxPtr new_md_ctx() {
  MdCtxPtr ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx) openssl_abort("EVP_MD_CTX_new");
  return ctx;
}

PkeyPtr ed25519_pkey_from_seed(std::span<const std::uint8_t, kEd25519SecretKeyBytes> seed) {
  PkeyPtr pkey(
      EVP_PKEY_new_raw_private_key_ex(nullptr, "ED25519", nullptr, seed.data(), seed.size()));
  if (!pkey) openssl_abort("EVP_PKEY_new_raw_private_key_ex(ED25519)");
  return pkey;
}

// Never prompts for a passphrase: an encrypted key file fails to load.
int refuse_passphrase(char*, int, int, void*) { return -1; }

}  // namespace

// The one door to a secret key's seed, for this file only.
class Ed25519SecretKeyAccess {
 public:
  static std::span<const std::uint8_t, kEd25519SecretKeyBytes> seed(const Ed25519SecretKey& k) {
    if (!k.has_seed_) crypto_misuse("use of an empty (moved-from) Ed25519SecretKey");
    return k.seed_;
  }
  static Ed25519SecretKey make(std::span<const std::uint8_t, kEd25519SecretKeyBytes> seed) {
    Ed25519SecretKey key;
    std::copy(seed.begin(), seed.end(), key.seed_.begin());
    key.has_seed_ = true;
    return key;
  }
};

// ----- SHA-256 -----

Sha256Digest sha256(ByteSpan data) {
  Sha256Digest out;
  unsigned int len = 0;
  if (EVP_Digest(nonnull_data(data), data.size(), out.data(), &len, sha256_md(), nullptr) != 1 ||
      len != out.size()) {
    openssl_abort("EVP_Digest(SHA256)");
  }
  return out;
}

void Sha256::CtxDeleter::operator()(evp_md_ctx_st* ctx) const noexcept { EVP_MD_CTX_free(ctx); }

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_) openssl_abort("EVP_MD_CTX_new");
  if (EVP_DigestInit_ex2(ctx_.get(), sha256_md(), nullptr) != 1) openssl_abort("DigestInit");
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(ByteSpan data) {
  if (!ctx_) crypto_misuse("update on a moved-from Sha256");
  if (data.empty()) return;
  if (EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1) openssl_abort("DigestUpdate");
}

Sha256Digest Sha256::finish() {
  if (!ctx_) crypto_misuse("finish on a moved-from Sha256");
  Sha256Digest out;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_.get(), out.data(), &len) != 1 || len != out.size()) {
    openssl_abort("DigestFinal");
  }
  if (EVP_DigestInit_ex2(ctx_.get(), sha256_md(), nullptr) != 1) openssl_abort("DigestInit");
  return out;
}

// ----- Ed25519 keys -----

Result<Ed25519PublicKey> Ed25519PublicKey::from_bytes(ByteSpan raw) {
  if (raw.size() != kEd25519PublicKeyBytes) {
    return fail(ErrorCode::bad_length,
                "Ed25519 public key must be 32 bytes, got " + std::to_string(raw.size()));
  }
  Ed25519PublicKey key;
  std::copy(raw.begin(), raw.end(), key.bytes.begin());
  return key;
}

Result<Ed25519Signature> Ed25519Signature::from_bytes(ByteSpan raw) {
  if (raw.size() != kEd25519SignatureBytes) {
    return fail(ErrorCode::bad_length,
                "Ed25519 signature must be 64 bytes, got " + std::to_string(raw.size()));
  }
  Ed25519Signature sig;
  std::copy(raw.begin(), raw.end(), sig.bytes.begin());
  return sig;
}

Result<Ed25519SecretKey> Ed25519SecretKey::from_seed(ByteSpan seed) {
  if (seed.size() != kEd25519SecretKeyBytes) {
    return fail(ErrorCode::bad_length,
                "Ed25519 secret key seed must be 32 bytes, got " + std::to_string(seed.size()));
  }
  return Ed25519SecretKeyAccess::make(seed.first<kEd25519SecretKeyBytes>());
}

Ed25519SecretKey::~Ed25519SecretKey() { OPENSSL_cleanse(seed_.data(), seed_.size()); }

Ed25519SecretKey::Ed25519SecretKey(Ed25519SecretKey&& other) noexcept
    : seed_(other.seed_), has_seed_(other.has_seed_) {
  OPENSSL_cleanse(other.seed_.data(), other.seed_.size());
  other.has_seed_ = false;
}

Ed25519SecretKey& Ed25519SecretKey::operator=(Ed25519SecretKey&& other) noexcept {
  if (this != &other) {
    seed_ = other.seed_;
    has_seed_ = other.has_seed_;
    OPENSSL_cleanse(other.seed_.data(), other.seed_.size());
    other.has_seed_ = false;
  }
  return *this;
}

Ed25519SecretKey Ed25519SecretKey::clone() const {
  return Ed25519SecretKeyAccess::make(Ed25519SecretKeyAccess::seed(*this));
}

Ed25519KeyPair generate_ed25519() {
  std::array<std::uint8_t, kEd25519SecretKeyBytes> seed;
  if (RAND_priv_bytes(seed.data(), static_cast<int>(seed.size())) != 1) {
    OPENSSL_cleanse(seed.data(), seed.size());
    openssl_abort("RAND_priv_bytes");
  }
  Ed25519SecretKey secret = Ed25519SecretKeyAccess::make(seed);
  OPENSSL_cleanse(seed.data(), seed.size());
  Ed25519PublicKey public_key = derive_public_key(secret);
  return Ed25519KeyPair{public_key, std::move(secret)};
}

Ed25519PublicKey derive_public_key(const Ed25519SecretKey& secret) {
  const PkeyPtr pkey = ed25519_pkey_from_seed(Ed25519SecretKeyAccess::seed(secret));
  Ed25519PublicKey out;
  std::size_t len = out.bytes.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), out.bytes.data(), &len) != 1 ||
      len != out.bytes.size()) {
    openssl_abort("EVP_PKEY_get_raw_public_key");
  }
  return out;
}

// ----- Ed25519 sign / verify -----

Ed25519Signature sign(const Ed25519SecretKey& secret, ByteSpan message) {
  const PkeyPtr pkey = ed25519_pkey_from_seed(Ed25519SecretKeyAccess::seed(secret));
  const MdCtxPtr ctx = new_md_ctx();
  // Ed25519 takes no digest name: it hashes internally (SHA-512) as RFC 8032 specifies.
  if (EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, pkey.get(), nullptr) !=
      1) {
    openssl_abort("EVP_DigestSignInit_ex(ED25519)");
  }
  Ed25519Signature sig;
  std::size_t len = sig.bytes.size();
  if (EVP_DigestSign(ctx.get(), sig.bytes.data(), &len, nonnull_data(message), message.size()) !=
          1 ||
      len != sig.bytes.size()) {
    openssl_abort("EVP_DigestSign(ED25519)");
  }
  return sig;
}

bool verify(const Ed25519PublicKey& public_key, ByteSpan message,
            const Ed25519Signature& signature) {
  const PkeyPtr pkey(EVP_PKEY_new_raw_public_key_ex(
      nullptr, "ED25519", nullptr, public_key.bytes.data(), public_key.bytes.size()));
  if (!pkey) {
    ERR_clear_error();
    return false;
  }
  // The key bytes come from outside: any failure from here on is a "no", never an abort.
  const MdCtxPtr ctx = new_md_ctx();
  const bool ok = EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, pkey.get(),
                                          nullptr) == 1 &&
                  EVP_DigestVerify(ctx.get(), signature.bytes.data(), signature.bytes.size(),
                                   nonnull_data(message), message.size()) == 1;
  // A failed verification queues an error; it is an answer, not a fault, so drop it.
  ERR_clear_error();
  return ok;
}

// ----- PEM -----

Result<Ed25519SecretKey> ed25519_secret_key_from_pem(std::string_view pem) {
  if (pem.empty()) return fail(ErrorCode::bad_encoding, "empty PEM text");
  if (pem.size() > kMaxKeyFileBytes) return fail(ErrorCode::too_large, "PEM text over 64 KiB");
  const BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) openssl_abort("BIO_new_mem_buf");
  const PkeyPtr pkey(
      PEM_read_bio_PrivateKey_ex(bio.get(), nullptr, refuse_passphrase, nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (!pkey) {
    return fail(ErrorCode::bad_encoding, "no unencrypted PKCS#8 private key in the PEM text");
  }
  if (!EVP_PKEY_is_a(pkey.get(), "ED25519")) {
    return fail(ErrorCode::bad_encoding, "the private key is not an Ed25519 key");
  }
  std::array<std::uint8_t, kEd25519SecretKeyBytes> seed;
  std::size_t len = seed.size();
  const bool ok =
      EVP_PKEY_get_raw_private_key(pkey.get(), seed.data(), &len) == 1 && len == seed.size();
  if (!ok) {
    OPENSSL_cleanse(seed.data(), seed.size());
    ERR_clear_error();
    return fail(ErrorCode::bad_encoding, "cannot extract the Ed25519 seed");
  }
  Ed25519SecretKey key = Ed25519SecretKeyAccess::make(seed);
  OPENSSL_cleanse(seed.data(), seed.size());
  return key;
}

Result<Ed25519PublicKey> ed25519_public_key_from_pem(std::string_view pem) {
  if (pem.empty()) return fail(ErrorCode::bad_encoding, "empty PEM text");
  if (pem.size() > kMaxKeyFileBytes) return fail(ErrorCode::too_large, "PEM text over 64 KiB");
  const BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) openssl_abort("BIO_new_mem_buf");
  const PkeyPtr pkey(
      PEM_read_bio_PUBKEY_ex(bio.get(), nullptr, refuse_passphrase, nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (!pkey) return fail(ErrorCode::bad_encoding, "no SPKI public key in the PEM text");
  if (!EVP_PKEY_is_a(pkey.get(), "ED25519")) {
    return fail(ErrorCode::bad_encoding, "the public key is not an Ed25519 key");
  }
  Ed25519PublicKey out;
  std::size_t len = out.bytes.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), out.bytes.data(), &len) != 1 ||
      len != out.bytes.size()) {
    ERR_clear_error();
    return fail(ErrorCode::bad_encoding, "cannot extract the Ed25519 public key");
  }
  return out;
}

std::string ed25519_public_key_to_pem(const Ed25519PublicKey& public_key) {
  const PkeyPtr pkey(EVP_PKEY_new_raw_public_key_ex(
      nullptr, "ED25519", nullptr, public_key.bytes.data(), public_key.bytes.size()));
  if (!pkey) openssl_abort("EVP_PKEY_new_raw_public_key_ex(ED25519)");
  const BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), pkey.get()) != 1) {
    openssl_abort("PEM_write_bio_PUBKEY");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

Result<Ed25519SecretKey> load_ed25519_secret_key(const std::filesystem::path& path) {
  Result<Bytes> file = detail::read_file_bounded(path, kMaxKeyFileBytes);
  if (!file) return file.error();
  Bytes& text = file.value();
  Result<Ed25519SecretKey> key = ed25519_secret_key_from_pem(
      std::string_view(reinterpret_cast<const char*>(text.data()), text.size()));
  OPENSSL_cleanse(text.data(), text.size());
  if (!key) return key.error().with_context("'" + path.string() + "'");
  return key;
}

Result<Ed25519PublicKey> load_ed25519_public_key(const std::filesystem::path& path) {
  Result<Bytes> file = detail::read_file_bounded(path, kMaxKeyFileBytes);
  if (!file) return file.error();
  Result<Ed25519PublicKey> key = ed25519_public_key_from_pem(
      std::string_view(reinterpret_cast<const char*>(file->data()), file->size()));
  if (!key) return key.error().with_context("'" + path.string() + "'");
  return key;
}

Status save_ed25519_secret_key(const std::filesystem::path& path, const Ed25519SecretKey& secret) {
  const PkeyPtr pkey = ed25519_pkey_from_seed(Ed25519SecretKeyAccess::seed(secret));
  // Secure-heap memory BIO: its buffer is cleansed when freed.
  const BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    openssl_abort("PEM_write_bio_PrivateKey");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return detail::write_file_atomic(
      path, ByteSpan(reinterpret_cast<const std::uint8_t*>(data), static_cast<std::size_t>(len)),
      0600);
}

Status save_ed25519_public_key(const std::filesystem::path& path,
                               const Ed25519PublicKey& public_key) {
  const std::string pem = ed25519_public_key_to_pem(public_key);
  return detail::write_file_atomic(path, as_bytes(pem), 0644);
}

// ----- comparison -----

bool constant_time_equal(ByteSpan a, ByteSpan b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace edgefed
