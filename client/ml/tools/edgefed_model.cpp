// edgefed-model: build, train and inspect models.
//
//   edgefed-model pretrain [--out models/backbone.efm] [--epochs 12] ...  central pre-training
//   edgefed-model prune --model M --out P [--method channels --fraction 0.5] smaller dense model
//   edgefed-model quantize --model M --out Q [--qat.mode auto]              int8 deployable graph
//   edgefed-model eval --model M                                            test-set accuracy
//   edgefed-model inspect --model M                                         tensors, bytes, RAM, MACs
//   edgefed-model export --model Q --format tflite --out m.tflite            for other runtimes
//   edgefed-model schema [--tier adapters_bn]                              tensors, roles, policies
//
// Every subcommand takes --help and --config FILE.json. Progress goes to stderr, one JSON
// result object to stdout.
#include "edgefed/common/config.hpp"
#include "edgefed/common/crypto.hpp"
#include "edgefed/common/log.hpp"
#include "edgefed/data/fashion_mnist.hpp"
#include "edgefed/data/partition.hpp"
#include "edgefed/ml/compression.hpp"
#include "edgefed/ml/trainer.hpp"
#include "tool_util.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string_view>

namespace {

using namespace edgefed;
using json = nlohmann::json;

using tool::fail_with;
using tool::load_or_create_key;

int run_pretrain(int argc, const char* const argv[]) {
  ConfigSpec spec("edgefed-model pretrain", "train the float32 backbone centrally on the cloud split");
  spec.add("data_dir", ConfigType::string, data::kDefaultFashionMnistDir, "Fashion-MNIST directory (gzipped IDX)")
      .add("cloud_fraction", ConfigType::number, data::kDefaultCloudFraction, "share of the training set held centrally")
      .add("validation", ConfigType::unsigned_integer, 2000, "cloud images held out (validation for compression)")
      .add("seed", ConfigType::unsigned_integer, 1, "split and shuffling seed")
      .add("epochs", ConfigType::unsigned_integer, 12, "training epochs")
      .add("batch_size", ConfigType::unsigned_integer, 64, "batch size")
      .add("learning_rate", ConfigType::number, 2e-3, "Adam learning rate (halved every 4 epochs)")
      .add("out", ConfigType::string, "models/backbone.efm", "output model artifact")
      .add("model_key", ConfigType::string, "keys/model.pem", "Ed25519 signing key (created if missing)")
      .add("model_version", ConfigType::unsigned_integer, 1, "version written into the artifact");
  int code = 0;
  auto c = parse_command_line_or_report(spec, argc, argv, code);
  if (!c) return code;
  ml::use_single_thread();
  const auto t0 = std::chrono::steady_clock::now();
  // The same cloud split make_federated_data() takes for the same seed, so devices in the
  // simulator never hold an image the backbone was trained on; its last `validation` images
  // are held out for the compression pipeline's decisions (edgefed-model quantize).
  auto sets = ml::load_compression_data(c->get<std::string>("data_dir"), c->get<std::uint64_t>("seed"),
                                        c->get<double>("cloud_fraction"), c->get<std::uint64_t>("validation"));
  if (!sets) return fail_with(sets.error());
  const data::Dataset& cloud = sets->train;
  const data::Dataset* test = &sets->test;
  auto key = load_or_create_key(c->get<std::string>("model_key"));
  if (!key) return fail_with(key.error());

  auto model = ml::Model::default_cnn();
  if (!model) return fail_with(model.error());
  ml::PretrainConfig pc;
  pc.epochs = c->get<std::uint64_t>("epochs");
  pc.batch_size = c->get<std::uint64_t>("batch_size");
  pc.learning_rate = c->get<double>("learning_rate");
  pc.seed = c->get<std::uint64_t>("seed");
  std::fprintf(stderr, "pretraining on %zu cloud samples, %zu epochs\n", cloud.size(), pc.epochs);
  auto result = ml::pretrain(*model, cloud, test, pc, [&](std::size_t epoch, double loss, double acc) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "epoch %zu/%zu  train loss %.4f  test accuracy %.4f  (%.1f s)\n", epoch, pc.epochs, loss, acc, s);
  });
  if (!result) return fail_with(result.error());
  const std::filesystem::path out = c->get<std::string>("out");
  if (out.has_parent_path()) std::filesystem::create_directories(out.parent_path());
  if (auto st = ml::save_model(*model, out, *key, c->get<std::uint64_t>("model_version")); !st) return fail_with(st.error());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << json{{"out", out.string()}, {"cloud_samples", cloud.size()}, {"epochs", pc.epochs},
                    {"test_accuracy", result->accuracy}, {"test_loss", result->loss}, {"seconds", seconds},
                    {"parameters", model->schema().parameter_numel()}}
                   .dump()
            << std::endl;
  return 0;
}

// An untrained model (random backbone): for protocol tests and quick trials, not for accuracy.
int run_init(int argc, const char* const argv[]) {
  ConfigSpec spec("edgefed-model init", "write an untrained (randomly initialised) model, signed");
  spec.add("out", ConfigType::string, "models/untrained.efm", "output model artifact")
      .add("model_key", ConfigType::string, "keys/model.pem", "Ed25519 signing key (created if missing)")
      .add("model_version", ConfigType::unsigned_integer, 1, "version written into the artifact");
  int code = 0;
  auto c = parse_command_line_or_report(spec, argc, argv, code);
  if (!c) return code;
  ml::use_single_thread();
  auto key = load_or_create_key(c->get<std::string>("model_key"));
  if (!key) return fail_with(key.error());
  auto model = ml::Model::default_cnn();
  if (!model) return fail_with(model.error());
  const std::filesystem::path out = c->get<std::string>("out");
  if (out.has_parent_path()) std::filesystem::create_directories(out.parent_path());
  if (auto st = ml::save_model(*model, out, *key, c->get<std::uint64_t>("model_version")); !st) return fail_with(st.error());
  std::cout << json{{"out", out.string()}, {"parameters", model->schema().parameter_numel()}}.dump() << std::endl;
  return 0;
}

int run_schema(int argc, const char* const argv[]) {
  ConfigSpec spec("edgefed-model schema", "tensors of the default model with roles and a tier's policies");
  spec.add("tier", ConfigType::string, "adapters_bn", "bn_stats | head | bn_head | adapters_bn");
  int code = 0;
  auto c = parse_command_line_or_report(spec, argc, argv, code);
  if (!c) return code;
  auto tier = ml::parse_tier(c->get<std::string>("tier"));
  if (!tier) return fail_with(tier.error());
  auto model = ml::Model::default_cnn();
  if (!model) return fail_with(model.error());
  model->set_tier(*tier);
  json tensors = json::array();
  for (const ml::TensorSpec& t : model->schema().tensors) {
    tensors.push_back({{"name", t.name}, {"shape", t.shape}, {"role", ml::to_string(t.role)},
                       {"policy", ml::to_string(t.policy)}, {"trainable", t.trainable}});
  }
  const ml::ModelSchema& s = model->schema();
  std::cout << json{{"tier", ml::to_string(*tier)}, {"parameters", s.parameter_numel()},
                    {"trainable", s.trainable_numel()}, {"aggregate", s.numel(ml::TensorPolicy::aggregate)},
                    {"tensors", tensors}}
                   .dump(2)
            << std::endl;
  return 0;
}

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: edgefed-model <command> [options]   (edgefed-model <command> --help)\n\n"
               "commands:\n"
               "  pretrain   train the float32 backbone centrally on the cloud split and sign it\n"
               "  init       write an untrained model (protocol tests, quick trials)\n"
               "  prune      remove channels (Network Slimming) or weights (magnitude, cubic schedule)\n"
               "  quantize   int8 deployable graph: calibration, PTQ, QAT when PTQ loses too much\n"
               "  eval       test-set accuracy of a model or deployable graph (int8 arithmetic)\n"
               "  inspect    tensors, scales, sparsity, flash bytes, peak activation RAM, MACs\n"
               "  export     a model or deployable graph as .tflite (TFLite, Arm NN) or .onnx (QDQ)\n"
               "  schema     tensors of the default model: shapes, roles, a tier's policies\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h") {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string_view command = argv[1];
  if (command == "pretrain") return run_pretrain(argc - 1, argv + 1);
  if (command == "init") return run_init(argc - 1, argv + 1);
  if (command == "eval") return tool::run_eval(argc - 1, argv + 1);
  if (command == "prune") return tool::run_prune(argc - 1, argv + 1);
  if (command == "quantize") return tool::run_quantize(argc - 1, argv + 1);
  if (command == "inspect") return tool::run_inspect(argc - 1, argv + 1);
  if (command == "export") return tool::run_export(argc - 1, argv + 1);
  if (command == "schema") return run_schema(argc - 1, argv + 1);
  std::fprintf(stderr, "edgefed-model: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
