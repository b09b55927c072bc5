// edgefed-bench compress: what compression buys on the default model, one JSON line per
// variant (float32, ptq_int8, qat_int8, pruned25/50 float32 and int8) and a Markdown table.
//   accuracy               Fashion-MNIST test set (10,000 images) through edgefed's runtime:
//                          int8 variants with int8 arithmetic
//   bytes                  the signed deployable artifact (runtime/model_file.hpp)
//   peak_activation_bytes  the runtime's arena plan
//   latency_ms             median of one-image invokes on this thread (batch 1)
//   tflite_bytes, onnx_bytes   the exported files (edgefed::export, float in / float out)
//   accuracy_armnn, accuracy_tflite, accuracy_ort   the same test images through runtimes we
//                          did not write: Arm NN 20.08 (CpuRef) and TFLite's interpreter (wasm)
//                          on the .tflite, ONNX Runtime on the .onnx (tests/thirdparty/'s
//                          runners; null with a "thirdparty_errors" entry when one fails)
#include "bench.hpp"

#include "edgefed/common/artifact.hpp"
#include "edgefed/common/config.hpp"
#include "edgefed/common/crypto.hpp"
#include "edgefed/compress/evaluate.hpp"
#include "edgefed/data/fashion_mnist.hpp"
#include "edgefed/export/onnx.hpp"
#include "edgefed/export/tflite.hpp"
#include "edgefed/ml/compression.hpp"
#include "edgefed/ml/prune.hpp"
#include "edgefed/runtime/interpreter.hpp"
#include "edgefed/runtime/model_file.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>

#ifndef EDGEFED_ARMNN_CHECK
#define EDGEFED_ARMNN_CHECK "armnn_check"
#endif
#ifndef EDGEFED_THIRDPARTY_DIR
#define EDGEFED_THIRDPARTY_DIR "tests/thirdparty"
#endif

namespace edgefed::bench {
namespace {

using json = nlohmann::json;

struct Variant {
  std::string name;
  runtime::Graph graph;
  std::vector<std::int64_t> channels;
  bool qat = false;
  double seconds = 0;  // to produce it
};

struct Measured {
  json row;
  std::vector<std::uint8_t> predictions;  // ours, per test image
  double accuracy = 0;
  std::size_t bytes = 0;
  double latency_ms = 0;
};

Result<Measured> measure(const Variant& v, const data::Dataset& test, const Ed25519SecretKey& key,
                         std::size_t latency_runs, const std::string& out_dir) {
  EDGEFED_ASSIGN_OR_RETURN(const Bytes bytes, runtime::write_graph_artifact(v.graph, key, 1, {{"variant", v.name}}));
  if (!out_dir.empty()) EDGEFED_TRY(save_artifact(std::filesystem::path(out_dir) / (v.name + ".efm"), bytes));
  EDGEFED_ASSIGN_OR_RETURN(runtime::Interpreter interpreter, runtime::Interpreter::create(v.graph));
  EDGEFED_ASSIGN_OR_RETURN(const compress::GraphEvaluation e, compress::evaluate_graph(interpreter, test));
  EDGEFED_ASSIGN_OR_RETURN(const compress::Latency latency, compress::measure_latency(interpreter, test, latency_runs));
  const runtime::GraphCost cost = runtime::cost_of(v.graph);
  Measured m;
  m.accuracy = e.accuracy;
  m.bytes = bytes.size();
  m.latency_ms = latency.median_ms;
  m.predictions = e.predictions;
  m.row = json{{"bench", "compress"},
               {"variant", v.name},
               {"accuracy", e.accuracy},
               {"bytes", bytes.size()},
               {"peak_activation_bytes", cost.peak_activation_bytes},
               {"latency_ms", latency.median_ms},
               {"latency_p90_ms", latency.p90_ms},
               {"flash_bytes", cost.weight_bytes},
               {"macs", cost.macs},
               {"channels", v.channels},
               {"qat", v.qat},
               {"examples", e.examples},
               {"build_seconds", v.seconds}};
  return m;
}

// The exported files of each variant run by third-party runtimes on the test images
// (tests/thirdparty/: armnn_check, tflite_check.js, ort_check.js; their file formats).
class ThirdParty {
 public:
  // Arm NN's CpuRef is a reference backend (~20 ms per inference here): it may run only the
  // first `armnn_images` test images; its row then also says our accuracy on the same ones.
  ThirdParty(std::filesystem::path work, std::string armnn_check, std::filesystem::path scripts, std::string node,
             std::size_t armnn_images)
      : work_(std::move(work)), armnn_check_(std::move(armnn_check)), scripts_(std::move(scripts)), node_(std::move(node)),
        armnn_images_(armnn_images) {}

  // images.f32 (N × H × W × C float32, channels last: for one channel the pixels as they are)
  // and meta.json.
  Status write_images(const data::Dataset& test) {
    std::filesystem::create_directories(work_);
    std::ofstream out(work_ / "images.f32", std::ios::binary);
    out.write(reinterpret_cast<const char*>(test.pixels.data()),
              static_cast<std::streamsize>(test.pixels.size() * sizeof(float)));
    if (!out) return fail(ErrorCode::io_error, "cannot write " + (work_ / "images.f32").string());
    n_ = test.size();
    labels_ = test.labels;
    // What the runners read besides the images (edgefed_reference's meta.json, in part).
    const json meta{{"n", n_},
                    {"input_shape", {1, test.rows, test.cols, test.channels}}};
    std::ofstream(work_ / "meta.json") << meta.dump();
    return {};
  }

  // Adds tflite/onnx bytes and each runtime's accuracy to `row`; `ours` are our predictions
  // on every test image.
  void measure(const std::string& name, const runtime::Graph& graph, const std::vector<std::uint8_t>& ours, json& row) {
    json errors = json::object();
    const auto exported = [&](const std::string& format, Result<Bytes> bytes) -> std::optional<std::filesystem::path> {
      if (!bytes) {
        errors[format] = bytes.error().message();
        return std::nullopt;
      }
      row[format + "_bytes"] = bytes->size();
      const std::filesystem::path path = work_ / (name + "." + format);
      if (auto st = save_artifact(path, *bytes); !st) {
        errors[format] = st.error().message();
        return std::nullopt;
      }
      return path;
    };
    const auto tflite = exported("tflite", exporter::write_tflite(graph));
    const auto onnx = exported("onnx", exporter::write_onnx(graph));
    const auto run = [&](const std::string& runtime, const std::string& command, std::size_t n) {
      row["accuracy_" + runtime] = nullptr;
      const std::filesystem::path out = work_ / (name + "." + runtime + ".out");
      if (auto st = run_command(command + " " + shell_quote(work_.string()) + " " + std::to_string(n) + " " +
                                shell_quote(out.string()));
          !st) {
        errors[runtime] = st.error().message();
        return;
      }
      auto acc = accuracy_of(out, graph, n);
      if (acc) row["accuracy_" + runtime] = *acc;
      else errors[runtime] = acc.error().message();
    };
    if (tflite) {
      const std::size_t n = std::min(armnn_images_, n_);
      run("armnn", shell_quote(armnn_check_) + " " + shell_quote(tflite->string()), n);
      if (n < n_) {
        std::size_t correct = 0;
        for (std::size_t i = 0; i < n; ++i) correct += ours[i] == labels_[i];
        row["armnn_images"] = n;
        row["accuracy_ours_on_armnn_images"] = static_cast<double>(correct) / static_cast<double>(n);
      }
      run("tflite", shell_quote(node_) + " " + shell_quote((scripts_ / "tflite_check.js").string()) + " " +
                        shell_quote(tflite->string()), n_);
    }
    if (onnx) {
      run("ort", shell_quote(node_) + " " + shell_quote((scripts_ / "ort_check.js").string()) + " " +
                     shell_quote(onnx->string()), n_);
    }
    if (!errors.empty()) row["thirdparty_errors"] = errors;
  }

 private:
  // Top-1 accuracy of n float32 logit rows.
  Result<double> accuracy_of(const std::filesystem::path& path, const runtime::Graph& graph, std::size_t n) const {
    const auto k = static_cast<std::size_t>(graph.tensors[static_cast<std::size_t>(graph.output)].shape.back());
    std::ifstream in(path, std::ios::binary);
    std::vector<float> logits(n * k);
    in.read(reinterpret_cast<char*>(logits.data()), static_cast<std::streamsize>(logits.size() * sizeof(float)));
    if (!in) return fail(ErrorCode::truncated, path.string() + ": fewer than " + std::to_string(n) + " outputs");
    std::size_t correct = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const auto row = logits.begin() + static_cast<std::ptrdiff_t>(i * k);
      correct += static_cast<std::size_t>(std::max_element(row, row + static_cast<std::ptrdiff_t>(k)) - row) == labels_[i];
    }
    return static_cast<double>(correct) / static_cast<double>(n);
  }

  std::filesystem::path work_;
  std::string armnn_check_;
  std::filesystem::path scripts_;
  std::string node_;
  std::size_t armnn_images_;
  std::size_t n_ = 0;
  std::vector<std::uint8_t> labels_;
};

std::vector<std::int64_t> channels_of(const runtime::Graph& g) {
  std::vector<std::int64_t> out;
  for (const runtime::Op& op : g.ops) {
    if (op.kind == runtime::OpKind::conv2d && op.name.rfind("conv", 0) == 0) {
      out.push_back(g.tensors[static_cast<std::size_t>(op.output)].shape.back());
    }
  }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The variants in report order; pruned models are built once and quantized after.
Result<std::vector<Variant>> build_variants(const ml::Model& model, const ml::CompressionData& data,
                                            const ml::QuantizeOptions& base, const ml::ChannelPruneConfig& prune) {
  const auto say = [](const std::string& line) { std::fprintf(stderr, "  %s\n", line.c_str()); };
  std::vector<Variant> out;
  const auto quantized = [&](const ml::Model& m, const std::string& name, ml::QatMode mode) -> Result<Variant> {
    const auto t0 = std::chrono::steady_clock::now();
    std::fprintf(stderr, "[compress] %s\n", name.c_str());
    ml::QuantizeOptions o = base;
    o.qat = mode;
    EDGEFED_ASSIGN_OR_RETURN(ml::QuantizeResult r, ml::quantize_model(m, data.train, data.validation, o, say));
    Variant v{name, std::move(r.int8_graph), {}, r.used_qat, seconds_since(t0)};
    v.channels = channels_of(v.graph);
    return v;
  };
  const auto floating = [&](const ml::Model& m, const std::string& name, double seconds) -> Result<Variant> {
    EDGEFED_ASSIGN_OR_RETURN(runtime::Graph g, ml::lower(m));
    Variant v{name, std::move(g), {}, false, seconds};
    v.channels = channels_of(v.graph);
    return v;
  };
  EDGEFED_ASSIGN_OR_RETURN(Variant f, floating(model, "float32", 0));
  out.push_back(std::move(f));
  EDGEFED_ASSIGN_OR_RETURN(Variant ptq, quantized(model, "ptq_int8", ml::QatMode::never));
  out.push_back(std::move(ptq));
  EDGEFED_ASSIGN_OR_RETURN(Variant qat, quantized(model, "qat_int8", ml::QatMode::always));
  out.push_back(std::move(qat));
  for (const int percent : {25, 50}) {
    const std::string tag = "pruned" + std::to_string(percent);
    std::fprintf(stderr, "[compress] %s: channel pruning\n", tag.c_str());
    const auto t0 = std::chrono::steady_clock::now();
    ml::ChannelPruneConfig pc = prune;
    pc.fraction = percent / 100.0;
    EDGEFED_ASSIGN_OR_RETURN(const ml::Model pruned,
                             ml::prune_channels(model, data.train, nullptr, pc, [](const ml::PruneProgress& p) {
                               std::fprintf(stderr, "  %s %zu/%zu loss %.4f (%.0f s)\n",
                                            std::string(ml::to_string(p.phase)).c_str(), p.step, p.steps,
                                            p.train_loss, p.seconds);
                             }));
    EDGEFED_ASSIGN_OR_RETURN(Variant pf, floating(pruned, tag + "_float32", seconds_since(t0)));
    out.push_back(std::move(pf));
    EDGEFED_ASSIGN_OR_RETURN(Variant pq, quantized(pruned, tag + "_int8", ml::QatMode::automatic));
    out.push_back(std::move(pq));
  }
  return out;
}

std::string markdown(const std::vector<Measured>& rows) {
  const Measured& base = rows.front();
  std::string s =
      "| variant | accuracy | Δ vs float32 (points) | artifact bytes | × float32 | peak activation bytes | "
      "latency ms | speed-up | MACs | channels | .tflite bytes | Arm NN | TFLite | ONNX Runtime |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const Measured& m : rows) {
    std::string channels;
    for (const auto& c : m.row["channels"]) channels += (channels.empty() ? "" : "/") + std::to_string(c.get<std::int64_t>());
    const auto third = [&](const char* key) {
      const json& v = m.row.contains(key) ? m.row[key] : json();
      if (v.is_number_float()) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.2f %%", 100 * v.get<double>());
        return std::string(buf);
      }
      return std::string(v.is_number() ? std::to_string(v.get<std::size_t>()) : "–");
    };
    // Arm NN on a subset: say so, with ours on the same images.
    std::string armnn = third("accuracy_armnn");
    if (m.row.contains("armnn_images")) {
      char buf[96];
      std::snprintf(buf, sizeof buf, " (first %zu images; ours %.2f %%)", m.row["armnn_images"].get<std::size_t>(),
                    100 * m.row["accuracy_ours_on_armnn_images"].get<double>());
      armnn += buf;
    }
    char line[768];
    std::snprintf(line, sizeof line,
                  "| %s%s | %.2f %% | %+.2f | %zu | %.3f | %zu | %.3f | %.2f× | %lld | %s | %s | %s | %s | %s |\n",
                  m.row["variant"].get<std::string>().c_str(), m.row["qat"].get<bool>() ? " (QAT)" : "",
                  100 * m.accuracy, 100 * (m.accuracy - base.accuracy), m.bytes,
                  static_cast<double>(m.bytes) / static_cast<double>(base.bytes),
                  m.row["peak_activation_bytes"].get<std::size_t>(), m.latency_ms, base.latency_ms / m.latency_ms,
                  static_cast<long long>(m.row["macs"].get<std::int64_t>()), channels.c_str(),
                  third("tflite_bytes").c_str(), armnn.c_str(), third("accuracy_tflite").c_str(),
                  third("accuracy_ort").c_str());
    s += line;
  }
  return s;
}

}  // namespace

int run_compress(int argc, const char* const argv[]) {
  ConfigSpec spec("edgefed-bench compress",
                  "accuracy, artifact bytes, peak activation RAM and latency of the default model's compressed "
                  "variants (PTQ, QAT, 25 %/50 % channel pruning, float32 and int8)");
  spec.add("model", ConfigType::string, "models/backbone.efm", "pretrained float model (edgefed-model pretrain)")
      .add("public_key", ConfigType::string, "keys/model.pem.pub", "Ed25519 public key that signed it")
      .add("data_dir", ConfigType::string, data::kDefaultFashionMnistDir, "Fashion-MNIST directory")
      .add("seed", ConfigType::unsigned_integer, 1, "cloud split and shuffling seed")
      .add("calibration.samples", ConfigType::unsigned_integer, 100, "representative images for calibration")
      .add("latency_runs", ConfigType::unsigned_integer, 500, "timed one-image invokes per variant")
      .add("out_dir", ConfigType::string, "", "also write each variant's signed artifact here")
      .add("markdown", ConfigType::string, "", "also write the Markdown table to this file")
      .add("thirdparty", ConfigType::boolean, true,
           "also run each variant's .tflite in Arm NN and TFLite and its .onnx in ONNX Runtime")
      .add("armnn_check", ConfigType::string, EDGEFED_ARMNN_CHECK, "tests/thirdparty's Arm NN runner")
      .add("thirdparty_dir", ConfigType::string, EDGEFED_THIRDPARTY_DIR,
           "tests/thirdparty (tflite_check.js, ort_check.js, node_modules)")
      .add("node", ConfigType::string, "node", "Node.js")
      .add("armnn_images", ConfigType::unsigned_integer, 10000,
           "test images Arm NN CpuRef runs (a reference backend: ~20 ms per inference)")
      .add("work_dir", ConfigType::string, "", "exported files and runtime outputs (default: a temporary directory)");
  int code = 0;
  auto c = parse_command_line_or_report(spec, argc, argv, code);
  if (!c) return code;
  const auto fail_with = [](const Error& e) {
    std::fprintf(stderr, "edgefed-bench compress: %s\n", e.message().c_str());
    return 1;
  };
  ml::use_single_thread();
  auto pub = load_ed25519_public_key(c->get<std::string>("public_key"));
  if (!pub) return fail_with(pub.error());
  auto model = ml::load_model(c->get<std::string>("model"), *pub);
  if (!model) return fail_with(model.error());
  auto data = ml::load_compression_data(c->get<std::string>("data_dir"), c->get<std::uint64_t>("seed"));
  if (!data) return fail_with(data.error());
  ml::QuantizeOptions quantize;
  quantize.calibration.samples = c->get<std::uint64_t>("calibration.samples");
  quantize.qat_config.seed = c->get<std::uint64_t>("seed");
  ml::ChannelPruneConfig prune;
  prune.seed = c->get<std::uint64_t>("seed");
  const std::string out_dir = c->get<std::string>("out_dir");
  if (!out_dir.empty()) std::filesystem::create_directories(out_dir);
  // Variants are signed with a throw-away key: the bench measures sizes, it ships nothing.
  const Ed25519KeyPair key = generate_ed25519();

  auto variants = build_variants(*model, *data, quantize, prune);
  if (!variants) return fail_with(variants.error());
  std::optional<ThirdParty> thirdparty;
  if (c->get<bool>("thirdparty")) {
    std::string work = c->get<std::string>("work_dir");
    if (work.empty()) work = (std::filesystem::temp_directory_path() / "edgefed-bench-compress").string();
    thirdparty.emplace(work, c->get<std::string>("armnn_check"), c->get<std::string>("thirdparty_dir"),
                       c->get<std::string>("node"), c->get<std::uint64_t>("armnn_images"));
    if (auto st = thirdparty->write_images(data->test); !st) return fail_with(st.error());
  }
  std::vector<Measured> rows;
  for (const Variant& v : *variants) {
    auto m = measure(v, data->test, key.secret_key, c->get<std::uint64_t>("latency_runs"), out_dir);
    if (!m) return fail_with(m.error());
    if (thirdparty) thirdparty->measure(v.name, v.graph, m->predictions, m->row);
    std::cout << m->row.dump() << std::endl;
    rows.push_back(std::move(*m));
  }
  const std::string table = markdown(rows);
  std::fprintf(stderr, "\n%s", table.c_str());
  if (const std::string path = c->get<std::string>("markdown"); !path.empty()) {
    std::ofstream(path) << table;
  }
  return 0;
}

}  // namespace edgefed::bench
