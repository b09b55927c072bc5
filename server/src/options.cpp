#include "edgefed/server/options.hpp"

namespace edgefed::server {

namespace {
using Ms = std::chrono::milliseconds;
}

void add_round_options(ConfigSpec& spec) {
  spec.add("rounds.max", ConfigType::unsigned_integer, 0, "rounds this process runs; a restarted server counts anew (0: unlimited)")
      .add("rounds.target_participants", ConfigType::unsigned_integer, 10, "inputs wanted per round")
      .add("rounds.min_participants", ConfigType::unsigned_integer, 3, "smallest cohort (>= 3)")
      .add("rounds.expected_dropout", ConfigType::number, 0.1, "expected dropout: over-selection and SecAgg δ")
      .add("rounds.assumed_corrupt", ConfigType::number, 0.0, "SecAgg γ: fraction of devices assumed corrupt")
      .add("rounds.threat_model", ConfigType::string, "semi_honest", "semi_honest or active")
      .add("rounds.selection_wait_ms", ConfigType::unsigned_integer, 3000, "wait for a full cohort")
      .add("rounds.train_deadline_ms", ConfigType::unsigned_integer, 120000, "deadline: training + AdvertiseKeys")
      .add("rounds.stage_deadline_ms", ConfigType::unsigned_integer, 30000, "deadline of every other SecAgg stage")
      .add("rounds.resume_grace_ms", ConfigType::unsigned_integer, 5000, "how long a disconnected device keeps its slot")
      .add("rounds.pause_ms", ConfigType::unsigned_integer, 0, "pause between rounds")
      .add("train.tier", ConfigType::string, "adapters_bn", "bn_stats, head, bn_head or adapters_bn")
      .add("train.optimizer", ConfigType::string, "sgd", "device optimizer: sgd or adam")
      .add("train.learning_rate", ConfigType::number, 0.05, "device learning rate")
      .add("train.momentum", ConfigType::number, 0.0, "device SGD momentum")
      .add("train.epochs", ConfigType::unsigned_integer, 1, "local epochs per round")
      .add("train.batch_size", ConfigType::unsigned_integer, 32, "local batch size")
      .add("train.reestimate_batchnorm", ConfigType::boolean, true, "FedBN: fit BN statistics to local data first")
      .add("secagg.clip", ConfigType::number, 0.1, "per-coordinate clip of a device's delta")
      .add("secagg.input_bits", ConfigType::unsigned_integer, 16, "quantization bits of an input (q)")
      .add("secagg.weight_cap", ConfigType::unsigned_integer, 600, "examples at which a device's weight saturates")
      .add("strategy.name", ConfigType::string, "fedavg", "fedavg, fedprox, fedadam or fedyogi")
      .add("strategy.server_learning_rate", ConfigType::number, 1.0, "server learning rate η")
      .add("strategy.prox_mu", ConfigType::number, 0.0, "FedProx μ sent to devices")
      .add("strategy.beta1", ConfigType::number, 0.9, "FedAdam/FedYogi β1")
      .add("strategy.beta2", ConfigType::number, 0.99, "FedAdam/FedYogi β2")
      .add("strategy.tau", ConfigType::number, 1e-3, "FedAdam/FedYogi τ");
}

Result<RoundSettings> round_settings_from(const Config& c) {
  RoundSettings r;
  r.max_rounds = c.get<std::uint64_t>("rounds.max");
  r.target_participants = static_cast<std::uint32_t>(c.get<std::uint64_t>("rounds.target_participants"));
  r.min_participants = static_cast<std::uint32_t>(c.get<std::uint64_t>("rounds.min_participants"));
  r.expected_dropout = c.get<double>("rounds.expected_dropout");
  r.assumed_corrupt = c.get<double>("rounds.assumed_corrupt");
  const std::string threat = c.get<std::string>("rounds.threat_model");
  if (threat == "semi_honest") {
    r.threat_model = secagg::ThreatModel::semi_honest;
  } else if (threat == "active") {
    r.threat_model = secagg::ThreatModel::active;
    return fail(ErrorCode::invalid_argument,
                "rounds.threat_model: active mode needs device identity keys, which the SDK does not provision yet");
  } else {
    return fail(ErrorCode::invalid_argument, "rounds.threat_model: expected semi_honest or active");
  }
  r.selection_wait = Ms(c.get<std::uint64_t>("rounds.selection_wait_ms"));
  r.train_deadline = Ms(c.get<std::uint64_t>("rounds.train_deadline_ms"));
  r.stage_deadline = Ms(c.get<std::uint64_t>("rounds.stage_deadline_ms"));
  r.resume_grace = Ms(c.get<std::uint64_t>("rounds.resume_grace_ms"));
  r.pause_between_rounds = Ms(c.get<std::uint64_t>("rounds.pause_ms"));
  r.train.tier = c.get<std::string>("train.tier");
  r.train.optimizer = c.get<std::string>("train.optimizer");
  r.train.learning_rate = c.get<double>("train.learning_rate");
  r.train.momentum = c.get<double>("train.momentum");
  r.train.epochs = static_cast<std::uint32_t>(c.get<std::uint64_t>("train.epochs"));
  r.train.batch_size = static_cast<std::uint32_t>(c.get<std::uint64_t>("train.batch_size"));
  r.train.reestimate_batchnorm = c.get<bool>("train.reestimate_batchnorm");
  r.clip = c.get<double>("secagg.clip");
  r.input_bits = static_cast<std::uint32_t>(c.get<std::uint64_t>("secagg.input_bits"));
  r.weight_cap = c.get<std::uint64_t>("secagg.weight_cap");

  EDGEFED_TRY(r.validate());
  return r;
}

Result<StrategyConfig> strategy_from(const Config& c) {
  StrategyConfig s;
  EDGEFED_ASSIGN_OR_RETURN(s.kind, parse_strategy(c.get<std::string>("strategy.name")));
  s.server_learning_rate = c.get<double>("strategy.server_learning_rate");
  s.prox_mu = c.get<double>("strategy.prox_mu");
  s.beta1 = c.get<double>("strategy.beta1");
  s.beta2 = c.get<double>("strategy.beta2");
  s.tau = c.get<double>("strategy.tau");
  EDGEFED_TRY(validate(s));
  return s;
}

}  // namespace edgefed::server
