// edgefed-bench secagg: one in-process SecAgg+ session per configuration, real clients and
// server state machines, every message encoded with the real wire codec for byte counts.
// CPU time is per-thread CPU (one core), split by protocol stage.
#include "bench.hpp"

#include "edgefed/common/config.hpp"
#include "edgefed/common/wire.hpp"
#include "edgefed/secagg/client.hpp"
#include "edgefed/secagg/csprng.hpp"
#include "edgefed/secagg/graph.hpp"
#include "edgefed/secagg/params.hpp"
#include "edgefed/secagg/server.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <deque>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>

namespace edgefed::bench {
namespace {

using namespace edgefed::secagg;
using json = nlohmann::json;

struct Config {
  std::uint32_t n;
  std::uint64_t m;
  double dropout;
  bool full_graph;
  double corrupt;
  std::uint32_t input_bits;
  std::uint32_t ring_bits;  // 0: input_bits + ⌈log2 n⌉
};

// Bytes on the wire for one message: the whole frame (envelope + CBOR body).
template <typename Message>
std::size_t wire_bytes(const Message& m) {
  return encode_frame(m).value().size();
}

constexpr std::size_t kClientStages = 5;
std::size_t client_stage_index(const ServerMessage& m) { return m.index(); }  // announce .. unmask
const char* kClientStageNames[kClientStages] = {"advertise_keys", "share_keys", "masked_input",
                                                "consistency_check", "unmasking"};

struct Network final : SendToClients {
  struct ToServer final : SendToServer {
    Network* net;
    std::uint32_t slot;
    void send(ClientMessage m) override {
      net->bytes_up[slot] += wire_bytes(m);
      net->to_server.push_back({slot, std::move(m)});
    }
  };
  void send(std::uint32_t slot, ServerMessage m) override {
    bytes_down[slot] += wire_bytes(m);
    to_clients.push_back({slot, std::move(m)});
  }
  std::deque<std::pair<std::uint32_t, ClientMessage>> to_server;
  std::deque<std::pair<std::uint32_t, ServerMessage>> to_clients;
  std::vector<std::size_t> bytes_up, bytes_down;
};

Result<SessionParams> make_params(const Config& c, const Digest32& graph_seed, Csprng& rng) {
  SessionParams p;
  p.n = c.n;
  p.ring_bits = c.ring_bits ? c.ring_bits : c.input_bits + static_cast<std::uint32_t>(std::ceil(std::log2(c.n)));
  p.input_bits = c.input_bits;
  p.vector_length = c.m;
  p.clip = 1.0;
  if (c.full_graph) {
    p.k = c.n - 1;
    p.t = c.n / 2 + 1;
  } else {
    GraphParameterRequest req;
    req.n = c.n;
    req.dropout_rate = std::max(c.dropout, 0.05);
    req.corrupt_rate = c.corrupt;
    req.threat_model = ThreatModel::semi_honest;
    auto found = find_graph_parameters(req);
    if (!found) return found.error();
    p.k = found->k;
    p.t = found->t;
  }
  p.min_survivors = p.t;
  p.graph_commitment = commit_graph_seed(graph_seed);
  rng.fill(RngPurpose::session_nonce, p.server_nonce);
  if (auto st = validate(p); !st) return st.error();
  return p;
}

Result<json> run_one(const Config& c, double prg_bytes_per_second) {
  DeterministicCsprng server_rng(c.n * 31 + c.m);
  Digest32 seed{};
  server_rng.fill(RngPurpose::graph_seed, seed);
  auto params = make_params(c, seed, server_rng);
  if (!params) return params.error();
  const SessionParams& p = *params;

  Network net;
  net.bytes_up.assign(p.n + 1, 0);
  net.bytes_down.assign(p.n + 1, 0);
  Executor one_core;
  auto server = SecAggServer::create(p, seed, net, one_core);
  if (!server) return server.error();

  std::vector<std::unique_ptr<DeterministicCsprng>> rngs(p.n + 1);
  std::vector<std::unique_ptr<Network::ToServer>> ports(p.n + 1);
  std::vector<std::unique_ptr<SecAggClient>> clients(p.n + 1);
  std::mt19937_64 input_rng(9);
  for (std::uint32_t u = 1; u <= p.n; ++u) {
    rngs[u] = std::make_unique<DeterministicCsprng>(u);
    ports[u] = std::make_unique<Network::ToServer>();
    ports[u]->net = &net;
    ports[u]->slot = u;
    FloatInput input{std::vector<float>(p.vector_length - 1), 1.0};
    std::normal_distribution<float> normal(0.0f, 0.05f);
    for (float& x : input.values) x = normal(input_rng);
    clients[u] = SecAggClient::create(ClientPolicy{}, std::move(input), *rngs[u], *ports[u]);
  }
  // The dropouts: clients that vanish after ShareKeys, before their masked input (the case
  // that costs the server mask repair).
  std::set<std::uint32_t> dropping;
  std::mt19937_64 drop_rng(17);
  while (dropping.size() < static_cast<std::size_t>(std::llround(c.dropout * p.n))) {
    dropping.insert(1 + static_cast<std::uint32_t>(drop_rng() % p.n));
  }

  std::vector<std::array<double, kClientStages>> client_cpu(p.n + 1, std::array<double, kClientStages>{});
  std::map<ServerStage, double> server_cpu;
  const auto timed_server = [&](auto&& call) {
    const ServerStage stage = (*server)->stage();
    const double t0 = thread_cpu_seconds();
    call();
    server_cpu[stage] += thread_cpu_seconds() - t0;
  };
  timed_server([&] { (*server)->start(); });
  while (!(*server)->completed() && !(*server)->aborted()) {
    if (!net.to_clients.empty()) {
      auto [slot, m] = std::move(net.to_clients.front());
      net.to_clients.pop_front();
      const bool gone = dropping.count(slot) && clients[slot]->stage() == ClientStage::awaiting_forwarded_shares;
      if (gone) continue;
      const double t0 = thread_cpu_seconds();
      (void)clients[slot]->handle(m);
      client_cpu[slot][client_stage_index(m) % kClientStages] += thread_cpu_seconds() - t0;
    } else if (!net.to_server.empty()) {
      auto [slot, m] = std::move(net.to_server.front());
      net.to_server.pop_front();
      timed_server([&] { (*server)->handle(slot, m); });
    } else {
      timed_server([&] { (*server)->on_deadline(); });
    }
  }
  if ((*server)->aborted()) return Error{ErrorCode::invalid_argument, "session aborted: " + (*server)->abort_error()->detail};

  // Per-client figures over the clients that finished (not the dropouts).
  json client_stages = json::object();
  double client_total = 0, client_max = 0, up = 0, down = 0;
  std::size_t finished = 0;
  for (std::uint32_t u = 1; u <= p.n; ++u) {
    if (dropping.count(u)) continue;
    ++finished;
    double total = 0;
    for (std::size_t s = 0; s < kClientStages; ++s) total += client_cpu[u][s];
    client_total += total;
    client_max = std::max(client_max, total);
    up += static_cast<double>(net.bytes_up[u]);
    down += static_cast<double>(net.bytes_down[u]);
  }
  for (std::size_t s = 0; s < kClientStages; ++s) {
    double sum = 0;
    for (std::uint32_t u = 1; u <= p.n; ++u) sum += dropping.count(u) ? 0 : client_cpu[u][s];
    client_stages[kClientStageNames[s]] = sum / static_cast<double>(finished);
  }
  json server_stages = json::object();
  for (const auto& [stage, secs] : server_cpu) server_stages[std::string(to_string(stage))] = secs;
  const double unmask = server_cpu[ServerStage::unmasking];
  const double floor_s = static_cast<double>((*server)->keystream_bytes()) / prg_bytes_per_second;
  const double up_per_client = up / static_cast<double>(finished);
  return json{
      {"n", p.n},
      {"m", p.vector_length},
      {"dropout", c.dropout},
      {"graph", c.full_graph ? "full" : "secagg+"},
      {"k", p.k},
      {"t", p.t},
      {"ring_bits", p.ring_bits},
      {"input_bits", p.input_bits},
      {"survivors", (*server)->output().survivors.size()},
      {"client_cpu_s_by_stage", client_stages},
      {"client_cpu_s_mean", client_total / static_cast<double>(finished)},
      {"client_cpu_s_max", client_max},
      {"server_cpu_s_by_stage", server_stages},
      {"server_unmask_cpu_s", unmask},
      {"bytes_up_per_client", up_per_client},
      {"bytes_down_per_client", down / static_cast<double>(finished)},
      {"plain16_upload_bytes", 2.0 * static_cast<double>(p.vector_length)},
      {"wire_expansion_vs_plain16", up_per_client / (2.0 * static_cast<double>(p.vector_length))},
      {"wire_expansion_vs_plain_ring", up_per_client / (static_cast<double>(p.vector_length * p.ring_bits) / 8.0)},
      {"server_keystream_bytes", (*server)->keystream_bytes()},
      {"prg_bytes_per_s", prg_bytes_per_second},
      {"prg_floor_s", floor_s},
      {"unmask_over_prg_floor", floor_s > 0 ? unmask / floor_s : 0.0},
  };
}

std::vector<double> parse_numbers(const std::vector<std::string>& items) {
  std::vector<double> out;
  for (const auto& s : items) out.push_back(std::stod(s));
  return out;
}

}  // namespace

int run_secagg(int argc, const char* const argv[]) {
  ConfigSpec spec("edgefed-bench secagg", "SecAgg+ cost per stage, bytes per client, PRG floor");
  spec.add("n", ConfigType::string_list, json::array({"100", "500", "1000"}), "cohort sizes")
      .add("m", ConfigType::unsigned_integer, 100000, "vector length (model parameters)")
      .add("dropout", ConfigType::string_list, json::array({"0", "0.1", "0.3"}), "fractions dropping after ShareKeys")
      .add("graph", ConfigType::string_list, json::array({"full", "plus"}), "full (CCS'17) and/or plus (SecAgg+)")
      .add("corrupt", ConfigType::number, 0.05, "corrupt fraction the SecAgg+ parameters must tolerate")
      .add("input_bits", ConfigType::unsigned_integer, 16, "bits per encoded input (q)")
      .add("ring_bits", ConfigType::unsigned_integer, 0, "ring bits b; 0 = input_bits + ceil(log2 n)");
  int exit_code = 0;
  auto config = parse_command_line_or_report(spec, argc, argv, exit_code);
  if (!config) return exit_code;
  const auto& conf = *config;
  std::vector<double> ns, dropouts;
  try {
    ns = parse_numbers(conf.get<std::vector<std::string>>("n"));
    dropouts = parse_numbers(conf.get<std::vector<std::string>>("dropout"));
  } catch (const std::exception&) {
    std::fprintf(stderr, "edgefed-bench secagg: --n and --dropout take comma-separated numbers\n");
    return 2;
  }
  std::fprintf(stderr, "measuring AES-256-CTR keystream throughput...\n");
  const double prg_rate = measure_prg_bytes_per_second(PrgKind::aes256_ctr, 256u << 20);
  int failures = 0;
  for (const std::string& graph : conf.get<std::vector<std::string>>("graph")) {
    for (double n : ns) {
      for (double d : dropouts) {
        Config c{static_cast<std::uint32_t>(n), conf.get<std::uint64_t>("m"), d, graph == "full",
                 conf.get<double>("corrupt"), static_cast<std::uint32_t>(conf.get<std::uint64_t>("input_bits")),
                 static_cast<std::uint32_t>(conf.get<std::uint64_t>("ring_bits"))};
        std::fprintf(stderr, "secagg: n=%u m=%llu dropout=%.2f graph=%s ...\n", c.n,
                     static_cast<unsigned long long>(c.m), d, graph.c_str());
        auto row = run_one(c, prg_rate);
        if (!row) {
          std::fprintf(stderr, "  failed: %s\n", row.error().message().c_str());
          ++failures;
          continue;
        }
        std::cout << row->dump() << std::endl;
      }
    }
  }
  return failures ? 1 : 0;
}

}  // namespace edgefed::bench
