// The interpreter end to end: a small CNN of the default model's structure in float and its
// int8 version agree; the observer; span checks; int8_tensor under arena sharing; the arena
// plan against independently computed lifetimes; cost_of against hand-counted figures.
#include "edgefed/runtime/interpreter.hpp"

#include "runtime_test_support.hpp"

#include <catch2/catch.hpp>

#include "edgefed_catch_helpers.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <vector>

// ----- allocation counter -----
// Replaces the global allocation functions of this test binary so a test can count the
// allocations made inside a scope. Off (one relaxed load) unless an AllocationCount is alive.
namespace {
std::atomic<bool> g_counting{false};
std::atomic<std::size_t> g_allocations{0};

void* counted_alloc(std::size_t n) noexcept {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
// Out of line so the compiler does not see free() meet operator new (-Wmismatched-new-delete).
[[gnu::noinline]] void counted_free(void* p) noexcept { std::free(p); }
}  // namespace

void* operator new(std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { counted_free(p); }

namespace edgefed::runtime {
namespace {

class AllocationCount {
 public:
  AllocationCount() {
    g_allocations = 0;
    g_counting = true;
  }
  ~AllocationCount() { g_counting = false; }
  std::size_t count() const { return g_allocations.load(); }
};

using testing::CnnSpec;
using testing::GraphBuilder;
using testing::per_tensor;

// 12×12×1 -> blocks of 8 and 16 channels (adapters 8 -> 2 -> 8, 16 -> 4 -> 16) -> FC 5.
CnnSpec small_spec() { return CnnSpec{12, 1, {8, 16}, 4, 5}; }

std::size_t argmax(const std::vector<float>& v) {
  return static_cast<std::size_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

std::size_t bytes_of(const Tensor& t) { return static_cast<std::size_t>(t.numel()) * (t.dtype == DType::int8 ? 1 : 4); }

// The int8 graph is calibrated on the very images it is compared on, so no activation clamps
// and the difference is the arithmetic's alone: the rounding of ~8 requantized layers carried
// to the logits. Over twelve seeds: 0.6 to 1.5 output steps on average, 2 to 5.6 at worst.
TEST_CASE("a float CNN and its int8 version agree on logits within a few output steps", "[interpreter]") {
  for (std::uint32_t seed : {21u, 121u, 221u}) {
    const Graph f = testing::float_cnn(small_spec(), seed);
    const auto images = testing::random_images(100, 144, seed + 1);
    const Graph q = testing::quantize_for_test(f, images);
    REQUIRE_OK(q.validate());
    const float step = q.tensors[static_cast<std::size_t>(q.find("logits.q"))].quant.scales[0];
    auto fi = Interpreter::create(f);
    auto qi = Interpreter::create(q);
    REQUIRE_OK(fi);
    REQUIRE_OK(qi);
    CHECK(qi->arena_bytes() < fi->arena_bytes());
    std::vector<float> lf(5), lq(5);
    double worst = 0, total = 0;
    int same_class = 0;
    for (const auto& image : images) {
      REQUIRE_OK(fi->invoke(image, lf));
      REQUIRE_OK(qi->invoke(image, lq));
      for (std::size_t k = 0; k < 5; ++k) {
        const double steps = std::fabs(double{lf[k]} - lq[k]) / step;
        worst = std::max(worst, steps);
        total += steps;
      }
      same_class += argmax(lf) == argmax(lq) ? 1 : 0;
    }
    INFO("seed " << seed << ": logit differences of " << total / 500 << " output steps on average, " << worst
                 << " at worst (step " << step << "), same class " << same_class << "/100");
    CHECK(worst <= 6.0);
    CHECK(total / 500 <= 2.0);
    CHECK(same_class >= 90);
  }
}

TEST_CASE("the observer sees the input, then each float activation right after it is written", "[interpreter]") {
  const Graph f = testing::float_cnn(small_spec(), 31);
  auto interpreter = Interpreter::create(f);
  REQUIRE_OK(interpreter);
  const std::vector<float> image = testing::random_images(1, 144, 32)[0];
  std::vector<float> logits(5);
  std::vector<int> seen;
  std::vector<float> observed_logits;
  REQUIRE_OK(interpreter->invoke(image, logits, [&](int t, std::span<const float> values) {
    seen.push_back(t);
    CHECK(values.size() == static_cast<std::size_t>(f.tensors[static_cast<std::size_t>(t)].numel()));
    if (t == f.input) CHECK(std::equal(values.begin(), values.end(), image.begin()));
    if (t == f.output) observed_logits.assign(values.begin(), values.end());
  }));
  std::vector<int> expected{f.input};
  for (const Op& op : f.ops) expected.push_back(op.output);
  CHECK(seen == expected);
  CHECK(observed_logits == logits);

  // An int8 graph has two float activations: the image and the dequantized logits.
  const Graph q = testing::quantize_for_test(f, testing::random_images(8, 144, 33));
  auto qi = Interpreter::create(q);
  REQUIRE_OK(qi);
  seen.clear();
  REQUIRE_OK(qi->invoke(image, logits, [&](int t, std::span<const float>) { seen.push_back(t); }));
  CHECK(seen == std::vector<int>{q.input, q.output});
}

TEST_CASE("invoke refuses spans of the wrong size and create refuses invalid graphs", "[interpreter]") {
  auto interpreter = Interpreter::create(testing::float_cnn(small_spec(), 41));
  REQUIRE_OK(interpreter);
  CHECK(interpreter->input_size() == 144);
  CHECK(interpreter->output_size() == 5);
  std::vector<float> image(144), logits(5);
  const Status short_input = interpreter->invoke(std::span<const float>(image).first(143), logits);
  REQUIRE_FALSE(short_input);
  CHECK(short_input.error().code == ErrorCode::invalid_argument);
  CHECK_THAT(short_input.error().detail, Catch::Matchers::Contains("takes 144"));
  std::vector<float> long_logits(6);
  CHECK(interpreter->invoke(image, long_logits).error().code == ErrorCode::invalid_argument);
  REQUIRE_OK(interpreter->invoke(image, logits));

  Graph bad = testing::float_cnn(small_spec(), 41);
  bad.ops[1].inputs.resize(1);
  auto refused = Interpreter::create(bad);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == ErrorCode::bad_value);
  CHECK_THAT(refused.error().detail, Catch::Matchers::Contains("adapter1.down"));
}

TEST_CASE("a conv2d or fully_connected without a bias computes as with a zero bias", "[interpreter]") {
  Graph zero_bias = testing::float_cnn(small_spec(), 43);
  for (Op& op : zero_bias.ops) {
    if (op.kind != OpKind::conv2d && op.kind != OpKind::fully_connected) continue;
    std::vector<float>& b = zero_bias.tensors[static_cast<std::size_t>(op.inputs[2])].f32;
    std::fill(b.begin(), b.end(), 0.0f);
  }
  const auto without = [](Graph g) {
    for (Op& op : g.ops) {
      if (op.kind == OpKind::conv2d || op.kind == OpKind::fully_connected) op.inputs.resize(2);
    }
    return g;
  };
  const std::vector<std::vector<float>> images = testing::random_images(8, 144, 44);
  const Graph int8_zero_bias = testing::quantize_for_test(zero_bias, images);
  for (const auto& [with_bias, no_bias] : {std::pair{zero_bias, without(zero_bias)},
                                            std::pair{int8_zero_bias, without(int8_zero_bias)}}) {
    REQUIRE_OK(no_bias.validate());
    auto a = Interpreter::create(with_bias);
    auto b = Interpreter::create(no_bias);
    REQUIRE_OK(a);
    REQUIRE_OK(b);
    std::vector<float> la(5), lb(5);
    for (const std::vector<float>& image : images) {
      REQUIRE_OK(a->invoke(image, la));
      REQUIRE_OK(b->invoke(image, lb));
      CHECK(la == lb);
    }
  }
}

TEST_CASE("create refuses an int8 add whose output scale the fixed-point rescaling cannot reach", "[interpreter]") {
  GraphBuilder b;
  const int image = b.activation("image", {1, 1, 1, 4});
  const int flat = b.activation("flat", {1, 4});
  const int a = b.activation("a", {1, 4}, DType::int8, per_tensor(1.0f, 0));
  const int y = b.activation("y", {1, 4}, DType::int8, per_tensor(1e-7f, 0));  // 2 / (2^20 × 1e-7) > 1
  const int out = b.activation("out", {1, 4});
  b.op(OpKind::reshape, "flatten", {image}, flat);
  b.op(OpKind::quantize, "quantize", {flat}, a);
  b.op(OpKind::add, "residual", {a, a}, y);
  b.op(OpKind::dequantize, "dequantize", {y}, out);
  b.graph.input = image;
  b.graph.output = out;
  REQUIRE_OK(b.graph.validate());
  auto refused = Interpreter::create(b.graph);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == ErrorCode::bad_value);
  CHECK_THAT(refused.error().detail,
             Catch::Matchers::Contains("'residual'") && Catch::Matchers::Contains("output scale"));
}

TEST_CASE("int8_tensor returns codes still in the arena, all of them when preserved", "[interpreter]") {
  const Graph f = testing::float_cnn(small_spec(), 51);
  const Graph q = testing::quantize_for_test(f, testing::random_images(8, 144, 52));
  auto shared = Interpreter::create(q);
  auto preserved = Interpreter::create(q, {true});
  REQUIRE_OK(shared);
  REQUIRE_OK(preserved);
  CHECK(shared->arena_bytes() < preserved->arena_bytes());
  const std::vector<float> image = testing::random_images(1, 144, 53)[0];
  std::vector<float> a(5), b(5);
  REQUIRE_OK(shared->invoke(image, a));
  REQUIRE_OK(preserved->invoke(image, b));
  CHECK(a == b);  // sharing bytes changes nothing
  std::size_t reused = 0;
  for (std::size_t t = 0; t < q.tensors.size(); ++t) {
    const Tensor& tensor = q.tensors[t];
    const auto mine = shared->int8_tensor(static_cast<int>(t));
    const auto all = preserved->int8_tensor(static_cast<int>(t));
    if (tensor.dtype != DType::int8 || tensor.constant) {
      CHECK(mine.empty());
      CHECK(all.empty());
      continue;
    }
    REQUIRE(all.size() == static_cast<std::size_t>(tensor.numel()));
    if (mine.empty()) {
      ++reused;
    } else {
      CHECK(std::equal(mine.begin(), mine.end(), all.begin(), all.end()));
    }
  }
  CHECK(reused > 0);
  CHECK_FALSE(shared->int8_tensor(q.find("logits.q")).empty());  // read by the last operator
  CHECK(shared->int8_tensor(-1).empty());
  CHECK(shared->int8_tensor(static_cast<int>(q.tensors.size())).empty());
}

TEST_CASE("invoke allocates nothing, float or int8", "[interpreter]") {
  const Graph f = testing::float_cnn(small_spec(), 55);
  const Graph q = testing::quantize_for_test(f, testing::random_images(4, 144, 56));
  const std::vector<float> image = testing::random_images(1, 144, 57)[0];
  for (const Graph* g : {&f, &q}) {
    auto interpreter = Interpreter::create(*g);
    REQUIRE_OK(interpreter);
    std::vector<float> logits(5);
    {
      AllocationCount probe;
      std::vector<float> scratch(3);  // the probe sees allocations: the check is not vacuous
      CHECK(probe.count() == 1);
    }
    AllocationCount probe;
    for (int i = 0; i < 3; ++i) REQUIRE(interpreter->invoke(image, logits).ok());
    CHECK(probe.count() == 0);
  }
}

TEST_CASE("a moved interpreter keeps working", "[interpreter]") {
  auto created = Interpreter::create(testing::float_cnn(small_spec(), 61));
  REQUIRE_OK(created);
  Interpreter moved = std::move(created).value();
  Interpreter target = std::move(moved);
  std::vector<float> image(144, 0.5f), logits(5);
  REQUIRE_OK(target.invoke(image, logits));
  CHECK(std::all_of(logits.begin(), logits.end(), [](float v) { return std::isfinite(v); }));
}

// ---- arena plan ----------------------------------------------------------------------------

struct Interval {
  int first, last;
};

// Lifetimes from the definition, independently of the planner.
std::vector<Interval> lifetimes_of(const Graph& g) {
  std::vector<Interval> life(g.tensors.size(), {-1, -1});
  life[static_cast<std::size_t>(g.input)] = {0, 0};
  for (std::size_t i = 0; i < g.ops.size(); ++i) {
    life[static_cast<std::size_t>(g.ops[i].output)] = {static_cast<int>(i), static_cast<int>(i)};
  }
  for (std::size_t i = 0; i < g.ops.size(); ++i) {
    for (int t : g.ops[i].inputs) {
      auto& l = life[static_cast<std::size_t>(t)];
      if (!g.tensors[static_cast<std::size_t>(t)].constant) l.last = std::max(l.last, static_cast<int>(i));
    }
  }
  life[static_cast<std::size_t>(g.output)].last = static_cast<int>(g.ops.size());
  return life;
}

void check_plan(const Graph& g) {
  const ArenaPlan plan = plan_arena(g);
  const std::vector<Interval> life = lifetimes_of(g);
  REQUIRE(plan.offsets.size() == g.tensors.size());
  std::size_t end = 0;
  for (std::size_t t = 0; t < g.tensors.size(); ++t) {
    if (g.tensors[t].constant) {
      CHECK(plan.offsets[t] == -1);
      continue;
    }
    REQUIRE(plan.offsets[t] >= 0);
    CHECK(plan.offsets[t] % 16 == 0);
    end = std::max(end, static_cast<std::size_t>(plan.offsets[t]) + bytes_of(g.tensors[t]));
  }
  CHECK(plan.bytes == end);
  // No two tensors alive at the same step share a byte.
  for (std::size_t a = 0; a < g.tensors.size(); ++a) {
    for (std::size_t b = a + 1; b < g.tensors.size(); ++b) {
      if (g.tensors[a].constant || g.tensors[b].constant) continue;
      const bool together = life[a].first <= life[b].last && life[b].first <= life[a].last;
      if (!together) continue;
      const auto a0 = static_cast<std::size_t>(plan.offsets[a]), b0 = static_cast<std::size_t>(plan.offsets[b]);
      INFO(g.tensors[a].name << " and " << g.tensors[b].name);
      CHECK((a0 + bytes_of(g.tensors[a]) <= b0 || b0 + bytes_of(g.tensors[b]) <= a0));
    }
  }
  // At least the bytes alive at the busiest step; less than giving every tensor its own.
  std::size_t busiest = 0, unshared = 0;
  for (std::size_t step = 0; step <= g.ops.size(); ++step) {
    std::size_t alive = 0;
    for (std::size_t t = 0; t < g.tensors.size(); ++t) {
      const int s = static_cast<int>(step);
      if (!g.tensors[t].constant && life[t].first <= s && s <= life[t].last) alive += bytes_of(g.tensors[t]);
    }
    busiest = std::max(busiest, alive);
  }
  for (const Tensor& t : g.tensors) unshared += t.constant ? 0 : bytes_of(t);
  CHECK(plan.bytes >= busiest);
  CHECK(plan.bytes < unshared);
}

TEST_CASE("arena plans never overlap tensors alive at the same time", "[interpreter][plan]") {
  const Graph f = testing::float_cnn(CnnSpec{}, 71);
  check_plan(f);
  check_plan(testing::quantize_for_test(f, testing::random_images(2, 784, 72)));
  check_plan(testing::float_cnn(small_spec(), 73));
}

TEST_CASE("the residual input of an add stays live through the adapter", "[interpreter][plan]") {
  const Graph f = testing::float_cnn(CnnSpec{}, 81);
  const ArenaPlan plan = plan_arena(f);
  for (const char* block : {"1", "2", "3"}) {
    const auto region = [&](const std::string& name) {
      const auto t = static_cast<std::size_t>(f.find(name));
      const auto begin = static_cast<std::size_t>(plan.offsets[t]);
      return std::pair{begin, begin + bytes_of(f.tensors[t])};
    };
    const auto conv = region(std::string("conv") + block);
    for (const char* written_meanwhile : {".down", ".up"}) {
      const auto other = region(std::string("adapter") + block + written_meanwhile);
      INFO("conv" << block << " vs adapter" << block << written_meanwhile);
      CHECK((conv.second <= other.first || other.second <= conv.first));
    }
  }
}

// ---- cost ----------------------------------------------------------------------------------

TEST_CASE("cost_of counts MACs and weight bytes of the default-shaped model by hand", "[interpreter]") {
  const Graph f = testing::float_cnn(CnnSpec{}, 91);
  const GraphCost cost = cost_of(f);
  // conv: H·W·O·KH·KW·I; adapters 1×1; FC O·I; add, pool and reshape none.
  const std::vector<std::pair<std::string, std::int64_t>> expected{{"conv1", 28 * 28 * 16 * 9 * 1},
                                                                   {"adapter1.down", 28 * 28 * 2 * 16},
                                                                   {"adapter1.up", 28 * 28 * 16 * 2},
                                                                   {"block1", 0},
                                                                   {"pool1", 0},
                                                                   {"conv2", 14 * 14 * 32 * 9 * 16},
                                                                   {"adapter2.down", 14 * 14 * 4 * 32},
                                                                   {"adapter2.up", 14 * 14 * 32 * 4},
                                                                   {"block2", 0},
                                                                   {"pool2", 0},
                                                                   {"conv3", 7 * 7 * 64 * 9 * 32},
                                                                   {"adapter3.down", 7 * 7 * 8 * 64},
                                                                   {"adapter3.up", 7 * 7 * 64 * 8},
                                                                   {"block3", 0},
                                                                   {"flatten", 0},
                                                                   {"head", 10 * 3136}};
  REQUIRE(cost.ops.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(cost.ops[i].name == expected[i].first);
    CHECK(cost.ops[i].macs == expected[i].second);
  }
  CHECK(cost.macs == 2101120);
  CHECK(cost.ops[0].weight_bytes == (144 + 16) * 4);
  CHECK(cost.ops.back().weight_bytes == (31360 + 10) * 4);
  CHECK(cost.weight_bytes == 56136 * 4);  // parameters: 55888 weights + 248 biases
  CHECK(cost.peak_activation_bytes == plan_arena(f).bytes);

  const Graph q = testing::quantize_for_test(f, testing::random_images(2, 784, 92));
  const GraphCost qcost = cost_of(q);
  CHECK(qcost.macs == 2101120);
  CHECK(qcost.weight_bytes == 55888 + 248 * 4);  // int8 weights, int32 biases
  CHECK(qcost.ops[1].name == "conv1");
  CHECK(qcost.ops[1].weight_bytes == 144 + 16 * 4);
}

}  // namespace
}  // namespace edgefed::runtime
