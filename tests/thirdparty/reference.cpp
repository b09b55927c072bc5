// edgefed_reference: our interpreter's answers on the first N Fashion-MNIST test images, as the
// raw files the third-party checks (armnn_check, tflite_check.js, ort_check.js) read and
// compare.py compares. Not a test by itself; run_checks.sh drives it.
//
//   edgefed_reference --graph G.efm --public_key K.pub [--data_dir D] --n N --io float|int8 --out DIR
//
// Files written into DIR (little-endian, row-major, image i after image i − 1):
//   images.f32   N × H × W × C float32   the images as the graph takes them (channels last)
//   labels.u8    N uint8                 the class ids
//   ours.f32     N × K float32           our logits
//   images.i8    N × H × W × C int8      --io int8: the codes our QUANTIZE op made of each image
//                                        (the graph's input scale and zero point)
//   ours.i8      N × K int8              --io int8: our int8 logits, before DEQUANTIZE
//   meta.json    {"n", "k", "input_shape", "int8", "input_scale", "input_zero_point",
//                 "output_scale", "output_zero_point", "accuracy", "seconds_per_inference"}
//                (int8: the graph is int8; the scales and zero points of its int8 image and
//                logits, null for a float graph; accuracy: our top-1 on the N images)
// Exit codes: 0 done, 1 error (stderr names the file or the graph), 2 bad usage.
#include "edgefed/common/artifact.hpp"
#include "edgefed/common/config.hpp"
#include "edgefed/common/crypto.hpp"
#include "edgefed/data/fashion_mnist.hpp"
#include "edgefed/runtime/interpreter.hpp"
#include "edgefed/runtime/model_file.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <span>

namespace {

using namespace edgefed;
using json = nlohmann::json;
namespace fs = std::filesystem;

// The int8 graph's edges: the QUANTIZE that reads the float image and the DEQUANTIZE that
// writes the float logits. Their int8 tensors are what an int8-io export takes and returns.
struct Int8Edges {
  int input = -1;   // int8 image tensor
  int output = -1;  // int8 logits tensor
};

Result<Int8Edges> int8_edges(const runtime::Graph& g) {
  Int8Edges e;
  for (const runtime::Op& op : g.ops) {
    if (op.kind == runtime::OpKind::quantize && op.inputs.at(0) == g.input) e.input = op.output;
    if (op.kind == runtime::OpKind::dequantize && op.output == g.output) e.output = op.inputs.at(0);
  }
  if (e.input < 0 || e.output < 0)
    return fail(ErrorCode::bad_value, "graph: an int8 graph without QUANTIZE of its input or DEQUANTIZE of its logits");
  return e;
}

template <typename T>
Status write_raw(const fs::path& path, std::span<const T> values) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size_bytes()));
  if (!out) return fail(ErrorCode::io_error, "cannot write " + path.string());
  return {};
}

json quant_json(const runtime::Tensor& t, const char* scale_key, const char* zp_key) {
  return json{{scale_key, t.quant.scales.at(0)}, {zp_key, t.quant.zero_points.at(0)}};
}

// Channels-first image (the Dataset layout) to channels last (the graph's).
void to_channels_last(std::span<const float> chw, std::size_t c, std::size_t hw, std::span<float> hwc) {
  for (std::size_t ch = 0; ch < c; ++ch)
    for (std::size_t p = 0; p < hw; ++p) hwc[p * c + ch] = chw[ch * hw + p];
}

Result<runtime::Graph> load_graph(const Config& c) {
  EDGEFED_ASSIGN_OR_RETURN(const Ed25519PublicKey key, load_ed25519_public_key(c.get<std::string>("public_key")));
  EDGEFED_ASSIGN_OR_RETURN(const Bytes bytes, load_file(c.get<std::string>("graph"), std::size_t{256} << 20));
  EDGEFED_ASSIGN_OR_RETURN(runtime::GraphFile file, runtime::read_graph_artifact(bytes, key));
  return std::move(file.graph);
}

// Everything the images yield, image i after image i − 1.
struct Answers {
  std::vector<float> images, logits;
  std::vector<std::int8_t> images_i8, logits_i8;  // int8 io only
  std::size_t correct = 0;
  double seconds = 0;  // in invoke
};

// Runs every image; with `edges` (int8 io) also keeps the int8 image and logits codes.
Result<Answers> answer(runtime::Interpreter& interp, const data::Dataset& test, const Int8Edges* edges) {
  const std::size_t n = test.size(), d = interp.input_size(), k = interp.output_size();
  Answers a;
  a.images.resize(n * d);
  a.logits.resize(n * k);
  for (std::size_t i = 0; i < n; ++i) {
    const std::span<float> x(a.images.data() + i * d, d), y(a.logits.data() + i * k, k);
    to_channels_last(test.image(i), test.channels, test.rows * test.cols, x);
    const auto t0 = std::chrono::steady_clock::now();
    EDGEFED_TRY(interp.invoke(x, y));
    a.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    a.correct += static_cast<std::size_t>(std::max_element(y.begin(), y.end()) - y.begin()) == test.labels[i];
    if (edges) {
      const auto xq = interp.int8_tensor(edges->input), yq = interp.int8_tensor(edges->output);
      if (xq.size() != d || yq.size() != k) return fail(ErrorCode::bad_value, "graph: int8 image or logits not readable");
      a.images_i8.insert(a.images_i8.end(), xq.begin(), xq.end());
      a.logits_i8.insert(a.logits_i8.end(), yq.begin(), yq.end());
    }
  }
  return a;
}

json meta_json(const runtime::Graph& g, const Int8Edges& edges, const Answers& a, std::size_t n, std::size_t k) {
  const double count = n ? static_cast<double>(n) : 1.0;
  json meta{{"n", n},
            {"k", k},
            {"input_shape", g.tensors.at(static_cast<std::size_t>(g.input)).shape},
            {"int8", g.is_int8()},
            {"input_scale", nullptr},
            {"input_zero_point", nullptr},
            {"output_scale", nullptr},
            {"output_zero_point", nullptr},
            {"accuracy", static_cast<double>(a.correct) / count},
            {"seconds_per_inference", a.seconds / count}};
  if (g.is_int8()) {
    meta.update(quant_json(g.tensors.at(static_cast<std::size_t>(edges.input)), "input_scale", "input_zero_point"));
    meta.update(quant_json(g.tensors.at(static_cast<std::size_t>(edges.output)), "output_scale", "output_zero_point"));
  }
  return meta;
}

Status write_answers(const fs::path& out, const Answers& a, const data::Dataset& test, const json& meta) {
  fs::create_directories(out);
  EDGEFED_TRY(write_raw<float>(out / "images.f32", a.images));
  EDGEFED_TRY(write_raw<std::uint8_t>(out / "labels.u8", test.labels));
  EDGEFED_TRY(write_raw<float>(out / "ours.f32", a.logits));
  if (!a.images_i8.empty()) {
    EDGEFED_TRY(write_raw<std::int8_t>(out / "images.i8", a.images_i8));
    EDGEFED_TRY(write_raw<std::int8_t>(out / "ours.i8", a.logits_i8));
  }
  std::ofstream f(out / "meta.json");
  f << meta.dump() << '\n';
  if (!f) return fail(ErrorCode::io_error, "cannot write " + (out / "meta.json").string());
  return {};
}

Status run(const Config& c) {
  const std::string io = c.get<std::string>("io");
  if (io != "float" && io != "int8") return fail(ErrorCode::invalid_argument, "--io must be float or int8, got " + io);
  EDGEFED_ASSIGN_OR_RETURN(const runtime::Graph g, load_graph(c));
  if (io == "int8" && !g.is_int8())
    return fail(ErrorCode::invalid_argument, "--io int8 needs an int8 graph; " + c.get<std::string>("graph") + " is float");
  Int8Edges edges;
  if (g.is_int8()) {
    EDGEFED_ASSIGN_OR_RETURN(edges, int8_edges(g));
  }
  EDGEFED_ASSIGN_OR_RETURN(const data::Dataset test, data::load_fashion_mnist(c.get<std::string>("data_dir"),
                                                                              data::Split::test, c.get<std::uint64_t>("n")));
  const auto dim = [](std::size_t v) { return static_cast<std::int64_t>(v); };
  if (g.tensors.at(static_cast<std::size_t>(g.input)).shape != Shape{1, dim(test.rows), dim(test.cols), dim(test.channels)})
    return fail(ErrorCode::bad_value, "graph input shape does not match the Fashion-MNIST images");

  runtime::InterpreterOptions options;
  options.preserve_all_tensors = true;  // int8_tensor must see the image and logits codes
  EDGEFED_ASSIGN_OR_RETURN(runtime::Interpreter interp, runtime::Interpreter::create(g, options));
  EDGEFED_ASSIGN_OR_RETURN(const Answers a, answer(interp, test, io == "int8" ? &edges : nullptr));
  const json meta = meta_json(g, edges, a, test.size(), interp.output_size());
  EDGEFED_TRY(write_answers(c.get<std::string>("out"), a, test, meta));
  std::printf("%s\n", meta.dump().c_str());
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  ConfigSpec spec("edgefed_reference", "our interpreter's logits on Fashion-MNIST test images, as raw files");
  spec.add("graph", ConfigType::string, nullptr, "deployable graph artifact (edgefed-model quantize)")
      .add("public_key", ConfigType::string, nullptr, "Ed25519 public key that signed it")
      .add("data_dir", ConfigType::string, data::kDefaultFashionMnistDir, "Fashion-MNIST directory")
      .add("n", ConfigType::unsigned_integer, 10000, "first N test images")
      .add("io", ConfigType::string, "float", "float | int8 (also the int8 image and logits codes)")
      .add("out", ConfigType::string, nullptr, "output directory");
  int code = 0;
  const auto c = parse_command_line_or_report(spec, argc, argv, code);
  if (!c) return code;
  if (const Status st = run(*c); !st) {
    std::fprintf(stderr, "edgefed_reference: %s\n", st.error().message().c_str());
    return st.error().condition() == ErrorCondition::invalid_argument ? 2 : 1;
  }
  return 0;
}
