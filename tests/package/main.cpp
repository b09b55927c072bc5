// Links edgefed::common from the installed package and round-trips one wire envelope.
#include <edgefed/common/wire.hpp>

#include <cstdio>

int main() {
  edgefed::Envelope envelope;
  envelope.type = "hello";
  envelope.body = {{"sdk", "package-example"}};
  auto frame = edgefed::encode_envelope(envelope);
  if (!frame) return 1;
  auto decoded = edgefed::decode_envelope(*frame);
  if (!decoded || decoded->body["sdk"] != "package-example") {
    std::fprintf(stderr, "round trip failed\n");
    return 1;
  }
  std::printf("edgefed package OK: %zu-byte frame\n", frame->size());
  return 0;
}
