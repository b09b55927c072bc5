#include "edgefed/compress/lower.hpp"
#include "edgefed/compress/ptq.hpp"
#include "edgefed/export/tflite.hpp"

#include "tflite_subset_generated.h"

#include <catch2/catch.hpp>

#include "edgefed_catch_helpers.hpp"
#include "edgefed_cnn_fixtures.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <set>

using namespace edgefed;
using namespace edgefed::exporter;
using runtime::DType;
using runtime::Graph;
using runtime::Op;
using runtime::OpKind;
namespace tfl = edgefed::tflite;

static_assert(std::endian::native == std::endian::little, "constants are compared with the file's little-endian bytes");

using edgefed::testing::random_cnn_state;
using edgefed::testing::random_images;

namespace {

// The default CNN lowered (float32) and quantized (int8) by the real pipeline.
struct Graphs {
  Graph f;
  Graph q;
};

const Graphs& graphs() {
  static const Graphs g = [] {
    auto f = compress::lower_default_cnn(random_cnn_state({8, 16, 16}));
    REQUIRE_OK(f);
    compress::CalibrationConfig config;
    config.samples = 20;
    auto ranges = compress::calibrate(*f, random_images(20), config);
    REQUIRE_OK(ranges);
    auto q = compress::quantize_graph(*f, *ranges);
    REQUIRE_OK(q);
    return Graphs{std::move(*f), std::move(*q)};
  }();
  return g;
}

const runtime::Tensor& graph_tensor(const Graph& g, int i) { return g.tensors[static_cast<std::size_t>(i)]; }

// Verifies and unpacks a written file, as a reader of the format would.
std::unique_ptr<tfl::ModelT> parse(const Bytes& bytes) {
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  REQUIRE(tfl::VerifyModelBuffer(verifier));
  REQUIRE(bytes.size() > 8);
  CHECK(std::string(reinterpret_cast<const char*>(bytes.data()) + 4, 4) == "TFL3");
  auto m = tfl::UnPackModel(bytes.data());
  REQUIRE(m);
  REQUIRE(m->subgraphs.size() == 1);
  return m;
}

std::unique_ptr<tfl::ModelT> export_ok(const Graph& g, const TfliteOptions& options = {}) {
  auto bytes = write_tflite(g, options);
  REQUIRE_OK(bytes);
  return parse(*bytes);
}

const tfl::SubGraphT& main_graph(const tfl::ModelT& m) { return *m.subgraphs[0]; }
const tfl::TensorT& file_tensor(const tfl::ModelT& m, int i) {
  return *main_graph(m).tensors.at(static_cast<std::size_t>(i));
}
const tfl::OperatorCodeT& code_of(const tfl::ModelT& m, const tfl::OperatorT& op) {
  return *m.operator_codes.at(op.opcode_index);
}

// Index of the file tensor called `name` (names are unique in an export); -1 when absent.
int find(const tfl::ModelT& m, const std::string& name) {
  const auto& ts = main_graph(m).tensors;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    if (ts[i]->name == name) return static_cast<int>(i);
  }
  return -1;
}

std::vector<std::uint8_t> raw_bytes(const runtime::Tensor& t) {
  std::vector<std::uint8_t> out;
  const auto append = [&](const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    out.insert(out.end(), b, b + n);
  };
  append(t.f32.data(), t.f32.size() * 4);
  append(t.i8.data(), t.i8.size());
  append(t.i32.data(), t.i32.size() * 4);
  return out;
}

// The operator table of tflite.hpp, restated: builtin and version per graph op kind.
std::pair<tfl::BuiltinOperator, int> expected_code(OpKind kind, bool int8) {
  switch (kind) {
    case OpKind::quantize: return {tfl::BuiltinOperator_QUANTIZE, 1};
    case OpKind::dequantize: return {tfl::BuiltinOperator_DEQUANTIZE, 2};
    case OpKind::conv2d: return {tfl::BuiltinOperator_CONV_2D, int8 ? 3 : 1};
    case OpKind::max_pool2d: return {tfl::BuiltinOperator_MAX_POOL_2D, int8 ? 2 : 1};
    case OpKind::add: return {tfl::BuiltinOperator_ADD, int8 ? 2 : 1};
    case OpKind::reshape: return {tfl::BuiltinOperator_RESHAPE, 1};
    case OpKind::fully_connected: return {tfl::BuiltinOperator_FULLY_CONNECTED, int8 ? 4 : 1};
  }
  FAIL("unknown op kind");
  return {};
}

tfl::TensorType expected_type(DType d) {
  switch (d) {
    case DType::float32: return tfl::TensorType_FLOAT32;
    case DType::int8: return tfl::TensorType_INT8;
    case DType::int32: return tfl::TensorType_INT32;
  }
  FAIL("unknown dtype");
  return {};
}

// A graph tensor as written: name, type, shape, quantization, and for constants the bytes.
void check_tensor(const tfl::ModelT& m, int file_index, const runtime::Tensor& t) {
  const tfl::TensorT& f = file_tensor(m, file_index);
  INFO("tensor " << t.name);
  CHECK(f.name == t.name);
  CHECK(f.type == expected_type(t.dtype));
  CHECK(std::vector<std::int64_t>(f.shape.begin(), f.shape.end()) == t.shape);
  if (t.quant.empty()) {
    CHECK(f.quantization == nullptr);
  } else {
    REQUIRE(f.quantization);
    CHECK(f.quantization->scale == t.quant.scales);
    CHECK(std::vector<std::int32_t>(f.quantization->zero_point.begin(), f.quantization->zero_point.end()) ==
          t.quant.zero_points);
    CHECK(f.quantization->quantized_dimension == 0);
  }
  if (t.constant) {
    REQUIRE(f.buffer > 0);
    CHECK(m.buffers.at(f.buffer)->data == raw_bytes(t));
  } else {
    CHECK(f.buffer == 0);
  }
}

// Every graph op (but those `skipped`) is one file op, in order, with the graph's tensors
// wired the same way, the expected code and version, and both code fields set.
void check_ops_match_graph(const tfl::ModelT& m, const Graph& g, std::vector<int> skipped = {}) {
  const auto& ops = main_graph(m).operators;
  std::size_t k = 0;
  for (std::size_t i = 0; i < g.ops.size(); ++i) {
    if (std::find(skipped.begin(), skipped.end(), static_cast<int>(i)) != skipped.end()) continue;
    const Op& op = g.ops[i];
    INFO("op " << op.name);
    REQUIRE(k < ops.size());
    const tfl::OperatorT& f = *ops[k++];
    const bool int8 = graph_tensor(g, op.inputs[0]).dtype == DType::int8;
    const auto [code, version] = expected_code(op.kind, int8);
    CHECK(code_of(m, f).builtin_code == code);
    CHECK(code_of(m, f).deprecated_builtin_code == static_cast<std::int8_t>(code));
    CHECK(code_of(m, f).version == version);
    REQUIRE(f.inputs.size() >= op.inputs.size());
    for (std::size_t j = 0; j < op.inputs.size(); ++j) check_tensor(m, f.inputs[j], graph_tensor(g, op.inputs[j]));
    REQUIRE(f.outputs.size() == 1);
    check_tensor(m, f.outputs[0], graph_tensor(g, op.output));
  }
}

const tfl::OperatorT& op_writing(const tfl::ModelT& m, const std::string& tensor_name) {
  const int t = find(m, tensor_name);
  const auto& ops = main_graph(m).operators;
  const auto it = std::find_if(ops.begin(), ops.end(), [&](const auto& op) { return op->outputs.at(0) == t; });
  INFO("the operator writing " << tensor_name);
  REQUIRE(it != ops.end());
  return **it;
}

std::string refusal(const Graph& g, const TfliteOptions& options = {}) {
  auto r = write_tflite(g, options);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::invalid_argument);
  CHECK_THAT(r.error().detail, Catch::StartsWith("TFLite export: "));
  return r.error().detail;
}

runtime::Tensor& mutable_tensor(Graph& g, const std::string& name) {
  const int i = g.find(name);
  REQUIRE(i >= 0);
  return g.tensors[static_cast<std::size_t>(i)];
}

int add_activation(Graph& g, std::string name, Shape shape, DType dtype) {
  runtime::Tensor t;
  t.name = std::move(name);
  t.shape = std::move(shape);
  t.dtype = dtype;
  if (dtype == DType::int8) t.quant = {{0.01f}, {-3}, 0};
  g.tensors.push_back(std::move(t));
  return static_cast<int>(g.tensors.size() - 1);
}

// "image" float [1,2,2,1] → quantize → reshape (int8 [1,4]) → dequantize → "logits" [1,4]
Graph tiny_int8_graph() {
  Graph g;
  const int x = add_activation(g, "image", {1, 2, 2, 1}, DType::float32);
  const int q = add_activation(g, "image.q", {1, 2, 2, 1}, DType::int8);
  const int r = add_activation(g, "flat.q", {1, 4}, DType::int8);
  const int y = add_activation(g, "logits", {1, 4}, DType::float32);
  g.ops = {{OpKind::quantize, "in", {x}, q}, {OpKind::reshape, "flat", {q}, r}, {OpKind::dequantize, "out", {r}, y}};
  g.input = x;
  g.output = y;
  return g;
}

}  // namespace

TEST_CASE("int8 graph, float I/O: a verified TFL3 file that is the graph op for op") {
  const Graph& g = graphs().q;
  const auto m = export_ok(g);
  CHECK(m->version == 3);
  CHECK(m->description == "edgefed");
  const tfl::SubGraphT& sub = main_graph(*m);
  REQUIRE(sub.operators.size() == g.ops.size());
  check_ops_match_graph(*m, g);
  // Edges: the float image in, QUANTIZE first; DEQUANTIZE last, the float logits out.
  REQUIRE(sub.inputs.size() == 1);
  REQUIRE(sub.outputs.size() == 1);
  check_tensor(*m, sub.inputs[0], graph_tensor(g, g.input));
  check_tensor(*m, sub.outputs[0], graph_tensor(g, g.output));
  CHECK(code_of(*m, *sub.operators.front()).builtin_code == tfl::BuiltinOperator_QUANTIZE);
  CHECK(code_of(*m, *sub.operators.back()).builtin_code == tfl::BuiltinOperator_DEQUANTIZE);
  CHECK(m->buffers.at(0)->data.empty());
  // Deterministic: the same graph gives the same bytes.
  CHECK(*write_tflite(g) == *write_tflite(g));
  // One OperatorCode per (builtin, version).
  std::set<std::pair<int, int>> codes;
  for (const auto& c : m->operator_codes) CHECK(codes.insert({c->builtin_code, c->version}).second);
}

TEST_CASE("int8 export follows the TFLite int8 spec: per-channel conv, per-tensor FC, biases at in × w") {
  const Graph& g = graphs().q;
  const auto m = export_ok(g);
  const tfl::TensorT& conv2_w = file_tensor(*m, find(*m, "conv2.weight"));
  CHECK(conv2_w.type == tfl::TensorType_INT8);
  CHECK(conv2_w.quantization->scale.size() == 16);
  CHECK(std::all_of(conv2_w.quantization->zero_point.begin(), conv2_w.quantization->zero_point.end(),
                    [](std::int64_t z) { return z == 0; }));
  const tfl::TensorT& head_w = file_tensor(*m, find(*m, "head.weight"));
  CHECK(head_w.quantization->scale.size() == 1);
  CHECK(head_w.quantization->zero_point == std::vector<std::int64_t>{0});

  for (const auto& op : main_graph(*m).operators) {
    const tfl::BuiltinOperator code = code_of(*m, *op).builtin_code;
    if (code != tfl::BuiltinOperator_CONV_2D && code != tfl::BuiltinOperator_FULLY_CONNECTED) continue;
    const tfl::TensorT& x = file_tensor(*m, op->inputs.at(0));
    const tfl::TensorT& w = file_tensor(*m, op->inputs.at(1));
    REQUIRE(op->inputs.size() == 3);
    const tfl::TensorT& b = file_tensor(*m, op->inputs[2]);
    INFO(file_tensor(*m, op->outputs[0]).name << " bias " << b.name);
    CHECK(b.type == tfl::TensorType_INT32);
    CHECK(b.shape == std::vector<std::int32_t>{w.shape[0]});
    REQUIRE(b.quantization);
    CHECK(b.quantization->quantized_dimension == 0);
    REQUIRE(b.quantization->scale.size() == w.quantization->scale.size());
    for (std::size_t c = 0; c < b.quantization->scale.size(); ++c) {
      CHECK(b.quantization->scale[c] == Approx(x.quantization->scale[0] * w.quantization->scale[c]).epsilon(1e-6));
      CHECK(b.quantization->zero_point[c] == 0);
    }
  }
}

TEST_CASE("bias-free adapter convolutions get an explicit zero bias") {
  for (const Graph* g : {&graphs().q, &graphs().f}) {
    const auto m = export_ok(*g);
    const bool int8 = g->is_int8();
    INFO((int8 ? "int8" : "float32"));
    int adapters = 0;
    for (const Op& op : g->ops) {
      if (op.kind != OpKind::conv2d || op.inputs.size() != 2) continue;
      ++adapters;
      INFO(op.name);
      const tfl::OperatorT& f = op_writing(*m, graph_tensor(*g, op.output).name);
      REQUIRE(f.inputs.size() == 3);
      const tfl::TensorT& b = file_tensor(*m, f.inputs[2]);
      const runtime::Tensor& w = graph_tensor(*g, op.inputs[1]);
      CHECK(b.name == op.name + ".bias");
      CHECK(b.shape == std::vector<std::int32_t>{static_cast<std::int32_t>(w.shape[0])});
      CHECK(b.type == (int8 ? tfl::TensorType_INT32 : tfl::TensorType_FLOAT32));
      const auto& data = m->buffers.at(b.buffer)->data;
      CHECK(data.size() == static_cast<std::size_t>(w.shape[0]) * 4);
      CHECK(std::all_of(data.begin(), data.end(), [](std::uint8_t v) { return v == 0; }));
      if (int8) {
        const float s_in = graph_tensor(*g, op.inputs[0]).quant.scales[0];
        REQUIRE(b.quantization);
        REQUIRE(b.quantization->scale.size() == w.quant.scales.size());
        for (std::size_t c = 0; c < w.quant.scales.size(); ++c) {
          CHECK(b.quantization->scale[c] == s_in * w.quant.scales[c]);
        }
        CHECK(b.quantization->quantized_dimension == 0);
      } else {
        CHECK(b.quantization == nullptr);
      }
    }
    CHECK(adapters == 6);  // down and up of three blocks
  }
}

TEST_CASE("operator options: SAME stride-1 conv, VALID pool, fused ReLU, reshape shape twice") {
  const Graph& g = graphs().q;
  const auto m = export_ok(g);
  for (const Op& op : g.ops) {
    INFO(op.name);
    const tfl::OperatorT& f = op_writing(*m, graph_tensor(g, op.output).name);
    const auto act = op.activation == runtime::Activation::relu ? tfl::ActivationFunctionType_RELU
                                                                 : tfl::ActivationFunctionType_NONE;
    switch (op.kind) {
      case OpKind::conv2d: {
        const auto* o = f.builtin_options.AsConv2DOptions();
        REQUIRE(o);
        CHECK(o->padding == tfl::Padding_SAME);
        CHECK((o->stride_w == 1 && o->stride_h == 1 && o->dilation_w_factor == 1 && o->dilation_h_factor == 1));
        CHECK(o->fused_activation_function == act);
        break;
      }
      case OpKind::max_pool2d: {
        const auto* o = f.builtin_options.AsPool2DOptions();
        REQUIRE(o);
        CHECK(o->padding == tfl::Padding_VALID);
        CHECK((o->stride_w == op.pool && o->stride_h == op.pool && o->filter_width == op.pool &&
               o->filter_height == op.pool));
        CHECK(o->fused_activation_function == tfl::ActivationFunctionType_NONE);
        break;
      }
      case OpKind::add: {
        const auto* o = f.builtin_options.AsAddOptions();
        REQUIRE(o);
        CHECK(o->fused_activation_function == act);
        break;
      }
      case OpKind::fully_connected: {
        const auto* o = f.builtin_options.AsFullyConnectedOptions();
        REQUIRE(o);
        CHECK(o->fused_activation_function == act);
        CHECK(o->weights_format == tfl::FullyConnectedOptionsWeightsFormat_DEFAULT);
        CHECK_FALSE(o->keep_num_dims);
        break;
      }
      case OpKind::reshape: {
        const Shape& shape = graph_tensor(g, op.output).shape;
        const std::vector<std::int32_t> dims(shape.begin(), shape.end());
        const auto* o = f.builtin_options.AsReshapeOptions();
        REQUIRE(o);
        CHECK(o->new_shape == dims);
        REQUIRE(f.inputs.size() == 2);
        const tfl::TensorT& s = file_tensor(*m, f.inputs[1]);
        CHECK(s.name == op.name + ".shape");
        CHECK(s.type == tfl::TensorType_INT32);
        CHECK(s.shape == std::vector<std::int32_t>{static_cast<std::int32_t>(dims.size())});
        std::vector<std::int32_t> values(dims.size());
        REQUIRE(m->buffers.at(s.buffer)->data.size() == values.size() * 4);
        std::memcpy(values.data(), m->buffers[s.buffer]->data.data(), values.size() * 4);
        CHECK(values == dims);
        break;
      }
      case OpKind::quantize: CHECK(f.builtin_options.type == tfl::BuiltinOptions_QuantizeOptions); break;
      case OpKind::dequantize: CHECK(f.builtin_options.type == tfl::BuiltinOptions_DequantizeOptions); break;
    }
  }
}

TEST_CASE("int8 I/O leaves out the edge quantize and dequantize") {
  const Graph& g = graphs().q;
  TfliteOptions options;
  options.int8_io = true;
  auto bytes = write_tflite(g, options);
  REQUIRE_OK(bytes);
  const auto m = parse(*bytes);
  const Op& quantize = g.ops.front();
  const Op& dequantize = g.ops.back();
  REQUIRE(quantize.kind == OpKind::quantize);
  REQUIRE(dequantize.kind == OpKind::dequantize);
  const tfl::SubGraphT& sub = main_graph(*m);
  CHECK(sub.operators.size() == g.ops.size() - 2);
  check_ops_match_graph(*m, g, {0, static_cast<int>(g.ops.size() - 1)});
  for (const auto& c : m->operator_codes) {
    CHECK(c->builtin_code != tfl::BuiltinOperator_QUANTIZE);
    CHECK(c->builtin_code != tfl::BuiltinOperator_DEQUANTIZE);
  }
  CHECK(find(*m, graph_tensor(g, g.input).name) < 0);
  CHECK(find(*m, graph_tensor(g, g.output).name) < 0);
  check_tensor(*m, sub.inputs.at(0), graph_tensor(g, quantize.output));
  check_tensor(*m, sub.outputs.at(0), graph_tensor(g, dequantize.inputs[0]));

  // inspect_tflite reads back what a caller needs to quantize the image.
  auto info = inspect_tflite(*bytes);
  REQUIRE_OK(info);
  const runtime::Tensor& in = graph_tensor(g, quantize.output);
  CHECK(info->operators == g.ops.size() - 2);
  CHECK(info->description == "edgefed");
  CHECK(info->input.name == in.name);
  CHECK(info->input.type == "INT8");
  CHECK(info->input.shape == std::vector<std::int64_t>{1, 28, 28, 1});
  CHECK(info->input.scales == in.quant.scales);
  CHECK(info->input.zero_points == std::vector<std::int64_t>{in.quant.zero_points[0]});
  CHECK(info->output.name == graph_tensor(g, dequantize.inputs[0]).name);
  CHECK(info->output.type == "INT8");
  CHECK(info->output.shape == std::vector<std::int64_t>{1, 10});
}

TEST_CASE("softmax: int8 probabilities at scale 1/256 and zero point -128, dequantized for float I/O") {
  const Graph& g = graphs().q;
  const std::string logits = graph_tensor(g, g.ops.back().inputs[0]).name;
  TfliteOptions options;
  options.softmax = true;
  {
    const auto m = export_ok(g, options);
    const tfl::SubGraphT& sub = main_graph(*m);
    REQUIRE(sub.operators.size() == g.ops.size() + 1);
    check_ops_match_graph(*m, g, {static_cast<int>(g.ops.size() - 1)});
    const tfl::OperatorT& softmax = *sub.operators[sub.operators.size() - 2];
    const tfl::OperatorT& dequantize = *sub.operators.back();
    CHECK(code_of(*m, softmax).builtin_code == tfl::BuiltinOperator_SOFTMAX);
    CHECK(code_of(*m, softmax).deprecated_builtin_code == tfl::BuiltinOperator_SOFTMAX);
    CHECK(code_of(*m, softmax).version == 2);
    REQUIRE(softmax.builtin_options.AsSoftmaxOptions());
    CHECK(softmax.builtin_options.AsSoftmaxOptions()->beta == 1.0f);
    CHECK(softmax.inputs == std::vector<std::int32_t>{find(*m, logits)});
    const tfl::TensorT& p = file_tensor(*m, softmax.outputs[0]);
    CHECK(p.name == "probabilities.int8");
    CHECK(p.type == tfl::TensorType_INT8);
    CHECK(p.quantization->scale == std::vector<float>{1.0f / 256.0f});
    CHECK(p.quantization->zero_point == std::vector<std::int64_t>{-128});
    CHECK(code_of(*m, dequantize).builtin_code == tfl::BuiltinOperator_DEQUANTIZE);
    CHECK(dequantize.inputs == softmax.outputs);
    CHECK(sub.outputs == dequantize.outputs);
    const tfl::TensorT& out = file_tensor(*m, sub.outputs[0]);
    CHECK(out.name == "probabilities");
    CHECK(out.type == tfl::TensorType_FLOAT32);
    CHECK(out.shape == std::vector<std::int32_t>{1, 10});
  }
  options.int8_io = true;
  {
    const auto m = export_ok(g, options);
    const tfl::SubGraphT& sub = main_graph(*m);
    CHECK(code_of(*m, *sub.operators.back()).builtin_code == tfl::BuiltinOperator_SOFTMAX);
    const tfl::TensorT& out = file_tensor(*m, sub.outputs.at(0));
    CHECK(out.name == "probabilities");
    CHECK(out.type == tfl::TensorType_INT8);
    CHECK(out.quantization->scale == std::vector<float>{1.0f / 256.0f});
    CHECK(out.quantization->zero_point == std::vector<std::int64_t>{-128});
  }
}

TEST_CASE("float graph: a float32 file, every op version 1, softmax in float") {
  const Graph& g = graphs().f;
  REQUIRE_FALSE(g.is_int8());
  const auto m = export_ok(g);
  const tfl::SubGraphT& sub = main_graph(*m);
  REQUIRE(sub.operators.size() == g.ops.size());
  check_ops_match_graph(*m, g);
  for (const auto& c : m->operator_codes) CHECK(c->version == 1);
  for (const auto& t : sub.tensors) {
    INFO(t->name);
    CHECK(t->quantization == nullptr);
    CHECK(t->type == (t->name == "flatten.shape" ? tfl::TensorType_INT32 : tfl::TensorType_FLOAT32));
  }
  check_tensor(*m, sub.inputs.at(0), graph_tensor(g, g.input));
  check_tensor(*m, sub.outputs.at(0), graph_tensor(g, g.output));

  TfliteOptions options;
  options.softmax = true;
  const auto s = export_ok(g, options);
  const tfl::SubGraphT& ssub = main_graph(*s);
  REQUIRE(ssub.operators.size() == g.ops.size() + 1);
  const tfl::OperatorT& softmax = *ssub.operators.back();
  CHECK(code_of(*s, softmax).builtin_code == tfl::BuiltinOperator_SOFTMAX);
  CHECK(code_of(*s, softmax).version == 1);
  CHECK(softmax.inputs == std::vector<std::int32_t>{find(*s, graph_tensor(g, g.output).name)});
  const tfl::TensorT& out = file_tensor(*s, ssub.outputs.at(0));
  CHECK(out.name == "probabilities");
  CHECK(out.type == tfl::TensorType_FLOAT32);
  CHECK(out.quantization == nullptr);
}

TEST_CASE("added tensor names never collide with the graph's") {
  Graph g = graphs().f;
  mutable_tensor(g, "adapter1.hidden").name = "probabilities";
  mutable_tensor(g, "adapter2.hidden").name = "adapter1.down.bias";
  TfliteOptions options;
  options.softmax = true;
  const auto m = export_ok(g, options);
  CHECK(file_tensor(*m, main_graph(*m).outputs.at(0)).name == "probabilities_2");
  const tfl::OperatorT& down = op_writing(*m, "probabilities");  // adapter1.down's output
  CHECK(file_tensor(*m, down.inputs.at(2)).name == "adapter1.down.bias_2");
  std::set<std::string> names;
  for (const auto& t : main_graph(*m).tensors) CHECK(names.insert(t->name).second);
}

TEST_CASE("refused: an invalid graph, naming the operator and tensor") {
  Graph g = graphs().q;
  mutable_tensor(g, "conv2.weight").shape = {16, 3, 1, 24};  // same element count, 24 input channels
  const std::string d = refusal(g);
  CHECK_THAT(d, Catch::Contains("invalid graph"));
  CHECK_THAT(d, Catch::Contains("'conv2'"));
  CHECK_THAT(d, Catch::Contains("conv2.weight"));
}

TEST_CASE("refused: per-channel fully connected weights") {
  Graph g = graphs().q;
  runtime::Tensor& w = mutable_tensor(g, "head.weight");
  runtime::Tensor& b = mutable_tensor(g, "head.bias");
  REQUIRE(g.find("flatten.out") >= 0);
  const float s_in = graph_tensor(g, g.find("flatten.out")).quant.scales.at(0);
  // Consistent per-channel scales (the bias follows them): only the per-tensor rule is broken.
  w.quant.scales.assign(10, w.quant.scales.at(0));
  w.quant.zero_points.assign(10, 0);
  b.quant.scales.assign(10, s_in * w.quant.scales[0]);
  b.quant.zero_points.assign(10, 0);
  const std::string d = refusal(g);
  CHECK_THAT(d, Catch::Contains("'head'"));
  CHECK_THAT(d, Catch::Contains("head.weight"));
  CHECK_THAT(d, Catch::Contains("per tensor"));
}

TEST_CASE("refused: an int8 weight zero point other than 0") {
  Graph g = graphs().q;
  mutable_tensor(g, "conv1.weight").quant.zero_points[0] = 3;
  const std::string d = refusal(g);
  CHECK_THAT(d, Catch::Contains("conv1.weight"));
  CHECK_THAT(d, Catch::Contains("zero point[0] = 3, expected 0"));
}

TEST_CASE("refused: a bias scale other than input scale × weight scale") {
  Graph g = graphs().q;
  mutable_tensor(g, "conv1.bias").quant.scales[2] *= 1.01f;
  const std::string d = refusal(g);
  CHECK_THAT(d, Catch::Contains("'conv1'"));
  CHECK_THAT(d, Catch::Contains("conv1.bias"));
  CHECK_THAT(d, Catch::Contains("input scale × weight scale"));
}

TEST_CASE("refused: int8 I/O of a float graph or of an int8 graph without the edge ops") {
  TfliteOptions options;
  options.int8_io = true;
  CHECK_THAT(refusal(graphs().f, options), Catch::Contains("float32 graph"));

  // The output written by a (float) reshape, not a dequantize:
  // "image" → quantize → dequantize → reshape → "logits"
  Graph g;
  const int x = add_activation(g, "image", {1, 2, 2, 1}, DType::float32);
  const int q = add_activation(g, "image.q", {1, 2, 2, 1}, DType::int8);
  const int d = add_activation(g, "image.dq", {1, 2, 2, 1}, DType::float32);
  const int y = add_activation(g, "logits", {1, 4}, DType::float32);
  g.ops = {{OpKind::quantize, "in", {x}, q}, {OpKind::dequantize, "dq", {q}, d}, {OpKind::reshape, "flat", {d}, y}};
  g.input = x;
  g.output = y;
  REQUIRE_OK(g.validate());
  CHECK_THAT(refusal(g, options), Catch::Contains("'logits' is not written by a dequantize"));
  REQUIRE_OK(write_tflite(g));  // with float I/O it is exportable

  // The input read by a second operator besides the quantize.
  Graph h = tiny_int8_graph();
  runtime::Tensor extra = h.tensors[0];
  extra.name = "image.copy";
  h.tensors.push_back(extra);
  h.ops.push_back({OpKind::max_pool2d, "copy", {h.input}, static_cast<int>(h.tensors.size() - 1), {}, 1});
  REQUIRE_OK(h.validate());
  const std::string why = refusal(h, options);
  CHECK_THAT(why, Catch::Contains("'image'"));
  CHECK_THAT(why, Catch::Contains("op 3 'copy' (max_pool2d)"));
}

TEST_CASE("refused: leaving out a dequantize whose output another operator reads") {
  Graph g = tiny_int8_graph();
  runtime::Tensor extra = g.tensors[static_cast<std::size_t>(g.output)];
  extra.name = "twice";
  g.tensors.push_back(extra);
  g.ops.push_back({OpKind::add, "twice", {g.output, g.output}, static_cast<int>(g.tensors.size() - 1)});
  REQUIRE_OK(g.validate());
  REQUIRE_OK(write_tflite(g));
  TfliteOptions options;
  options.softmax = true;
  const std::string d = refusal(g, options);
  CHECK_THAT(d, Catch::Contains("'logits'"));
  CHECK_THAT(d, Catch::Contains("op 3 'twice' (add)"));
}

TEST_CASE("inspect_tflite refuses what is not a TFLite file") {
  CHECK(inspect_tflite(Bytes{}).error().code == ErrorCode::bad_encoding);
  auto bytes = write_tflite(tiny_int8_graph());
  REQUIRE_OK(bytes);
  auto info = inspect_tflite(*bytes);
  REQUIRE_OK(info);
  CHECK(info->input.name == "image");
  CHECK(info->input.type == "FLOAT32");
  CHECK(info->input.scales.empty());
  CHECK(info->output.name == "logits");
  CHECK(info->operators == 3);
  Bytes wrong_id = *bytes;
  wrong_id[4] = 'X';  // file identifier "TFL3" → "XFL3"
  CHECK(inspect_tflite(wrong_id).error().code == ErrorCode::bad_encoding);
  Bytes truncated(bytes->begin(), bytes->begin() + static_cast<std::ptrdiff_t>(bytes->size() / 2));
  CHECK(inspect_tflite(truncated).error().code == ErrorCode::bad_encoding);
}
