#include "edgefed/sim/profiles.hpp"

#include "edgefed/common/config.hpp"

#include <cmath>

namespace edgefed::sim {

namespace {

Result<double> positive(const nlohmann::json& j, const std::string& key, const std::string& where, bool required = true,
                        double fallback = 0) {
  if (!j.contains(key)) {
    if (required) return fail(ErrorCode::missing_field, where + "." + key + " is required");
    return fallback;
  }
  if (!j[key].is_number()) return fail(ErrorCode::bad_type, where + "." + key + " must be a number");
  const double v = j[key].get<double>();
  if (!(v >= 0) || !std::isfinite(v)) return fail(ErrorCode::bad_value, where + "." + key + " must be >= 0");
  return v;
}

}  // namespace

Result<ProfileLibrary> profiles_from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("device_classes") || !j.contains("links") || !j.contains("profiles")) {
    return fail(ErrorCode::missing_field, "profiles: expected {device_classes, links, profiles}");
  }
  std::map<std::string, DeviceClass> classes;
  for (const auto& [name, c] : j["device_classes"].items()) {
    const std::string where = "device_classes." + name;
    DeviceClass d;
    d.name = name;
    EDGEFED_ASSIGN_OR_RETURN(d.train_macs_per_second, positive(c, "train_macs_per_second", where));
    EDGEFED_ASSIGN_OR_RETURN(d.ram_mib, positive(c, "ram_mib", where, false, 512));
    EDGEFED_ASSIGN_OR_RETURN(d.energy_nj_per_mac, positive(c, "energy_nj_per_mac", where));
    if (d.train_macs_per_second <= 0) return fail(ErrorCode::bad_value, where + ".train_macs_per_second must be > 0");
    classes[name] = d;
  }
  std::map<std::string, Link> links;
  for (const auto& [name, l] : j["links"].items()) {
    const std::string where = "links." + name;
    Link k;
    k.name = name;
    EDGEFED_ASSIGN_OR_RETURN(k.up_kbps, positive(l, "up_kbps", where));
    EDGEFED_ASSIGN_OR_RETURN(k.down_kbps, positive(l, "down_kbps", where));
    EDGEFED_ASSIGN_OR_RETURN(k.latency_ms, positive(l, "latency_ms", where));
    EDGEFED_ASSIGN_OR_RETURN(k.energy_nj_per_byte, positive(l, "energy_nj_per_byte", where));
    if (k.up_kbps <= 0 || k.down_kbps <= 0) return fail(ErrorCode::bad_value, where + ": bandwidth must be > 0");
    links[name] = k;
  }
  ProfileLibrary lib;
  double total = 0;
  const nlohmann::json& ps = j["profiles"];
  if (!ps.is_array() || ps.empty()) return fail(ErrorCode::bad_value, "profiles: need at least one profile");
  for (std::size_t i = 0; i < ps.size(); ++i) {
    const nlohmann::json& p = ps[i];
    const std::string where = "profiles[" + std::to_string(i) + "]";
    Profile out;
    if (!p.contains("name") || !p["name"].is_string()) return fail(ErrorCode::missing_field, where + ".name");
    out.name = p["name"].get<std::string>();
    EDGEFED_ASSIGN_OR_RETURN(out.share, positive(p, "share", where));
    for (const char* key : {"device_class", "link"}) {
      if (!p.contains(key) || !p[key].is_string()) return fail(ErrorCode::missing_field, where + "." + key);
    }
    const std::string cls = p["device_class"].get<std::string>();
    const std::string link = p["link"].get<std::string>();
    if (!classes.count(cls)) return fail(ErrorCode::bad_value, where + ".device_class: '" + cls + "' is not defined");
    if (!links.count(link)) return fail(ErrorCode::bad_value, where + ".link: '" + link + "' is not a link");
    out.device_class = classes[cls];
    out.link = links[link];
    if (p.contains("availability")) {
      const nlohmann::json& a = p["availability"];
      const std::string aw = where + ".availability";
      if (!a.contains("kind") || !a["kind"].is_string()) return fail(ErrorCode::missing_field, aw + ".kind");
      out.availability.kind = a["kind"].get<std::string>();
      if (out.availability.kind != "always" && out.availability.kind != "diurnal" && out.availability.kind != "charging") {
        return fail(ErrorCode::bad_value, aw + ".kind must be always, diurnal or charging");
      }
      if (out.availability.kind != "always") {
        EDGEFED_ASSIGN_OR_RETURN(out.availability.from_hour, positive(a, "from_hour", aw));
        EDGEFED_ASSIGN_OR_RETURN(out.availability.to_hour, positive(a, "to_hour", aw));
        EDGEFED_ASSIGN_OR_RETURN(out.availability.jitter_hours, positive(a, "jitter_hours", aw, false, 0));
        if (out.availability.from_hour >= 24 || out.availability.to_hour > 24) {
          return fail(ErrorCode::bad_value, aw + ": hours must be in [0, 24)");
        }
      }
    }
    if (p.contains("drop_probability")) {
      for (const auto& [type, prob] : p["drop_probability"].items()) {
        if (!prob.is_number() || prob.get<double>() < 0 || prob.get<double>() > 1) {
          return fail(ErrorCode::bad_value, where + ".drop_probability." + type + " must be in [0, 1]");
        }
        out.drop_probability[type] = prob.get<double>();
      }
    }
    total += out.share;
    lib.profiles.push_back(std::move(out));
  }
  if (total <= 0) return fail(ErrorCode::bad_value, "profiles: shares sum to 0");
  for (Profile& p : lib.profiles) p.share /= total;
  return lib;
}

Result<ProfileLibrary> load_profiles(const std::filesystem::path& path) {
  EDGEFED_ASSIGN_OR_RETURN(nlohmann::json j, read_json_file(path));
  auto lib = profiles_from_json(j);
  if (!lib) return Error{lib.error().code, path.string() + ": " + lib.error().detail};
  return lib;
}

}  // namespace edgefed::sim
