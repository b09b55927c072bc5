// Exporting a global model while federated training runs (edgefed-server and edgefed-sim
// with --export.every N): the model's deployable graph — int8 by post-training quantization
// on a calibration set, or float32 — as a signed graph artifact plus the files other runtimes
// run (.tflite, .onnx), all named after the model version:
//
//   <dir>/model-v<version>.efm      signed deployable graph (runtime/model_file.hpp)
//   <dir>/model-v<version>.tflite   TFLite flatbuffer (float in, float logits out)
//   <dir>/model-v<version>.onnx     ONNX (QDQ for int8)
//
// No LibTorch: everything works on the model's tensors (what the server aggregates).
#pragma once

#include "edgefed/common/crypto.hpp"
#include "edgefed/common/parameter_set.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/compress/ptq.hpp"
#include "edgefed/data/dataset.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace edgefed::exporter {

struct DeployOptions {
  std::filesystem::path dir = "exports";
  std::vector<std::string> formats = {"tflite"};  // any of "tflite", "onnx"; the .efm is always written
  bool int8 = true;                               // PTQ with `calibration`; false: float32 graph
  compress::CalibrationConfig calibration;
};

// invalid_argument for an unknown format, or int8 without calibration images; the lowering,
// quantization and exporters' errors; io_error when a file cannot be written. Files are
// written atomically (a reader sees the old file or the new one).
Result<std::vector<std::filesystem::path>> export_deployable(const ParameterSet& model_values, std::int64_t image_size,
                                                             std::uint64_t model_version,
                                                             const data::Dataset* calibration,
                                                             const Ed25519SecretKey& key, const DeployOptions& options);

// Parses a comma-separated format list ("tflite,onnx"); invalid_argument naming an unknown one.
Result<std::vector<std::string>> parse_formats(const std::string& list);

}  // namespace edgefed::exporter
