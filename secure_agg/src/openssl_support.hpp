// Internal to edgefed_secagg: OpenSSL handles, algorithms fetched once, and the two abort
// paths (a broken environment, a caller bug). Defined in primitives.cpp.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <span>

namespace edgefed::secagg::internal {

// OpenSSL failed on valid input: the environment is broken. Prints the queued OpenSSL
// error and aborts.
[[noreturn]] void openssl_abort(const char* what) noexcept;
// A caller broke a documented precondition. Prints and aborts.
[[noreturn]] void crypto_misuse(const char* what) noexcept;

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const noexcept { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

CipherCtxPtr new_cipher_ctx();

// Fetched once per process (thread-safe function-local statics), never freed before exit.
const EVP_CIPHER* aes256_ctr_cipher();
const EVP_CIPHER* aes256_gcm_cipher();
const EVP_CIPHER* chacha20_cipher();

// EVP_EncryptUpdate or EVP_DecryptUpdate.
using UpdateFn = int (*)(EVP_CIPHER_CTX*, unsigned char*, int*, const unsigned char*, int);

// Feeds `size` bytes of `in` through `update` in pieces that fit OpenSSL's int lengths,
// writing to `out` (same size; may be the same memory), or with `out` null as AAD. Only for
// stream and AEAD modes, which emit exactly what they take. Aborts on failure as `what`.
void update_in_pieces(UpdateFn update, EVP_CIPHER_CTX* ctx, const std::uint8_t* in,
                      std::uint8_t* out, std::size_t size, const char* what);

// update_in_pieces with EVP_EncryptUpdate.
void encrypt_update(EVP_CIPHER_CTX* ctx, const std::uint8_t* in, std::uint8_t* out,
                    std::size_t size);

}  // namespace edgefed::secagg::internal
