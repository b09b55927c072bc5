// Shared by edgefed-model's subcommands: error reporting and the model signing key.
#pragma once

#include "edgefed/common/crypto.hpp"
#include "edgefed/common/error.hpp"
#include "edgefed/common/log.hpp"
#include "edgefed/common/result.hpp"

#include <cstdio>
#include <filesystem>

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

// subcommands implemented in compress_commands.cpp
int run_quantize(int argc, const char* const argv[]);
int run_prune(int argc, const char* const argv[]);
int run_inspect(int argc, const char* const argv[]);
int run_eval(int argc, const char* const argv[]);
// implemented in export_command.cpp
int run_export(int argc, const char* const argv[]);

}  // namespace edgefed::tool
