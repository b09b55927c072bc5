#include "virtual_device.hpp"

#include "edgefed/common/artifact.hpp"
#include "edgefed/data/fashion_mnist.hpp"
#include "edgefed/data/rng.hpp"
#include "edgefed/ml/trainer.hpp"

#include <cstdio>

namespace edgefed::sim::detail {

Result<std::unique_ptr<DataSource>> load_data(const SimConfig& config) {
  auto source = std::make_unique<DataSource>();
  EDGEFED_ASSIGN_OR_RETURN(source->pool, data::load_fashion_mnist(config.data_dir, data::Split::train));
  source->spec = config.data;
  source->spec.materialize = false;
  return source;
}

std::vector<DeviceSetup> make_device_setups(data::FederatedData& fed, const SimConfig& config,
                                            const ProfileLibrary& profiles, const DataSource& source) {
  data::Rng assign(data::derive_seed(config.seed, 0xa55191));
  std::vector<DeviceSetup> out;
  out.reserve(fed.devices.size());
  for (data::DeviceData& dd : fed.devices) {
    DeviceSetup d;
    d.index = dd.id;
    char name[32];
    std::snprintf(name, sizeof name, "sim-%06u", dd.id);
    d.name = name;
    double u = assign.uniform01();
    d.profile = &profiles.profiles.back();
    for (const Profile& p : profiles.profiles) {
      if (u < p.share) {
        d.profile = &p;
        break;
      }
      u -= p.share;
    }
    d.phase_hours = (assign.uniform01() * 2 - 1) * d.profile->availability.jitter_hours;
    d.data = std::move(dd);
    d.train_limit = config.max_train_per_device;
    d.source = &source;
    out.push_back(std::move(d));
  }
  return out;
}

Result<Trained> train_device(ml::Model& model, const DeviceSetup& device, const ml::ModelView& view,
                             const protocol::TrainPlan& plan, std::uint64_t round, double macs_per_sample) {
  EDGEFED_TRY(model.load(view.values));
  model.set_tier(view.tier, view.train_head);
  EDGEFED_ASSIGN_OR_RETURN(ml::TrainConfig tc, ml::train_config_for(plan, data::derive_seed(round, device.index)));
  const data::Dataset train = device.train_set();
  EDGEFED_ASSIGN_OR_RETURN(ml::TrainReport report, ml::train_local(model, train, tc));
  Trained t;
  t.macs = macs_per_sample * static_cast<double>(train.size()) * plan.epochs;
  t.update.delta.assign(report.delta.flat().begin(), report.delta.flat().end());
  t.update.local = model.tensors(ml::TensorPolicy::local);
  t.update.examples = train.size();
  return t;
}

SendFate decide_send(const Profile& profile, const std::vector<FaultRule>& faults, std::string_view type, Bytes& frame,
                     const std::function<double()>& uniform) {
  SendFate fate;
  if (auto p = profile.drop_probability.find(std::string(type)); p != profile.drop_probability.end()) {
    if (uniform() < p->second) {
      fate.device_drops_out = true;
      return fate;
    }
  }
  for (const FaultRule& f : faults) {
    if ((f.type != "*" && f.type != type) || uniform() >= f.probability) continue;
    if (f.action == "drop") fate.copies = 0;
    if (f.action == "delay") fate.delay_s += f.delay_s;  // holds up the frames behind it too (FIFO)
    if (f.action == "duplicate") fate.copies = 2;
    if (f.action == "corrupt" && !frame.empty()) frame[frame.size() / 2] ^= 0x5a;
  }
  return fate;
}

Result<StartModel> load_start_model(const SimConfig& config) {
  EDGEFED_ASSIGN_OR_RETURN(Ed25519SecretKey key, load_ed25519_secret_key(config.model_key));
  StartModel s;
  s.public_key = derive_public_key(key);
  EDGEFED_ASSIGN_OR_RETURN(Bytes bytes, load_file(config.model, 256u << 20));
  EDGEFED_ASSIGN_OR_RETURN(ModelArtifact artifact, read_artifact(bytes, s.public_key));
  EDGEFED_ASSIGN_OR_RETURN(ml::Tier tier, ml::parse_tier(config.round.train.tier));
  EDGEFED_ASSIGN_OR_RETURN(s.view, ml::view_from_pretrained(artifact, tier, false));
  if (s.view.version == 0) s.view.version = 1;
  return s;
}

}  // namespace edgefed::sim::detail
