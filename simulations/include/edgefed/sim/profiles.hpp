// Device profiles for the fleet simulator: device classes (compute, RAM, energy), links
// (bandwidth, latency, energy), availability windows and per-stage drop probabilities,
// read from plain JSON (simulations/profiles/default.json is the shipped library).
#pragma once

#include "edgefed/common/result.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace edgefed::sim {

struct DeviceClass {
  std::string name;
  double train_macs_per_second = 1e9;  // sustained fp32 training throughput
  double ram_mib = 512;
  double energy_nj_per_mac = 0.1;
};

struct Link {
  std::string name;
  double up_kbps = 1000;
  double down_kbps = 1000;
  double latency_ms = 20;
  double energy_nj_per_byte = 100;  // sent or received
};

// When a device is online (and may be selected): always, or a daily window [from, to) in
// hours of its local day (wrapping midnight when from > to), shifted per device by a
// uniform jitter in [−jitter, +jitter]. "charging" is a window too: the device trains only
// while it charges.
struct Availability {
  std::string kind = "always";  // always | diurnal | charging
  double from_hour = 0;
  double to_hour = 24;
  double jitter_hours = 0;
};

struct Profile {
  std::string name;
  double share = 1;  // fraction of the fleet
  DeviceClass device_class;
  Link link;
  Availability availability;
  // Per SecAgg message type the device is about to send ("secagg.share_keys"...): the chance
  // that it goes offline instead, for the rest of the round.
  std::map<std::string, double> drop_probability;
};

struct ProfileLibrary {
  std::vector<Profile> profiles;  // shares sum to 1 (normalised on load)
};

// Errors: io_error / bad_encoding for the file; missing_field / bad_type / bad_value naming
// the entry ("profiles[2].link: 'wlan' is not a link").
Result<ProfileLibrary> load_profiles(const std::filesystem::path& path);
Result<ProfileLibrary> profiles_from_json(const nlohmann::json& json);

}  // namespace edgefed::sim
