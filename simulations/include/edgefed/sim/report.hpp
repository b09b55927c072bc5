// Simulation outputs: a per-round CSV, a JSON summary and a self-contained HTML report with
// inline SVG charts (accuracy, participants and dropouts, bytes, simulated vs wall time).
#pragma once

#include "edgefed/common/result.hpp"
#include "edgefed/sim/fleet.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace edgefed::sim {

std::string rounds_csv(const std::vector<RoundRecord>& records);
nlohmann::json summary_json(const std::vector<RoundRecord>& records, const nlohmann::json& config);
std::string html_report(const std::vector<RoundRecord>& records, const nlohmann::json& config);

// Writes rounds.csv, summary.json and report.html into `dir` (created). io_error on failure.
Status write_reports(const std::filesystem::path& dir, const std::vector<RoundRecord>& records,
                     const nlohmann::json& config);

}  // namespace edgefed::sim
