// edgefed-bench compress: what compression buys on the default model, one JSON line per
// variant (float32, ptq_int8, qat_int8, pruned25/50 float32 and int8) and a Markdown table.
//   accuracy               Fashion-MNIST test set (10,000 images) through edgefed's runtime:
//                          int8 variants with int8 arithmetic
//   bytes                  the signed deployable artifact (runtime/model_file.hpp)
//   peak_activation_bytes  the runtime's arena plan
//   latency_ms             median of one-image invokes on this thread (batch 1)
#include "bench.hpp"

#include "edgefed/common/artifact.hpp"
#include "edgefed/common/config.hpp"
#include "edgefed/common/crypto.hpp"
#include "edgefed/compress/evaluate.hpp"
#include "edgefed/data/fashion_mnist.hpp"
#include "edgefed/ml/compression.hpp"
#include "edgefed/ml/prune.hpp"
#include "edgefed/runtime/interpreter.hpp"
#include "edgefed/runtime/model_file.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

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
      "latency ms | speed-up | MACs | channels |\n|---|---|---|---|---|---|---|---|---|---|\n";
  for (const Measured& m : rows) {
    std::string channels;
    for (const auto& c : m.row["channels"]) channels += (channels.empty() ? "" : "/") + std::to_string(c.get<std::int64_t>());
    char line[512];
    std::snprintf(line, sizeof line, "| %s%s | %.2f %% | %+.2f | %zu | %.3f | %zu | %.3f | %.2f× | %lld | %s |\n",
                  m.row["variant"].get<std::string>().c_str(), m.row["qat"].get<bool>() ? " (QAT)" : "",
                  100 * m.accuracy, 100 * (m.accuracy - base.accuracy), m.bytes,
                  static_cast<double>(m.bytes) / static_cast<double>(base.bytes),
                  m.row["peak_activation_bytes"].get<std::size_t>(), m.latency_ms, base.latency_ms / m.latency_ms,
                  static_cast<long long>(m.row["macs"].get<std::int64_t>()), channels.c_str());
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
      .add("markdown", ConfigType::string, "", "also write the Markdown table to this file");
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
  std::vector<Measured> rows;
  for (const Variant& v : *variants) {
    auto m = measure(v, data->test, key.secret_key, c->get<std::uint64_t>("latency_runs"), out_dir);
    if (!m) return fail_with(m.error());
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
