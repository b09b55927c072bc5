// edgefed_ml: schema and tiers, tensor exchange, local training, evaluation, model files.
// One process for all LibTorch tests (each process pays ~1 s to load LibTorch).
#include "edgefed/ml/trainer.hpp"  // LibTorch stays behind this API; catch.hpp after it anyway

#include "edgefed/common/crypto.hpp"
#include "edgefed/data/fashion_mnist.hpp"
#include "edgefed_test_support.hpp"
#include "toy_data.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

using namespace edgefed;
using namespace edgefed::ml;
using edgefed::testing::toy_dataset;

namespace {

struct SingleThread {
  SingleThread() { use_single_thread(); }
} const single_thread;

Model fresh() { return Model::default_cnn().value(); }

double norm(const ParameterSet& p) {
  double s = 0;
  for (float x : p.flat()) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

}  // namespace

TEST_CASE("the default CNN tags every tensor with a role") {
  Model m = fresh();
  const ModelSchema& s = m.schema();
  REQUIRE(s.find("conv1.weight"));
  CHECK(s.find("conv1.weight")->role == TensorRole::weight);
  CHECK(s.find("bn2.weight")->role == TensorRole::bn_gamma);
  CHECK(s.find("bn2.running_var")->role == TensorRole::bn_var);
  CHECK(s.find("adapter3.down.weight")->role == TensorRole::adapter_down);
  CHECK(s.find("adapter3.up.weight")->role == TensorRole::adapter_up);
  CHECK(s.find("head.weight")->role == TensorRole::head_weight);
  CHECK_FALSE(s.find("bn1.num_batches_tracked"));  // integer buffers stay out of the schema
}

TEST_CASE("adapters_bn trains at most 5 percent of the parameters, all BatchNorm local") {
  Model m = fresh();
  m.set_tier(Tier::adapters_bn);
  const ModelSchema& s = m.schema();
  INFO("trainable " << s.trainable_numel() << " of " << s.parameter_numel());
  CHECK(static_cast<double>(s.trainable_numel()) <= 0.05 * static_cast<double>(s.parameter_numel()));
  for (const TensorSpec& t : s.tensors) {
    const bool bn = t.role == TensorRole::bn_gamma || t.role == TensorRole::bn_beta || t.role == TensorRole::bn_mean ||
                    t.role == TensorRole::bn_var;
    if (bn) CHECK(t.policy == TensorPolicy::local);
    if (t.role == TensorRole::adapter_up) CHECK(t.policy == TensorPolicy::aggregate);
    if (t.role == TensorRole::head_weight || t.role == TensorRole::weight || t.role == TensorRole::adapter_down) {
      CHECK(t.policy == TensorPolicy::frozen);
    }
  }
  m.set_tier(Tier::head);
  CHECK(m.schema().find("head.weight")->policy == TensorPolicy::aggregate);
  CHECK_FALSE(m.schema().find("bn1.weight")->trainable);
  m.set_tier(Tier::bn_stats);
  CHECK(m.schema().trainable_numel() == 0);
  CHECK(parse_tier("bn_head").value() == Tier::bn_head);
  CHECK(parse_tier("everything").error().code == ErrorCode::invalid_argument);
}

TEST_CASE("a fresh adapter is the identity and the fixed projections are reproducible") {
  Model a = fresh(), b = fresh();
  CHECK(norm(a.tensors(TensorPolicy::aggregate)) == 0.0);
  CHECK(a.state().approx_equal(b.state(), 0, 0));
}

TEST_CASE("state round-trips through load, and a mismatched tensor changes nothing") {
  Model a = fresh();
  CnnConfig other;
  other.init_seed = 99;
  Model b = Model::default_cnn(other).value();
  CHECK_FALSE(a.state().approx_equal(b.state()));
  REQUIRE(b.load(a.state()));
  CHECK(a.state().approx_equal(b.state(), 0, 0));

  ParameterSet wrong;
  std::vector<float> v(4, 1.0f);
  REQUIRE(wrong.add("head.bias", {4}, v));
  const ParameterSet before = b.state();
  auto st = b.load(wrong);
  REQUIRE_FALSE(st);
  CHECK(st.error().code == ErrorCode::schema_mismatch);
  CHECK(st.error().detail.find("head.bias") != std::string::npos);
  ParameterSet unknown;
  REQUIRE(unknown.add("nope", {1}, std::vector<float>{1.0f}));
  CHECK(b.load(unknown).error().code == ErrorCode::schema_mismatch);
  CHECK(b.state().approx_equal(before, 0, 0));
}

TEST_CASE("local training returns only aggregate deltas, keeps BatchNorm local and leaves the backbone") {
  Model m = fresh();
  m.set_tier(Tier::adapters_bn);
  const data::Dataset d = toy_dataset(200, 1);
  const ParameterSet before = m.state();
  TrainConfig c;
  c.epochs = 3;
  c.learning_rate = 0.1;
  auto report = train_local(m, d, c);
  REQUIRE(report);
  const ParameterSet after = m.state();
  // Delta names are exactly the aggregate tensors.
  REQUIRE(report->delta.size() == 3);
  for (std::size_t i = 0; i < report->delta.size(); ++i) {
    CHECK(m.schema().find(report->delta.at(i).name)->policy == TensorPolicy::aggregate);
  }
  CHECK(norm(report->delta) > 0);
  CHECK(report->examples == 600);
  CHECK(report->last_epoch_loss < report->first_epoch_loss);
  for (const std::string& name : m.schema().names(TensorPolicy::frozen)) {
    INFO(name);
    CHECK(std::equal(before.find(name)->data.begin(), before.find(name)->data.end(), after.find(name)->data.begin()));
  }
  CHECK_FALSE(std::equal(before.find("bn1.weight")->data.begin(), before.find("bn1.weight")->data.end(),
                         after.find("bn1.weight")->data.begin()));
}

TEST_CASE("the bn_stats tier only re-estimates statistics and sends nothing") {
  Model m = fresh();
  m.set_tier(Tier::bn_stats);
  const ParameterSet before = m.state();
  auto report = train_local(m, toy_dataset(100, 2), TrainConfig{});
  REQUIRE(report);
  CHECK(report->delta.size() == 0);
  const ParameterSet after = m.state();
  CHECK_FALSE(std::equal(before.find("bn1.running_mean")->data.begin(), before.find("bn1.running_mean")->data.end(),
                         after.find("bn1.running_mean")->data.begin()));
  CHECK(std::equal(before.find("bn1.weight")->data.begin(), before.find("bn1.weight")->data.end(),
                   after.find("bn1.weight")->data.begin()));
}

TEST_CASE("the head tier changes only the head among trained tensors") {
  Model m = fresh();
  m.set_tier(Tier::head);
  const ParameterSet before = m.state();
  auto report = train_local(m, toy_dataset(100, 3), TrainConfig{});
  REQUIRE(report);
  REQUIRE(report->delta.size() == 2);
  CHECK(report->delta.at(0).name == "head.weight");
  const ParameterSet after = m.state();
  CHECK(std::equal(before.find("bn2.weight")->data.begin(), before.find("bn2.weight")->data.end(),
                   after.find("bn2.weight")->data.begin()));
}

TEST_CASE("training is reproducible for a seed, and FedProx pulls the delta towards zero") {
  const data::Dataset d = toy_dataset(120, 4);
  TrainConfig c;
  c.epochs = 2;
  c.learning_rate = 0.1;
  auto run = [&](double mu) {
    Model m = fresh();
    TrainConfig cc = c;
    cc.prox_mu = mu;
    return train_local(m, d, cc).value().delta;
  };
  const ParameterSet d1 = run(0), d2 = run(0), prox = run(5.0);
  CHECK(d1.approx_equal(d2, 0, 0));
  CHECK(norm(prox) < norm(d1));
}

TEST_CASE("gradient clipping and Adam keep training finite") {
  Model m = fresh();
  TrainConfig c;
  c.optimizer = OptimizerKind::adam;
  c.learning_rate = 0.01;
  c.clip_grad_norm = 0.1;
  auto report = train_local(m, toy_dataset(64, 5), c);
  REQUIRE(report);
  for (float x : report->delta.flat()) REQUIRE(std::isfinite(x));
}

TEST_CASE("bad training configurations are refused") {
  Model m = fresh();
  TrainConfig c;
  c.epochs = 0;
  CHECK(train_local(m, toy_dataset(10, 6), c).error().code == ErrorCode::invalid_argument);
  CHECK(train_local(m, data::Dataset{}, TrainConfig{}).error().code == ErrorCode::invalid_argument);
  TrainConfig lr;
  lr.learning_rate = -1;
  CHECK_FALSE(train_local(m, toy_dataset(10, 6), lr));
  CHECK(parse_optimizer("rmsprop").error().code == ErrorCode::invalid_argument);
}

TEST_CASE("pretraining learns the toy task and evaluation reports accuracy") {
  Model m = fresh();
  const data::Dataset train = toy_dataset(1000, 7), test = toy_dataset(200, 8);
  PretrainConfig c;
  c.epochs = 3;
  std::size_t calls = 0;
  auto result = pretrain(m, train, &test, c, [&](std::size_t, double, double) { ++calls; });
  REQUIRE(result);
  CHECK(calls == 3);
  CHECK(result->accuracy > 0.9);
  CHECK(m.evaluate(test).accuracy == Approx(result->accuracy));
  CHECK(m.predict(test).size() == 200);
  // Adapters stay the identity through pre-training.
  m.set_tier(Tier::adapters_bn);
  CHECK(norm(m.tensors(TensorPolicy::aggregate)) == 0.0);
}

TEST_CASE("a saved model loads back identical, and a tampered file is refused") {
  testing::TempDir dir;
  Model m = fresh();
  REQUIRE(train_local(m, toy_dataset(50, 9), TrainConfig{}));
  Ed25519KeyPair key = generate_ed25519();
  const auto path = dir.path() / "model.efm";
  REQUIRE(save_model(m, path, key.secret_key, 3));
  auto back = load_model(path, key.public_key);
  REQUIRE(back);
  CHECK(back->state().approx_equal(m.state(), 0, 0));
  // Another key, and a flipped byte.
  CHECK(load_model(path, generate_ed25519().public_key).error().code == ErrorCode::bad_signature);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x5a');
  }
  CHECK_FALSE(load_model(path, key.public_key));
}

TEST_CASE("on real Fashion-MNIST a short pre-training beats chance by far") {
  auto train = data::load_fashion_mnist(data::kDefaultFashionMnistDir, data::Split::train, 3000);
  auto test = data::load_fashion_mnist(data::kDefaultFashionMnistDir, data::Split::test, 1000);
  if (!train || !test) {
    WARN("Fashion-MNIST not installed: " << (train ? test.error().message() : train.error().message()));
    return;
  }
  Model m = fresh();
  PretrainConfig c;
  c.epochs = 1;
  auto result = pretrain(m, *train, &*test, c);
  REQUIRE(result);
  INFO("accuracy after one epoch on 3000 samples: " << result->accuracy);
  CHECK(result->accuracy > 0.6);
}
