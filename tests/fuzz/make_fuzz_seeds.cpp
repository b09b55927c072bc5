// Writes the seed corpus of fuzz_artifact (artifacts without digest and signature).
// Usage: make_fuzz_seeds OUT_DIR. Re-run after an artifact format change and commit.
#include "fuzz_artifact_key.hpp"

#include "edgefed/common/artifact.hpp"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

using namespace edgefed;

namespace {
NamedTensor tensor(std::string name, Shape shape, Encoding encoding) {
  std::vector<float> values(static_cast<std::size_t>(checked_numel(shape).value()));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = 0.25f * static_cast<float>(i % 9) - 1.0f;
  return NamedTensor{std::move(name), encode(shape, values, encoding).value()};
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const Ed25519SecretKey key = fuzz::artifact_key();
  std::vector<std::pair<std::string, ModelArtifact>> seeds;
  seeds.push_back({"empty", ModelArtifact{1, "", {}}});
  seeds.push_back({"float_bias", ModelArtifact{2, "{\"arch\":\"cnn\"}", {tensor("fc.bias", {10}, Encoding::float32)}}});
  seeds.push_back({"mixed", ModelArtifact{3, "{}",
                                          {tensor("conv.weight", {4, 1, 3, 3}, Encoding::int8_symmetric_per_channel),
                                           tensor("act", {6}, Encoding::int8_asymmetric_per_tensor),
                                           tensor("adapter", {3, 5}, Encoding::int4_symmetric_per_channel)}}});
  for (const auto& [name, artifact] : seeds) {
    Bytes file = write_artifact(artifact, key).value();
    file.resize(file.size() - 96);  // the target appends digest and signature itself
    std::ofstream(std::string(argv[1]) + "/" + name, std::ios::binary)
        .write(reinterpret_cast<const char*>(file.data()), static_cast<std::streamsize>(file.size()));
  }
  std::printf("wrote %zu seeds\n", seeds.size());
  return 0;
}
