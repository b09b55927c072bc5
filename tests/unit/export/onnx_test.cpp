#include "edgefed/compress/lower.hpp"
#include "edgefed/compress/ptq.hpp"
#include "edgefed/export/onnx.hpp"

// The test reaches onnx_proto only through edgefed_export's link-only dependencies, so the
// definition the imported target carries (ONNX_ML: the onnx-ml.proto the library was built
// from) is spelled out here.
#ifndef ONNX_ML
#define ONNX_ML 1
#endif
#include <onnx/onnx_pb.h>

#include <catch2/catch.hpp>

#include "edgefed_catch_helpers.hpp"
#include "edgefed_cnn_fixtures.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

using namespace edgefed;
using namespace edgefed::exporter;
using runtime::DType;
using runtime::Graph;
using runtime::Tensor;

using edgefed::testing::random_cnn_state;
using edgefed::testing::random_images;

namespace {

Graph float_graph() {
  auto g = compress::lower_default_cnn(random_cnn_state({8, 16}));
  REQUIRE_OK(g);
  return std::move(g).value();
}

Graph int8_graph() {
  const Graph g = float_graph();
  compress::CalibrationConfig config;
  config.samples = 20;
  auto ranges = compress::calibrate(g, random_images(20), config);
  REQUIRE_OK(ranges);
  auto q = compress::quantize_graph(g, *ranges);
  REQUIRE_OK(q);
  return std::move(q).value();
}

// input [1, 4, 4, 2] → reshape [1, 2, 2, 8] → max pool 2 → reshape [1, 8] → fully connected
// [3, 8]: a reshape to 4-D, whose result must land NCHW for the pool.
Graph reshape_graph() {
  Graph g;
  const auto activation = [&](std::string name, Shape shape) {
    Tensor t;
    t.name = std::move(name);
    t.shape = std::move(shape);
    return g.add_tensor(std::move(t));
  };
  g.input = activation("input", {1, 4, 4, 2});
  const int regrouped = activation("regrouped", {1, 2, 2, 8});
  const int pooled = activation("pooled", {1, 1, 1, 8});
  const int flat = activation("flat", {1, 8});
  Tensor w;
  w.name = "fc.weight";
  w.shape = {3, 8};
  w.constant = true;
  w.f32.assign(24, 0.5f);
  const int weight = g.add_tensor(std::move(w));
  g.output = activation("logits", {1, 3});
  g.add_op(runtime::OpKind::reshape, "regroup", {g.input}, regrouped);
  g.add_op(runtime::OpKind::max_pool2d, "pool", {regrouped}, pooled);
  g.add_op(runtime::OpKind::reshape, "flatten", {pooled}, flat);
  g.add_op(runtime::OpKind::fully_connected, "fc", {flat, weight}, g.output);
  REQUIRE_OK(g.validate());
  return g;
}

onnx::ModelProto parse(const Bytes& bytes) {
  onnx::ModelProto m;
  REQUIRE(m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
  return m;
}

Bytes serialize(const onnx::ModelProto& m) {
  Bytes bytes(m.ByteSizeLong());
  REQUIRE(m.SerializeToArray(bytes.data(), static_cast<int>(bytes.size())));
  return bytes;
}

// Node op types in order, Quantize/DequantizeLinear left out when `compute_only`.
std::vector<std::string> op_types(const onnx::GraphProto& g, bool compute_only = false) {
  std::vector<std::string> types;
  for (const onnx::NodeProto& n : g.node()) {
    if (compute_only && (n.op_type() == "QuantizeLinear" || n.op_type() == "DequantizeLinear")) continue;
    types.push_back(n.op_type());
  }
  return types;
}

// The plain float graph's nodes for channels {8, 16}: block 1 (conv, adapter, pool), block 2
// (conv, adapter), flatten (back to NHWC first), head.
const std::vector<std::string> kComputeNodes{
    "Transpose", "Conv", "Relu", "Conv", "Relu", "Conv", "Add",       "MaxPool", "Conv",
    "Relu",      "Conv", "Relu", "Conv", "Add",  "Transpose", "Reshape", "Gemm"};

const onnx::TensorProto& initializer(const onnx::GraphProto& g, const std::string& name) {
  const auto it = std::find_if(g.initializer().begin(), g.initializer().end(),
                               [&](const onnx::TensorProto& t) { return t.name() == name; });
  INFO(name);
  REQUIRE(it != g.initializer().end());
  return *it;
}

const onnx::NodeProto& reader_of(const onnx::GraphProto& g, const std::string& value) {
  const auto it = std::find_if(g.node().begin(), g.node().end(), [&](const onnx::NodeProto& n) {
    return std::find(n.input().begin(), n.input().end(), value) != n.input().end();
  });
  INFO(value);
  REQUIRE(it != g.node().end());
  return *it;
}

const onnx::AttributeProto* attribute(const onnx::NodeProto& n, const std::string& name) {
  for (const onnx::AttributeProto& a : n.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

Shape dims(const onnx::TensorProto& t) { return Shape(t.dims().begin(), t.dims().end()); }

Shape value_dims(const onnx::ValueInfoProto& v) {
  Shape s;
  for (const auto& d : v.type().tensor_type().shape().dim()) s.push_back(d.dim_value());
  return s;
}

template <typename T>
std::vector<T> values(const onnx::TensorProto& t) {
  std::vector<T> v(t.raw_data().size() / sizeof(T));
  std::memcpy(v.data(), t.raw_data().data(), v.size() * sizeof(T));  // little-endian host
  return v;
}

const Tensor& graph_tensor(const Graph& g, const std::string& name) {
  const int t = g.find(name);
  INFO(name);
  REQUIRE(t >= 0);
  return g.tensors[static_cast<std::size_t>(t)];
}

// OHWI [o][h][w][i] must sit at OIHW [o][i][h][w].
template <typename T>
void check_oihw(const std::vector<T>& oihw, const std::vector<T>& ohwi, const Shape& s) {
  REQUIRE(oihw.size() == ohwi.size());
  std::size_t mismatches = 0;
  for (std::int64_t o = 0; o < s[0]; ++o)
    for (std::int64_t h = 0; h < s[1]; ++h)
      for (std::int64_t w = 0; w < s[2]; ++w)
        for (std::int64_t i = 0; i < s[3]; ++i) {
          const auto src = static_cast<std::size_t>(((o * s[1] + h) * s[2] + w) * s[3] + i);
          const auto dst = static_cast<std::size_t>(((o * s[3] + i) * s[1] + h) * s[2] + w);
          if (oihw[dst] != ohwi[src]) ++mismatches;
        }
  CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("onnx: a float graph is plain float ONNX, NCHW inside, that the checker accepts") {
  const Graph g = float_graph();
  auto bytes = write_onnx(g);
  REQUIRE_OK(bytes);
  REQUIRE_OK(check_onnx(*bytes));
  const onnx::ModelProto m = parse(*bytes);
  CHECK(m.ir_version() == 7);
  REQUIRE(m.opset_import_size() == 1);
  CHECK(m.opset_import(0).domain().empty());
  CHECK(m.opset_import(0).version() == 13);
  CHECK(m.producer_name() == "edgefed");

  const onnx::GraphProto& onnx_graph = m.graph();
  REQUIRE(onnx_graph.input_size() == 1);
  REQUIRE(onnx_graph.output_size() == 1);
  CHECK(onnx_graph.input(0).name() == "input");
  CHECK(onnx_graph.input(0).type().tensor_type().elem_type() == onnx::TensorProto_DataType_FLOAT);
  CHECK(value_dims(onnx_graph.input(0)) == Shape{1, 28, 28, 1});
  CHECK(onnx_graph.output(0).name() == "logits");
  CHECK(onnx_graph.output(0).type().tensor_type().elem_type() == onnx::TensorProto_DataType_FLOAT);
  CHECK(value_dims(onnx_graph.output(0)) == Shape{1, 10});
  CHECK(op_types(onnx_graph) == kComputeNodes);
  CHECK(onnx_graph.node(onnx_graph.node_size() - 1).output(0) == "logits");

  for (const onnx::TensorProto& t : onnx_graph.initializer()) {
    INFO(t.name());
    const bool reshape_shape = t.name() == "flatten.shape";
    CHECK(t.data_type() == (reshape_shape ? onnx::TensorProto_DataType_INT64 : onnx::TensorProto_DataType_FLOAT));
  }
  // Conv weights OIHW, with "same" padding; the head stays [O, I] behind Gemm(transB = 1).
  const Tensor& conv2 = graph_tensor(g, "conv2.weight");
  const onnx::TensorProto& w = initializer(onnx_graph, "conv2.weight");
  CHECK(dims(w) == Shape{16, 8, 3, 3});
  check_oihw(values<float>(w), conv2.f32, conv2.shape);
  const onnx::NodeProto& conv = reader_of(onnx_graph, "conv2.weight");
  REQUIRE(attribute(conv, "pads"));
  CHECK(Shape(attribute(conv, "pads")->ints().begin(), attribute(conv, "pads")->ints().end()) == Shape{1, 1, 1, 1});
  CHECK(dims(initializer(onnx_graph, "head.weight")) == Shape{10, 16 * 14 * 14});
  const onnx::NodeProto& gemm = reader_of(onnx_graph, "head.weight");
  REQUIRE(attribute(gemm, "transB"));
  CHECK(attribute(gemm, "transB")->i() == 1);
  // The flatten reads NHWC: (H, W, C) order, as the head's columns.
  const onnx::NodeProto& back = onnx_graph.node(onnx_graph.node_size() - 3);
  REQUIRE(back.op_type() == "Transpose");
  CHECK(Shape(attribute(back, "perm")->ints().begin(), attribute(back, "perm")->ints().end()) == Shape{0, 2, 3, 1});
  CHECK(values<std::int64_t>(initializer(onnx_graph, "flatten.shape")) == std::vector<std::int64_t>{1, 16 * 14 * 14});
}

TEST_CASE("onnx: an int8 graph is QDQ with int8 weights, int32 biases and per-channel conv scales") {
  const Graph q = int8_graph();
  auto bytes = write_onnx(q);
  REQUIRE_OK(bytes);
  REQUIRE_OK(check_onnx(*bytes));
  const onnx::GraphProto onnx_graph = parse(*bytes).graph();
  CHECK(op_types(onnx_graph, true) == kComputeNodes);
  CHECK(onnx_graph.input(0).type().tensor_type().elem_type() == onnx::TensorProto_DataType_FLOAT);
  CHECK(onnx_graph.output(0).type().tensor_type().elem_type() == onnx::TensorProto_DataType_FLOAT);

  // One QuantizeLinear per int8 activation, under its name, with its scale and zero point.
  std::size_t int8_activations = 0;
  for (const Tensor& t : q.tensors) int8_activations += !t.constant && t.dtype == DType::int8;
  std::size_t quantize_nodes = 0;
  for (const onnx::NodeProto& n : onnx_graph.node()) {
    if (n.op_type() != "QuantizeLinear") continue;
    ++quantize_nodes;
    const Tensor& t = graph_tensor(q, n.output(0));
    INFO(t.name);
    CHECK(t.dtype == DType::int8);
    const onnx::TensorProto& scale = initializer(onnx_graph, n.input(1));
    const onnx::TensorProto& zero_point = initializer(onnx_graph, n.input(2));
    CHECK(dims(scale).empty());
    CHECK(values<float>(scale) == t.quant.scales);
    CHECK(zero_point.data_type() == onnx::TensorProto_DataType_INT8);
    CHECK(values<std::int8_t>(zero_point) == std::vector<std::int8_t>{static_cast<std::int8_t>(t.quant.zero_points[0])});
  }
  CHECK(quantize_nodes == int8_activations);

  // Every constant: its dtype, behind a DequantizeLinear whose scales are one per output
  // channel (axis 0) for conv weights and biases, one for the head.
  std::size_t constants = 0, per_axis_constants = 0;
  for (const Tensor& t : q.tensors) {
    if (!t.constant) continue;
    ++constants;
    INFO(t.name);
    const onnx::TensorProto& init = initializer(onnx_graph, t.name);
    CHECK(init.data_type() == (t.dtype == DType::int8 ? onnx::TensorProto_DataType_INT8 : onnx::TensorProto_DataType_INT32));
    const onnx::NodeProto& dq = reader_of(onnx_graph, t.name);
    REQUIRE(dq.op_type() == "DequantizeLinear");
    const onnx::TensorProto& scale = initializer(onnx_graph, dq.input(1));
    const onnx::TensorProto& zero_point = initializer(onnx_graph, dq.input(2));
    CHECK(values<float>(scale) == t.quant.scales);
    CHECK(zero_point.data_type() == init.data_type());
    // One scale is a scalar (the head; adapter1.down, rank 1), more are per-axis.
    const bool per_axis = t.name.rfind("head.", 0) != 0 && t.shape[0] > 1;
    if (per_axis) {
      CHECK(dims(scale) == Shape{t.shape[0]});
      CHECK(dims(zero_point) == Shape{t.shape[0]});
      REQUIRE(attribute(dq, "axis"));
      CHECK(attribute(dq, "axis")->i() == 0);
      ++per_axis_constants;
    } else {
      CHECK(dims(scale).empty());
      CHECK(dims(zero_point).empty());
      CHECK(attribute(dq, "axis") == nullptr);
    }
  }
  CHECK(constants == 10);  // 6 conv weights, 2 conv biases (adapters have none), head weight and bias
  CHECK(per_axis_constants == 7);
  const Tensor& conv2 = graph_tensor(q, "conv2.weight");
  CHECK(dims(initializer(onnx_graph, "conv2.weight")) == Shape{16, 8, 3, 3});
  check_oihw(values<std::int8_t>(initializer(onnx_graph, "conv2.weight")), conv2.i8, conv2.shape);
  CHECK(values<std::int32_t>(initializer(onnx_graph, "head.bias")) == graph_tensor(q, "head.bias").i32);

  // Float logits out of the int8 ones.
  const onnx::NodeProto& last = onnx_graph.node(onnx_graph.node_size() - 1);
  CHECK(last.op_type() == "DequantizeLinear");
  CHECK(last.input(0) == "logits.q");
  CHECK(last.output(0) == "logits");
}

TEST_CASE("onnx: a reshape to 4-D goes through NHWC and back to NCHW") {
  auto bytes = write_onnx(reshape_graph());
  REQUIRE_OK(bytes);
  REQUIRE_OK(check_onnx(*bytes));
  const onnx::GraphProto g = parse(*bytes).graph();
  CHECK(op_types(g) == std::vector<std::string>{"Transpose", "Transpose", "Reshape", "Transpose", "MaxPool", "Transpose",
                                                "Reshape", "Gemm"});
  CHECK(values<std::int64_t>(initializer(g, "regroup.shape")) == std::vector<std::int64_t>{1, 2, 2, 8});
  const onnx::NodeProto& to_nchw = g.node(3);
  CHECK(to_nchw.output(0) == "regrouped");
  CHECK(Shape(attribute(to_nchw, "perm")->ints().begin(), attribute(to_nchw, "perm")->ints().end()) == Shape{0, 3, 1, 2});
  CHECK(g.node(7).input_size() == 2);  // no bias
}

TEST_CASE("onnx: the same graph gives the same bytes; the producer is recorded") {
  const Graph q = int8_graph();
  auto a = write_onnx(q);
  auto b = write_onnx(q);
  REQUIRE_OK(a);
  REQUIRE_OK(b);
  CHECK(*a == *b);
  auto named = write_onnx(q, OnnxOptions{"edgefed-test"});
  REQUIRE_OK(named);
  CHECK(parse(*named).producer_name() == "edgefed-test");
}

TEST_CASE("onnx: invalid graphs and unknown operators or activations are refused, naming the operator") {
  const Graph g = float_graph();
  Graph wrong_weights = g;  // conv2 given conv1's weights: 1 input channel, not 8
  const auto conv2 = std::find_if(wrong_weights.ops.begin(), wrong_weights.ops.end(),
                                  [](const runtime::Op& op) { return op.name == "conv2"; });
  REQUIRE(conv2 != wrong_weights.ops.end());
  conv2->inputs[1] = g.find("conv1.weight");
  auto r = write_onnx(wrong_weights);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::invalid_argument);
  CHECK_THAT(r.error().detail, Catch::Contains("'conv2'") && Catch::Contains("conv1.weight"));

  Graph unknown_op = g;
  unknown_op.ops[3].kind = static_cast<runtime::OpKind>(42);
  r = write_onnx(unknown_op);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::invalid_argument);
  CHECK_THAT(r.error().detail, Catch::Contains("'" + g.ops[3].name + "'") && Catch::Contains("unknown kind 42"));

  Graph unknown_activation = g;
  unknown_activation.ops[0].activation = static_cast<runtime::Activation>(7);
  r = write_onnx(unknown_activation);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::invalid_argument);
  CHECK_THAT(r.error().detail, Catch::Contains("'conv1'") && Catch::Contains("unknown activation 7"));

  CHECK(write_onnx(Graph{}).error().code == ErrorCode::invalid_argument);
}

TEST_CASE("onnx: check_onnx refuses bytes that are no model and models the checker rejects") {
  auto bytes = write_onnx(float_graph());
  REQUIRE_OK(bytes);

  auto garbage = check_onnx(as_bytes("\xff\xff\xff not a model"));
  REQUIRE_FALSE(garbage);
  CHECK(garbage.error().code == ErrorCode::bad_encoding);

  onnx::ModelProto unknown_op = parse(*bytes);
  unknown_op.mutable_graph()->mutable_node(1)->set_op_type("NoSuchOp");
  auto r = check_onnx(serialize(unknown_op));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::bad_value);
  CHECK_THAT(r.error().detail, Catch::Contains("NoSuchOp"));

  // Strict shape inference: the declared output shape must be the inferred one.
  onnx::ModelProto wrong_output = parse(*bytes);
  wrong_output.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(
      1)->set_dim_value(11);
  r = check_onnx(serialize(wrong_output));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::bad_value);

  onnx::ModelProto no_version = parse(*bytes);
  no_version.clear_ir_version();
  CHECK(check_onnx(serialize(no_version)).error().code == ErrorCode::bad_value);
}
