#include "edgefed/export/tflite.hpp"

#include "tflite_subset_generated.h"

#include <algorithm>
#include <memory>
#include <set>
#include <utility>

namespace edgefed::exporter {
namespace {

namespace tfl = edgefed::tflite;
using runtime::DType;
using runtime::Op;
using runtime::OpKind;

constexpr std::uint32_t kSchemaVersion = 3;
// A flatbuffer addresses under 2 GiB; constants up to half of it leave room for the tables.
constexpr std::size_t kMaxConstantBytes = std::size_t{1} << 30;
// The int8 softmax output every TFLite kernel requires: [0, 1) in steps of 1/256.
constexpr float kSoftmaxScale = 1.0f / 256.0f;
constexpr std::int64_t kSoftmaxZeroPoint = -128;
// The old int8 field deprecated_builtin_code holds operator numbers up to 127; an operator
// numbered higher stores 127 there (upstream calls it PLACEHOLDER_FOR_GREATER_OP_CODES) and
// is named by builtin_code alone. Every operator we write is below 127.
constexpr int kMaxDeprecatedBuiltinCode = 127;

Error refuse(const std::string& what) { return fail(ErrorCode::invalid_argument, "TFLite export: " + what); }

std::string op_label(const runtime::Graph& g, int index) {
  const Op& op = g.ops[static_cast<std::size_t>(index)];
  return "op " + std::to_string(index) + " '" + op.name + "' (" + std::string(runtime::to_string(op.kind)) + ")";
}

std::string tensor_label(const runtime::Graph& g, int index) {
  return "tensor " + std::to_string(index) + " '" + g.tensors[static_cast<std::size_t>(index)].name + "'";
}

tfl::TensorType tensor_type(DType d) {
  switch (d) {
    case DType::float32: return tfl::TensorType_FLOAT32;
    case DType::int8: return tfl::TensorType_INT8;
    case DType::int32: return tfl::TensorType_INT32;
  }
  return tfl::TensorType_FLOAT32;  // unreachable after Graph::validate
}

tfl::ActivationFunctionType fused(runtime::Activation a) {
  return a == runtime::Activation::relu ? tfl::ActivationFunctionType_RELU : tfl::ActivationFunctionType_NONE;
}

template <typename T>
Bytes little_endian(const std::vector<T>& values) {
  Bytes out;
  out.reserve(values.size() * sizeof(T));
  ByteWriter w(out);
  for (T v : values) w.put(v);
  return out;
}

std::size_t constant_bytes(const runtime::Graph& g) {
  std::size_t n = 0;
  for (const runtime::Tensor& t : g.tensors) n += t.f32.size() * 4 + t.i8.size() + t.i32.size() * 4;
  return n;
}

// A tensor as the file will hold it (graph tensors and the few the exporter adds).
struct TensorSpec {
  std::string name;
  Shape shape;
  DType dtype = DType::float32;
  std::vector<float> scales;
  std::vector<std::int64_t> zero_points;
  Bytes data;  // constants only
};

// Which of the graph's edge operators the file leaves out (TfliteOptions::int8_io, softmax).
struct Edges {
  int skip_quantize = -1;    // op index, or -1
  int skip_dequantize = -1;  // op index, or -1
};

class Writer {
 public:
  Writer(const runtime::Graph& g, const TfliteOptions& options)
      : g_(g), options_(options), index_(g.tensors.size(), -1) {
    for (const runtime::Tensor& t : g.tensors) names_.insert(t.name);
  }

  Result<Bytes> write() {
    if (auto st = g_.validate(); !st) return refuse("invalid graph: " + st.error().detail);
    if (const std::size_t n = constant_bytes(g_); n > kMaxConstantBytes) {
      return refuse("the constants take " + std::to_string(n) + " bytes, over the " +
                    std::to_string(kMaxConstantBytes) + " a flatbuffer can hold with its tables");
    }
    EDGEFED_ASSIGN_OR_RETURN(const Edges edges, plan_edges());
    start_model();
    const int input = edges.skip_quantize >= 0 ? edge_op(edges.skip_quantize).output : g_.input;
    sub_->inputs = {tensor(input)};
    for (std::size_t i = 0; i < g_.ops.size(); ++i) {
      const int index = static_cast<int>(i);
      if (index != edges.skip_quantize && index != edges.skip_dequantize) translate(g_.ops[i]);
    }
    int output = edges.skip_dequantize >= 0 ? tensor(edge_op(edges.skip_dequantize).inputs[0]) : tensor(g_.output);
    // Softmax with float I/O on an int8 graph: the graph's dequantize moves after the softmax.
    const bool dequantize_last = edges.skip_dequantize >= 0 && !options_.int8_io;
    if (options_.softmax) output = add_softmax(output, dequantize_last ? "probabilities.int8" : "probabilities");
    if (dequantize_last) {
      const Shape shape = specs_[static_cast<std::size_t>(output)].shape;
      const int y = add_tensor({unique_name("probabilities"), shape, DType::float32, {}, {}, {}});
      add_op(tfl::BuiltinOperator_DEQUANTIZE, 2, {output}, y, tfl::DequantizeOptionsT{});
      output = y;
    }
    sub_->outputs = {output};
    return finish();
  }

 private:
  const Op& edge_op(int index) const { return g_.ops[static_cast<std::size_t>(index)]; }

  // The ops reading `tensor`, by index.
  std::vector<int> readers(int tensor) const {
    std::vector<int> out;
    for (std::size_t i = 0; i < g_.ops.size(); ++i) {
      const std::vector<int>& in = g_.ops[i].inputs;
      if (std::find(in.begin(), in.end(), tensor) != in.end()) out.push_back(static_cast<int>(i));
    }
    return out;
  }

  Result<Edges> plan_edges() const {
    Edges e;
    int dequantize = -1;
    for (std::size_t i = 0; i < g_.ops.size(); ++i) {
      if (g_.ops[i].output == g_.output && g_.ops[i].kind == OpKind::dequantize) dequantize = static_cast<int>(i);
    }
    const std::string output = "graph output, " + tensor_label(g_, g_.output);
    if (options_.int8_io) {
      if (!g_.is_int8()) {
        return refuse("int8 I/O asked of a float32 graph (no int8 tensors): export it with float I/O, or quantize "
                      "it first (edgefed-model quantize)");
      }
      const std::vector<int> in = readers(g_.input);
      if (in.size() != 1 || edge_op(in[0]).kind != OpKind::quantize) {
        std::string who;
        for (int r : in) who += (who.empty() ? "" : ", ") + op_label(g_, r);
        return refuse("int8 I/O: graph input, " + tensor_label(g_, g_.input) + ", is read by " +
                      (who.empty() ? std::string("no operator") : who) +
                      "; int8 I/O needs exactly one quantize reading it. Export with float I/O");
      }
      if (dequantize < 0) {
        return refuse("int8 I/O: " + output + " is not written by a dequantize; export with float I/O");
      }
      e.skip_quantize = in[0];
    }
    if (dequantize >= 0 && (options_.int8_io || options_.softmax)) {
      if (const std::vector<int> r = readers(g_.output); !r.empty()) {
        return refuse(output + " is also read by " + op_label(g_, r[0]) +
                      ", so its dequantize cannot be left out for int8 I/O or moved after a softmax; export with "
                      "float I/O and without softmax");
      }
      e.skip_dequantize = dequantize;
    }
    return e;
  }

  void start_model() {
    model_.version = kSchemaVersion;
    model_.description = options_.description;
    model_.buffers.push_back(std::make_unique<tfl::BufferT>());  // 0: empty, shared by activations
    auto sub = std::make_unique<tfl::SubGraphT>();
    sub->name = "main";
    sub_ = sub.get();
    model_.subgraphs.push_back(std::move(sub));
  }

  std::string unique_name(const std::string& base) {
    std::string name = base;
    for (int k = 2; !names_.insert(name).second; ++k) name = base + "_" + std::to_string(k);
    return name;
  }

  int add_tensor(TensorSpec spec) {
    auto t = std::make_unique<tfl::TensorT>();
    t->name = spec.name;
    t->type = tensor_type(spec.dtype);
    for (std::int64_t d : spec.shape) t->shape.push_back(static_cast<std::int32_t>(d));  // validate: <= 2^24
    if (!spec.scales.empty()) {
      t->quantization = std::make_unique<tfl::QuantizationParametersT>();
      t->quantization->scale = spec.scales;
      t->quantization->zero_point = spec.zero_points;
      t->quantization->quantized_dimension = 0;  // the only axis a graph quantizes
    }
    if (!spec.data.empty()) {
      auto buffer = std::make_unique<tfl::BufferT>();
      buffer->data = std::move(spec.data);
      t->buffer = static_cast<std::uint32_t>(model_.buffers.size());
      model_.buffers.push_back(std::move(buffer));
    }
    sub_->tensors.push_back(std::move(t));
    specs_.push_back(std::move(spec));
    return static_cast<int>(sub_->tensors.size() - 1);
  }

  // The file's index of graph tensor `i`, added on first use.
  int tensor(int i) {
    int& index = index_[static_cast<std::size_t>(i)];
    if (index >= 0) return index;
    const runtime::Tensor& t = g_.tensors[static_cast<std::size_t>(i)];
    TensorSpec spec{t.name, t.shape, t.dtype, t.quant.scales, {}, {}};
    spec.zero_points.assign(t.quant.zero_points.begin(), t.quant.zero_points.end());
    if (t.constant) {
      spec.data = t.dtype == DType::float32 ? little_endian(t.f32)
                  : t.dtype == DType::int8  ? little_endian(t.i8)
                                            : little_endian(t.i32);
    }
    index = add_tensor(std::move(spec));
    return index;
  }

  std::uint32_t opcode(tfl::BuiltinOperator code, int version) {
    for (std::size_t i = 0; i < model_.operator_codes.size(); ++i) {
      const tfl::OperatorCodeT& c = *model_.operator_codes[i];
      if (c.builtin_code == code && c.version == version) return static_cast<std::uint32_t>(i);
    }
    auto c = std::make_unique<tfl::OperatorCodeT>();
    c->builtin_code = code;
    c->deprecated_builtin_code = static_cast<std::int8_t>(std::min<int>(code, kMaxDeprecatedBuiltinCode));
    c->version = version;
    model_.operator_codes.push_back(std::move(c));
    return static_cast<std::uint32_t>(model_.operator_codes.size() - 1);
  }

  template <typename Options>
  void add_op(tfl::BuiltinOperator code, int version, std::vector<int> inputs, int output, Options options) {
    auto op = std::make_unique<tfl::OperatorT>();
    op->opcode_index = opcode(code, version);
    op->inputs = std::move(inputs);
    op->outputs = {output};
    op->builtin_options.Set(std::move(options));
    sub_->operators.push_back(std::move(op));
  }

  // A conv2d / fully_connected without a bias gets zeros at the scales the int8 spec asks of
  // a bias (input scale × weight scale[c]).
  int zero_bias(const Op& op) {
    const runtime::Tensor& x = g_.tensors[static_cast<std::size_t>(op.inputs[0])];
    const runtime::Tensor& w = g_.tensors[static_cast<std::size_t>(op.inputs[1])];
    const auto channels = static_cast<std::size_t>(w.shape[0]);
    TensorSpec spec{unique_name(op.name + ".bias"), {w.shape[0]}, DType::float32, {}, {}, Bytes(channels * 4, 0)};
    if (w.dtype == DType::int8) {
      spec.dtype = DType::int32;
      for (float s : w.quant.scales) spec.scales.push_back(x.quant.scales[0] * s);
      spec.zero_points.assign(spec.scales.size(), 0);
    }
    return add_tensor(std::move(spec));
  }

  // RESHAPE's second input: the output shape as an int32 constant.
  int shape_input(const Op& op) {
    const Shape& shape = g_.tensors[static_cast<std::size_t>(op.output)].shape;
    const std::vector<std::int32_t> dims(shape.begin(), shape.end());
    return add_tensor({unique_name(op.name + ".shape"), {static_cast<std::int64_t>(dims.size())}, DType::int32, {}, {},
                       little_endian(dims)});
  }

  void translate(const Op& op) {
    const bool int8 = g_.tensors[static_cast<std::size_t>(op.inputs[0])].dtype == DType::int8;
    std::vector<int> inputs;
    for (int i : op.inputs) inputs.push_back(tensor(i));
    const bool weighted = op.kind == OpKind::conv2d || op.kind == OpKind::fully_connected;
    if (weighted && op.inputs.size() == 2) inputs.push_back(zero_bias(op));
    if (op.kind == OpKind::reshape) inputs.push_back(shape_input(op));
    const int y = tensor(op.output);
    switch (op.kind) {
      case OpKind::quantize:
        add_op(tfl::BuiltinOperator_QUANTIZE, 1, std::move(inputs), y, tfl::QuantizeOptionsT{});
        return;
      case OpKind::dequantize:
        add_op(tfl::BuiltinOperator_DEQUANTIZE, 2, std::move(inputs), y, tfl::DequantizeOptionsT{});
        return;
      case OpKind::conv2d: {
        tfl::Conv2DOptionsT o;
        o.padding = tfl::Padding_SAME;
        o.stride_w = o.stride_h = 1;
        o.fused_activation_function = fused(op.activation);
        add_op(tfl::BuiltinOperator_CONV_2D, int8 ? 3 : 1, std::move(inputs), y, o);
        return;
      }
      case OpKind::max_pool2d: {
        tfl::Pool2DOptionsT o;
        o.padding = tfl::Padding_VALID;
        o.stride_w = o.stride_h = o.filter_width = o.filter_height = op.pool;
        add_op(tfl::BuiltinOperator_MAX_POOL_2D, int8 ? 2 : 1, std::move(inputs), y, o);
        return;
      }
      case OpKind::add: {
        tfl::AddOptionsT o;
        o.fused_activation_function = fused(op.activation);
        add_op(tfl::BuiltinOperator_ADD, int8 ? 2 : 1, std::move(inputs), y, o);
        return;
      }
      case OpKind::reshape: {
        tfl::ReshapeOptionsT o;
        const Shape& shape = g_.tensors[static_cast<std::size_t>(op.output)].shape;
        o.new_shape.assign(shape.begin(), shape.end());
        add_op(tfl::BuiltinOperator_RESHAPE, 1, std::move(inputs), y, o);
        return;
      }
      case OpKind::fully_connected: {
        tfl::FullyConnectedOptionsT o;
        o.fused_activation_function = fused(op.activation);
        add_op(tfl::BuiltinOperator_FULLY_CONNECTED, int8 ? 4 : 1, std::move(inputs), y, o);
        return;
      }
    }
  }

  int add_softmax(int logits, const std::string& name) {
    const DType dtype = specs_[static_cast<std::size_t>(logits)].dtype;
    const bool int8 = dtype == DType::int8;
    TensorSpec y{unique_name(name), specs_[static_cast<std::size_t>(logits)].shape, dtype, {}, {}, {}};
    if (int8) {
      y.scales = {kSoftmaxScale};
      y.zero_points = {kSoftmaxZeroPoint};
    }
    const int out = add_tensor(std::move(y));
    tfl::SoftmaxOptionsT o;
    o.beta = 1.0f;
    add_op(tfl::BuiltinOperator_SOFTMAX, int8 ? 2 : 1, {logits}, out, o);
    return out;
  }

  Result<Bytes> finish() const {
    flatbuffers::FlatBufferBuilder fbb(1024 + constant_bytes(g_));
    tfl::FinishModelBuffer(fbb, tfl::Model::Pack(fbb, &model_));
    flatbuffers::Verifier verifier(fbb.GetBufferPointer(), fbb.GetSize());
    if (!tfl::VerifyModelBuffer(verifier)) {
      return fail(ErrorCode::bad_encoding, "TFLite export: the written flatbuffer does not verify (exporter bug)");
    }
    return Bytes(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
  }

  const runtime::Graph& g_;
  const TfliteOptions& options_;
  std::vector<int> index_;          // per graph tensor: its index in the file, -1 until used
  std::vector<TensorSpec> specs_;   // per file tensor, what was written
  std::set<std::string> names_;     // every name taken: the graph's and the added ones
  tfl::ModelT model_;
  tfl::SubGraphT* sub_ = nullptr;
};

std::string type_name(tfl::TensorType t) {
  const char* name = tfl::EnumNameTensorType(t);
  return *name ? name : "TYPE_" + std::to_string(static_cast<int>(t));
}

Result<TfliteTensorInfo> tensor_info(const tfl::SubGraph& sub, const flatbuffers::Vector<std::int32_t>* ends,
                                     const char* role) {
  if (!ends || ends->size() != 1) {
    const std::string count = ends ? std::to_string(ends->size()) : "no";
    return fail(ErrorCode::bad_value, "TFLite file: the subgraph has " + count + " " + role + "s, expected 1");
  }
  const std::int32_t i = ends->Get(0);
  if (!sub.tensors() || i < 0 || static_cast<std::uint32_t>(i) >= sub.tensors()->size()) {
    return fail(ErrorCode::bad_value,
                std::string("TFLite file: ") + role + " tensor index " + std::to_string(i) + " out of range");
  }
  const tfl::Tensor& t = *sub.tensors()->Get(static_cast<flatbuffers::uoffset_t>(i));
  TfliteTensorInfo info;
  if (t.name()) info.name = t.name()->str();
  info.type = type_name(t.type());
  if (t.shape()) info.shape.assign(t.shape()->begin(), t.shape()->end());
  if (const tfl::QuantizationParameters* q = t.quantization()) {
    if (q->scale()) info.scales.assign(q->scale()->begin(), q->scale()->end());
    if (q->zero_point()) info.zero_points.assign(q->zero_point()->begin(), q->zero_point()->end());
  }
  return info;
}

}  // namespace

Result<Bytes> write_tflite(const runtime::Graph& graph, const TfliteOptions& options) {
  return Writer(graph, options).write();
}

Result<TfliteInfo> inspect_tflite(ByteSpan bytes) {
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  if (!tfl::VerifyModelBuffer(verifier)) {
    return fail(ErrorCode::bad_encoding, "TFLite file: not a valid TFLite (TFL3) flatbuffer");
  }
  const tfl::Model& model = *tfl::GetModel(bytes.data());
  if (!model.subgraphs() || model.subgraphs()->size() != 1) {
    return fail(ErrorCode::bad_value, "TFLite file: " +
                                          std::to_string(model.subgraphs() ? model.subgraphs()->size() : 0) +
                                          " subgraphs, expected 1");
  }
  const tfl::SubGraph& sub = *model.subgraphs()->Get(0);
  TfliteInfo info;
  info.operators = sub.operators() ? sub.operators()->size() : 0;
  if (model.description()) info.description = model.description()->str();
  EDGEFED_ASSIGN_OR_RETURN(info.input, tensor_info(sub, sub.inputs(), "input"));
  EDGEFED_ASSIGN_OR_RETURN(info.output, tensor_info(sub, sub.outputs(), "output"));
  return info;
}

}  // namespace edgefed::exporter
