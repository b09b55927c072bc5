// The LibTorch side of compression: the lowered graph computes what the model computes,
// quantization-aware training, and the PTQ → QAT pipeline.
#include "edgefed/ml/compression.hpp"  // LibTorch stays behind these APIs
#include "edgefed/ml/prune.hpp"
#include "edgefed/ml/trainer.hpp"

#include "edgefed/compress/lower.hpp"
#include "edgefed/runtime/interpreter.hpp"
#include "toy_data.hpp"

#include <catch2/catch.hpp>

#include "edgefed_catch_helpers.hpp"

#include <cmath>
#include <random>

using namespace edgefed;
using namespace edgefed::ml;
using edgefed::testing::toy_dataset;

namespace {

// A briefly trained default CNN whose BatchNorm statistics and adapters are not the
// identity, so folding and the adapter path both matter.
Model trained_model(const std::vector<std::int64_t>& channels = {16, 32, 64}) {
  use_single_thread();
  CnnConfig config;
  config.channels = channels;
  Model m = Model::default_cnn(config).value();
  PretrainConfig c;
  c.epochs = 2;
  REQUIRE(pretrain(m, toy_dataset(1000, 11), nullptr, c));
  ParameterSet s = m.state();
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (std::size_t i = 0; i < s.size(); ++i) {
    const MutableTensorView t = s.mutable_at(i);
    if (std::string_view(t.name).find(".up.") != std::string_view::npos) {
      for (float& x : t.data) x = normal(rng);
    }
  }
  REQUIRE(m.load(s));
  return m;
}

// Mean cross-entropy and argmax of the graph's logits over `data`.
std::pair<double, std::vector<std::uint8_t>> run_graph(const runtime::Graph& g, const data::Dataset& data) {
  auto interpreter = runtime::Interpreter::create(g);
  REQUIRE_OK(interpreter);
  std::vector<float> logits(interpreter->output_size());
  double loss = 0;
  std::vector<std::uint8_t> predictions;
  for (std::size_t i = 0; i < data.size(); ++i) {
    REQUIRE(interpreter->invoke(data.image(i), logits));
    const float max = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (float l : logits) sum += std::exp(static_cast<double>(l - max));
    loss += std::log(sum) + max - logits[data.labels[i]];
    predictions.push_back(static_cast<std::uint8_t>(std::max_element(logits.begin(), logits.end()) - logits.begin()));
  }
  return {loss / static_cast<double>(data.size()), predictions};
}

void check_graph_matches_model(const Model& m, const data::Dataset& data) {
  auto g = lower(m);
  REQUIRE_OK(g);
  const auto [loss, predictions] = run_graph(*g, data);
  const Evaluation e = m.evaluate(data);
  CHECK(loss == Approx(e.loss).epsilon(1e-4));
  CHECK(predictions == m.predict(data));
}

}  // namespace

TEST_CASE("the lowered float graph computes what the LibTorch model computes") {
  const Model m = trained_model();
  check_graph_matches_model(m, toy_dataset(100, 12));
}

TEST_CASE("a channel-pruned model lowers to a smaller graph that still matches LibTorch") {
  const Model m = trained_model({8, 16, 16});
  auto pruned = remove_channels(m, {{0, 2, 3, 5, 7}, {1, 2, 3, 4, 8, 9, 15}, {0, 1, 2, 3, 4, 5, 6, 7}});
  REQUIRE_OK(pruned);
  auto g = lower(*pruned);
  REQUIRE_OK(g);
  CHECK(g->tensors[static_cast<std::size_t>(g->find("conv2.weight"))].shape == Shape{7, 3, 3, 5});
  CHECK(g->tensors[static_cast<std::size_t>(g->find("head.weight"))].shape == Shape{10, 7 * 7 * 8});
  check_graph_matches_model(*pruned, toy_dataset(60, 13));
}

TEST_CASE("forced QAT fine-tunes a copy and returns an int8 graph with learned ranges") {
  const Model m = trained_model();
  const ParameterSet before = m.state();
  const data::Dataset train = toy_dataset(300, 14), validation = toy_dataset(100, 15);
  QuantizeOptions o;
  o.qat = QatMode::always;
  o.calibration.samples = 50;
  o.qat_config.epochs = 1;
  std::vector<std::string> log;
  auto r = quantize_model(m, train, validation, o, [&](const std::string& line) { log.push_back(line); });
  REQUIRE_OK(r);
  CHECK(r->used_qat);
  REQUIRE(r->qat_accuracy);
  REQUIRE(r->qat);
  CHECK(r->qat->epoch_loss.size() == 1);
  CHECK(std::isfinite(r->qat->epoch_loss[0]));
  CHECK(r->int8_graph.is_int8());
  REQUIRE(r->int8_graph.validate());
  CHECK(r->float_accuracy > 0.9);
  CHECK(*r->qat_accuracy > 0.85);  // the toy task survives int8
  CHECK(m.state().approx_equal(before, 0, 0));  // the input model is untouched
  CHECK(log.size() >= 3);
}

TEST_CASE("automatic QAT runs only when PTQ loses more than the budget") {
  const Model m = trained_model();
  const data::Dataset train = toy_dataset(200, 16), validation = toy_dataset(100, 17);
  QuantizeOptions o;
  o.calibration.samples = 50;
  o.budget = 1.0;  // nothing can lose more than 100 points
  auto r = quantize_model(m, train, validation, o);
  REQUIRE_OK(r);
  CHECK_FALSE(r->used_qat);
  CHECK_FALSE(r->qat_accuracy);
  o.budget = -0.5;
  CHECK(quantize_model(m, train, validation, o).error().code == ErrorCode::invalid_argument);
  CHECK(parse_qat_mode("auto").value() == QatMode::automatic);
  CHECK(parse_qat_mode("sometimes").error().code == ErrorCode::invalid_argument);
}

TEST_CASE("QAT refuses missing ranges and bad configurations, changing nothing") {
  Model m = trained_model({8, 8});
  auto g = lower(m);
  REQUIRE_OK(g);
  const data::Dataset train = toy_dataset(100, 18);
  auto ranges = compress::calibrate(*g, train, {});
  REQUIRE_OK(ranges);
  const ParameterSet before = m.state();
  compress::ActivationRanges partial = *ranges;
  partial.erase("adapter2.up.out");
  auto r = train_quantization_aware(m, train, partial, {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::schema_mismatch);
  CHECK_THAT(r.error().detail, Catch::Contains("adapter2.up.out"));
  QatConfig bad;
  bad.epochs = 0;
  CHECK(train_quantization_aware(m, train, *ranges, bad).error().code == ErrorCode::invalid_argument);
  CHECK(m.state().approx_equal(before, 0, 0));
}
