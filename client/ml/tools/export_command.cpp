// edgefed-model export: placeholder until the exporters land.
#include "tool_util.hpp"

namespace edgefed::tool {

int run_export(int, const char* const[]) {
  return fail_with(fail(ErrorCode::invalid_argument, "export: not built yet"));
}

}  // namespace edgefed::tool
