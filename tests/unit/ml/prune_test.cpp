// Pruning (prune.hpp), the architecture's adapter ranks it relies on, and the shared training
// epoch (train_loop.hpp). White-box where logits are compared: the model's own forward.
#include "model_impl.hpp"  // LibTorch first, then catch.hpp
#include "train_loop.hpp"

#include "edgefed/common/crypto.hpp"
#include "edgefed/ml/prune.hpp"
#include "edgefed/ml/trainer.hpp"
#include "edgefed_test_support.hpp"
#include "toy_data.hpp"

#include <torch/nn/modules/linear.h>
#include <torch/optim/sgd.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>
#include <random>

using namespace edgefed;
using namespace edgefed::ml;
using testing::toy_dataset;

namespace {

struct SingleThread {
  SingleThread() { use_single_thread(); }
} const single_thread;

std::size_t zeros_in(const ParameterSet& state, std::string_view name) {
  const auto t = state.find(name);
  return static_cast<std::size_t>(std::count(t->data.begin(), t->data.end(), 0.0f));
}

Shape shape_of(const Model& m, std::string_view name) { return m.schema().find(name)->shape; }

torch::Tensor logits(Model& m, const data::Dataset& d) {
  torch::NoGradGuard no_grad;
  m.impl().set_mode(false);
  return m.impl().forward(images_tensor(d, {}, 0, d.size()));
}

// A trained-looking default CNN: BatchNorm affine and running statistics away from their
// initial values and non-zero adapter up-projections, so a slicing mistake shows in the logits.
Model scrambled_cnn(std::uint64_t seed) {
  Model m = Model::default_cnn().value();
  ParameterSet state = m.state();
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (std::size_t i = 0; i < state.size(); ++i) {
    const std::string name(state.at(i).name);
    const TensorRole role = m.schema().find(name)->role;
    for (float& x : state.mutable_at(i).data) {
      if (role == TensorRole::bn_gamma) x = 1.0f + 0.5f * u(rng);
      if (role == TensorRole::bn_beta || role == TensorRole::bn_mean) x = 0.3f * u(rng);
      if (role == TensorRole::bn_var) x = 0.5f + 0.4f * u(rng);
      if (role == TensorRole::adapter_up) x = 0.3f * u(rng);
    }
  }
  REQUIRE(m.load(state));
  return m;
}

// Silences channel c of block `block` (1-based): γ = β = 0 makes relu(bn(·)) zero, a zero
// adapter up row keeps the residual branch from writing into it, so the block's output
// channel is exactly zero and nothing downstream depends on it.
void silence(ParameterSet& state, int block, std::int64_t c) {
  const std::string n = std::to_string(block);
  state.find_mutable("bn" + n + ".weight")->data[static_cast<std::size_t>(c)] = 0.0f;
  state.find_mutable("bn" + n + ".bias")->data[static_cast<std::size_t>(c)] = 0.0f;
  auto up = state.find_mutable("adapter" + n + ".up.weight");
  const std::size_t rank = static_cast<std::size_t>(up->shape[1]);
  std::fill_n(up->data.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(c) * rank), rank, 0.0f);
}

std::vector<std::int64_t> all_but(std::int64_t n, const std::vector<std::int64_t>& drop) {
  std::vector<std::int64_t> keep;
  for (std::int64_t c = 0; c < n; ++c) {
    if (std::find(drop.begin(), drop.end(), c) == drop.end()) keep.push_back(c);
  }
  return keep;
}

Model pretrained_toy(const data::Dataset& train) {
  Model m = Model::default_cnn().value();
  PretrainConfig c;
  c.epochs = 3;
  c.batch_size = 32;
  REQUIRE(pretrain(m, train, nullptr, c));
  return m;
}

}  // namespace

TEST_CASE("the cubic schedule follows Zhu and Gupta on frequency boundaries") {
  const CubicSchedule s{0.0, 0.5, 100, 1100, 100};
  CHECK(s.at(0) == 0.0);                                   // before begin: initial
  CHECK(s.at(100) == 0.0);                                 // p = 0
  CHECK(s.at(199) == 0.0);                                 // still the boundary at 100
  CHECK(s.at(200) == Approx(0.5 - 0.5 * 0.729));           // p = 0.1: 0.1355
  CHECK(s.at(299) == Approx(0.1355));
  CHECK(s.at(600) == Approx(0.4375));                      // p = 0.5: 0.5 − 0.5 · 0.125
  CHECK(s.at(1099) == Approx(0.4995));                     // boundary 1000, p = 0.9
  CHECK(s.at(1100) == 0.5);                                // end: final
  CHECK(s.at(100000) == 0.5);
  CHECK(CubicSchedule{0.1, 0.9, 0, 10, 1}.at(5) == Approx(0.8));  // 0.9 − 0.8 · 0.125
  CHECK(CubicSchedule{0.0, 0.5, 0, 10, 0}.at(5) == Approx(0.4375));  // frequency 0 counts as 1
  const CubicSchedule instant{0.0, 0.5, 10, 10, 3};
  CHECK(instant.at(9) == 0.0);
  CHECK(instant.at(10) == 0.5);
}

TEST_CASE("adapter ranks are part of the architecture only when set") {
  CnnConfig plain;
  CHECK_FALSE(plain.to_json().contains("adapter_ranks"));  // existing artifacts stay byte-identical
  CHECK(plain.adapter_rank(2) == 8);
  CnnConfig ranked;
  ranked.channels = {10, 20, 30};
  ranked.adapter_ranks = {2, 4, 8};
  auto back = CnnConfig::from_json(ranked.to_json());
  REQUIRE(back);
  CHECK(back->adapter_ranks == std::vector<std::int64_t>{2, 4, 8});
  Model m = Model::default_cnn(ranked).value();
  CHECK(shape_of(m, "adapter3.down.weight") == Shape{8, 30, 1, 1});
  CHECK(shape_of(m, "adapter1.up.weight") == Shape{10, 2, 1, 1});

  nlohmann::json wrong = ranked.to_json();
  wrong["adapter_ranks"] = {2, 4};
  CHECK(CnnConfig::from_json(wrong).error().code == ErrorCode::bad_value);
  wrong["adapter_ranks"] = {2, 0, 8};
  CHECK(CnnConfig::from_json(wrong).error().code == ErrorCode::bad_value);
  ranked.adapter_ranks = {2};
  CHECK(Model::default_cnn(ranked).error().code == ErrorCode::invalid_argument);
}

TEST_CASE("removing silent channels leaves the logits unchanged and shrinks every tensor") {
  Model original = scrambled_cnn(1);
  original.set_tier(Tier::bn_head);
  ParameterSet state = original.state();
  const std::vector<std::int64_t> drop1 = {0, 5, 6, 15}, drop2 = {3, 4, 9, 10, 11, 20, 31}, drop3 = {1, 2, 40, 63};
  for (auto c : drop1) silence(state, 1, c);
  for (auto c : drop2) silence(state, 2, c);
  for (auto c : drop3) silence(state, 3, c);
  REQUIRE(original.load(state));
  const std::vector<std::vector<std::int64_t>> keep = {all_but(16, drop1), all_but(32, drop2), all_but(64, drop3)};

  auto pruned = remove_channels(original, keep);
  REQUIRE(pruned);
  const data::Dataset images = toy_dataset(20, 2);
  const torch::Tensor before = logits(original, images), after = logits(*pruned, images);
  INFO("max |Δlogit| " << (before - after).abs().max().item<float>() << ", max |logit| "
                       << before.abs().max().item<float>());
  CHECK(before.abs().max().item<float>() > 0.1f);  // not a degenerate model
  CHECK(torch::allclose(before, after, 1e-5, 1e-5));

  CHECK(shape_of(*pruned, "conv1.weight") == Shape{12, 1, 3, 3});
  CHECK(shape_of(*pruned, "conv2.weight") == Shape{25, 12, 3, 3});
  CHECK(shape_of(*pruned, "conv3.weight") == Shape{60, 25, 3, 3});
  for (const char* field : {"weight", "bias", "running_mean", "running_var"}) {
    CHECK(shape_of(*pruned, std::string("bn2.") + field) == Shape{25});
  }
  CHECK(shape_of(*pruned, "adapter1.down.weight") == Shape{2, 12, 1, 1});  // ranks as before
  CHECK(shape_of(*pruned, "adapter2.up.weight") == Shape{25, 4, 1, 1});
  CHECK(shape_of(*pruned, "adapter3.down.weight") == Shape{8, 60, 1, 1});
  CHECK(shape_of(*pruned, "head.weight") == Shape{10, 60 * 7 * 7});
  CHECK(shape_of(*pruned, "head.bias") == Shape{10});
  CHECK(pruned->architecture()["channels"] == nlohmann::json{12, 25, 60});
  CHECK(pruned->architecture()["adapter_ranks"] == nlohmann::json{2, 4, 8});
  CHECK(pruned->tier() == Tier::bn_head);
  CHECK(pruned->schema().tensors.size() == original.schema().tensors.size());

  // A channel that still carries signal does matter: the comparison above can fail.
  auto lossy = remove_channels(original, {all_but(16, {0, 1}), keep[1], keep[2]});
  REQUIRE(lossy);
  CHECK_FALSE(torch::allclose(before, logits(*lossy, images), 1e-3, 1e-3));

  testing::TempDir dir;
  const Ed25519KeyPair key = generate_ed25519();
  REQUIRE(save_model(*pruned, dir.path() / "pruned.efm", key.secret_key, 2));
  auto loaded = load_model(dir.path() / "pruned.efm", key.public_key);
  REQUIRE(loaded);
  CHECK(loaded->state().approx_equal(pruned->state(), 0, 0));
  CHECK(torch::equal(logits(*loaded, images), after));
}

TEST_CASE("bad keep lists are refused, naming the block") {
  const Model m = Model::default_cnn().value();
  const auto error_of = [&](const std::vector<std::vector<std::int64_t>>& keep) {
    auto r = remove_channels(m, keep);
    REQUIRE_FALSE(r);
    return r.error();
  };
  const std::vector<std::int64_t> k1 = all_but(16, {}), k2 = all_but(32, {}), k3 = all_but(64, {});
  CHECK(error_of({k1, k2}).code == ErrorCode::invalid_argument);
  const Error empty = error_of({k1, {}, k3});
  CHECK(empty.code == ErrorCode::invalid_argument);
  CHECK(empty.detail.find("block 2") != std::string::npos);
  const Error unsorted = error_of({{3, 1, 5}, k2, k3});
  CHECK(unsorted.code == ErrorCode::invalid_argument);
  CHECK(unsorted.detail.find("block 1") != std::string::npos);
  CHECK(error_of({{1, 1, 5}, k2, k3}).detail.find("block 1") != std::string::npos);  // duplicate
  const Error range = error_of({k1, k2, {0, 64}});
  CHECK(range.code == ErrorCode::invalid_argument);
  CHECK(range.detail.find("block 3") != std::string::npos);
  CHECK(error_of({{-1, 2}, k2, k3}).code == ErrorCode::invalid_argument);

  // Not a default CNN: nothing to rebuild.
  auto net = std::make_shared<torch::nn::LinearImpl>(784, 10);
  TorchModelSpec spec;
  spec.module = net;
  spec.forward = [net](const torch::Tensor& x) { return net->forward(x.flatten(1)); };
  spec.role_of = [](const std::string& name) { return conventional_role("fc." + name); };
  auto byo = make_model(std::move(spec));
  REQUIRE(byo);
  CHECK(remove_channels(*byo, {{0}}).error().code == ErrorCode::schema_mismatch);
}

TEST_CASE("magnitude pruning reaches the target per tensor and keeps masked weights at zero") {
  const data::Dataset train = toy_dataset(300, 3), test = toy_dataset(100, 4);
  Model m = pretrained_toy(train);
  const ParameterSet before = m.state();
  MagnitudePruneConfig c;
  c.sparsity = 0.6;
  c.epochs = 2;
  c.batch_size = 32;  // 10 steps per epoch: the final masks at step 10, then 10 more steps
  c.ramp = 0.5;
  c.frequency = 3;
  std::vector<double> targets;
  auto report = prune_magnitude(m, train, &test, c, [&](const PruneProgress& p) {
    CHECK(p.phase == PrunePhase::magnitude);
    CHECK(p.test_accuracy.has_value());
    targets.push_back(p.sparsity);
  });
  REQUIRE(report);
  CHECK(targets == std::vector<double>{0.6, 0.6});
  REQUIRE(report->tensors.size() == 4);
  const ParameterSet after = m.state();
  for (const TensorSparsity& t : report->tensors) {
    INFO(t.name);
    // Ten Adam steps after the last mask update: only re-applying the mask keeps these at 0.
    const auto target = static_cast<double>(std::llround(0.6 * static_cast<double>(t.numel)));
    CHECK(std::abs(static_cast<double>(t.zeros) - target) <= 1);
    CHECK(zeros_in(after, t.name) == t.zeros);  // the report describes the model
  }
  CHECK(report->tensors[0].name == "conv1.weight");
  CHECK(report->tensors[3].name == "head.weight");
  // BatchNorm fine-tuned, adapters untouched.
  CHECK_FALSE(std::equal(before.find("bn1.weight")->data.begin(), before.find("bn1.weight")->data.end(),
                         after.find("bn1.weight")->data.begin()));
  for (const char* name : {"adapter2.down.weight", "adapter2.up.weight"}) {
    CHECK(std::equal(before.find(name)->data.begin(), before.find(name)->data.end(), after.find(name)->data.begin()));
  }
  REQUIRE(report->after);
  CHECK(report->after->accuracy > 0.8);

  MagnitudePruneConfig bad = c;
  bad.sparsity = 1.0;
  CHECK(prune_magnitude(m, train, nullptr, bad).error().code == ErrorCode::invalid_argument);
  bad = c;
  bad.ramp = 0;
  CHECK(prune_magnitude(m, train, nullptr, bad).error().code == ErrorCode::invalid_argument);
  CHECK(m.state().approx_equal(after, 0, 0));
}

TEST_CASE("channel pruning removes the requested share, step by step, and the result works") {
  const data::Dataset train = toy_dataset(400, 5), test = toy_dataset(100, 6);
  const Model m = pretrained_toy(train);
  const ParameterSet before = m.state();
  ChannelPruneConfig c;
  c.fraction = 0.25;  // round(0.25 · 112) = 28 channels
  c.steps = 2;
  c.final_epochs = 1;
  std::vector<std::string> phases;
  std::vector<std::int64_t> remaining;
  ChannelPruneReport report;
  auto pruned = prune_channels(m, train, &test, c, [&](const PruneProgress& p) {
    phases.push_back(std::string(to_string(p.phase)) + " " + std::to_string(p.step) + "/" + std::to_string(p.steps));
    remaining.push_back(std::accumulate(p.channels.begin(), p.channels.end(), std::int64_t{0}));
  }, &report);
  REQUIRE(pruned);
  // Cubic over two steps: 7/8 of the 28 channels (25 rounded), then all 28.
  CHECK(phases == std::vector<std::string>{"sparsity_training 1/1", "removal 1/2", "removal 2/2", "fine_tune 1/1"});
  CHECK(remaining == std::vector<std::int64_t>{112, 112 - 25, 84, 84});
  CHECK(report.channels_before == std::vector<std::int64_t>{16, 32, 64});
  REQUIRE(report.channels_after.size() == 3);
  CHECK(std::accumulate(report.channels_after.begin(), report.channels_after.end(), std::int64_t{0}) == 84);
  CHECK(pruned->architecture()["channels"] == nlohmann::json(report.channels_after));
  for (std::size_t k = 0; k < 3; ++k) {
    CHECK(static_cast<std::int64_t>(report.kept[k].size()) == report.channels_after[k]);
    CHECK(std::is_sorted(report.kept[k].begin(), report.kept[k].end()));
  }
  CHECK(shape_of(*pruned, "head.weight") == Shape{10, report.channels_after[2] * 49});
  REQUIRE(report.after);
  CHECK(pruned->evaluate(test).accuracy == Approx(report.after->accuracy));
  CHECK(report.after->accuracy > 0.8);
  CHECK(m.state().approx_equal(before, 0, 0));  // the input is not touched
}

TEST_CASE("channel pruning keeps every block's minimum and refuses impossible requests") {
  const data::Dataset train = toy_dataset(100, 7);
  const Model m = Model::default_cnn().value();
  ChannelPruneConfig c;
  c.sparsity_epochs = c.step_epochs = c.final_epochs = 0;
  c.steps = 1;
  c.fraction = 98.0 / 112.0;  // everything above max(2, 16/8), max(2, 32/8), max(2, 64/8)
  for (ChannelRanking ranking : {ChannelRanking::gamma, ChannelRanking::output_gain}) {
    c.ranking = ranking;
    ChannelPruneReport report;
    auto pruned = prune_channels(m, train, nullptr, c, {}, &report);
    REQUIRE(pruned);
    CHECK(report.channels_after == std::vector<std::int64_t>{2, 4, 8});
    CHECK_FALSE(report.after);
  }
  c.fraction = 99.0 / 112.0;
  const auto too_many = prune_channels(m, train, nullptr, c);
  REQUIRE_FALSE(too_many);
  CHECK(too_many.error().code == ErrorCode::invalid_argument);
  CHECK(too_many.error().detail.find("98 of 112") != std::string::npos);
  c.fraction = 1.0;
  CHECK(prune_channels(m, train, nullptr, c).error().code == ErrorCode::invalid_argument);
  c.fraction = 0.5;
  c.min_keep = 0;
  CHECK(prune_channels(m, train, nullptr, c).error().code == ErrorCode::invalid_argument);
  c.min_keep = 0.125;
  CHECK(prune_channels(m, data::Dataset{}, nullptr, c).error().code == ErrorCode::invalid_argument);
}

TEST_CASE("the shared training epoch visits every full batch, runs the hooks and adds the extra loss") {
  CHECK(epoch_order(50, 9, 1) != epoch_order(50, 9, 0));
  std::vector<std::size_t> running(50);
  std::iota(running.begin(), running.end(), 0);
  std::uint64_t state = 9;
  shuffle(running, state);
  shuffle(running, state);
  CHECK(epoch_order(50, 9, 1) == running);  // one running shuffle, split into epochs

  const data::Dataset d = toy_dataset(9, 8);  // batches of 4: 4, 4 and a skipped single sample
  Model m = Model::default_cnn().value();
  ModelImpl& impl = m.impl();
  torch::optim::SGD opt(arm_backbone(impl), torch::optim::SGDOptions(0.01));
  std::size_t forwards = 0, steps = 0;
  impl.set_mode(true);
  const torch::Tensor head = impl.tensors[static_cast<std::size_t>(
      std::find_if(impl.schema.tensors.begin(), impl.schema.tensors.end(),
                   [](const TensorSpec& t) { return t.name == "head.bias"; }) -
      impl.schema.tensors.begin())];
  const torch::Tensor head_before = head.detach().clone();
  const double loss = train_epoch(
      impl, d, opt, EpochOptions{4, 1, 0}, [&] { return 100.0 * head.sum(); }, [&] { ++steps; },
      [&](const torch::Tensor& x) {
        ++forwards;
        return impl.forward(x);
      });
  disarm(impl);
  CHECK(forwards == 2);
  CHECK(steps == 2);
  CHECK(loss > 0);
  CHECK(loss < 10);  // cross-entropy only: the extra term would add ~100 × |Σ head.bias|
  // d(100 · Σ bias)/d bias = 100 dominates: two SGD steps of lr 0.01 move every bias by about −2.
  CHECK((head.detach() - head_before).max().item<float>() < -1.5f);
}
