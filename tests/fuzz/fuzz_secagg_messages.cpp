// Fuzz target: every SecAgg message decoder on arbitrary frames must refuse cleanly or
// produce a message that re-encodes to an equivalent body; never crash or over-allocate.
#include "edgefed/common/wire.hpp"
#include "edgefed/secagg/messages.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edgefed;
  DecodeLimits limits;
  limits.max_frame_bytes = 1u << 20;
  auto env = decode_envelope(ByteSpan(data, size), limits);
  if (!env) return 0;
  if (auto m = secagg::decode_client_message(env->type, env->body)) {
    auto again = secagg::decode_client_message(env->type, secagg::encode_body(*m));
    if (!again || again->index() != m->index()) std::abort();
  }
  if (auto m = secagg::decode_server_message(env->type, env->body)) {
    auto again = secagg::decode_server_message(env->type, secagg::encode_body(*m));
    if (!again || again->index() != m->index()) std::abort();
  }
  return 0;
}
