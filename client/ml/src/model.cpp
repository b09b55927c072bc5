#include "model_impl.hpp"

#include "edgefed/common/artifact.hpp"
#include "edgefed/common/quant.hpp"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/functional/pooling.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <ATen/Parallel.h>

#include <cmath>
#include <cstring>
#include <numeric>

namespace edgefed::ml {

namespace F = torch::nn::functional;

// ---- the default CNN -------------------------------------------------------------------

namespace {

struct AdapterImpl : torch::nn::Module {
  AdapterImpl(std::int64_t channels, std::int64_t rank)
      : down(register_module("down", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, rank, 1).bias(false)))),
        up(register_module("up", torch::nn::Conv2d(torch::nn::Conv2dOptions(rank, channels, 1).bias(false)))) {}
  torch::Tensor forward(const torch::Tensor& x) { return x + up(F::relu(down(x))); }
  torch::nn::Conv2d down;
  torch::nn::Conv2d up;
};
TORCH_MODULE(Adapter);

struct CnnImpl : torch::nn::Module {
  explicit CnnImpl(const CnnConfig& c) {
    std::int64_t in = 1;
    std::int64_t side = c.image_size;
    for (std::size_t i = 0; i < c.channels.size(); ++i) {
      const std::int64_t out = c.channels[i];
      const std::string n = std::to_string(i + 1);
      convs.push_back(register_module("conv" + n, torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).bias(false))));
      bns.push_back(register_module("bn" + n, torch::nn::BatchNorm2d(out)));
      adapters.push_back(register_module("adapter" + n, Adapter(out, c.adapter_rank(i))));
      if (i + 1 < c.channels.size()) side /= 2;  // pool after every block but the last
      in = out;
    }
    head = register_module("head", torch::nn::Linear(in * side * side, c.num_classes));
  }

  torch::Tensor forward(torch::Tensor x) {
    for (std::size_t i = 0; i < convs.size(); ++i) {
      x = adapters[i]->forward(F::relu(bns[i]->forward(convs[i]->forward(x))));
      if (i + 1 < convs.size()) x = F::max_pool2d(x, F::MaxPool2dFuncOptions(2));
    }
    return head->forward(x.flatten(1));
  }

  std::vector<torch::nn::Conv2d> convs;
  std::vector<torch::nn::BatchNorm2d> bns;
  std::vector<Adapter> adapters;
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(Cnn);

// splitmix64: portable, so the fixed adapter projections are the same on every device.
std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void fill_fixed_projection(torch::Tensor w, std::uint64_t seed) {
  torch::NoGradGuard no_grad;
  std::uint64_t state = seed;
  const double fan_in = static_cast<double>(w.size(1));
  auto acc = w.accessor<float, 4>();
  for (std::int64_t o = 0; o < w.size(0); ++o) {
    for (std::int64_t i = 0; i < w.size(1); ++i) {
      // Uniform in ±sqrt(3 / fan_in): unit variance per output for unit-variance inputs.
      const double u = static_cast<double>(splitmix(state) >> 11) * 0x1.0p-53;
      acc[o][i][0][0] = static_cast<float>((2 * u - 1) * std::sqrt(3.0 / fan_in));
    }
  }
}

Shape shape_of(const torch::Tensor& t) { return Shape(t.sizes().begin(), t.sizes().end()); }

}  // namespace

std::int64_t CnnConfig::adapter_rank(std::size_t i) const {
  return adapter_ranks.empty() ? std::max<std::int64_t>(1, channels[i] / adapter_ratio) : adapter_ranks[i];
}

nlohmann::json CnnConfig::to_json() const {
  nlohmann::json j = {{"name", "edgefed-cnn"}, {"version", 1}, {"channels", channels}, {"adapter_ratio", adapter_ratio},
                      {"num_classes", num_classes}, {"image_size", image_size}, {"adapter_seed", adapter_seed}};
  if (!adapter_ranks.empty()) j["adapter_ranks"] = adapter_ranks;  // older readers never see the key
  return j;
}

Result<CnnConfig> CnnConfig::from_json(const nlohmann::json& j) {
  if (!j.is_object() || j.value("name", "") != "edgefed-cnn") {
    return fail(ErrorCode::schema_mismatch, "not an edgefed-cnn architecture");
  }
  CnnConfig c;
  try {
    c.channels = j.at("channels").get<std::vector<std::int64_t>>();
    c.adapter_ratio = j.at("adapter_ratio").get<std::int64_t>();
    c.num_classes = j.at("num_classes").get<std::int64_t>();
    c.image_size = j.at("image_size").get<std::int64_t>();
    c.adapter_seed = j.at("adapter_seed").get<std::uint64_t>();
    if (j.contains("adapter_ranks")) c.adapter_ranks = j.at("adapter_ranks").get<std::vector<std::int64_t>>();
  } catch (const std::exception& e) {
    return fail(ErrorCode::bad_value, std::string("architecture: ") + e.what());
  }
  const bool sane = !c.channels.empty() && c.channels.size() <= 6 && c.adapter_ratio >= 1 && c.num_classes >= 2 &&
                    c.image_size >= 4 && c.image_size <= 512 &&
                    std::all_of(c.channels.begin(), c.channels.end(), [](auto v) { return v >= 1 && v <= 1024; });
  if (!sane) return fail(ErrorCode::bad_value, "architecture: parameters out of range");
  const auto rank_ok = [](std::int64_t v) { return v >= 1 && v <= 1024; };
  if (!c.adapter_ranks.empty() && (c.adapter_ranks.size() != c.channels.size() ||
                                   !std::all_of(c.adapter_ranks.begin(), c.adapter_ranks.end(), rank_ok))) {
    return fail(ErrorCode::bad_value, "architecture: adapter_ranks must be one per block, each in 1..1024");
  }
  return c;
}

Result<Model> Model::default_cnn(const CnnConfig& config) {
  if (!config.adapter_ranks.empty() && config.adapter_ranks.size() != config.channels.size()) {
    return fail(ErrorCode::invalid_argument, "default_cnn: adapter_ranks must have one entry per block");
  }
  torch::manual_seed(config.init_seed);
  Cnn net(config);
  for (std::size_t i = 0; i < net->adapters.size(); ++i) {
    fill_fixed_projection(net->adapters[i]->down->weight, config.adapter_seed + i);
    torch::NoGradGuard no_grad;
    net->adapters[i]->up->weight.zero_();  // a fresh adapter is the identity
  }
  TorchModelSpec spec;
  spec.module = net.ptr();
  spec.forward = [net](const torch::Tensor& x) mutable { return net->forward(x); };
  spec.role_of = conventional_role;
  spec.architecture = config.to_json();
  return make_model(std::move(spec));
}

// ---- bring your own --------------------------------------------------------------------

std::optional<TensorRole> conventional_role(const std::string& name) {
  const auto ends_with = [&](std::string_view s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  const auto has = [&](std::string_view s) { return name.find(s) != std::string::npos; };
  if (has("adapter")) {
    if (has(".down.")) return TensorRole::adapter_down;
    if (has(".up.")) return TensorRole::adapter_up;
    return std::nullopt;
  }
  if (has("bn") || has("norm")) {
    if (ends_with(".weight")) return TensorRole::bn_gamma;
    if (ends_with(".bias")) return TensorRole::bn_beta;
    if (ends_with(".running_mean")) return TensorRole::bn_mean;
    if (ends_with(".running_var")) return TensorRole::bn_var;
    return std::nullopt;
  }
  if (name.rfind("head.", 0) == 0 || name.rfind("fc.", 0) == 0 || name.rfind("classifier.", 0) == 0) {
    if (ends_with(".weight")) return TensorRole::head_weight;
    if (ends_with(".bias")) return TensorRole::head_bias;
  }
  if (ends_with(".weight")) return TensorRole::weight;
  if (ends_with(".bias")) return TensorRole::bias;
  return std::nullopt;
}

Result<Model> make_model(TorchModelSpec spec) {
  if (!spec.module || !spec.forward || !spec.role_of) {
    return fail(ErrorCode::invalid_argument, "make_model: module, forward and role_of are required");
  }
  auto impl = std::make_unique<ModelImpl>(std::move(spec));
  ModelSchema schema;
  const auto add = [&](const std::string& name, const torch::Tensor& t) -> Status {
    if (!t.is_floating_point()) return {};  // e.g. num_batches_tracked
    const std::optional<TensorRole> role = impl->role_of(name);
    if (!role) return fail(ErrorCode::invalid_argument, "make_model: tensor '" + name + "' has no role");
    if (t.scalar_type() != torch::kFloat) return fail(ErrorCode::invalid_argument, "make_model: '" + name + "' is not float32");
    schema.tensors.push_back(TensorSpec{name, shape_of(t), *role});
    impl->tensors.push_back(t);
    return {};
  };
  for (const auto& p : impl->module().named_parameters(true)) EDGEFED_TRY(add(p.key(), p.value()));
  for (const auto& b : impl->module().named_buffers(true)) EDGEFED_TRY(add(b.key(), b.value()));
  impl->schema = policies_for(std::move(schema), impl->tier);
  return Model(std::move(impl));
}

torch::nn::Module& module_of(Model& model) { return model.impl().module(); }

// ---- ModelImpl helpers -----------------------------------------------------------------

std::vector<ModelImpl::BatchNormRef> ModelImpl::batchnorms() {
  std::vector<BatchNormRef> out;
  const auto collect = [&](auto* bn) {
    if (bn) out.push_back({&bn->options, [bn] { bn->reset_running_stats(); }});
  };
  for (const auto& m : module().modules(/*include_self=*/true)) {
    collect(m->as<torch::nn::BatchNorm1d>());
    collect(m->as<torch::nn::BatchNorm2d>());
    collect(m->as<torch::nn::BatchNorm3d>());
  }
  return out;
}

void ModelImpl::set_mode(bool train) { module().train(train); }

torch::Tensor images_tensor(const data::Dataset& d, const std::vector<std::size_t>& indices, std::size_t first,
                            std::size_t count) {
  const std::size_t image = d.image_size();
  torch::Tensor out = torch::empty({static_cast<std::int64_t>(count), static_cast<std::int64_t>(d.channels),
                                    static_cast<std::int64_t>(d.rows), static_cast<std::int64_t>(d.cols)});
  float* dst = out.data_ptr<float>();
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t src = indices.empty() ? first + i : indices[first + i];
    std::memcpy(dst + i * image, d.pixels.data() + src * image, image * sizeof(float));
  }
  return out;
}

torch::Tensor labels_tensor(const data::Dataset& d, const std::vector<std::size_t>& indices, std::size_t first,
                            std::size_t count) {
  torch::Tensor out = torch::empty({static_cast<std::int64_t>(count)}, torch::kLong);
  auto* dst = out.data_ptr<std::int64_t>();
  for (std::size_t i = 0; i < count; ++i) dst[i] = d.labels[indices.empty() ? first + i : indices[first + i]];
  return out;
}

// ---- Model -----------------------------------------------------------------------------

Model::Model(std::unique_ptr<ModelImpl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

const ModelSchema& Model::schema() const { return impl_->schema; }
Tier Model::tier() const { return impl_->tier; }
nlohmann::json Model::architecture() const { return impl_->architecture(); }

void Model::set_tier(Tier tier, bool train_head) {
  impl_->tier = tier;
  impl_->train_head = train_head;
  impl_->schema = policies_for(std::move(impl_->schema), tier, train_head);
}

ParameterSet Model::state() const {
  ParameterSet out;
  for (std::size_t i = 0; i < impl_->tensors.size(); ++i) {
    const torch::Tensor t = impl_->tensors[i].detach().contiguous();
    (void)out.add(impl_->schema.tensors[i].name, impl_->schema.tensors[i].shape,
                  std::span<const float>(t.data_ptr<float>(), static_cast<std::size_t>(t.numel())));
  }
  return out;
}

ParameterSet Model::tensors(TensorPolicy policy) const {
  ParameterSet out;
  for (std::size_t i = 0; i < impl_->tensors.size(); ++i) {
    if (impl_->schema.tensors[i].policy != policy) continue;
    const torch::Tensor t = impl_->tensors[i].detach().contiguous();
    (void)out.add(impl_->schema.tensors[i].name, impl_->schema.tensors[i].shape,
                  std::span<const float>(t.data_ptr<float>(), static_cast<std::size_t>(t.numel())));
  }
  return out;
}

Status Model::load(const ParameterSet& values) {
  std::vector<std::pair<std::size_t, std::size_t>> plan;  // (value index, tensor index)
  for (std::size_t v = 0; v < values.size(); ++v) {
    const TensorView in = values.at(v);
    std::size_t i = 0;
    while (i < impl_->schema.tensors.size() && impl_->schema.tensors[i].name != in.name) ++i;
    if (i == impl_->schema.tensors.size()) {
      return fail(ErrorCode::schema_mismatch, "tensor '" + std::string(in.name) + "' is not in the model");
    }
    if (!std::equal(in.shape.begin(), in.shape.end(), impl_->schema.tensors[i].shape.begin(),
                    impl_->schema.tensors[i].shape.end())) {
      return fail(ErrorCode::schema_mismatch, "tensor '" + std::string(in.name) + "' has shape " +
                                                  shape_to_string(in.shape) + ", the model has " +
                                                  shape_to_string(impl_->schema.tensors[i].shape));
    }
    plan.push_back({v, i});
  }
  torch::NoGradGuard no_grad;
  for (auto [v, i] : plan) {
    const TensorView in = values.at(v);
    impl_->tensors[i].copy_(torch::from_blob(const_cast<float*>(in.data.data()), impl_->tensors[i].sizes()));
  }
  return {};
}

Evaluation Model::evaluate(const data::Dataset& data, std::size_t batch_size) const {
  torch::NoGradGuard no_grad;
  impl_->set_mode(false);
  Evaluation e;
  double loss = 0;
  std::size_t correct = 0;
  for (std::size_t first = 0; first < data.size(); first += batch_size) {
    const std::size_t count = std::min(batch_size, data.size() - first);
    const torch::Tensor logits = impl_->forward(images_tensor(data, {}, first, count));
    const torch::Tensor labels = labels_tensor(data, {}, first, count);
    loss += F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().reduction(torch::kSum)).item<double>();
    correct += static_cast<std::size_t>(logits.argmax(1).eq(labels).sum().item<std::int64_t>());
  }
  e.examples = data.size();
  if (e.examples) {
    e.accuracy = static_cast<double>(correct) / static_cast<double>(e.examples);
    e.loss = loss / static_cast<double>(e.examples);
  }
  return e;
}

std::vector<std::uint8_t> Model::predict(const data::Dataset& data, std::size_t batch_size) const {
  torch::NoGradGuard no_grad;
  impl_->set_mode(false);
  std::vector<std::uint8_t> out;
  out.reserve(data.size());
  for (std::size_t first = 0; first < data.size(); first += batch_size) {
    const std::size_t count = std::min(batch_size, data.size() - first);
    const torch::Tensor pred = impl_->forward(images_tensor(data, {}, first, count)).argmax(1).contiguous();
    for (std::int64_t i = 0; i < pred.size(0); ++i) out.push_back(static_cast<std::uint8_t>(pred[i].item<std::int64_t>()));
  }
  return out;
}

void Model::reestimate_batchnorm(const data::Dataset& data, std::size_t batch_size) {
  if (data.size() == 0) return;
  auto bns = impl_->batchnorms();
  std::vector<c10::optional<double>> momentum;
  for (const auto& bn : bns) {
    momentum.push_back(bn.options->momentum());
    bn.options->momentum(c10::nullopt);  // cumulative average over the pass
    bn.reset_running_stats();
  }
  torch::NoGradGuard no_grad;
  impl_->set_mode(true);
  for (std::size_t first = 0; first < data.size(); first += batch_size) {
    const std::size_t count = std::min(batch_size, data.size() - first);
    if (count < 2) break;  // batch statistics need two samples
    impl_->forward(images_tensor(data, {}, first, count));
  }
  for (std::size_t i = 0; i < bns.size(); ++i) bns[i].options->momentum(momentum[i]);
  impl_->set_mode(false);
}

// ---- files -----------------------------------------------------------------------------

Status save_model(const Model& model, const std::filesystem::path& path, const Ed25519SecretKey& key,
                  std::uint64_t model_version) {
  ModelArtifact artifact;
  artifact.model_version = model_version;
  artifact.metadata =
      nlohmann::json{{"architecture", model.architecture()}, {"schema", schema_to_json(model.schema())}}.dump();
  const ParameterSet state = model.state();
  for (std::size_t i = 0; i < state.size(); ++i) {
    const TensorView t = state.at(i);
    auto enc = encode(t, Encoding::float32);
    if (!enc) return enc.error();
    artifact.tensors.push_back(NamedTensor{std::string(t.name), std::move(*enc)});
  }
  auto bytes = write_artifact(artifact, key);
  if (!bytes) return bytes.error();
  return save_artifact(path, *bytes);
}

Result<Model> load_model(const std::filesystem::path& path, const Ed25519PublicKey& trusted) {
  EDGEFED_ASSIGN_OR_RETURN(Bytes bytes, load_file(path, 256u << 20));
  EDGEFED_ASSIGN_OR_RETURN(ModelArtifact artifact, read_artifact(bytes, trusted));
  const nlohmann::json meta = nlohmann::json::parse(artifact.metadata, nullptr, false);
  if (meta.is_discarded() || !meta.contains("architecture")) {
    return fail(ErrorCode::schema_mismatch, path.string() + ": no architecture in the metadata");
  }
  EDGEFED_ASSIGN_OR_RETURN(CnnConfig config, CnnConfig::from_json(meta["architecture"]));
  EDGEFED_ASSIGN_OR_RETURN(Model model, Model::default_cnn(config));
  ParameterSet values;
  for (const NamedTensor& t : artifact.tensors) {
    EDGEFED_ASSIGN_OR_RETURN(std::vector<float> v, decode(t.tensor));
    if (auto st = values.add(t.name, t.tensor.shape, v); !st) return Error{ErrorCode::bad_value, st.error().detail};
  }
  if (values.size() != model.schema().tensors.size()) {
    return fail(ErrorCode::schema_mismatch, path.string() + ": " + std::to_string(values.size()) +
                                                " tensors, the architecture has " +
                                                std::to_string(model.schema().tensors.size()));
  }
  EDGEFED_TRY(model.load(values));
  return model;
}

void use_single_thread() {
  at::set_num_threads(1);
  try {
    at::set_num_interop_threads(1);
  } catch (const std::exception&) {
    // Only settable before the first inter-op task; a second call changes nothing.
  }
}

}  // namespace edgefed::ml
