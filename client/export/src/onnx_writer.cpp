#include "edgefed/export/onnx.hpp"

#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <climits>
#include <exception>
#include <set>
#include <utility>

namespace edgefed::exporter {

namespace {

using runtime::Activation;
using runtime::DType;
using runtime::Graph;
using runtime::Op;
using runtime::OpKind;
using runtime::Tensor;

constexpr std::int64_t kIrVersion = 7;
constexpr std::int64_t kOpset = 13;
const std::vector<std::int64_t> kToNchw{0, 3, 1, 2};
const std::vector<std::int64_t> kToNhwc{0, 2, 3, 1};

Error refuse(const std::string& what) { return fail(ErrorCode::invalid_argument, "ONNX export: " + what); }

// Throws (onnx::checker::ValidationError, onnx::InferenceError) when the model is not valid.
void check_or_throw(onnx::ModelProto& model) {
  onnx::checker::check_model(model);
  onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(),
                                     onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict_mode=*/1,
                                                                 /*data_prop=*/true));
}

// Little-endian bytes, as TensorProto.raw_data wants them.
template <typename T>
std::string raw_data(const std::vector<T>& values) {
  Bytes bytes;
  ByteWriter writer(bytes);
  for (T v : values) writer.put(v);
  return {bytes.begin(), bytes.end()};
}

// Conv weights from the graph's OHWI to ONNX's OIHW.
template <typename T>
std::vector<T> ohwi_to_oihw(const std::vector<T>& v, const Shape& s) {
  const std::size_t o_n = static_cast<std::size_t>(s[0]), h_n = static_cast<std::size_t>(s[1]);
  const std::size_t w_n = static_cast<std::size_t>(s[2]), i_n = static_cast<std::size_t>(s[3]);
  std::vector<T> out(v.size());
  for (std::size_t o = 0; o < o_n; ++o) {
    for (std::size_t h = 0; h < h_n; ++h) {
      for (std::size_t w = 0; w < w_n; ++w) {
        for (std::size_t i = 0; i < i_n; ++i) out[((o * i_n + i) * h_n + h) * w_n + w] = v[((o * h_n + h) * w_n + w) * i_n + i];
      }
    }
  }
  return out;
}

// A constant's values in ONNX layout (4-D constants are conv weights).
template <typename T>
std::string constant_data(const std::vector<T>& values, const Shape& shape) {
  return raw_data(shape.size() == 4 ? ohwi_to_oihw(values, shape) : values);
}

void set_ints(onnx::NodeProto& node, const std::string& name, const std::vector<std::int64_t>& values) {
  onnx::AttributeProto& a = *node.add_attribute();
  a.set_name(name);
  a.set_type(onnx::AttributeProto_AttributeType_INTS);
  for (std::int64_t v : values) a.add_ints(v);
}

void set_int(onnx::NodeProto& node, const std::string& name, std::int64_t value) {
  onnx::AttributeProto& a = *node.add_attribute();
  a.set_name(name);
  a.set_type(onnx::AttributeProto_AttributeType_INT);
  a.set_i(value);
}

// Translates a validated graph operator by operator, in execution order. Every graph tensor
// has a value (the ONNX name holding it in its own dtype, 4-D ones NCHW) and, for a node to
// read, a float view: the value itself for float activations, a DequantizeLinear for int8
// activations and int8 / int32 constants, made on first use so that none dangles.
class OnnxBuilder {
 public:
  OnnxBuilder(const Graph& graph, onnx::GraphProto& out)
      : g_(graph), out_(out), value_(graph.tensors.size()), float_view_(graph.tensors.size()),
        quant_(graph.tensors.size()) {
    for (const Tensor& t : g_.tensors) names_.insert(t.name);
  }

  Status build() {
    const Tensor& input = tensor(g_.input);
    describe(*out_.add_input(), input);
    set_float(g_.input, transpose(input.name, input.name, kToNchw, fresh(names_, input.name + ".nchw")));
    for (std::size_t i = 0; i < g_.ops.size(); ++i) EDGEFED_TRY(emit(i));
    describe(*out_.add_output(), tensor(g_.output));  // [1, K]: its value carries its name
    return {};
  }

 private:
  const Tensor& tensor(int t) const { return g_.tensors[static_cast<std::size_t>(t)]; }

  static std::string fresh(std::set<std::string>& used, const std::string& base) {
    std::string name = base;
    for (int i = 2; !used.insert(name).second; ++i) name = base + "_" + std::to_string(i);
    return name;
  }

  static void describe(onnx::ValueInfoProto& info, const Tensor& t) {
    info.set_name(t.name);
    onnx::TypeProto_Tensor& type = *info.mutable_type()->mutable_tensor_type();
    type.set_elem_type(onnx::TensorProto_DataType_FLOAT);
    for (std::int64_t d : t.shape) type.mutable_shape()->add_dim()->set_dim_value(d);
  }

  onnx::NodeProto& node(const std::string& owner, const std::string& type, const std::vector<std::string>& inputs,
                        const std::string& output) {
    onnx::NodeProto& n = *out_.add_node();
    n.set_name(fresh(node_names_, owner + "/" + type));
    n.set_op_type(type);
    for (const std::string& in : inputs) n.add_input(in);
    n.add_output(output);
    return n;
  }

  std::string transpose(const std::string& owner, const std::string& in, const std::vector<std::int64_t>& perm,
                        const std::string& out) {
    set_ints(node(owner, "Transpose", {in}, out), "perm", perm);
    return out;
  }

  void set_float(int t, const std::string& name) {
    value_[static_cast<std::size_t>(t)] = name;
    float_view_[static_cast<std::size_t>(t)] = name;
  }

  std::string initializer(const std::string& name, onnx::TensorProto_DataType type, const Shape& dims,
                          std::string data) {
    onnx::TensorProto& p = *out_.add_initializer();
    p.set_name(name);
    p.set_data_type(type);
    for (std::int64_t d : dims) p.add_dims(d);
    p.set_raw_data(std::move(data));
    return name;
  }

  // Scale and zero point initializers of an int8 / int32 tensor: scalars for one scale,
  // 1-D along the quantization axis otherwise.
  const std::pair<std::string, std::string>& quant_params(int t) {
    std::pair<std::string, std::string>& params = quant_[static_cast<std::size_t>(t)];
    if (!params.first.empty()) return params;
    const Tensor& x = tensor(t);
    const Shape dims = x.quant.scales.size() == 1 ? Shape{} : Shape{static_cast<std::int64_t>(x.quant.scales.size())};
    params.first = initializer(fresh(names_, x.name + ".scale"), onnx::TensorProto_DataType_FLOAT, dims,
                                      raw_data(x.quant.scales));
    const std::string zp_name = fresh(names_, x.name + ".zero_point");
    if (x.dtype == DType::int32) {
      params.second = initializer(zp_name, onnx::TensorProto_DataType_INT32, dims,
                                                raw_data(x.quant.zero_points));
    } else {
      const std::vector<std::int8_t> zps(x.quant.zero_points.begin(), x.quant.zero_points.end());
      params.second = initializer(zp_name, onnx::TensorProto_DataType_INT8, dims, raw_data(zps));
    }
    return params;
  }

  std::string dequantize(int t, const std::string& owner, const std::string& in, const std::string& out) {
    const Tensor& x = tensor(t);
    const auto& [scale, zero_point] = quant_params(t);
    onnx::NodeProto& n = node(owner, "DequantizeLinear", {in, scale, zero_point}, out);
    if (x.quant.scales.size() > 1) set_int(n, "axis", x.quant.axis);
    return out;
  }

  // The constant as an initializer under its graph name, in ONNX layout (conv weights OIHW).
  void write_constant(const Tensor& c) {
    const Shape dims = c.shape.size() == 4 ? Shape{c.shape[0], c.shape[3], c.shape[1], c.shape[2]} : c.shape;
    switch (c.dtype) {
      case DType::float32:
        initializer(c.name, onnx::TensorProto_DataType_FLOAT, dims, constant_data(c.f32, c.shape));
        return;
      case DType::int8:
        initializer(c.name, onnx::TensorProto_DataType_INT8, dims, constant_data(c.i8, c.shape));
        return;
      case DType::int32:
        initializer(c.name, onnx::TensorProto_DataType_INT32, dims, constant_data(c.i32, c.shape));
        return;
    }
  }

  std::string read(int t) {
    std::string& view = float_view_[static_cast<std::size_t>(t)];
    if (!view.empty()) return view;
    const Tensor& x = tensor(t);
    if (x.constant) write_constant(x);
    const std::string& stored = x.constant ? x.name : value_[static_cast<std::size_t>(t)];
    view = x.dtype == DType::float32 ? stored : dequantize(t, x.name, stored, fresh(names_, x.name + ".dq"));
    return view;
  }

  const Tensor& output(const Op& op) const { return tensor(op.output); }

  // Where an operator's float result goes: the output itself, or what QuantizeLinear reads.
  std::string result(const Op& op) {
    const Tensor& y = output(op);
    return y.dtype == DType::int8 ? fresh(names_, y.name + ".float") : y.name;
  }

  // The node before a fused ReLU writes a name of its own; ReLU then writes `dst`.
  std::string pre_activation(const Op& op, const std::string& dst) {
    return op.activation == Activation::relu ? fresh(names_, dst + ".linear") : dst;
  }
  void activate(const Op& op, const std::string& pre, const std::string& dst) {
    if (op.activation == Activation::relu) node(op.name, "Relu", {pre}, dst);
  }

  // The float result becomes the output tensor: quantized under its graph name when int8.
  void commit(const Op& op, const std::string& result) {
    const Tensor& y = output(op);
    if (y.dtype != DType::int8) return set_float(op.output, result);
    const auto& [scale, zero_point] = quant_params(op.output);
    node(op.name, "QuantizeLinear", {result, scale, zero_point}, y.name);
    value_[static_cast<std::size_t>(op.output)] = y.name;
  }

  void emit_weighted(const Op& op, const std::string& type) {
    std::vector<std::string> inputs;
    for (int t : op.inputs) inputs.push_back(read(t));
    const std::string dst = result(op);
    const std::string pre = pre_activation(op, dst);
    onnx::NodeProto& n = node(op.name, type, inputs, pre);
    if (op.kind == OpKind::fully_connected) {
      set_int(n, "transB", 1);  // weights [O, I]
    } else {
      const Shape& w = tensor(op.inputs[1]).shape;
      set_ints(n, "kernel_shape", {w[1], w[2]});
      set_ints(n, "pads", {w[1] / 2, w[2] / 2, w[1] / 2, w[2] / 2});  // "same" for odd kernels
      set_ints(n, "strides", {1, 1});
    }
    activate(op, pre, dst);
    commit(op, dst);
  }

  void emit_add(const Op& op) {
    const std::vector<std::string> inputs{read(op.inputs[0]), read(op.inputs[1])};
    const std::string dst = result(op);
    const std::string pre = pre_activation(op, dst);
    node(op.name, "Add", inputs, pre);
    activate(op, pre, dst);
    commit(op, dst);
  }

  void emit_pool(const Op& op) {
    const std::string in = read(op.inputs[0]);
    const std::string dst = result(op);
    onnx::NodeProto& n = node(op.name, "MaxPool", {in}, dst);
    set_ints(n, "kernel_shape", {op.pool, op.pool});
    set_ints(n, "strides", {op.pool, op.pool});
    commit(op, dst);
  }

  // In the graph's (H, W, C) element order: 4-D values go back to NHWC first (and a 4-D
  // result to NCHW after).
  void emit_reshape(const Op& op) {
    const Tensor& x = tensor(op.inputs[0]);
    const Tensor& y = output(op);
    std::string in = read(op.inputs[0]);
    if (x.shape.size() == 4) in = transpose(op.name, in, kToNhwc, fresh(names_, x.name + ".nhwc"));
    const std::string shape = initializer(fresh(names_, op.name + ".shape"), onnx::TensorProto_DataType_INT64,
                                                        Shape{static_cast<std::int64_t>(y.shape.size())},
                                                        raw_data(y.shape));
    const std::string dst = result(op);
    if (y.shape.size() == 4) {
      const std::string nhwc = fresh(names_, y.name + ".nhwc");
      node(op.name, "Reshape", {in, shape}, nhwc);
      transpose(op.name, nhwc, kToNchw, dst);
    } else {
      node(op.name, "Reshape", {in, shape}, dst);
    }
    commit(op, dst);
  }

  Status emit(std::size_t index) {
    const Op& op = g_.ops[index];
    switch (op.kind) {
      case OpKind::quantize: commit(op, read(op.inputs[0])); return {};
      case OpKind::dequantize: {
        const int in = op.inputs[0];
        set_float(op.output, dequantize(in, op.name, value_[static_cast<std::size_t>(in)], output(op).name));
        return {};
      }
      case OpKind::conv2d: emit_weighted(op, "Conv"); return {};
      case OpKind::fully_connected: emit_weighted(op, "Gemm"); return {};
      case OpKind::max_pool2d: emit_pool(op); return {};
      case OpKind::add: emit_add(op); return {};
      case OpKind::reshape: emit_reshape(op); return {};
    }
    return refuse("op " + std::to_string(index) + " '" + op.name + "' (" + std::string(to_string(op.kind)) +
                  "): no ONNX translation");
  }

  const Graph& g_;
  onnx::GraphProto& out_;
  std::vector<std::string> value_;       // per tensor
  std::vector<std::string> float_view_;  // per tensor, "" until first read
  std::vector<std::pair<std::string, std::string>> quant_;  // per tensor: scale, zero point
  std::set<std::string> names_;       // values and initializers, the graph's names included
  std::set<std::string> node_names_;
};

}  // namespace

Result<Bytes> write_onnx(const Graph& graph, const OnnxOptions& options) {
  if (Status valid = graph.validate(); !valid) return refuse(valid.error().detail);
  onnx::ModelProto model;
  model.set_ir_version(kIrVersion);
  model.set_producer_name(options.producer);
  onnx::OperatorSetIdProto& opset = *model.add_opset_import();
  opset.set_domain("");
  opset.set_version(kOpset);
  onnx::GraphProto& g = *model.mutable_graph();
  g.set_name("edgefed");
  EDGEFED_TRY(OnnxBuilder(graph, g).build());

  const std::size_t size = model.ByteSizeLong();
  if (size > INT_MAX) return refuse(std::to_string(size) + " bytes, over protobuf's 2 GiB limit");
  Bytes bytes(size);
  if (!model.SerializeToArray(bytes.data(), static_cast<int>(size))) return refuse("protobuf serialization failed");
  try {
    check_or_throw(model);
  } catch (const std::exception& e) {
    return refuse(std::string("the ONNX checker rejects the model: ") + e.what());
  }
  return bytes;
}

Status check_onnx(ByteSpan bytes) {
  onnx::ModelProto model;
  if (bytes.size() > INT_MAX || !model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return fail(ErrorCode::bad_encoding, "ONNX check: " + std::to_string(bytes.size()) + " bytes are not a ModelProto");
  }
  try {
    check_or_throw(model);
  } catch (const std::exception& e) {
    return fail(ErrorCode::bad_value, std::string("ONNX check: ") + e.what());
  }
  return {};
}

}  // namespace edgefed::exporter
