// Known answers (SHA-256 FIPS 180 examples, RFC 8032 §7.1 tests 1-3), properties of
// sign/verify, and PEM interoperability with the openssl CLI.
//
// Fixtures in tests/data/crypto/ were made with the openssl 3.0 CLI:
//   ed25519_openssl_private.pem      openssl genpkey -algorithm ed25519
//   ed25519_openssl_public.pem       openssl pkey -in ed25519_openssl_private.pem -pubout
//   ed25519_rfc8032_test1_*.pem      the RFC 8032 test 1 seed as PKCS#8 DER, through
//                                    openssl pkey -inform DER (and -pubout)
//   ed25519_encrypted_private.pem    openssl genpkey -algorithm ed25519 -aes-256-cbc
//                                        -pass pass:edgefed
//   x25519_*.pem, p256_*.pem         other key types, which must be refused
#include "edgefed/common/crypto.hpp"

#include "edgefed_test_support.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace edgefed {
namespace {

using testing::data_path;
using testing::TempDir;

Bytes from_hex(std::string_view hex) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const std::string& path, std::string_view text) {
  std::ofstream(path, std::ios::binary) << text;
}

struct Rfc8032Vector {
  const char* secret;
  const char* public_key;
  const char* message;
  const char* signature;
};

// RFC 8032 §7.1, TEST 1-3.
constexpr Rfc8032Vector kRfc8032[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b"
     "46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11"
     "d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc"
     "6594a7c15e9716ed28dc027beceea1ec40a"},
};

// Public key of tests/data/crypto/ed25519_openssl_private.pem (`openssl pkey -text`).
constexpr const char* kOpensslFixturePublicHex =
    "3e92f8f0e22a3e114e6da28f00ee26a1e182556b465b5934631e49d40943eb91";

Ed25519SecretKey secret_from_hex(std::string_view hex) {
  return Ed25519SecretKey::from_seed(from_hex(hex)).value();
}

std::string crypto_data(const std::string& name) { return data_path("crypto/" + name); }

// ----- SHA-256 -----

TEST_CASE("sha256 of the empty string is the FIPS 180 known answer") {
  CHECK(to_hex(sha256({})) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("sha256 of abc is the FIPS 180 known answer") {
  CHECK(to_hex(sha256(as_bytes("abc"))) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("sha256 of the 448-bit message is the FIPS 180 known answer") {
  CHECK(to_hex(sha256(as_bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("sha256 of a million a is the FIPS 180 known answer, one shot and incremental") {
  const std::string million(1'000'000, 'a');
  const std::string expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  CHECK(to_hex(sha256(as_bytes(million))) == expected);

  Sha256 hasher;
  std::size_t done = 0;
  for (std::size_t chunk = 1; done < million.size(); chunk = chunk * 3 + 1) {
    const std::size_t n = std::min(chunk, million.size() - done);
    hasher.update(as_bytes(std::string_view(million).substr(done, n)));
    done += n;
  }
  CHECK(to_hex(hasher.finish()) == expected);
}

TEST_CASE("sha256 hasher is reusable after finish and after a move") {
  Sha256 hasher;
  hasher.update(as_bytes("ab"));
  hasher.update({});
  hasher.update(as_bytes("c"));
  CHECK(hasher.finish() == sha256(as_bytes("abc")));
  CHECK(hasher.finish() == sha256({}));  // finish reset it to empty

  Sha256 moved = std::move(hasher);
  moved.update(as_bytes("abc"));
  CHECK(moved.finish() == sha256(as_bytes("abc")));
}

// ----- Ed25519 known answers and properties -----

TEST_CASE("ed25519 reproduces RFC 8032 tests 1 to 3 exactly") {
  for (const Rfc8032Vector& v : kRfc8032) {
    CAPTURE(v.secret);
    const Ed25519SecretKey secret = secret_from_hex(v.secret);
    const Ed25519PublicKey expected_public =
        Ed25519PublicKey::from_bytes(from_hex(v.public_key)).value();
    const Bytes message = from_hex(v.message);
    const Ed25519Signature signature = sign(secret, message);

    CHECK(derive_public_key(secret) == expected_public);
    CHECK(to_hex(signature.span()) == v.signature);
    CHECK(verify(expected_public, message, signature));
  }
}

TEST_CASE("ed25519 generated keys sign and verify, and differ from each other") {
  const Ed25519KeyPair a = generate_ed25519();
  const Ed25519KeyPair b = generate_ed25519();
  CHECK_FALSE(a.public_key == b.public_key);
  CHECK(derive_public_key(a.secret_key) == a.public_key);

  const Bytes message = from_hex("00010203040506070809");
  const Ed25519Signature signature = sign(a.secret_key, message);
  CHECK(verify(a.public_key, message, signature));
  CHECK(verify(a.public_key, {}, sign(a.secret_key, {})));
}

TEST_CASE("ed25519 verify fails on every flipped message bit") {
  const Ed25519KeyPair pair = generate_ed25519();
  const Bytes message = from_hex("48656c6c6f2c206564676566656421");
  const Ed25519Signature signature = sign(pair.secret_key, message);
  for (std::size_t bit = 0; bit < message.size() * 8; ++bit) {
    Bytes flipped = message;
    flipped[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    CAPTURE(bit);
    CHECK_FALSE(verify(pair.public_key, flipped, signature));
  }
}

TEST_CASE("ed25519 verify fails on every flipped signature bit") {
  const Ed25519KeyPair pair = generate_ed25519();
  const Bytes message = from_hex("af82");
  const Ed25519Signature signature = sign(pair.secret_key, message);
  for (std::size_t bit = 0; bit < kEd25519SignatureBytes * 8; ++bit) {
    Ed25519Signature flipped = signature;
    flipped.bytes[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    CAPTURE(bit);
    CHECK_FALSE(verify(pair.public_key, message, flipped));
  }
}

TEST_CASE("ed25519 verify fails under another key") {
  const Ed25519KeyPair signer = generate_ed25519();
  const Ed25519KeyPair other = generate_ed25519();
  const Bytes message = from_hex("72");
  CHECK_FALSE(verify(other.public_key, message, sign(signer.secret_key, message)));
}

TEST_CASE("ed25519 verify returns false for a non-canonical public key encoding") {
  Ed25519PublicKey bogus;
  bogus.bytes.fill(0xFF);  // y >= p: not a canonical point encoding
  const Ed25519KeyPair pair = generate_ed25519();
  CHECK_FALSE(verify(bogus, from_hex("72"), sign(pair.secret_key, from_hex("72"))));
}

TEST_CASE("ed25519 raw keys and signatures of the wrong size are bad_length") {
  CHECK(Ed25519PublicKey::from_bytes(Bytes(31)).error().code == ErrorCode::bad_length);
  CHECK(Ed25519Signature::from_bytes(Bytes(65)).error().code == ErrorCode::bad_length);
  CHECK(Ed25519SecretKey::from_seed(Bytes(33)).error().code == ErrorCode::bad_length);
  CHECK(Ed25519SecretKey::from_seed({}).error().code == ErrorCode::bad_length);
}

TEST_CASE("ed25519 secret key moves leave an empty source and clones sign alike") {
  Ed25519SecretKey original = secret_from_hex(kRfc8032[1].secret);
  const Ed25519SecretKey copy = original.clone();
  const Ed25519SecretKey moved = std::move(original);
  CHECK(original.empty());  // NOLINT(bugprone-use-after-move): the contract under test
  CHECK_FALSE(moved.empty());
  CHECK(sign(copy, from_hex("72")) == sign(moved, from_hex("72")));
}

// ----- PEM -----

TEST_CASE("pem: a key pair made by the openssl CLI loads and matches") {
  const auto secret = load_ed25519_secret_key(crypto_data("ed25519_openssl_private.pem"));
  const auto public_key = load_ed25519_public_key(crypto_data("ed25519_openssl_public.pem"));
  REQUIRE(secret);
  REQUIRE(public_key);
  CHECK(to_hex(public_key->span()) == kOpensslFixturePublicHex);
  CHECK(derive_public_key(*secret) == *public_key);
  const Bytes message = from_hex("0102");
  CHECK(verify(*public_key, message, sign(*secret, message)));
}

TEST_CASE("pem: the RFC 8032 test 1 key through the openssl CLI signs the RFC signature") {
  const auto secret = load_ed25519_secret_key(crypto_data("ed25519_rfc8032_test1_private.pem"));
  const auto public_key = load_ed25519_public_key(crypto_data("ed25519_rfc8032_test1_public.pem"));
  REQUIRE(secret);
  REQUIRE(public_key);
  CHECK(to_hex(public_key->span()) == kRfc8032[0].public_key);
  CHECK(to_hex(sign(*secret, {}).span()) == kRfc8032[0].signature);
}

TEST_CASE("pem: what we write is byte-identical to what the openssl CLI writes") {
  TempDir dir;
  const Ed25519SecretKey secret = secret_from_hex(kRfc8032[0].secret);
  REQUIRE(save_ed25519_secret_key(dir.file("k.pem"), secret));
  REQUIRE(save_ed25519_public_key(dir.file("k.pub.pem"), derive_public_key(secret)));
  CHECK(read_text(dir.file("k.pem")) ==
        read_text(crypto_data("ed25519_rfc8032_test1_private.pem")));
  CHECK(read_text(dir.file("k.pub.pem")) ==
        read_text(crypto_data("ed25519_rfc8032_test1_public.pem")));
  CHECK(ed25519_public_key_to_pem(derive_public_key(secret)) ==
        read_text(crypto_data("ed25519_rfc8032_test1_public.pem")));
}

TEST_CASE("pem: round trip through files, secret key file has mode 0600") {
  TempDir dir;
  const Ed25519KeyPair pair = generate_ed25519();
  REQUIRE(save_ed25519_secret_key(dir.file("model.key"), pair.secret_key));
  REQUIRE(save_ed25519_public_key(dir.file("model.pub"), pair.public_key));

  struct stat st {};
  REQUIRE(::stat(dir.file("model.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  const auto secret = load_ed25519_secret_key(dir.file("model.key"));
  const auto public_key = load_ed25519_public_key(dir.file("model.pub"));
  REQUIRE(secret);
  REQUIRE(public_key);
  CHECK(*public_key == pair.public_key);
  CHECK(sign(*secret, from_hex("72")) == sign(pair.secret_key, from_hex("72")));

  // Overwriting an existing, world-readable file still leaves 0600.
  write_text(dir.file("loose.key"), "x");
  REQUIRE(::chmod(dir.file("loose.key").c_str(), 0644) == 0);
  REQUIRE(save_ed25519_secret_key(dir.file("loose.key"), pair.secret_key));
  REQUIRE(::stat(dir.file("loose.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("pem: round trip through strings") {
  const Ed25519KeyPair pair = generate_ed25519();
  const auto back = ed25519_public_key_from_pem(ed25519_public_key_to_pem(pair.public_key));
  REQUIRE(back);
  CHECK(*back == pair.public_key);
  const auto secret =
      ed25519_secret_key_from_pem(read_text(crypto_data("ed25519_openssl_private.pem")));
  REQUIRE(secret);
  CHECK(to_hex(derive_public_key(*secret).span()) == kOpensslFixturePublicHex);
}

TEST_CASE("pem: keys made by the openssl CLI at test time load, and it reads ours") {
  if (std::system("openssl version >/dev/null 2>&1") != 0) {
    WARN("openssl CLI not found; fixture-based tests cover the format");
    return;
  }
  TempDir dir;
  const std::string theirs = dir.file("theirs.pem");
  const std::string theirs_pub = dir.file("theirs.pub.pem");
  REQUIRE(std::system(("openssl genpkey -algorithm ed25519 -out '" + theirs +
                       "' && openssl pkey -in '" + theirs + "' -pubout -out '" + theirs_pub + "'")
                          .c_str()) == 0);
  const auto secret = load_ed25519_secret_key(theirs);
  const auto public_key = load_ed25519_public_key(theirs_pub);
  REQUIRE(secret);
  REQUIRE(public_key);
  CHECK(derive_public_key(*secret) == *public_key);

  const Ed25519KeyPair ours = generate_ed25519();
  REQUIRE(save_ed25519_secret_key(dir.file("ours.pem"), ours.secret_key));
  REQUIRE(std::system(("openssl pkey -in '" + dir.file("ours.pem") + "' -pubout -out '" +
                       dir.file("ours.pub.pem") + "'")
                          .c_str()) == 0);
  const auto derived_by_cli = load_ed25519_public_key(dir.file("ours.pub.pem"));
  REQUIRE(derived_by_cli);
  CHECK(*derived_by_cli == ours.public_key);
}

TEST_CASE("pem: garbage is refused as bad_encoding") {
  const std::string good = read_text(crypto_data("ed25519_openssl_private.pem"));
  const std::string good_pub = read_text(crypto_data("ed25519_openssl_public.pem"));
  const std::string cases[] = {
      "",
      "hello",
      "-----BEGIN PRIVATE KEY-----\n!!!!not base64!!!!\n-----END PRIVATE KEY-----\n",
      "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIMGuxcng\n-----END PRIVATE KEY-----\n",
      good.substr(0, good.size() / 2),
      std::string(1000, '\0'),
  };
  for (const std::string& text : cases) {
    CAPTURE(text);
    CHECK(ed25519_secret_key_from_pem(text).error().code == ErrorCode::bad_encoding);
    CHECK(ed25519_public_key_from_pem(text).error().code == ErrorCode::bad_encoding);
  }
  CHECK(ed25519_public_key_from_pem(good_pub.substr(0, 40)).error().code ==
        ErrorCode::bad_encoding);
}

TEST_CASE("pem: other key types and roles are refused as bad_encoding") {
  for (const char* name :
       {"x25519_private.pem", "p256_private.pem", "ed25519_openssl_public.pem"}) {
    CAPTURE(name);
    const auto key = load_ed25519_secret_key(crypto_data(name));
    REQUIRE_FALSE(key);
    CHECK(key.error().code == ErrorCode::bad_encoding);
  }
  for (const char* name : {"x25519_public.pem", "p256_public.pem", "ed25519_openssl_private.pem"}) {
    CAPTURE(name);
    const auto key = load_ed25519_public_key(crypto_data(name));
    REQUIRE_FALSE(key);
    CHECK(key.error().code == ErrorCode::bad_encoding);
  }
}

TEST_CASE("pem: an encrypted private key is refused without prompting") {
  const auto key = load_ed25519_secret_key(crypto_data("ed25519_encrypted_private.pem"));
  REQUIRE_FALSE(key);
  CHECK(key.error().code == ErrorCode::bad_encoding);
}

TEST_CASE("pem: a missing file or a directory is io_error, an oversized file too_large") {
  TempDir dir;
  CHECK(load_ed25519_secret_key(dir.file("absent.pem")).error().code == ErrorCode::io_error);
  CHECK(load_ed25519_public_key(dir.file("absent.pem")).error().code == ErrorCode::io_error);
  CHECK(load_ed25519_public_key(dir.path()).error().code == ErrorCode::io_error);
  write_text(dir.file("huge.pem"), std::string(kMaxKeyFileBytes + 1, 'A'));
  CHECK(load_ed25519_secret_key(dir.file("huge.pem")).error().code == ErrorCode::too_large);
  CHECK(save_ed25519_secret_key(dir.file("no/such/dir.pem"), generate_ed25519().secret_key)
            .error()
            .code == ErrorCode::io_error);
}

// ----- comparison -----

TEST_CASE("constant_time_equal compares contents and lengths") {
  const Bytes a = from_hex("0102030405");
  const Bytes b = from_hex("0102030405");
  const Bytes c = from_hex("0102030406");
  CHECK(constant_time_equal(a, b));
  CHECK_FALSE(constant_time_equal(a, c));
  CHECK_FALSE(constant_time_equal(a, ByteSpan(a).first(4)));
  CHECK(constant_time_equal({}, {}));
}

}  // namespace
}  // namespace edgefed
