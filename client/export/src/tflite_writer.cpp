#include "edgefed/export/tflite.hpp"

namespace edgefed::exporter {

Result<Bytes> write_tflite(const runtime::Graph&, const TfliteOptions&) {
  return fail(ErrorCode::invalid_argument, "TFLite export: not built yet");
}

}  // namespace edgefed::exporter
