// Known answers and properties for the secagg primitives, the CSPRNGs and SecretBytes.
//
// Known-answer vectors: RFC 7748 §5.2 and §6.1 (X25519), RFC 5869 A.1-A.3 (HKDF-SHA256),
// NIST SP 800-38A F.5.5 (CTR-AES256.Encrypt), McGrew-Viega GCM test cases 13-16 (the
// AES-256 ones, as in NIST's GCM validation), RFC 8439 §2.4.2 (ChaCha20).
// The "pinned" values (DeterministicCsprng streams, MaskPrg words) were computed
// independently with Python's `cryptography` package from the construction documented in
// csprng.hpp / primitives.hpp; a change to them is a wire- and transcript-breaking change.
#include "edgefed/secagg/csprng.hpp"
#include "edgefed/secagg/primitives.hpp"
#include "edgefed/secagg/secret.hpp"

#include "edgefed/common/crypto.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace edgefed::secagg {
namespace {

Bytes hex(std::string_view text) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
    out.push_back(
        static_cast<std::uint8_t>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

Secret32 secret_from_hex(std::string_view text) {
  const Bytes raw = hex(text);
  REQUIRE(raw.size() == 32);
  return Secret32(std::span<const std::uint8_t, 32>(raw.data(), 32));
}

X25519PublicKey public_from_hex(std::string_view text) {
  Result<X25519PublicKey> key = X25519PublicKey::from_bytes(hex(text));
  REQUIRE(key.ok());
  return key.value();
}

template <std::size_t N>
std::span<const std::uint8_t, N> fixed(const Bytes& bytes) {
  REQUIRE(bytes.size() == N);
  return std::span<const std::uint8_t, N>(bytes.data(), N);
}

Bytes xor_bytes(const Bytes& a, const Bytes& b) {
  REQUIRE(a.size() == b.size());
  Bytes out(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) out[i] = a[i] ^ b[i];
  return out;
}

Bytes draw(Csprng& rng, RngPurpose purpose, std::size_t n) {
  Bytes out(n);
  rng.fill(purpose, out);
  return out;
}

Bytes secret_bytes(const Secret32& s) { return Bytes(s.span().begin(), s.span().end()); }

Secret32 counting_key(std::uint8_t first) {
  std::array<std::uint8_t, 32> raw;
  for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::uint8_t>(first + i);
  return Secret32(raw);
}

constexpr std::array<std::uint8_t, 16> kZeroIv16{};

// ---------------------------------------------------------------------------------------
// X25519

TEST_CASE("X25519 reproduces the RFC 7748 section 5.2 scalar multiplication vectors") {
  struct Vector {
    const char* scalar;
    const char* u;
    const char* out;
  };
  const Vector vectors[] = {
      {"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
       "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
       "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
      // The u-coordinate has its top bit set, which RFC 7748 says to ignore.
      {"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
       "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
       "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
  };
  for (const Vector& v : vectors) {
    Result<Secret32> out = x25519_agree(secret_from_hex(v.scalar), public_from_hex(v.u));
    REQUIRE(out.ok());
    CHECK(to_hex(out->span()) == v.out);
  }
}

TEST_CASE("X25519 reproduces the RFC 7748 section 6.1 Alice and Bob exchange") {
  const X25519KeyPair alice = x25519_keypair_from_secret(
      secret_from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  const X25519KeyPair bob = x25519_keypair_from_secret(
      secret_from_hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
  CHECK(to_hex(alice.public_key.span()) ==
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  CHECK(to_hex(bob.public_key.span()) ==
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  CHECK(x25519_public_from_secret(alice.secret) == alice.public_key);

  Result<Secret32> alice_view = x25519_agree(alice.secret, bob.public_key);
  Result<Secret32> bob_view = x25519_agree(bob.secret, alice.public_key);
  REQUIRE(alice_view.ok());
  REQUIRE(bob_view.ok());
  CHECK(to_hex(alice_view->span()) ==
        "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  CHECK(*alice_view == *bob_view);
}

TEST_CASE("x25519_agree gives both parties the same secret and other pairs a different one") {
  SystemCsprng rng;
  const X25519KeyPair u = x25519_generate(rng);
  const X25519KeyPair v = x25519_generate(rng);
  const X25519KeyPair w = x25519_generate(rng);
  Result<Secret32> uv = x25519_agree(u.secret, v.public_key);
  Result<Secret32> vu = x25519_agree(v.secret, u.public_key);
  Result<Secret32> uw = x25519_agree(u.secret, w.public_key);
  REQUIRE(uv.ok());
  REQUIRE(vu.ok());
  REQUIRE(uw.ok());
  CHECK(*uv == *vu);
  CHECK_FALSE(*uv == *uw);
}

TEST_CASE("x25519_agree refuses the all-zero key and small-order points with bad_value") {
  // Points of order 1, 2, 4 and 8 and their non-canonical encodings (p - 1, p, p + 1, and
  // zero with the ignored top bit set), as listed by libsodium and Bernstein's notes.
  const char* const bad_keys[] = {
      "0000000000000000000000000000000000000000000000000000000000000000",
      "0100000000000000000000000000000000000000000000000000000000000000",
      "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
      "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "0000000000000000000000000000000000000000000000000000000000000080",
  };
  DeterministicCsprng rng(11);
  const X25519KeyPair own = x25519_generate(rng);
  for (const char* bad : bad_keys) {
    INFO(bad);
    Result<Secret32> shared = x25519_agree(own.secret, public_from_hex(bad));
    REQUIRE_FALSE(shared.ok());
    CHECK(shared.error().code == ErrorCode::bad_value);
    CHECK(shared.error().detail == "invalid peer key");
  }
}

TEST_CASE("x25519_generate draws the private key from the key_generation stream") {
  DeterministicCsprng first(2024);
  DeterministicCsprng second(2024);
  DeterministicCsprng reference(2024);
  // Draws for other purposes must not shift the key stream.
  (void)draw(second, RngPurpose::shamir_coefficients, 100);
  (void)draw(second, RngPurpose::self_mask_seed, 32);

  const X25519KeyPair a = x25519_generate(first);
  const X25519KeyPair b = x25519_generate(second);
  const Secret32 expected = reference.next_secret32(RngPurpose::key_generation);
  CHECK(a.secret == expected);
  CHECK(b.secret == expected);
  CHECK(a.public_key == b.public_key);
  CHECK(a.public_key == x25519_public_from_secret(expected));

  const X25519KeyPair next = x25519_generate(first);
  CHECK_FALSE(next.public_key == a.public_key);
}

TEST_CASE("X25519PublicKey from_bytes accepts exactly 32 bytes") {
  CHECK(X25519PublicKey::from_bytes(Bytes(32, 9)).ok());
  for (const std::size_t size : {0, 31, 33}) {
    Result<X25519PublicKey> key = X25519PublicKey::from_bytes(Bytes(size, 9));
    REQUIRE_FALSE(key.ok());
    CHECK(key.error().code == ErrorCode::bad_length);
  }
}

// ---------------------------------------------------------------------------------------
// HKDF-SHA256

TEST_CASE("hkdf_sha256 reproduces RFC 5869 test cases 1 to 3") {
  struct Vector {
    Bytes ikm;
    Bytes salt;
    Bytes info;
    const char* okm;
  };
  auto range = [](int from, int to) {
    Bytes out;
    for (int b = from; b < to; ++b) out.push_back(static_cast<std::uint8_t>(b));
    return out;
  };
  const Vector vectors[] = {
      {Bytes(22, 0x0b), hex("000102030405060708090a0b0c"), hex("f0f1f2f3f4f5f6f7f8f9"),
       "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
      {range(0x00, 0x50), range(0x60, 0xb0), range(0xb0, 0x100),
       "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41"
       "c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"},
      // Empty salt and info.
      {Bytes(22, 0x0b), Bytes(), Bytes(),
       "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
  };
  for (const Vector& v : vectors) {
    Bytes okm(std::string_view(v.okm).size() / 2);
    hkdf_sha256(v.ikm, v.salt, v.info, okm);
    CHECK(to_hex(okm) == v.okm);

    const Secret32 key = hkdf_sha256_key(v.ikm, v.salt, v.info);
    CHECK(to_hex(key.span()) == std::string(v.okm).substr(0, 64));
  }
}

TEST_CASE("hkdf_sha256 with an empty output writes nothing") {
  Bytes nothing;
  hkdf_sha256(Bytes(32, 1), Bytes(), Bytes(), nothing);
  CHECK(nothing.empty());
}

TEST_CASE("hkdf_sha256_key separates by salt and info") {
  const Bytes ikm(32, 7);
  const Secret32 base = hkdf_sha256_key(ikm, as_bytes("sid-1"), as_bytes("label"));
  CHECK(base == hkdf_sha256_key(ikm, as_bytes("sid-1"), as_bytes("label")));
  CHECK_FALSE(base == hkdf_sha256_key(ikm, as_bytes("sid-2"), as_bytes("label")));
  CHECK_FALSE(base == hkdf_sha256_key(ikm, as_bytes("sid-1"), as_bytes("label2")));
}

// ---------------------------------------------------------------------------------------
// AES-256-CTR and ChaCha20 keystreams

TEST_CASE("AES-256-CTR keystream reproduces NIST SP 800-38A F.5.5") {
  const Secret32 key =
      secret_from_hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
  const Bytes iv = hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
  const Bytes plaintext =
      hex("6bc1bee22e409f96e93d7e117393172a"
          "ae2d8a571e03ac9c9eb76fac45af8e51"
          "30c81c46a35ce411e5fbc1191a0a52ef"
          "f69f2445df4f9b17ad2b417be66c3710");
  Bytes keystream(plaintext.size());
  detail::aes256_ctr_keystream_with_iv(key, fixed<16>(iv), keystream);
  CHECK(to_hex(xor_bytes(plaintext, keystream)) ==
        "601ec313775789a5b7a7f504bbf3d228"
        "f443e3ca4d62b59aca84e990cacaf5c5"
        "2b0930daa23de94ce87017ba2d84988d"
        "dfc9c58db67aada613c2dd08457941a6");
}

TEST_CASE("ChaCha20 keystream reproduces RFC 8439 section 2.4.2") {
  Bytes raw_key;
  for (int b = 0; b < 32; ++b) raw_key.push_back(static_cast<std::uint8_t>(b));
  const Secret32 key(fixed<32>(raw_key));
  // Initial block counter 1 (little-endian), then the 12-byte nonce.
  const Bytes iv = hex("01000000000000000000004a00000000");
  const std::string_view text =
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
      "future, sunscreen would be it.";
  const Bytes plaintext(text.begin(), text.end());
  Bytes keystream(plaintext.size());
  detail::chacha20_keystream_with_iv(key, fixed<16>(iv), keystream);
  CHECK(to_hex(xor_bytes(plaintext, keystream)) ==
        "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b"
        "f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8"
        "07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736"
        "5af90bbf74a35be6b40b8eedf2785e42874d");
}

// ---------------------------------------------------------------------------------------
// AES-256-GCM

TEST_CASE("aead_seal with the zero nonce reproduces GCM test cases 13 and 14") {
  const Secret32 zero_key;
  CHECK(to_hex(aead_seal(zero_key, {}, {})) == "530f8afbc74536b9a963b4f1c4cb738b");
  CHECK(to_hex(aead_seal(zero_key, {}, Bytes(16, 0))) ==
        "cea7403d4d606b6e074ec5d3baf39d18"
        "d0d1c8a799996bf0265b98b5d48ab919");

  Result<Bytes> opened = aead_open(
      zero_key, {}, hex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"));
  REQUIRE(opened.ok());
  CHECK(*opened == Bytes(16, 0));
}

TEST_CASE("AES-256-GCM with an explicit IV reproduces GCM test cases 15 and 16") {
  const Secret32 key =
      secret_from_hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
  const Bytes iv = hex("cafebabefacedbaddecaf888");
  const Bytes plaintext =
      hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
          "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255");
  const std::string ciphertext =
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";

  SECTION("test case 15: 64-byte plaintext, no AAD") {
    const Bytes sealed = detail::aes256_gcm_seal_with_iv(key, fixed<12>(iv), {}, plaintext);
    CHECK(to_hex(sealed) == ciphertext + "b094dac5d93471bdec1a502270e3cc6c");
    Result<Bytes> opened = detail::aes256_gcm_open_with_iv(key, fixed<12>(iv), {}, sealed);
    REQUIRE(opened.ok());
    CHECK(*opened == plaintext);
  }
  SECTION("test case 16: 60-byte plaintext with AAD") {
    const Bytes aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    const Bytes short_plaintext(plaintext.begin(), plaintext.begin() + 60);
    const Bytes sealed = detail::aes256_gcm_seal_with_iv(key, fixed<12>(iv), aad, short_plaintext);
    CHECK(to_hex(sealed) == ciphertext.substr(0, 120) + "76fc6ece0f4e1768cddf8853bb2d551b");
    Result<Bytes> opened = detail::aes256_gcm_open_with_iv(key, fixed<12>(iv), aad, sealed);
    REQUIRE(opened.ok());
    CHECK(*opened == short_plaintext);
  }
}

TEST_CASE("aead_open returns the sealed plaintext and sealing is deterministic") {
  const Secret32 key = counting_key(3);
  const Bytes aad = hex("0102030405");
  for (const std::size_t size : {0, 1, 15, 16, 17, 1000}) {
    Bytes plaintext(size);
    for (std::size_t i = 0; i < size; ++i) plaintext[i] = static_cast<std::uint8_t>(i * 7);
    const Bytes sealed = aead_seal(key, aad, plaintext);
    CHECK(sealed.size() == size + kGcmTagBytes);
    CHECK(sealed == aead_seal(key, aad, plaintext));
    Result<Bytes> opened = aead_open(key, aad, sealed);
    REQUIRE(opened.ok());
    CHECK(*opened == plaintext);
  }
}

TEST_CASE("aead_open refuses altered, mis-addressed and truncated messages without plaintext") {
  const Secret32 key = counting_key(40);
  const ByteSpan aad_text = as_bytes("sid|share|3|7");
  const Bytes aad(aad_text.begin(), aad_text.end());
  const Bytes plaintext = hex("00112233445566778899aabbccddeeff0123456789");
  const Bytes sealed = aead_seal(key, aad, plaintext);

  auto expect_auth_failure = [](Result<Bytes> opened) {
    REQUIRE_FALSE(opened.ok());
    CHECK(opened.error().code == ErrorCode::bad_signature);
    CHECK(opened.error().detail == "authentication failed");
  };
  SECTION("a flipped ciphertext bit") {
    Bytes altered = sealed;
    altered[3] ^= 0x01;
    expect_auth_failure(aead_open(key, aad, altered));
  }
  SECTION("a flipped tag bit") {
    Bytes altered = sealed;
    altered.back() ^= 0x80;
    expect_auth_failure(aead_open(key, aad, altered));
  }
  SECTION("a different AAD, as for a message re-addressed to another receiver") {
    expect_auth_failure(aead_open(key, as_bytes("sid|share|3|8"), sealed));
    expect_auth_failure(aead_open(key, {}, sealed));
  }
  SECTION("a wrong key") { expect_auth_failure(aead_open(counting_key(41), aad, sealed)); }
  SECTION("a message cut short but still longer than a tag") {
    expect_auth_failure(aead_open(key, aad, ByteSpan(sealed).first(sealed.size() - 1)));
    expect_auth_failure(aead_open(key, aad, ByteSpan(sealed).last(kGcmTagBytes)));
  }
  SECTION("a message shorter than a tag") {
    for (const std::size_t size : {0, 1, 15}) {
      Result<Bytes> opened = aead_open(key, aad, ByteSpan(sealed).first(size));
      REQUIRE_FALSE(opened.ok());
      CHECK(opened.error().code == ErrorCode::truncated);
    }
  }
}

// ---------------------------------------------------------------------------------------
// MaskPrg

constexpr PrgKind kAllPrgKinds[] = {PrgKind::aes256_ctr, PrgKind::chacha20};

Bytes reference_keystream(PrgKind kind, const Secret32& key, std::size_t size) {
  Bytes out(size);
  if (kind == PrgKind::aes256_ctr) {
    detail::aes256_ctr_keystream_with_iv(key, kZeroIv16, out);
  } else {
    detail::chacha20_keystream_with_iv(key, kZeroIv16, out);
  }
  return out;
}

template <typename Word>
std::vector<Word> words_of(const Bytes& bytes) {
  std::vector<Word> words(bytes.size() / sizeof(Word));
  for (std::size_t i = 0; i < words.size(); ++i) {
    Word w = 0;
    for (std::size_t b = 0; b < sizeof(Word); ++b)
      w |= Word{bytes[i * sizeof(Word) + b]} << (8 * b);
    words[i] = w;
  }
  return words;
}

TEST_CASE("PrgKind names are stable") {
  CHECK(to_string(PrgKind::aes256_ctr) == "aes256_ctr");
  CHECK(to_string(PrgKind::chacha20) == "chacha20");
  CHECK(to_string(static_cast<PrgKind>(0)) == "unknown");
  CHECK(static_cast<int>(PrgKind::aes256_ctr) == 1);
  CHECK(static_cast<int>(PrgKind::chacha20) == 2);
}

TEST_CASE("MaskPrg keystream equals the cipher's zero-IV keystream, restarting every call") {
  for (const PrgKind kind : kAllPrgKinds) {
    INFO(to_string(kind));
    MaskPrg prg = MaskPrg::create(kind);
    CHECK(prg.kind() == kind);
    const Secret32 key = counting_key(1);
    const std::size_t size = 3 * MaskPrg::kScratchBytes + 5;
    const Bytes expected = reference_keystream(kind, key, size);

    Bytes partial(7);
    prg.keystream(key, partial);  // leaves a partial block behind
    CHECK(partial == Bytes(expected.begin(), expected.begin() + 7));
    Bytes full(size);
    prg.keystream(key, full);
    CHECK(full == expected);

    Bytes other(64);
    prg.keystream(counting_key(2), other);
    CHECK(other != Bytes(expected.begin(), expected.begin() + 64));
  }
}

TEST_CASE("MaskPrg output is pinned for a fixed key") {
  const Secret32 key = counting_key(0);  // 00 01 .. 1f
  struct Pinned {
    PrgKind kind;
    std::array<std::uint32_t, 4> u32;
    std::array<std::uint64_t, 2> u64;
  };
  const Pinned pinned[] = {
      {PrgKind::aes256_ctr,
       {0xb60090f2, 0xd09f492a, 0x6a9af3a9, 0x80772edd},
       {0xd09f492ab60090f2, 0x80772edd6a9af3a9}},
      {PrgKind::chacha20,
       {0x7d2bfd39, 0x6a19c5d9, 0x7703bd8d, 0x494adcb8},
       {0x6a19c5d97d2bfd39, 0x494adcb87703bd8d}},
  };
  for (const Pinned& p : pinned) {
    INFO(to_string(p.kind));
    MaskPrg prg = MaskPrg::create(p.kind);
    std::array<std::uint32_t, 4> acc32{};
    prg.add_mask(key, acc32, false);
    CHECK(acc32 == p.u32);
    std::array<std::uint64_t, 2> acc64{};
    prg.add_mask(key, acc64, false);
    CHECK(acc64 == p.u64);
  }
}

TEST_CASE("MaskPrg add_mask adds the little-endian keystream words, wrapping") {
  for (const PrgKind kind : kAllPrgKinds) {
    INFO(to_string(kind));
    MaskPrg prg = MaskPrg::create(kind);
    const Secret32 key = counting_key(9);
    // Crosses a scratch-chunk boundary and ends off a vector boundary.
    const std::size_t n32 = MaskPrg::kScratchBytes / 4 + 3;
    const std::size_t n64 = MaskPrg::kScratchBytes / 8 + 3;
    const std::vector<std::uint32_t> w32 =
        words_of<std::uint32_t>(reference_keystream(kind, key, n32 * 4));
    const std::vector<std::uint64_t> w64 =
        words_of<std::uint64_t>(reference_keystream(kind, key, n64 * 8));

    std::vector<std::uint32_t> acc32(n32, 0xfffffff0u);
    prg.add_mask(key, acc32, false);
    for (std::size_t i = 0; i < n32; ++i)
      REQUIRE(acc32[i] == static_cast<std::uint32_t>(0xfffffff0u + w32[i]));
    std::vector<std::uint32_t> neg32(n32, 0);
    prg.add_mask(key, neg32, true);
    for (std::size_t i = 0; i < n32; ++i)
      REQUIRE(neg32[i] == static_cast<std::uint32_t>(0u - w32[i]));

    std::vector<std::uint64_t> acc64(n64, 5);
    prg.add_mask(key, acc64, false);
    for (std::size_t i = 0; i < n64; ++i) REQUIRE(acc64[i] == w64[i] + 5);
    std::vector<std::uint64_t> neg64(n64, 0);
    prg.add_mask(key, neg64, true);
    for (std::size_t i = 0; i < n64; ++i) REQUIRE(neg64[i] == 0 - w64[i]);
  }
}

TEST_CASE("MaskPrg add then subtract with one key restores the accumulator exactly") {
  DeterministicCsprng rng(99);
  for (const PrgKind kind : kAllPrgKinds) {
    MaskPrg prg = MaskPrg::create(kind);
    for (const std::size_t n : {0, 1, 7, 100003}) {
      INFO(to_string(kind) << " n=" << n);
      const Secret32 key = rng.next_secret32(RngPurpose::self_mask_seed);
      const Secret32 other = rng.next_secret32(RngPurpose::self_mask_seed);

      std::vector<std::uint32_t> acc32(n);
      for (std::size_t i = 0; i < n; ++i) acc32[i] = static_cast<std::uint32_t>(i * 2654435761u);
      const std::vector<std::uint32_t> original32 = acc32;
      prg.add_mask(key, acc32, false);
      prg.add_mask(other, acc32, true);
      if (n > 0) CHECK(acc32 != original32);
      prg.add_mask(other, acc32, false);
      prg.add_mask(key, acc32, true);
      CHECK(acc32 == original32);

      std::vector<std::uint64_t> acc64(n);
      for (std::size_t i = 0; i < n; ++i) acc64[i] = i * 0x9e3779b97f4a7c15ull;
      const std::vector<std::uint64_t> original64 = acc64;
      prg.add_mask(key, acc64, true);
      if (n > 0) CHECK(acc64 != original64);
      prg.add_mask(key, acc64, false);
      CHECK(acc64 == original64);
    }
  }
}

TEST_CASE("MaskPrg keystream_bytes counts every byte produced") {
  MaskPrg prg = MaskPrg::create(PrgKind::chacha20);
  const Secret32 key = counting_key(5);
  CHECK(prg.keystream_bytes() == 0);
  Bytes out(100);
  prg.keystream(key, out);
  CHECK(prg.keystream_bytes() == 100);
  std::vector<std::uint32_t> acc32(7);
  prg.add_mask(key, acc32, false);
  CHECK(prg.keystream_bytes() == 128);
  std::vector<std::uint64_t> acc64(MaskPrg::kScratchBytes / 8 + 1);
  prg.add_mask(key, acc64, true);
  CHECK(prg.keystream_bytes() == 128 + MaskPrg::kScratchBytes + 8);

  MaskPrg moved = std::move(prg);
  CHECK(moved.keystream_bytes() == 128 + MaskPrg::kScratchBytes + 8);
  moved.keystream(key, out);
  CHECK(moved.keystream_bytes() == 228 + MaskPrg::kScratchBytes + 8);
}

TEST_CASE("measure_prg_bytes_per_second reports a positive rate") {
  for (const PrgKind kind : kAllPrgKinds) {
    CHECK(measure_prg_bytes_per_second(kind, 1 << 20) > 0.0);
  }
  CHECK(measure_prg_bytes_per_second(PrgKind::aes256_ctr, 0) == 0.0);
}

// ---------------------------------------------------------------------------------------
// Csprng

TEST_CASE("RngPurpose names are stable") {
  CHECK(to_string(RngPurpose::key_generation) == "key_generation");
  CHECK(to_string(RngPurpose::self_mask_seed) == "self_mask_seed");
  CHECK(to_string(RngPurpose::shamir_coefficients) == "shamir_coefficients");
  CHECK(to_string(RngPurpose::stochastic_rounding) == "stochastic_rounding");
  CHECK(to_string(RngPurpose::graph_seed) == "graph_seed");
  CHECK(to_string(RngPurpose::session_nonce) == "session_nonce");
  CHECK(to_string(static_cast<RngPurpose>(0)) == "unknown");
}

TEST_CASE("DeterministicCsprng streams follow the documented construction") {
  // seed = SHA-256(LE64(1)); stream = AES-256-CTR(HKDF(seed, "", "edgefed/v1/rng/<purpose>")).
  DeterministicCsprng rng(1);
  CHECK(to_hex(draw(rng, RngPurpose::key_generation, 32)) ==
        "7e14c22213b36038e0fe3f679044a732c06bde995e3e62f30a77cd2963892145");
  CHECK(to_hex(draw(rng, RngPurpose::self_mask_seed, 32)) ==
        "b2f91976bdbd3c943d4e99d66d9ee8b5723858ba41d3640d5562707e3adeeda1");

  std::array<std::uint8_t, 8> le_one{1, 0, 0, 0, 0, 0, 0, 0};
  const Sha256Digest seed = sha256(le_one);
  DeterministicCsprng from_span{std::span<const std::uint8_t, 32>(seed)};
  const Secret32 stream_key = hkdf_sha256_key(seed, {}, as_bytes("edgefed/v1/rng/graph_seed"));
  CHECK(draw(from_span, RngPurpose::graph_seed, 1000) ==
        reference_keystream(PrgKind::aes256_ctr, stream_key, 1000));
}

TEST_CASE("DeterministicCsprng repeats for one seed and differs across seeds") {
  DeterministicCsprng a(42);
  DeterministicCsprng b(42);
  DeterministicCsprng c(43);
  const Bytes from_a = draw(a, RngPurpose::shamir_coefficients, 64);
  CHECK(from_a == draw(b, RngPurpose::shamir_coefficients, 64));
  CHECK(from_a != draw(c, RngPurpose::shamir_coefficients, 64));
  CHECK(a.next_u64(RngPurpose::graph_seed) == b.next_u64(RngPurpose::graph_seed));
}

TEST_CASE("DeterministicCsprng purposes are independent streams") {
  DeterministicCsprng quiet(7);
  DeterministicCsprng busy(7);
  (void)draw(busy, RngPurpose::shamir_coefficients, 12345);
  (void)busy.next_u64(RngPurpose::stochastic_rounding);
  CHECK(draw(quiet, RngPurpose::key_generation, 96) == draw(busy, RngPurpose::key_generation, 96));
  CHECK(draw(quiet, RngPurpose::key_generation, 32) != draw(quiet, RngPurpose::self_mask_seed, 32));
}

TEST_CASE("DeterministicCsprng continues one stream across fills") {
  DeterministicCsprng pieces(3);
  DeterministicCsprng whole(3);
  Bytes joined = draw(pieces, RngPurpose::session_nonce, 10);
  const Bytes rest = draw(pieces, RngPurpose::session_nonce, 22);
  joined.insert(joined.end(), rest.begin(), rest.end());
  CHECK(joined == draw(whole, RngPurpose::session_nonce, 32));
}

TEST_CASE("Csprng next_u64 reads eight stream bytes little-endian") {
  DeterministicCsprng a(5);
  DeterministicCsprng b(5);
  const Bytes raw = draw(a, RngPurpose::stochastic_rounding, 8);
  std::uint64_t expected = 0;
  for (std::size_t i = 0; i < 8; ++i) expected |= std::uint64_t{raw[i]} << (8 * i);
  CHECK(b.next_u64(RngPurpose::stochastic_rounding) == expected);
}

TEST_CASE("DeterministicCsprng keeps its streams when moved") {
  DeterministicCsprng original(8);
  DeterministicCsprng reference(8);
  (void)draw(original, RngPurpose::key_generation, 5);
  (void)draw(reference, RngPurpose::key_generation, 5);
  DeterministicCsprng moved(std::move(original));
  CHECK(draw(moved, RngPurpose::key_generation, 40) ==
        draw(reference, RngPurpose::key_generation, 40));
  DeterministicCsprng assigned(0);
  assigned = std::move(moved);
  CHECK(draw(assigned, RngPurpose::key_generation, 8) ==
        draw(reference, RngPurpose::key_generation, 8));
}

TEST_CASE("SystemCsprng output does not repeat") {
  SystemCsprng rng;
  CHECK_FALSE(rng.next_secret32(RngPurpose::key_generation) ==
              rng.next_secret32(RngPurpose::key_generation));
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(rng.next_u64(RngPurpose::session_nonce));
  CHECK(seen.size() == 1000);
  Bytes big(100000);
  rng.fill(RngPurpose::graph_seed, big);
  CHECK(std::count(big.begin(), big.end(), std::uint8_t{0}) < 1000);  // ~390 expected
}

// ---------------------------------------------------------------------------------------
// SecretBytes and helpers

TEST_CASE("SecretBytes wipes the source when moved") {
  Secret32 source = counting_key(1);
  const Bytes expected = secret_bytes(source);
  const Bytes zeros(32, 0);

  Secret32 constructed(std::move(source));
  CHECK(secret_bytes(constructed) == expected);
  CHECK(secret_bytes(source) == zeros);  // NOLINT(bugprone-use-after-move): the point

  Secret32 assigned;
  assigned = std::move(constructed);
  CHECK(secret_bytes(assigned) == expected);
  CHECK(secret_bytes(constructed) == zeros);  // NOLINT(bugprone-use-after-move)

  const Secret32 copy = assigned.clone();
  CHECK(copy == assigned);
  CHECK(secret_bytes(assigned) == expected);
}

TEST_CASE("secure_wipe zeroes memory and secure_equal compares contents and sizes") {
  Bytes buffer = hex("deadbeef");
  secure_wipe(buffer.data(), buffer.size());
  CHECK(buffer == Bytes(4, 0));
  secure_wipe(nullptr, 0);

  const Bytes a = hex("0102030405");
  const Bytes same = hex("0102030405");
  const Bytes last_differs = hex("0102030406");
  CHECK(secure_equal(a, same));
  CHECK_FALSE(secure_equal(a, last_differs));
  CHECK_FALSE(secure_equal(a, ByteSpan(a).first(4)));
  CHECK(secure_equal(Bytes(), Bytes()));
  CHECK_FALSE(counting_key(1) == counting_key(2));
}

}  // namespace
}  // namespace edgefed::secagg
