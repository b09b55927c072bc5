// Fuzz target: the artifact reader behind the signature. The input is an artifact without
// its digest and signature; the target fixes the length field, appends a valid SHA-256 and
// signs with a fixed test key, so mutations reach the table parser and the tensor checks as
// if a buggy or compromised signer had produced them. read_artifact must refuse cleanly or
// return tensors that pass validation; it must never crash, hang or over-allocate.
#include "fuzz_artifact_key.hpp"

#include "edgefed/common/artifact.hpp"

#include <cstdlib>
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edgefed;
  static const Ed25519SecretKey key = fuzz::artifact_key();
  static const Ed25519PublicKey trusted = derive_public_key(key);
  if (size < 20 || size > (1u << 20)) return 0;
  Bytes file(data, data + size);
  const std::uint64_t total = size + 96;
  for (int i = 0; i < 8; ++i) file[12 + i] = static_cast<std::uint8_t>(total >> (8 * i));
  const Sha256Digest digest = sha256(file);
  file.insert(file.end(), digest.begin(), digest.end());
  Bytes to_sign(kArtifactSignatureLabel, kArtifactSignatureLabel + kArtifactSignatureLabelBytes);
  to_sign.insert(to_sign.end(), digest.begin(), digest.end());
  const Ed25519Signature sig = sign(key, to_sign);
  file.insert(file.end(), sig.bytes.begin(), sig.bytes.end());

  ArtifactReadOptions options;
  options.limits.max_bytes = 2u << 20;
  options.limits.max_elements_per_tensor = 1u << 20;
  auto artifact = read_artifact(file, trusted, options);
  if (!artifact) return 0;
  for (const NamedTensor& t : artifact->tensors) {
    if (!decode(t.tensor, options.limits.max_elements_per_tensor)) std::abort();
  }
  return 0;
}
