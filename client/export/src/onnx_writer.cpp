#include "edgefed/export/onnx.hpp"

namespace edgefed::exporter {

Result<Bytes> write_onnx(const runtime::Graph&, const OnnxOptions&) {
  return fail(ErrorCode::invalid_argument, "ONNX export: not built yet");
}

}  // namespace edgefed::exporter
