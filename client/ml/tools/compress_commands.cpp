// edgefed-model eval | inspect | quantize | prune: the compression pipeline from the command line.
#include "edgefed/common/artifact.hpp"
#include "edgefed/common/config.hpp"
#include "edgefed/compress/evaluate.hpp"
#include "edgefed/data/fashion_mnist.hpp"
#include "edgefed/ml/compression.hpp"
#include "edgefed/ml/prune.hpp"
#include "edgefed/runtime/interpreter.hpp"
#include "edgefed/runtime/model_file.hpp"
#include "tool_util.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <optional>

namespace edgefed::tool {

namespace {

using json = nlohmann::json;

std::string kind_of(const runtime::Graph& g) { return g.is_int8() ? "int8" : "float32"; }

std::optional<Config> parse(ConfigSpec& spec, int argc, const char* const argv[], int& code) {
  return parse_command_line_or_report(spec, argc, argv, code);
}

ConfigSpec& add_model_options(ConfigSpec& spec) {
  return spec.add("model", ConfigType::string, "models/backbone.efm", "model artifact or deployable graph")
      .add("public_key", ConfigType::string, "keys/model.pem.pub", "Ed25519 public key that signed it");
}

ConfigSpec& add_data_options(ConfigSpec& spec) {
  return spec.add("data_dir", ConfigType::string, data::kDefaultFashionMnistDir, "Fashion-MNIST directory")
      .add("seed", ConfigType::unsigned_integer, 1, "cloud split seed (as edgefed-model pretrain)")
      .add("cloud_fraction", ConfigType::number, 0.2, "share of the training set held centrally")
      .add("validation", ConfigType::unsigned_integer, 2000, "cloud images held out to validate decisions")
      .add("train_images", ConfigType::unsigned_integer, 0, "use only the first N cloud training images (0: all)");
}

Result<ml::CompressionData> load_data(const Config& c) {
  EDGEFED_ASSIGN_OR_RETURN(ml::CompressionData d,
                           ml::load_compression_data(c.get<std::string>("data_dir"), c.get<std::uint64_t>("seed"),
                                                     c.get<double>("cloud_fraction"), c.get<std::uint64_t>("validation")));
  if (const auto n = c.get<std::uint64_t>("train_images"); n > 0 && n < d.train.size()) {
    std::vector<std::size_t> first(n);
    std::iota(first.begin(), first.end(), std::size_t{0});
    d.train = d.train.subset(first);
  }
  return d;
}

ConfigSpec& add_output_options(ConfigSpec& spec, const char* default_out) {
  return spec.add("out", ConfigType::string, default_out, "output artifact")
      .add("model_key", ConfigType::string, "keys/model.pem", "Ed25519 signing key (created if missing)")
      .add("model_version", ConfigType::unsigned_integer, 0, "version written into the output (0: the input's)");
}

std::uint64_t output_version(const Config& c, const ModelFile& in) {
  const auto v = c.get<std::uint64_t>("model_version");
  return v ? v : in.model_version;
}

Status write_file(const std::filesystem::path& out, const Bytes& bytes) {
  if (out.has_parent_path()) std::filesystem::create_directories(out.parent_path());
  return save_artifact(out, bytes);
}

// What quantize and prune work on: a float model, the key that signs their output, the data.
struct Job {
  ModelFile file;
  Ed25519SecretKey key;
  ml::CompressionData data;
};

Result<Job> open_job(const Config& c, const std::string& command) {
  EDGEFED_ASSIGN_OR_RETURN(ModelFile file, open_model_option(c));
  if (!file.model) {
    return fail(ErrorCode::invalid_argument,
                c.get<std::string>("model") + " is already a deployable graph; " + command + " takes a float model");
  }
  EDGEFED_ASSIGN_OR_RETURN(Ed25519SecretKey key, load_or_create_key(c.get<std::string>("model_key")));
  EDGEFED_ASSIGN_OR_RETURN(ml::CompressionData data, load_data(c));
  return Job{std::move(file), std::move(key), std::move(data)};
}

void progress(const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); }

std::string percent(double fraction) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * fraction);
  return buf;
}

}  // namespace

int run_eval(int argc, const char* const argv[]) {
  ConfigSpec spec("edgefed-model eval",
                  "test-set accuracy of a model (LibTorch and its deployable graph) or of a deployable graph "
                  "(int8 graphs run with int8 arithmetic)");
  add_model_options(spec).add("data_dir", ConfigType::string, data::kDefaultFashionMnistDir, "Fashion-MNIST directory");
  int code = 0;
  auto c = parse(spec, argc, argv, code);
  if (!c) return code;
  ml::use_single_thread();
  auto file = open_model_option(*c);
  if (!file) return fail_with(file.error());
  auto test = data::load_fashion_mnist(c->get<std::string>("data_dir"), data::Split::test);
  if (!test) return fail_with(test.error());
  auto interpreter = runtime::Interpreter::create(file->graph);
  if (!interpreter) return fail_with(interpreter.error());
  auto e = compress::evaluate_graph(*interpreter, *test);
  if (!e) return fail_with(e.error());
  json out{{"model", c->get<std::string>("model")}, {"format", kind_of(file->graph)},
           {"test_accuracy", e->accuracy}, {"examples", e->examples}};
  if (file->model) {
    const ml::Evaluation torch_eval = file->model->evaluate(*test);
    out["torch_test_accuracy"] = torch_eval.accuracy;
    out["test_loss"] = torch_eval.loss;
  }
  std::cout << out.dump() << std::endl;
  return 0;
}

int run_inspect(int argc, const char* const argv[]) {
  ConfigSpec spec("edgefed-model inspect",
                  "tensors (shape, dtype, scales, sparsity, bytes), operators (MACs), flash bytes and peak "
                  "activation RAM of a model or deployable graph");
  add_model_options(spec).add("format", ConfigType::string, "text", "text | json");
  int code = 0;
  auto c = parse(spec, argc, argv, code);
  if (!c) return code;
  const std::string format = c->get<std::string>("format");
  if (format != "text" && format != "json") return fail_with(fail(ErrorCode::invalid_argument, "format must be text or json"));
  auto file = open_model_option(*c);
  if (!file) return fail_with(file.error());
  const runtime::Graph& g = file->graph;
  const runtime::GraphCost cost = runtime::cost_of(g);
  json tensors = json::array();
  for (const runtime::Tensor& t : g.tensors) {
    json j{{"name", t.name}, {"shape", t.shape}, {"dtype", runtime::to_string(t.dtype)}, {"constant", t.constant}};
    if (!t.quant.empty()) {
      const auto [lo, hi] = std::minmax_element(t.quant.scales.begin(), t.quant.scales.end());
      j["scales"] = t.quant.scales.size();
      j["scale_min"] = *lo;
      j["scale_max"] = *hi;
      if (t.quant.scales.size() == 1) j["zero_point"] = t.quant.zero_points[0];
    }
    if (t.constant) {
      const std::size_t n = static_cast<std::size_t>(t.numel());
      const std::size_t zeros = static_cast<std::size_t>(
          std::count(t.f32.begin(), t.f32.end(), 0.0f) + std::count(t.i8.begin(), t.i8.end(), std::int8_t{0}) +
          std::count(t.i32.begin(), t.i32.end(), 0));
      j["sparsity"] = n ? static_cast<double>(zeros) / static_cast<double>(n) : 0.0;
      j["bytes"] = n * (t.dtype == runtime::DType::int8 ? 1 : 4);
    }
    tensors.push_back(std::move(j));
  }
  json ops = json::array();
  for (const runtime::OpCost& o : cost.ops) {
    ops.push_back({{"name", o.name}, {"kind", runtime::to_string(o.kind)}, {"macs", o.macs}, {"weight_bytes", o.weight_bytes}});
  }
  const json summary{{"model", c->get<std::string>("model")}, {"format", kind_of(g)}, {"model_version", file->model_version},
                     {"artifact_bytes", file->file_bytes}, {"flash_bytes", cost.weight_bytes},
                     {"peak_activation_bytes", cost.peak_activation_bytes}, {"macs", cost.macs}};
  if (format == "json") {
    json out = summary;
    out["tensors"] = tensors;
    out["ops"] = ops;
    out["info"] = file->info;
    std::cout << out.dump(2) << std::endl;
    return 0;
  }
  std::printf("%-26s %-16s %-8s %-7s %-24s %8s %8s\n", "tensor", "shape", "dtype", "const", "scales", "sparsity", "bytes");
  for (const json& t : tensors) {
    std::string scales = "-";
    if (t.contains("scales")) {
      char buf[64];
      if (t["scales"].get<std::size_t>() == 1) {
        std::snprintf(buf, sizeof buf, "%.3g zp %d", t["scale_min"].get<double>(), t["zero_point"].get<int>());
      } else {
        std::snprintf(buf, sizeof buf, "%zu: %.2g..%.2g", t["scales"].get<std::size_t>(), t["scale_min"].get<double>(),
                      t["scale_max"].get<double>());
      }
      scales = buf;
    }
    const bool constant = t["constant"].get<bool>();
    std::printf("%-26s %-16s %-8s %-7s %-24s %8s %8s\n", t["name"].get<std::string>().c_str(),
                shape_to_string(t["shape"].get<Shape>()).c_str(), t["dtype"].get<std::string>().c_str(),
                constant ? "yes" : "", scales.c_str(),
                constant ? percent(t["sparsity"].get<double>()).c_str() : "",
                constant ? std::to_string(t["bytes"].get<std::size_t>()).c_str() : "");
  }
  std::printf("\n%-20s %-16s %12s %12s\n", "operator", "kind", "MACs", "weight bytes");
  for (const json& o : ops) {
    std::printf("%-20s %-16s %12lld %12zu\n", o["name"].get<std::string>().c_str(), o["kind"].get<std::string>().c_str(),
                static_cast<long long>(o["macs"].get<std::int64_t>()), o["weight_bytes"].get<std::size_t>());
  }
  std::printf("\n%s graph, model version %llu\n", kind_of(g).c_str(), static_cast<unsigned long long>(file->model_version));
  std::printf("artifact          %zu bytes\n", file->file_bytes);
  std::printf("flash (weights)   %zu bytes\n", cost.weight_bytes);
  std::printf("peak activations  %zu bytes (arena plan)\n", cost.peak_activation_bytes);
  std::printf("MACs / inference  %lld\n", static_cast<long long>(cost.macs));
  return 0;
}

int run_quantize(int argc, const char* const argv[]) {
  ConfigSpec spec("edgefed-model quantize",
                  "int8 deployable graph of a float model: calibration, post-training quantization, and "
                  "quantization-aware training when PTQ loses more than the budget");
  add_model_options(spec);
  add_output_options(spec, "models/model.int8.efm");
  add_data_options(spec)
      .add("calibration.method", ConfigType::string, "mse", "activation ranges: minmax | percentile | mse")
      .add("calibration.samples", ConfigType::unsigned_integer, 100, "representative images")
      .add("calibration.percentile", ConfigType::number, 99.99, "percentile for the percentile method")
      .add("qat.mode", ConfigType::string, "auto", "quantization-aware training: never | auto | always")
      .add("budget", ConfigType::number, 0.01, "validation accuracy PTQ may lose before QAT runs (0.01 = 1 point)")
      .add("qat.epochs", ConfigType::unsigned_integer, 2, "QAT epochs over the cloud data")
      .add("qat.learning_rate", ConfigType::number, 5e-5, "QAT Adam learning rate")
      .add("qat.batch_size", ConfigType::unsigned_integer, 64, "QAT batch size")
      .add("float_out", ConfigType::string, "", "also write the float32 deployable graph here");
  int code = 0;
  auto c = parse(spec, argc, argv, code);
  if (!c) return code;
  ml::use_single_thread();
  ml::QuantizeOptions options;
  auto method = compress::parse_calibration(c->get<std::string>("calibration.method"));
  if (!method) return fail_with(method.error());
  auto qat = ml::parse_qat_mode(c->get<std::string>("qat.mode"));
  if (!qat) return fail_with(qat.error());
  options.calibration.method = *method;
  options.calibration.samples = c->get<std::uint64_t>("calibration.samples");
  options.calibration.percentile = c->get<double>("calibration.percentile");
  options.qat = *qat;
  options.budget = c->get<double>("budget");
  options.qat_config.epochs = c->get<std::uint64_t>("qat.epochs");
  options.qat_config.learning_rate = c->get<double>("qat.learning_rate");
  options.qat_config.batch_size = c->get<std::uint64_t>("qat.batch_size");
  options.qat_config.seed = c->get<std::uint64_t>("seed");

  auto job = open_job(*c, "quantize");
  if (!job) return fail_with(job.error());
  auto& [file, key, data] = *job;
  const auto t0 = std::chrono::steady_clock::now();
  auto result = ml::quantize_model(*file.model, data.train, data.validation, options, progress);
  if (!result) return fail_with(result.error());

  json info{{"source", c->get<std::string>("model")},
            {"calibration", {{"method", compress::to_string(options.calibration.method)},
                             {"samples", options.calibration.samples}}},
            {"qat", result->used_qat},
            {"validation_accuracy", {{"float32", result->float_accuracy}, {"ptq_int8", result->ptq_accuracy}}}};
  if (result->qat_accuracy) info["validation_accuracy"]["qat_int8"] = *result->qat_accuracy;
  const std::uint64_t version = output_version(*c, file);
  auto bytes = runtime::write_graph_artifact(result->int8_graph, key, version, info);
  if (!bytes) return fail_with(bytes.error());
  const std::string out = c->get<std::string>("out");
  if (auto st = write_file(out, *bytes); !st) return fail_with(st.error());
  auto float_bytes = runtime::write_graph_artifact(result->float_graph, key, version, {{"source", c->get<std::string>("model")}});
  if (!float_bytes) return fail_with(float_bytes.error());
  if (const std::string float_out = c->get<std::string>("float_out"); !float_out.empty()) {
    if (auto st = write_file(float_out, *float_bytes); !st) return fail_with(st.error());
  }
  auto interpreter = runtime::Interpreter::create(result->int8_graph);
  if (!interpreter) return fail_with(interpreter.error());
  auto test = compress::evaluate_graph(*interpreter, data.test);
  if (!test) return fail_with(test.error());
  info["out"] = out;
  info["test_accuracy_int8"] = test->accuracy;
  info["bytes"] = {{"int8", bytes->size()}, {"float32", float_bytes->size()},
                   {"ratio", static_cast<double>(bytes->size()) / static_cast<double>(float_bytes->size())}};
  info["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << info.dump() << std::endl;
  return 0;
}

}  // namespace edgefed::tool

namespace edgefed::tool {

namespace {
void print_prune_progress(const ml::PruneProgress& p) {
  std::string channels;
  for (std::int64_t c : p.channels) channels += (channels.empty() ? "" : "/") + std::to_string(c);
  std::fprintf(stderr, "%-17s %zu/%zu  channels %s  sparsity %.3f  loss %.4f", std::string(ml::to_string(p.phase)).c_str(),
               p.step, p.steps, channels.c_str(), p.sparsity, p.train_loss);
  if (p.test_accuracy) std::fprintf(stderr, "  test accuracy %.4f", *p.test_accuracy);
  std::fprintf(stderr, "  (%.0f s)\n", p.seconds);
}
}  // namespace

int run_prune(int argc, const char* const argv[]) {
  ConfigSpec spec("edgefed-model prune",
                  "structured channel pruning (Network Slimming: L1 on BatchNorm γ, gradual removal, physically "
                  "smaller layers) or unstructured magnitude pruning (cubic schedule), with fine-tuning");
  add_model_options(spec);
  add_output_options(spec, "models/model.pruned.efm");
  add_data_options(spec)
      .add("method", ConfigType::string, "channels", "channels | magnitude")
      .add("fraction", ConfigType::number, 0.5, "channels: share of all BatchNorm channels removed")
      .add("sparsity", ConfigType::number, 0.5, "magnitude: share of zeros in every backbone / head weight")
      .add("l1", ConfigType::number, ml::ChannelPruneConfig{}.l1, "channels: L1 weight on BatchNorm γ")
      .add("steps", ConfigType::unsigned_integer, ml::ChannelPruneConfig{}.steps, "channels: removal steps")
      .add("ranking", ConfigType::string, "output_gain",
           "channels: output_gain (comparable across blocks) | gamma (Network Slimming's |γ|)")
      .add("final_epochs", ConfigType::unsigned_integer, ml::ChannelPruneConfig{}.final_epochs,
           "channels: fine-tuning epochs of the final model")
      .add("epochs", ConfigType::unsigned_integer, ml::MagnitudePruneConfig{}.epochs, "magnitude: fine-tuning epochs")
      .add("learning_rate", ConfigType::number, 0.0, "Adam learning rate (0: the method's default)")
      .add("report_test", ConfigType::boolean, true, "evaluate on the test set after each epoch (progress only)");
  int code = 0;
  auto c = parse(spec, argc, argv, code);
  if (!c) return code;
  ml::use_single_thread();
  const std::string method = c->get<std::string>("method");
  if (method != "channels" && method != "magnitude") {
    return fail_with(fail(ErrorCode::invalid_argument, "method '" + method + "' is not one of channels, magnitude"));
  }
  auto job = open_job(*c, "prune");
  if (!job) return fail_with(job.error());
  auto& [file, key, data] = *job;
  const data::Dataset* test = c->get<bool>("report_test") ? &data.test : nullptr;
  const double lr = c->get<double>("learning_rate");
  json out{{"method", method}, {"source", c->get<std::string>("model")},
           {"test_accuracy_before", file.model->evaluate(data.test).accuracy}};
  std::optional<ml::Model> pruned;
  if (method == "channels") {
    ml::ChannelPruneConfig pc;
    pc.fraction = c->get<double>("fraction");
    pc.l1 = c->get<double>("l1");
    pc.steps = c->get<std::uint64_t>("steps");
    pc.final_epochs = c->get<std::uint64_t>("final_epochs");
    const std::string ranking = c->get<std::string>("ranking");
    if (ranking != "output_gain" && ranking != "gamma") {
      return fail_with(fail(ErrorCode::invalid_argument, "ranking '" + ranking + "' is not one of output_gain, gamma"));
    }
    pc.ranking = ranking == "gamma" ? ml::ChannelRanking::gamma : ml::ChannelRanking::output_gain;
    pc.seed = c->get<std::uint64_t>("seed");
    if (lr > 0) pc.learning_rate = lr;
    ml::ChannelPruneReport report;
    auto m = ml::prune_channels(*file.model, data.train, test, pc, print_prune_progress, &report);
    if (!m) return fail_with(m.error());
    pruned = std::move(*m);
    out["channels_before"] = report.channels_before;
    out["channels_after"] = report.channels_after;
    out["seconds"] = report.seconds;
  } else {
    ml::MagnitudePruneConfig pc;
    pc.sparsity = c->get<double>("sparsity");
    pc.epochs = c->get<std::uint64_t>("epochs");
    pc.seed = c->get<std::uint64_t>("seed");
    if (lr > 0) pc.learning_rate = lr;
    auto report = ml::prune_magnitude(*file.model, data.train, test, pc, print_prune_progress);
    if (!report) return fail_with(report.error());
    json sparsity = json::object();
    for (const ml::TensorSparsity& t : report->tensors) sparsity[t.name] = t.sparsity();
    out["sparsity"] = sparsity;
    out["seconds"] = report->seconds;
    pruned = std::move(*file.model);
  }
  const std::filesystem::path path = c->get<std::string>("out");
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  if (auto st = ml::save_model(*pruned, path, key, output_version(*c, file)); !st) return fail_with(st.error());
  out["out"] = path.string();
  out["test_accuracy"] = pruned->evaluate(data.test).accuracy;
  auto graph = ml::lower(*pruned);
  if (!graph) return fail_with(graph.error());
  const runtime::GraphCost cost = runtime::cost_of(*graph);
  out["macs"] = cost.macs;
  out["peak_activation_bytes"] = cost.peak_activation_bytes;
  std::cout << out.dump() << std::endl;
  return 0;
}

}  // namespace edgefed::tool
