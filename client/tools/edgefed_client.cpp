// edgefed-client: one real device process.
//
//   edgefed-client --config device.json [--data.device 3] [--rounds 5] ...
//
// Its local data is device `data.device`'s shard of Fashion-MNIST under the federated split
// (Dirichlet label skew, its own sensor shift) that the simulator uses for the same seed, so
// a handful of processes behave like members of the simulated fleet. SIGTERM/SIGINT: stops
// after the current step; the device state on disk is always consistent.
#include "edgefed/client.hpp"
#include "edgefed/common/config.hpp"
#include "edgefed/common/log.hpp"
#include "edgefed/data/fashion_mnist.hpp"
#include "edgefed/data/federated.hpp"

#include <csignal>
#include <cstdio>
#include <thread>

namespace {

using namespace edgefed;

edgefed::Client* g_client = nullptr;
extern "C" void on_signal(int) {
  if (g_client != nullptr) g_client->stop();  // only sets an atomic flag
}

ConfigSpec make_spec() {
  ConfigSpec spec("edgefed-client", "a federated-learning device: trains locally, aggregates securely");
  spec.add("server.host", ConfigType::string, "127.0.0.1", "aggregation server host")
      .add("server.port", ConfigType::unsigned_integer, 8443, "aggregation server port")
      .add("tls.ca", ConfigType::string, "certs/ca.pem", "CA of the server certificate")
      .add("tls.cert", ConfigType::string, nullptr, "this device's certificate (PEM)")
      .add("tls.key", ConfigType::string, nullptr, "this device's private key (PEM)")
      .add("tls.server_name", ConfigType::string, "localhost", "name expected in the server certificate")
      .add("model_public_key", ConfigType::string, "keys/model.pem.pub", "public key that signs models")
      .add("state_dir", ConfigType::string, nullptr, "where the device keeps its model and state")
      .add("device_class", ConfigType::string, "generic", "reported to the server")
      .add("rounds", ConfigType::unsigned_integer, 0, "rounds to take part in (0: until stopped)")
      .add("data.dir", ConfigType::string, data::kDefaultFashionMnistDir, "Fashion-MNIST directory")
      .add("data.device", ConfigType::unsigned_integer, 0, "which device's shard to use")
      .add("data.devices", ConfigType::unsigned_integer, 100, "devices in the federated split")
      .add("data.alpha", ConfigType::number, 0.5, "Dirichlet label skew")
      .add("data.feature_shift", ConfigType::boolean, true, "per-device sensor shift")
      .add("data.seed", ConfigType::unsigned_integer, 1, "split seed (same as the simulator's)")
      .add("evaluate", ConfigType::boolean, false, "print the device's accuracy on its own test split at exit")
      .add("log.format", ConfigType::string, "logfmt", "logfmt or json");
  return spec;
}

}  // namespace

int main(int argc, char** argv) {
  const ConfigSpec spec = make_spec();
  int code = 0;
  auto c = parse_command_line_or_report(spec, argc, argv, code);
  if (!c) return code;
  if (c->get<std::string>("log.format") == "json") log::set_format(log::Format::json);

  nlohmann::json cj = {{"host", c->get<std::string>("server.host")},
                       {"port", c->get<std::uint64_t>("server.port")},
                       {"tls",
                        {{"ca", c->get<std::string>("tls.ca")},
                         {"cert", c->get<std::string>("tls.cert")},
                         {"key", c->get<std::string>("tls.key")},
                         {"server_name", c->get<std::string>("tls.server_name")}}},
                       {"model_public_key", c->get<std::string>("model_public_key")},
                       {"state_dir", c->get<std::string>("state_dir")},
                       {"device_class", c->get<std::string>("device_class")},
                       {"rounds", c->get<std::uint64_t>("rounds")}};
  auto config = ClientConfig::from_json(cj);
  if (!config) {
    std::fprintf(stderr, "edgefed-client: %s\n", config.error().message().c_str());
    return 2;
  }
  auto pool = data::load_fashion_mnist(c->get<std::string>("data.dir"), data::Split::train);
  if (!pool) {
    std::fprintf(stderr, "edgefed-client: %s\n", pool.error().message().c_str());
    return 1;
  }
  data::FederatedDataSpec ds;
  ds.devices = static_cast<std::uint32_t>(c->get<std::uint64_t>("data.devices"));
  ds.alpha = c->get<double>("data.alpha");
  ds.feature_shift = c->get<bool>("data.feature_shift");
  ds.seed = c->get<std::uint64_t>("data.seed");
  const std::uint64_t device = c->get<std::uint64_t>("data.device");
  if (device >= ds.devices) {
    std::fprintf(stderr, "edgefed-client: data.device %llu is not below data.devices %u\n",
                 static_cast<unsigned long long>(device), ds.devices);
    return 2;
  }
  auto fed = data::make_federated_data(*pool, ds);
  if (!fed) {
    std::fprintf(stderr, "edgefed-client: %s\n", fed.error().message().c_str());
    return 2;
  }
  data::Dataset train = std::move(fed->devices[device].train);
  data::Dataset test = std::move(fed->devices[device].test);
  pool = Result<data::Dataset>(data::Dataset{});  // free the pool before training
  fed->devices.clear();

  auto client = Client::create(std::move(*config), std::move(train));
  if (!client) {
    std::fprintf(stderr, "edgefed-client: %s\n", client.error().message().c_str());
    return 1;
  }
  g_client = client->get();
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  const Status st = (*client)->run();
  g_client = nullptr;
  const ClientStats s = (*client)->stats();
  std::string accuracy;
  if (c->get<bool>("evaluate") && !test.empty()) {
    if (auto a = (*client)->evaluate(test)) accuracy = ", \"test_accuracy\": " + std::to_string(*a);
  }
  std::printf("{\"model_version\": %llu, \"rounds_completed\": %llu, \"rounds_aborted\": %llu, \"bytes_sent\": %llu, "
              "\"bytes_received\": %llu%s}\n",
              static_cast<unsigned long long>(s.model_version), static_cast<unsigned long long>(s.rounds_completed),
              static_cast<unsigned long long>(s.rounds_aborted), static_cast<unsigned long long>(s.bytes_sent),
              static_cast<unsigned long long>(s.bytes_received), accuracy.c_str());
  if (!st) {
    std::fprintf(stderr, "edgefed-client: %s\n", st.error().message().c_str());
    return 1;
  }
  return 0;
}
