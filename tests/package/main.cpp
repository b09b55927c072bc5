// An application built against the *installed* package: the device SDK (edgefed::client)
// and the C ABI, as firmware or an app would link them.
#include <edgefed/client.hpp>
#include <edgefed/client_c.h>
#include <edgefed/common/wire.hpp>

#include <cstdio>
#include <cstring>

int main() {
  edgefed::Envelope envelope;
  envelope.type = "hello";
  envelope.body = {{"sdk", "package-example"}};
  auto frame = edgefed::encode_envelope(envelope);
  if (!frame || !edgefed::decode_envelope(*frame)) return 1;

  // The SDK's config parser and factory: a missing model key is a clear error, not a crash.
  auto config = edgefed::ClientConfig::from_json(
      {{"tls", {{"cert", "device.pem"}, {"key", "device.key.pem"}}}, {"state_dir", "/tmp/edgefed-package-example"},
       {"model_public_key", "/nonexistent/model.pub"}});
  if (!config) return 1;
  edgefed::data::Dataset data;
  data.pixels.assign(28 * 28, 0.5f);
  data.labels = {3};
  auto client = edgefed::Client::create(*config, data);
  if (client || client.error().code != edgefed::ErrorCode::io_error) return 1;

  // The C ABI reports bad configs through its error buffer.
  char err[256] = {0};
  edgefed_data_source source = {1, 28, 28, 1, nullptr, nullptr};
  if (edgefed_client_create("{}", &source, err, sizeof err) != nullptr || std::strlen(err) == 0) return 1;

  std::printf("edgefed package OK: %zu-byte frame; SDK says: %s\n", frame->size(), client.error().message().c_str());
  return 0;
}
