// Writes the seed corpora of fuzz_artifact (artifacts without digest and signature) and
// fuzz_secagg_messages (one frame per message type).
// Usage: make_fuzz_seeds tests/data/fuzz. Re-run after a format change and commit.
#include "fuzz_artifact_key.hpp"

#include "edgefed/common/artifact.hpp"
#include "edgefed/secagg/messages.hpp"

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

void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_secagg_seeds(const std::string& dir) {
  using namespace secagg;
  SessionId sid{};
  sid.fill(0x11);
  SessionParams p;
  p.n = 10;
  p.k = 4;
  p.t = 3;
  p.min_survivors = 3;
  p.vector_length = 8;
  secagg::X25519PublicKey key;
  key.bytes.fill(9);
  ShamirShare share{3, {1, 2, 3, 4, 5}};
  const std::vector<std::pair<std::string, Result<Bytes>>> frames = {
      {"announce", secagg::encode_frame(ServerMessage(SessionAnnounce{sid, p, 2}))},
      {"neighbour_keys", secagg::encode_frame(ServerMessage(NeighbourKeys{sid, {}, {{2, key, key, std::nullopt, std::nullopt}}}))},
      {"forward_shares", secagg::encode_frame(ServerMessage(ForwardShares{sid, {{3, Bytes(112, 7)}}}))},
      {"survivors", secagg::encode_frame(ServerMessage(SurvivorsView{sid, Bytes{0xFF, 0x03}}))},
      {"unmask_request", secagg::encode_frame(ServerMessage(UnmaskRequest{sid, {4}, {{5, Ed25519Signature{}}}}))},
      {"advertise_keys", secagg::encode_frame(ClientMessage(AdvertiseKeys{sid, key, key, std::nullopt, std::nullopt}))},
      {"share_keys", secagg::encode_frame(ClientMessage(ShareKeys{sid, {}, {{1, Bytes(112, 5)}, {4, Bytes(112, 6)}}}))},
      {"masked_input", secagg::encode_frame(ClientMessage(MaskedInput{sid, Bytes(32, 0xAA)}))},
      {"unmask_response", secagg::encode_frame(ClientMessage(UnmaskResponse{sid, {{4, ShareKind::mask_key, share}}}))},
      {"abort", secagg::encode_frame(ClientMessage(Abort{sid, "deadline"}))},
  };
  for (const auto& [name, bytes] : frames) write_file(dir + "/" + name, bytes.value());
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
    write_file(std::string(argv[1]) + "/fuzz_artifact/" + name, file);
  }
  write_secagg_seeds(std::string(argv[1]) + "/fuzz_secagg_messages");
  std::printf("wrote seeds under %s\n", argv[1]);
  return 0;
}
