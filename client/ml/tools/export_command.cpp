// edgefed-model export: a model or deployable graph as a file other runtimes run.
#include "edgefed/common/artifact.hpp"
#include "edgefed/common/config.hpp"
#include "edgefed/export/onnx.hpp"
#include "edgefed/export/tflite.hpp"
#include "tool_util.hpp"

#include <iostream>

namespace edgefed::tool {

namespace {

using json = nlohmann::json;

json tensor_json(const exporter::TfliteTensorInfo& t) {
  json j{{"name", t.name}, {"type", t.type}, {"shape", t.shape}};
  if (t.scales.size() == 1 && t.zero_points.size() == 1) {
    j["scale"] = t.scales[0];
    j["zero_point"] = t.zero_points[0];
  }
  return j;
}

// ONNX keeps the graph's input and output (onnx.hpp).
json graph_tensor_json(const runtime::Graph& g, int index) {
  const runtime::Tensor& t = g.tensors[static_cast<std::size_t>(index)];
  return {{"name", t.name}, {"shape", t.shape}};
}

// The options that make sense together, checked before anything is read.
Status check_options(const std::string& format, const std::string& io, bool softmax) {
  if (format != "tflite" && format != "onnx") {
    return fail(ErrorCode::invalid_argument, "format '" + format + "' is not one of tflite, onnx");
  }
  if (io != "float" && io != "int8") {
    return fail(ErrorCode::invalid_argument, "io '" + io + "' is not one of float, int8");
  }
  if (format == "onnx" && (io == "int8" || softmax)) {
    return fail(ErrorCode::invalid_argument,
                "--io int8 and --softmax are tflite options; an ONNX export takes the float image and returns "
                "float logits");
  }
  return {};
}

}  // namespace

int run_export(int argc, const char* const argv[]) {
  ConfigSpec spec("edgefed-model export",
                  "a float model (its lowered float32 graph) or a deployable graph (float32 or int8) as a TFLite "
                  "flatbuffer (TFLite, TFLite Micro, Arm NN) or an ONNX model (QDQ for int8); nothing is written "
                  "when the graph cannot be exported as it is");
  spec.add("model", ConfigType::string, "models/backbone.efm", "model artifact or deployable graph")
      .add("public_key", ConfigType::string, "keys/model.pem.pub", "Ed25519 public key that signed it")
      .add("format", ConfigType::string, "tflite", "tflite | onnx")
      .add("out", ConfigType::string, "", "output file; empty: --model with the extension .tflite or .onnx")
      .add("io", ConfigType::string, "float",
           "tflite: float (takes the float image, returns float logits) | int8 (int8 graphs: takes the int8 "
           "image, returns int8 logits; the edge QUANTIZE / DEQUANTIZE are left out)")
      .add("softmax", ConfigType::boolean, false, "tflite: end with SOFTMAX (probabilities instead of logits)");
  int code = 0;
  auto c = parse_command_line_or_report(spec, argc, argv, code);
  if (!c) return code;
  const std::string format = c->get<std::string>("format");
  const std::string io = c->get<std::string>("io");
  const bool softmax = c->get<bool>("softmax");
  if (auto st = check_options(format, io, softmax); !st) return fail_with(st.error());
  const std::string model_path = c->get<std::string>("model");
  std::filesystem::path out = c->get<std::string>("out");
  if (out.empty()) out = std::filesystem::path(model_path).replace_extension(format);

  auto file = open_model_option(*c);
  if (!file) return fail_with(file.error());
  const runtime::Graph& g = file->graph;

  json result{{"model", model_path}, {"graph", g.is_int8() ? "int8" : "float32"}, {"format", format}, {"io", io}};
  Result<Bytes> bytes = Bytes{};
  if (format == "tflite") {
    exporter::TfliteOptions options;
    options.int8_io = io == "int8";
    options.softmax = softmax;
    bytes = exporter::write_tflite(g, options);
    if (!bytes) return fail_with(bytes.error());
    auto info = exporter::inspect_tflite(*bytes);
    if (!info) return fail_with(info.error());
    result["softmax"] = softmax;
    result["ops"] = info->operators;
    result["input"] = tensor_json(info->input);
    result["output"] = tensor_json(info->output);
  } else {
    bytes = exporter::write_onnx(g);
    if (!bytes) return fail_with(bytes.error());
    result["input"] = graph_tensor_json(g, g.input);
    result["output"] = graph_tensor_json(g, g.output);
  }
  if (std::error_code ec; out.has_parent_path() && !std::filesystem::create_directories(out.parent_path(), ec) && ec) {
    return fail_with(fail(ErrorCode::io_error, "cannot create " + out.parent_path().string() + ": " + ec.message()));
  }
  if (auto st = save_artifact(out, *bytes); !st) return fail_with(st.error());
  result["out"] = out.string();
  result["bytes"] = bytes->size();
  std::cout << result.dump() << std::endl;
  return 0;
}

}  // namespace edgefed::tool
