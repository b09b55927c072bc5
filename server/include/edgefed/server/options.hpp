// The command-line / JSON options shared by every program that runs rounds (edgefed-server,
// edgefed-sim): cohort, deadlines, device training plan, SecAgg encoding, strategy.
#pragma once

#include "edgefed/common/config.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/server/coordinator.hpp"
#include "edgefed/server/strategy.hpp"

namespace edgefed::server {

// Declares rounds.*, train.*, secagg.* and strategy.* (see --help of edgefed-server).
void add_round_options(ConfigSpec& spec);

// invalid_argument naming the key for values out of range.
Result<RoundSettings> round_settings_from(const Config& config);
Result<StrategyConfig> strategy_from(const Config& config);

}  // namespace edgefed::server
