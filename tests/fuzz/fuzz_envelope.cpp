// Fuzz target: decode_envelope and decode_parameters on arbitrary bytes must never crash,
// hang or leak, and anything they accept must re-encode and decode to the same envelope.
#include "edgefed/common/wire.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edgefed;
  DecodeLimits limits;
  limits.max_frame_bytes = 1u << 20;
  auto env = decode_envelope(ByteSpan(data, size), limits);
  if (!env) return 0;
  if (env->body.contains("tensors")) (void)decode_parameters(env->body["tensors"], "body.tensors", 1u << 20);
  auto again = encode_envelope(*env);
  if (!again) std::abort();
  auto back = decode_envelope(*again, limits);
  if (!back || back->body != env->body || back->type != env->type || back->seq != env->seq) std::abort();
  return 0;
}
