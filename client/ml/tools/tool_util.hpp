// Shared by edgefed-model's subcommands: error reporting, the model signing key and opening
// a model file of either kind.
#pragma once

#include "edgefed/common/config.hpp"
#include "edgefed/common/crypto.hpp"
#include "edgefed/common/error.hpp"
#include "edgefed/common/log.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/ml/model.hpp"
#include "edgefed/runtime/graph.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

namespace edgefed::tool {

inline int fail_with(const Error& e) {
  std::fprintf(stderr, "edgefed-model: %s\n", e.message().c_str());
  return e.condition() == ErrorCondition::invalid_argument ? 2 : 1;
}

// The model signing key: loaded if it exists, else created (0600) with its public key
// beside it as <path>.pub.
inline Result<Ed25519SecretKey> load_or_create_key(const std::filesystem::path& path) {
  if (std::filesystem::exists(path)) return load_ed25519_secret_key(path);
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  Ed25519KeyPair pair = generate_ed25519();
  EDGEFED_TRY(save_ed25519_secret_key(path, pair.secret_key));
  EDGEFED_TRY(save_ed25519_public_key(path.string() + ".pub", pair.public_key));
  log::info("created model signing key", {{"path", path.string()}});
  return std::move(pair.secret_key);
}

// A model file of either kind: a float model (edgefed-model pretrain / prune / the server's
// checkpoints), whose deployable graph is its lowering, or a deployable graph (quantize).
struct ModelFile {
  std::optional<ml::Model> model;
  runtime::Graph graph;
  std::uint64_t model_version = 0;
  std::size_t file_bytes = 0;
  nlohmann::json info = nlohmann::json::object();
};

// Verifies the file under `trusted` and opens it (model_files.cpp): read_graph_artifact's or
// load_model's errors, then ml::lower's.
Result<ModelFile> open_model(const std::string& path, const Ed25519PublicKey& trusted);
// The file of option "model", verified with the key of option "public_key".
Result<ModelFile> open_model_option(const Config& c);

// subcommands implemented in compress_commands.cpp
int run_quantize(int argc, const char* const argv[]);
int run_prune(int argc, const char* const argv[]);
int run_inspect(int argc, const char* const argv[]);
int run_eval(int argc, const char* const argv[]);
// implemented in export_command.cpp
int run_export(int argc, const char* const argv[]);

}  // namespace edgefed::tool
