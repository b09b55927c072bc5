// open_model, open_model_option (tool_util.hpp): shared by the compression and export subcommands.
#include "edgefed/common/artifact.hpp"
#include "edgefed/ml/compression.hpp"
#include "edgefed/runtime/model_file.hpp"
#include "tool_util.hpp"

namespace edgefed::tool {

Result<ModelFile> open_model(const std::string& path, const Ed25519PublicKey& trusted) {
  EDGEFED_ASSIGN_OR_RETURN(const Bytes bytes, load_file(path, std::size_t{256} << 20));
  ModelFile f;
  f.file_bytes = bytes.size();
  if (runtime::looks_like_graph_artifact(bytes)) {
    EDGEFED_ASSIGN_OR_RETURN(runtime::GraphFile g, runtime::read_graph_artifact(bytes, trusted));
    f.graph = std::move(g.graph);
    f.model_version = g.model_version;
    f.info = std::move(g.info);
    return f;
  }
  EDGEFED_ASSIGN_OR_RETURN(const ModelArtifact artifact, read_artifact(bytes, trusted));
  f.model_version = artifact.model_version;
  EDGEFED_ASSIGN_OR_RETURN(ml::Model model, ml::load_model(path, trusted));
  EDGEFED_ASSIGN_OR_RETURN(f.graph, ml::lower(model));
  f.model = std::move(model);
  return f;
}

Result<ModelFile> open_model_option(const Config& c) {
  EDGEFED_ASSIGN_OR_RETURN(const Ed25519PublicKey trusted, load_ed25519_public_key(c.get<std::string>("public_key")));
  return open_model(c.get<std::string>("model"), trusted);
}

}  // namespace edgefed::tool
