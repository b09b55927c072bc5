#include "edgefed/compress/ptq.hpp"

#include "edgefed/common/quant.hpp"
#include "edgefed/runtime/interpreter.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace edgefed::compress {

using runtime::DType;
using runtime::Graph;
using runtime::Op;
using runtime::OpKind;
using runtime::Tensor;

SymmetricWeights quantize_weights_symmetric(std::span<const float> values, std::int64_t out_channels,
                                            bool per_channel) {
  SymmetricWeights out;
  out.codes.resize(values.size());
  const std::size_t groups = per_channel ? static_cast<std::size_t>(std::max<std::int64_t>(out_channels, 1)) : 1;
  const std::size_t per_group = groups ? values.size() / groups : 0;
  for (std::size_t g = 0; g < groups; ++g) {
    const auto slice = values.subspan(g * per_group, per_group);
    float max_abs = 0;
    for (float v : slice) max_abs = std::max(max_abs, std::fabs(v));
    const float scale = max_abs > 0 ? max_abs / kInt8SymmetricMax : kEmptyChannelScale;
    out.scales.push_back(scale);
    for (std::size_t i = 0; i < slice.size(); ++i) {
      const float q = std::round(slice[i] / scale);
      out.codes[g * per_group + i] =
          static_cast<std::int8_t>(std::clamp(q, -static_cast<float>(kInt8SymmetricMax), static_cast<float>(kInt8SymmetricMax)));
    }
  }
  return out;
}

Result<ActivationRanges> calibrate(const Graph& float_graph, const data::Dataset& representative,
                                   const CalibrationConfig& config) {
  if (float_graph.is_int8()) return fail(ErrorCode::invalid_argument, "calibrate: the graph is already int8");
  if (representative.empty() || config.samples == 0) {
    return fail(ErrorCode::invalid_argument, "calibrate: no representative samples");
  }
  EDGEFED_ASSIGN_OR_RETURN(runtime::Interpreter interpreter, runtime::Interpreter::create(float_graph));
  if (representative.image_size() != interpreter.input_size()) {
    return fail(ErrorCode::invalid_argument, "calibrate: images have " + std::to_string(representative.image_size()) +
                                                 " values, the graph takes " + std::to_string(interpreter.input_size()));
  }
  const std::size_t n = std::min(config.samples, representative.size());
  std::vector<RangeObserver> observers(float_graph.tensors.size());
  std::vector<float> logits(interpreter.output_size());
  for (int pass = 0; pass < 2; ++pass) {
    const auto observe = [&](int tensor, std::span<const float> values) {
      RangeObserver& o = observers[static_cast<std::size_t>(tensor)];
      if (pass == 0) o.observe_minmax(values);
      else o.observe_histogram(values);
    };
    for (std::size_t i = 0; i < n; ++i) EDGEFED_TRY(interpreter.invoke(representative.image(i), logits, observe));
  }
  ActivationRanges ranges;
  for (std::size_t t = 0; t < float_graph.tensors.size(); ++t) {
    if (float_graph.tensors[t].constant) continue;
    ranges[float_graph.tensors[t].name] = observers[t].range(config.method, config.percentile);
  }
  return ranges;
}

namespace {

class Quantizer {
 public:
  Quantizer(const Graph& in, const ActivationRanges& ranges) : in_(in), ranges_(ranges) {}

  Result<Graph> run() {
    map_.assign(in_.tensors.size(), -1);
    const Tensor& input = in_.tensors[static_cast<std::size_t>(in_.input)];
    out_.input = out_.add_tensor(Tensor{input});
    EDGEFED_ASSIGN_OR_RETURN(const int input_q, activation(input, input.name + ".q"));
    out_.add_op(OpKind::quantize, "quantize", {out_.input}, input_q);
    map_[static_cast<std::size_t>(in_.input)] = input_q;
    for (const Op& op : in_.ops) EDGEFED_TRY(quantize_op(op));
    const Tensor& logits = in_.tensors[static_cast<std::size_t>(in_.output)];
    Tensor float_logits{logits};
    out_.output = out_.add_tensor(std::move(float_logits));
    out_.add_op(OpKind::dequantize, "dequantize", {map_[static_cast<std::size_t>(in_.output)]}, out_.output);
    EDGEFED_TRY(out_.validate());
    return std::move(out_);
  }

 private:
  // An int8 activation like `like`, quantized over the calibrated range of `like.name`.
  Result<int> activation(const Tensor& like, std::string name) {
    const auto r = ranges_.find(like.name);
    if (r == ranges_.end()) {
      return fail(ErrorCode::schema_mismatch, "quantize: no calibrated range for activation '" + like.name + "'");
    }
    return activation_with(like, std::move(name), affine_params(r->second));
  }

  int activation_with(const Tensor& like, std::string name, AffineParams p) {
    Tensor t;
    t.name = std::move(name);
    t.shape = like.shape;
    t.dtype = DType::int8;
    t.quant.scales = {p.scale};
    t.quant.zero_points = {p.zero_point};
    return out_.add_tensor(std::move(t));
  }

  // int32 codes at scale s_in × s_w[c]: one bias scale per weight scale (per channel for
  // conv, one for the FC head).
  static Tensor quantize_bias(const Tensor& b, float s_in, const std::vector<float>& weight_scales) {
    Tensor bq;
    bq.name = b.name;
    bq.shape = b.shape;
    bq.dtype = DType::int32;
    bq.constant = true;
    for (float s_w : weight_scales) bq.quant.scales.push_back(s_in * s_w);
    for (std::size_t c = 0; c < b.f32.size(); ++c) {
      const float s = bq.quant.scales[bq.quant.scales.size() == 1 ? 0 : c];
      const double code = std::round(static_cast<double>(b.f32[c]) / s);
      bq.i32.push_back(static_cast<std::int32_t>(std::clamp(code, static_cast<double>(std::numeric_limits<std::int32_t>::min()),
                                                            static_cast<double>(std::numeric_limits<std::int32_t>::max()))));
    }
    bq.quant.zero_points.assign(bq.quant.scales.size(), 0);
    return bq;
  }

  const Tensor& source(int index) const { return in_.tensors[static_cast<std::size_t>(index)]; }

  Status quantize_op(const Op& op) {
    const Tensor& output = source(op.output);
    // The float logits keep their name at the graph's edge; the int8 ones get a suffix.
    const std::string name = op.output == in_.output ? output.name + ".q" : output.name;
    const int x = map_[static_cast<std::size_t>(op.inputs[0])];
    int y = -1;
    std::vector<int> inputs{x};
    switch (op.kind) {
      case OpKind::conv2d:
      case OpKind::fully_connected: {
        const bool per_channel = op.kind == OpKind::conv2d;
        const Tensor& w = source(op.inputs[1]);
        SymmetricWeights q = quantize_weights_symmetric(w.f32, w.shape[0], per_channel);
        const float s_in = out_.tensors[static_cast<std::size_t>(x)].quant.scales[0];
        Tensor wq;
        wq.name = w.name;
        wq.shape = w.shape;
        wq.dtype = DType::int8;
        wq.constant = true;
        wq.i8 = std::move(q.codes);
        wq.quant.scales = q.scales;
        wq.quant.zero_points.assign(q.scales.size(), 0);
        inputs.push_back(out_.add_tensor(std::move(wq)));
        if (op.inputs.size() > 2) inputs.push_back(out_.add_tensor(quantize_bias(source(op.inputs[2]), s_in, q.scales)));
        EDGEFED_ASSIGN_OR_RETURN(y, activation(output, name));
        break;
      }
      case OpKind::add: {
        inputs.push_back(map_[static_cast<std::size_t>(op.inputs[1])]);
        EDGEFED_ASSIGN_OR_RETURN(y, activation(output, name));
        break;
      }
      case OpKind::max_pool2d:
      case OpKind::reshape: {  // int8 output keeps the input's grid exactly
        const runtime::Quantization& q = out_.tensors[static_cast<std::size_t>(x)].quant;
        y = activation_with(output, name, {q.scales[0], q.zero_points[0]});
        break;
      }
      case OpKind::quantize:
      case OpKind::dequantize:
        return fail(ErrorCode::invalid_argument, "quantize: operator '" + op.name + "' is already a quantization step");
    }
    map_[static_cast<std::size_t>(op.output)] = y;
    Op copy = op;
    copy.inputs = std::move(inputs);
    copy.output = y;
    out_.ops.push_back(std::move(copy));
    return {};
  }

  const Graph& in_;
  const ActivationRanges& ranges_;
  Graph out_;
  std::vector<int> map_;  // float graph tensor → int8 graph tensor
};

}  // namespace

Result<Graph> quantize_graph(const Graph& float_graph, const ActivationRanges& ranges) {
  EDGEFED_TRY(float_graph.validate());
  if (float_graph.is_int8()) return fail(ErrorCode::invalid_argument, "quantize: the graph is already int8");
  return Quantizer(float_graph, ranges).run();
}

}  // namespace edgefed::compress
