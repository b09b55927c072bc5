// edgefed-bench train: what on-device learning costs and buys, per tier, on one thread.
//   - per tier: trainable / aggregated parameters and bytes per round
//   - local round cost: one epoch over `samples` images (batch 32), step latency, peak RSS
//     increase during the round
//   - per device: test accuracy of the pretrained backbone as is, after FedBN statistics
//     re-estimation, and after local adapters_bn adaptation
#include "bench.hpp"

#include "edgefed/common/config.hpp"
#include "edgefed/common/crypto.hpp"
#include "edgefed/data/fashion_mnist.hpp"
#include "edgefed/data/federated.hpp"
#include "edgefed/ml/trainer.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>

namespace edgefed::bench {
namespace {

using json = nlohmann::json;

json tier_row(ml::Model& model, ml::Tier tier) {
  model.set_tier(tier);
  const ml::ModelSchema& s = model.schema();
  const std::size_t aggregate = s.numel(ml::TensorPolicy::aggregate);
  return {{"kind", "tier"},
          {"tier", ml::to_string(tier)},
          {"parameters", s.parameter_numel()},
          {"trainable", s.trainable_numel()},
          {"trainable_fraction", static_cast<double>(s.trainable_numel()) / static_cast<double>(s.parameter_numel())},
          {"aggregate", aggregate},
          {"aggregate_bytes_float32", 4 * aggregate},
          {"local", s.numel(ml::TensorPolicy::local)}};
}

Result<json> round_row(ml::Model& model, ml::Tier tier, const data::Dataset& samples) {
  model.set_tier(tier);
  ml::TrainConfig c;
  c.batch_size = 32;
  c.reestimate_batchnorm_first = false;
  EDGEFED_ASSIGN_OR_RETURN(ml::TrainReport epoch, ml::train_local(model, samples, c));
  c.reestimate_batchnorm_first = true;
  EDGEFED_ASSIGN_OR_RETURN(ml::TrainReport round, ml::train_local(model, samples, c));
  const double steps = std::max(1.0, static_cast<double>(samples.size() / 32));
  return json{{"kind", "round"},
              {"tier", ml::to_string(tier)},
              {"samples", samples.size()},
              {"epoch_seconds", epoch.wall_seconds},
              {"round_seconds_with_bn_reestimation", round.wall_seconds},
              {"step_ms_batch32", 1000.0 * epoch.wall_seconds / steps},
              {"peak_rss_increase_mib", static_cast<double>(round.peak_rss_increase_bytes) / (1 << 20)}};
}

}  // namespace

int run_train(int argc, const char* const argv[]) {
  ConfigSpec spec("edgefed-bench train", "on-device learning cost and benefit per tier (one thread)");
  spec.add("model", ConfigType::string, "models/backbone.efm", "pretrained backbone (edgefed-model pretrain)")
      .add("public_key", ConfigType::string, "keys/model.pem.pub", "key that signed the backbone")
      .add("data_dir", ConfigType::string, data::kDefaultFashionMnistDir, "Fashion-MNIST directory")
      .add("samples", ConfigType::unsigned_integer, 600, "images per local round")
      .add("devices", ConfigType::unsigned_integer, 10, "feature-shifted devices to adapt")
      .add("device_train", ConfigType::unsigned_integer, 600, "training images per device (subsampled)")
      .add("epochs", ConfigType::unsigned_integer, 5, "local epochs of the adaptation")
      .add("learning_rate", ConfigType::number, 0.05, "SGD learning rate of the adaptation")
      .add("alpha", ConfigType::number, 0.5, "Dirichlet label skew")
      .add("severity", ConfigType::number, 1.0, "sensor shift severity (0..2)")
      .add("seed", ConfigType::unsigned_integer, 1, "data seed");
  int exit_code = 0;
  auto config = parse_command_line_or_report(spec, argc, argv, exit_code);
  if (!config) return exit_code;
  const Config& c = *config;
  ml::use_single_thread();
  const auto die = [](const Error& e) {
    std::fprintf(stderr, "edgefed-bench train: %s\n", e.message().c_str());
    return 1;
  };
  auto key = load_ed25519_public_key(c.get<std::string>("public_key"));
  if (!key) return die(key.error().with_context("run `edgefed-model pretrain` first"));
  auto model = ml::load_model(c.get<std::string>("model"), *key);
  if (!model) return die(model.error());
  const ParameterSet backbone = model->state();
  auto pool = data::load_fashion_mnist(c.get<std::string>("data_dir"), data::Split::train);
  if (!pool) return die(pool.error());

  for (ml::Tier t : {ml::Tier::bn_stats, ml::Tier::head, ml::Tier::bn_head, ml::Tier::adapters_bn}) {
    std::cout << tier_row(*model, t).dump() << std::endl;
  }
  std::vector<std::size_t> first(c.get<std::uint64_t>("samples"));
  for (std::size_t i = 0; i < first.size(); ++i) first[i] = i;
  const data::Dataset round_samples = pool->subset(first);
  for (ml::Tier t : {ml::Tier::bn_stats, ml::Tier::head, ml::Tier::bn_head, ml::Tier::adapters_bn}) {
    (void)model->load(backbone);
    auto row = round_row(*model, t, round_samples);
    if (!row) return die(row.error());
    std::cout << row->dump() << std::endl;
  }

  data::FederatedDataSpec fs;
  fs.devices = static_cast<std::uint32_t>(c.get<std::uint64_t>("devices"));
  fs.alpha = c.get<double>("alpha");
  fs.shift_severity = static_cast<float>(c.get<double>("severity"));
  fs.seed = c.get<std::uint64_t>("seed");
  auto fed = data::make_federated_data(*pool, fs);
  if (!fed) return die(fed.error());
  double sum_before = 0, sum_bn = 0, sum_after = 0;
  for (const data::DeviceData& d : fed->devices) {
    std::vector<std::size_t> keep(std::min<std::size_t>(d.train.size(), c.get<std::uint64_t>("device_train")));
    for (std::size_t i = 0; i < keep.size(); ++i) keep[i] = i;
    const data::Dataset train = d.train.subset(keep);
    (void)model->load(backbone);
    const double before = model->evaluate(d.test).accuracy;
    model->reestimate_batchnorm(train);
    const double bn = model->evaluate(d.test).accuracy;
    model->set_tier(ml::Tier::adapters_bn);
    ml::TrainConfig tc;
    tc.epochs = c.get<std::uint64_t>("epochs");
    tc.learning_rate = c.get<double>("learning_rate");
    tc.seed = d.id + 1;
    auto report = ml::train_local(*model, train, tc);
    if (!report) return die(report.error());
    const double after = model->evaluate(d.test).accuracy;
    sum_before += before, sum_bn += bn, sum_after += after;
    std::cout << json{{"kind", "device"}, {"device", d.id}, {"train", train.size()}, {"test", d.test.size()},
                      {"contrast", d.sensor.contrast}, {"brightness", d.sensor.brightness},
                      {"rotation_degrees", d.sensor.rotation_degrees}, {"noise_std", d.sensor.noise_std},
                      {"accuracy_backbone", before}, {"accuracy_bn_reestimated", bn}, {"accuracy_adapted", after},
                      {"adapt_seconds", report->wall_seconds}}
                     .dump()
              << std::endl;
  }
  const double n = static_cast<double>(fed->devices.size());
  std::cout << json{{"kind", "summary"}, {"devices", fed->devices.size()}, {"mean_accuracy_backbone", sum_before / n},
                    {"mean_accuracy_bn_reestimated", sum_bn / n}, {"mean_accuracy_adapted", sum_after / n},
                    {"global_test_accuracy_backbone", [&] {
                       (void)model->load(backbone);
                       auto test = data::load_fashion_mnist(c.get<std::string>("data_dir"), data::Split::test);
                       return test ? model->evaluate(*test).accuracy : -1.0;
                     }()}}
                   .dump()
            << std::endl;
  return 0;
}

}  // namespace edgefed::bench
