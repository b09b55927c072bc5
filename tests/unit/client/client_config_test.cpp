// edgefed::ClientConfig::from_json: every key, and each bad input refused by name.
#include "edgefed/client.hpp"

#include <catch2/catch.hpp>

namespace {

using edgefed::ClientConfig;
using edgefed::ErrorCode;
using json = nlohmann::json;

json minimal() {
  return {{"tls", {{"cert", "d.pem"}, {"key", "d.key.pem"}}}, {"state_dir", "/tmp/edgefed-state"}};
}

TEST_CASE("client config: a minimal config gets the defaults; every key is read") {
  auto c = ClientConfig::from_json(minimal());
  REQUIRE(c);
  CHECK(c->port == 8443);
  CHECK(c->min_cohort == 3);
  CHECK_FALSE(c->assumed_corrupt_rate);
  json full = minimal();
  full["host"] = "fl.example";
  full["port"] = 9443;
  full["tls"]["ca"] = "ca.pem";
  full["tls"]["server_name"] = "fl.example";
  full["model_public_key"] = "m.pub";
  full["device_class"] = "camera";
  full["rounds"] = 7;
  full["connect_timeout_ms"] = 1000;
  full["reconnect_min_ms"] = 100;
  full["reconnect_max_ms"] = 200;
  full["min_cohort"] = 10;
  full["assumed_corrupt_rate"] = 0.05;
  full["assumed_dropout_rate"] = 0.1;
  c = ClientConfig::from_json(full);
  REQUIRE(c);
  CHECK(c->host == "fl.example");
  CHECK(c->port == 9443);
  CHECK(c->ca_file == "ca.pem");
  CHECK(c->server_name == "fl.example");
  CHECK(c->rounds == 7);
  CHECK(c->reconnect_max.count() == 200);
  CHECK(c->min_cohort == 10);
  CHECK(*c->assumed_corrupt_rate == 0.05);
  CHECK(*c->assumed_dropout_rate == 0.1);
}

TEST_CASE("client config: bad input is refused by name") {
  auto refused = [](json j, ErrorCode code, const std::string& needle) {
    auto c = ClientConfig::from_json(j);
    REQUIRE_FALSE(c);
    CHECK(c.error().code == code);
    CHECK(c.error().detail.find(needle) != std::string::npos);
  };
  json j = minimal();
  j["hots"] = "x";
  refused(j, ErrorCode::unknown_key, "hots");
  j = minimal();
  j["port"] = "8443";
  refused(j, ErrorCode::bad_type, "port");
  j = minimal();
  j["port"] = 70000;
  refused(j, ErrorCode::bad_value, "port");
  j = minimal();
  j["tls"]["keyfile"] = "x";
  refused(j, ErrorCode::unknown_key, "tls.keyfile");
  j = minimal();
  j.erase("state_dir");
  refused(j, ErrorCode::missing_field, "state_dir");
  j = minimal();
  j["tls"].erase("cert");
  refused(j, ErrorCode::missing_field, "tls.cert");
  j = minimal();
  j["min_cohort"] = 2;
  refused(j, ErrorCode::bad_value, "min_cohort");
  j = minimal();
  j["assumed_dropout_rate"] = 0.95;
  refused(j, ErrorCode::bad_value, "assumed_dropout_rate");
  j = minimal();
  j["reconnect_min_ms"] = 500;
  j["reconnect_max_ms"] = 100;
  refused(j, ErrorCode::bad_value, "reconnect");
  refused(json::array(), ErrorCode::bad_type, "object");
}

}  // namespace
