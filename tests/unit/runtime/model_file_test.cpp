// Graphs as signed artifacts: round trips of float and int8 graphs, the artifact checks
// (tampering, truncation, wrong key), and hostile documents signed with the test key so the
// document checks, not the signature, are what refuse them.
#include "edgefed/runtime/model_file.hpp"

#include "edgefed/common/artifact.hpp"
#include "edgefed/runtime/interpreter.hpp"
#include "runtime_test_support.hpp"

#include <catch2/catch.hpp>

#include "edgefed_catch_helpers.hpp"

#include <functional>
#include <string>

namespace edgefed::runtime {
namespace {

using Catch::Matchers::Contains;
using nlohmann::json;

Ed25519SecretKey test_key(std::uint8_t fill = 0x42) {
  return Ed25519SecretKey::from_seed(Bytes(kEd25519SecretKeyBytes, fill)).value();
}
const Ed25519PublicKey& trusted() {
  static const Ed25519PublicKey key = derive_public_key(test_key());
  return key;
}

testing::CnnSpec small_spec() { return testing::CnnSpec{8, 1, {8, 16}, 4, 3}; }
Graph float_graph() { return testing::float_cnn(small_spec(), 5); }
Graph int8_graph() { return testing::quantize_for_test(float_graph(), testing::random_images(4, 64, 6)); }

Bytes written(const Graph& g, std::uint64_t version = 9, const json& info = json::object()) {
  auto bytes = write_graph_artifact(g, test_key(), version, info);
  REQUIRE_OK(bytes);
  return std::move(bytes).value();
}

// Re-signs `bytes` with its document changed by `edit`, or its tensors by `edit_tensors`.
Bytes resigned(const Bytes& bytes, const std::function<void(json&)>& edit,
               const std::function<void(std::vector<NamedTensor>&)>& edit_tensors = {}) {
  auto artifact = read_artifact(bytes, trusted());
  REQUIRE_OK(artifact);
  json doc = json::parse(artifact->metadata);
  edit(doc);
  artifact->metadata = doc.dump();
  if (edit_tensors) edit_tensors(artifact->tensors);
  auto out = write_artifact(*artifact, test_key());
  REQUIRE_OK(out);
  return std::move(out).value();
}

Error read_error(const Bytes& bytes) {
  auto r = read_graph_artifact(bytes, trusted());
  REQUIRE_FALSE(r);
  return r.error();
}

TEST_CASE("float and int8 graphs round trip through a signed artifact unchanged", "[model_file]") {
  for (const Graph& g : {float_graph(), int8_graph()}) {
    const json info = {{"source", "test"}, {"accuracy", 0.5}};
    const Bytes bytes = written(g, 17, info);
    CHECK(looks_like_graph_artifact(bytes));
    auto back = read_graph_artifact(bytes, trusted());
    REQUIRE_OK(back);
    CHECK(back->graph == g);
    CHECK(back->model_version == 17);
    CHECK(back->info == info);
    // And it runs the same.
    auto a = Interpreter::create(g);
    auto b = Interpreter::create(back->graph);
    REQUIRE_OK(a);
    REQUIRE_OK(b);
    std::vector<float> image(64, 0.3f), la(3), lb(3);
    REQUIRE_OK(a->invoke(image, la));
    REQUIRE_OK(b->invoke(image, lb));
    CHECK(la == lb);
  }
}

TEST_CASE("constants are stored as artifact tensors of the documented encodings", "[model_file]") {
  const Graph g = int8_graph();
  auto artifact = read_artifact(written(g), trusted());
  REQUIRE_OK(artifact);
  std::size_t constants = 0;
  for (const Tensor& t : g.tensors) constants += t.constant ? 1 : 0;
  REQUIRE(artifact->tensors.size() == constants);
  for (const NamedTensor& n : artifact->tensors) {
    const Tensor& t = g.tensors[static_cast<std::size_t>(g.find(n.name))];
    CHECK(n.tensor.shape == t.shape);
    CHECK(n.tensor.encoding == (t.dtype == DType::int8 ? Encoding::int8_symmetric_per_channel : Encoding::int32));
  }
  // FC weights: marked per_tensor in the document, the one scale repeated per row in the artifact.
  const auto head = std::find_if(artifact->tensors.begin(), artifact->tensors.end(),
                                 [](const NamedTensor& n) { return n.name == "head.weight"; });
  REQUIRE(head != artifact->tensors.end());
  CHECK(head->tensor.scales.size() == 3);
  CHECK(std::all_of(head->tensor.scales.begin(), head->tensor.scales.end(), [&](float s) {
    return s == g.tensors[static_cast<std::size_t>(g.find("head.weight"))].quant.scales[0];
  }));
  const json doc = json::parse(artifact->metadata);
  CHECK(doc["format"] == "edgefed-graph");
  CHECK(doc["version"] == 1);
  CHECK(doc["ops"][1]["kind"] == "conv2d");
  // Constants are named, not described: the artifact tensor holds shape, dtype and scales.
  const json& head_doc = doc["tensors"][static_cast<std::size_t>(g.find("head.weight"))];
  CHECK(head_doc == json{{"name", "head.weight"}, {"constant", true}, {"per_tensor", true}});
  CHECK(doc["tensors"][static_cast<std::size_t>(g.find("conv1.bias"))] ==
        json{{"name", "conv1.bias"}, {"constant", true}});
}

TEST_CASE("tampered, truncated and wrongly signed graph artifacts are refused", "[model_file]") {
  const Bytes bytes = written(float_graph());
  Bytes flipped = bytes;
  flipped[bytes.size() - kArtifactTrailerBytes - 10] ^= 0x01;  // a payload byte
  CHECK(read_error(flipped).code == ErrorCode::checksum_mismatch);
  const Bytes cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bytes.size() / 2));
  CHECK(read_error(cut).code == ErrorCode::truncated);
  auto other = write_graph_artifact(float_graph(), test_key(0x43), 9);
  REQUIRE_OK(other);
  CHECK(read_error(*other).code == ErrorCode::bad_signature);
}

TEST_CASE("documents with a wrong type, a missing field or an unknown name are refused naming the field",
          "[model_file]") {
  const Bytes bytes = written(int8_graph());
  struct Case {
    std::function<void(json&)> edit;
    ErrorCode code;
    std::string names;
  };
  // tensors[0] is the float input, [1] its int8 copy, [2] conv1.weight (constant), [3] conv1.bias.
  const std::vector<Case> cases{
      {[](json& d) { d["tensors"][1]["shape"] = "1x8x8x1"; }, ErrorCode::bad_type,
       "tensors[1].shape: expected an array"},
      {[](json& d) { d["tensors"][1]["shape"][1] = 2.5; }, ErrorCode::bad_type,
       "tensors[1].shape[1]: expected an integer"},
      {[](json& d) { d["tensors"][1]["scale"] = "big"; }, ErrorCode::bad_type, "tensors[1].scale: expected a number"},
      {[](json& d) { d["tensors"][1]["scale"] = 1e300; }, ErrorCode::bad_value, "tensors[1].scale: not a finite float32"},
      {[](json& d) { d["tensors"][1].erase("scale"); }, ErrorCode::missing_field, "tensors[1].scale: missing"},
      {[](json& d) { d["tensors"][1]["zero_point"] = 1ll << 40; }, ErrorCode::bad_value,
       "tensors[1].zero_point: 1099511627776 outside"},
      {[](json& d) { d["tensors"][0]["constant"] = 1; }, ErrorCode::bad_type, "tensors[0].constant: expected a boolean"},
      {[](json& d) { d["tensors"][2]["per_tensor"] = "yes"; }, ErrorCode::bad_type,
       "tensors[2].per_tensor: expected a boolean"},
      {[](json& d) { d["tensors"][0].erase("dtype"); }, ErrorCode::missing_field, "tensors[0].dtype: missing"},
      {[](json& d) { d["tensors"][0]["dtype"] = "float16"; }, ErrorCode::bad_value,
       "tensors[0].dtype: unknown value 'float16'"},
      {[](json& d) { d["tensors"][4] = 7; }, ErrorCode::bad_type, "tensors[4]: expected an object"},
      {[](json& d) { d.erase("ops"); }, ErrorCode::missing_field, "document.ops: missing"},
      {[](json& d) { d["ops"][1]["kind"] = "softmax"; }, ErrorCode::bad_value, "ops[1].kind: unknown value 'softmax'"},
      {[](json& d) { d["ops"][1]["activation"] = "gelu"; }, ErrorCode::bad_value, "ops[1].activation: unknown value"},
      {[](json& d) { d["ops"][1]["inputs"][0] = -1; }, ErrorCode::bad_value, "ops[1].inputs[0]: -1 outside"},
      {[](json& d) { d["ops"][2]["output"] = "x"; }, ErrorCode::bad_type, "ops[2].output: expected an integer"},
      {[&](json& d) {
         for (json& op : d["ops"]) {
           if (op["kind"] == "max_pool2d") op["pool"] = nullptr;
         }
       },
       ErrorCode::bad_type, ".pool: expected an integer"},
      {[](json& d) { d["input"] = -3; }, ErrorCode::bad_value, "document.input: -3 outside"},
      {[](json& d) { d["info"] = "none"; }, ErrorCode::bad_type, "document.info: expected an object"},
      {[](json& d) { d["format"] = "onnx"; }, ErrorCode::bad_value, "document.format: 'onnx'"},
      {[](json& d) { d["version"] = 2; }, ErrorCode::unsupported_version, "document.version"},
      {[](json& d) { d = json::array(); }, ErrorCode::bad_type, "expected an object"},
  };
  for (const Case& c : cases) {
    const Error e = read_error(resigned(bytes, c.edit));
    INFO(e.message());
    CHECK(e.code == c.code);
    CHECK_THAT(e.detail, Contains(c.names));
  }
}

TEST_CASE("documents that parse but disagree with the tensors or the graph rules are refused", "[model_file]") {
  const Graph g = int8_graph();
  const Bytes bytes = written(g);
  const auto weight = static_cast<std::size_t>(g.find("conv1.weight"));
  // A conv weight marked per_tensor whose rows have different scales.
  Error e = read_error(resigned(bytes, [&](json& d) { d["tensors"][weight]["per_tensor"] = true; }));
  CHECK(e.code == ErrorCode::bad_value);
  CHECK_THAT(e.detail, Contains("conv1.weight") && Contains("different scales"));
  // A constant the artifact does not hold, and an artifact tensor the graph does not name.
  e = read_error(resigned(
      bytes, [](json&) {}, [](std::vector<NamedTensor>& t) { t.pop_back(); }));
  CHECK(e.code == ErrorCode::bad_value);
  CHECK_THAT(e.detail, Contains("no artifact tensor"));
  e = read_error(resigned(
      bytes, [](json&) {},
      [](std::vector<NamedTensor>& t) {
        t.push_back(NamedTensor{"stray", encode(Shape{1}, std::vector<float>{1.0f}, Encoding::float32).value()});
      }));
  CHECK(e.code == ErrorCode::bad_value);
  CHECK_THAT(e.detail, Contains("holds"));
  // An artifact tensor of an encoding no graph constant has, and one whose shape does not fit.
  e = read_error(resigned(
      bytes, [](json&) {},
      [](std::vector<NamedTensor>& t) {
        t[0].tensor = encode(t[0].tensor.shape, std::vector<float>(decode(t[0].tensor).value()),
                             Encoding::int4_symmetric_per_channel)
                          .value();
      }));
  CHECK(e.code == ErrorCode::bad_value);
  CHECK_THAT(e.detail, Contains("conv1.weight") && Contains("int4_symmetric_per_channel"));
  e = read_error(resigned(
      bytes, [](json&) {},
      [](std::vector<NamedTensor>& t) {
        EncodedTensor& w = t[0].tensor;  // conv1.weight [O, 3, 3, I] → [O, 3, 3, I + 1]
        w.shape[3] += 1;
        w.data.resize(w.data.size() + static_cast<std::size_t>(w.shape[0] * w.shape[1] * w.shape[2]));
      }));
  CHECK(e.code == ErrorCode::bad_value);
  CHECK_THAT(e.detail, Contains("conv1"));
  // Well-formed, but the graph is invalid: an operator reading a tensor out of range.
  e = read_error(resigned(bytes, [](json& d) { d["ops"][0]["inputs"][0] = 999; }));
  CHECK(e.code == ErrorCode::bad_value);
  CHECK_THAT(e.detail, Contains("out of range"));
  // Not JSON at all.
  auto artifact = read_artifact(bytes, trusted());
  REQUIRE_OK(artifact);
  artifact->metadata = "{\"format\": ";
  CHECK(read_error(write_artifact(*artifact, test_key()).value()).code == ErrorCode::bad_encoding);
}

TEST_CASE("write_graph_artifact refuses invalid graphs and non-object info", "[model_file]") {
  Graph bad = float_graph();
  bad.ops[0].inputs.resize(1);
  auto r = write_graph_artifact(bad, test_key(), 1);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::invalid_argument);
  CHECK_THAT(r.error().detail, Contains("conv1"));
  auto info = write_graph_artifact(float_graph(), test_key(), 1, json::array());
  REQUIRE_FALSE(info);
  CHECK(info.error().code == ErrorCode::invalid_argument);
}

TEST_CASE("looks_like_graph_artifact peeks at the header and metadata only", "[model_file]") {
  const Bytes bytes = written(float_graph());
  CHECK(looks_like_graph_artifact(bytes));
  Bytes flipped = bytes;
  flipped.back() ^= 0xFF;  // the signature: not verified by a peek
  CHECK(looks_like_graph_artifact(flipped));
  ModelArtifact other;
  other.model_version = 1;
  other.metadata = R"({"arch":"edgefed-cnn"})";
  CHECK_FALSE(looks_like_graph_artifact(write_artifact(other, test_key()).value()));
  CHECK_FALSE(looks_like_graph_artifact(ByteSpan(bytes).first(40)));
  CHECK_FALSE(looks_like_graph_artifact(ByteSpan(bytes).first(70)));  // metadata cut off
  Bytes junk(200, 0x89);
  CHECK_FALSE(looks_like_graph_artifact(junk));
}

}  // namespace
}  // namespace edgefed::runtime
