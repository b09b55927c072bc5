#include "edgefed/export/deploy.hpp"

#include "edgefed/common/artifact.hpp"
#include "edgefed/compress/lower.hpp"
#include "edgefed/export/onnx.hpp"
#include "edgefed/export/tflite.hpp"
#include "edgefed/runtime/model_file.hpp"

#include <sstream>

namespace edgefed::exporter {

Result<std::vector<std::string>> parse_formats(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string f; std::getline(in, f, ',');) {
    if (f.empty()) continue;
    if (f != "tflite" && f != "onnx") {
      return fail(ErrorCode::invalid_argument, "export format '" + f + "' is not one of tflite, onnx");
    }
    out.push_back(f);
  }
  return out;
}

Result<std::vector<std::filesystem::path>> export_deployable(const ParameterSet& values, std::int64_t image_size,
                                                             std::uint64_t version, const data::Dataset* calibration,
                                                             const Ed25519SecretKey& key, const DeployOptions& options) {
  for (const std::string& f : options.formats) EDGEFED_TRY(parse_formats(f));
  if (options.int8 && (!calibration || calibration->empty())) {
    return fail(ErrorCode::invalid_argument, "export: int8 needs calibration images");
  }
  EDGEFED_ASSIGN_OR_RETURN(runtime::Graph graph, compress::lower_default_cnn(values, image_size));
  if (options.int8) {
    EDGEFED_ASSIGN_OR_RETURN(const compress::ActivationRanges ranges,
                             compress::calibrate(graph, *calibration, options.calibration));
    EDGEFED_ASSIGN_OR_RETURN(graph, compress::quantize_graph(graph, ranges));
  }
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return fail(ErrorCode::io_error, "export: cannot create " + options.dir.string() + ": " + ec.message());
  const std::filesystem::path stem = options.dir / ("model-v" + std::to_string(version));
  std::vector<std::filesystem::path> written;
  const auto write = [&](const std::string& extension, const Bytes& bytes) -> Status {
    std::filesystem::path path = stem;
    path += extension;
    EDGEFED_TRY(save_artifact(path, bytes));
    written.push_back(std::move(path));
    return {};
  };
  EDGEFED_ASSIGN_OR_RETURN(const Bytes artifact,
                           runtime::write_graph_artifact(graph, key, version, {{"exported_by", "export_deployable"}}));
  EDGEFED_TRY(write(".efm", artifact));
  for (const std::string& format : options.formats) {
    if (format == "tflite") {
      EDGEFED_ASSIGN_OR_RETURN(const Bytes bytes, write_tflite(graph));
      EDGEFED_TRY(write(".tflite", bytes));
    } else {
      EDGEFED_ASSIGN_OR_RETURN(const Bytes bytes, write_onnx(graph));
      EDGEFED_TRY(write(".onnx", bytes));
    }
  }
  return written;
}

}  // namespace edgefed::exporter
