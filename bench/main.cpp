// edgefed-bench <benchmark> [options]: runs one benchmark family, JSON lines on stdout.
#include "bench.hpp"

#include <cstdio>
#include <cstring>
#include <string_view>

namespace {
void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: edgefed-bench <benchmark> [options]   (edgefed-bench <benchmark> --help)\n\n"
               "benchmarks:\n"
               "  secagg   SecAgg+ session cost: CPU per stage, bytes per client, PRG floor\n"
               "  train    on-device learning per tier: parameters, round cost, peak RSS, adaptation gain\n"
               "  server   the edgefed-server process with 10..1000 TLS devices: RSS, round time, bytes\n"
               "  sim      the in-process fleet simulator with 100..10000 devices: set-up, round wall time, RSS\n"
               "  compress the default model's compressed variants: accuracy, bytes, peak RAM, latency\n\n"
               "Each measured configuration prints one JSON object on its own line.\n");
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h") {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string_view which = argv[1];
  if (which == "secagg") return edgefed::bench::run_secagg(argc - 1, argv + 1);
  if (which == "train") return edgefed::bench::run_train(argc - 1, argv + 1);
  if (which == "server") return edgefed::bench::run_server(argc - 1, argv + 1);
  if (which == "sim") return edgefed::bench::run_sim(argc - 1, argv + 1);
  if (which == "compress") return edgefed::bench::run_compress(argc - 1, argv + 1);
  std::fprintf(stderr, "edgefed-bench: unknown benchmark '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
