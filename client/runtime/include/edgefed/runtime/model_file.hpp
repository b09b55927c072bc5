// A Graph as a signed model artifact (common/artifact.hpp): the deployable file a device
// verifies and runs. Constants are artifact tensors (float32 → float32, int8 weights →
// int8_symmetric_per_channel with their own scales, int32 biases → int32); everything else
// (operators, activation shapes and quantization) is a JSON document in the signed metadata:
//
//   {"format": "edgefed-graph", "version": 1, "input": 0, "output": 27,
//    "tensors": [{"name", "shape", "dtype", ["scale", "zero_point"]}      activations
//                {"name", "constant": true, ["per_tensor": true]}...],     constants
//    "ops": [{"kind", "name", "inputs", "output", ["activation"], ["pool"]}...],
//    "info": {...}}          // free-form provenance: source model, calibration, accuracy
//
// Nothing is said twice, so the document stays a few kilobytes next to the weights: a
// constant's shape, dtype and weight scales are those of its artifact tensor ("per_tensor"
// marks an int8 weight with one scale, repeated per row in the artifact tensor, whose rows
// must then agree); an int32 bias's scales are input scale × weight scale[c] (graph.hpp) and
// are derived on reading; constants' zero points are 0. Optional fields: "scale" and
// "zero_point" (together) for quantized activations, "activation" (default none), "pool"
// (max_pool2d only, required there). Names (dtype, kind, activation) are the to_string names
// of graph.hpp; index fields are checked for type and range; unknown keys are ignored.
//
// read_graph_artifact verifies the artifact first (read_artifact: size, digest, signature;
// no expected schema and no rollback check, the caller compares model_version), then checks
// the document field by field and the graph with Graph::validate; any error leaves nothing
// loaded. Errors, details prefixed "graph artifact: " and naming the field ("tensors[3].shape"):
//   read_artifact's codes       too_large, truncated, checksum_mismatch, bad_signature, ...
//   bad_encoding                metadata that is not JSON
//   missing_field / bad_type    a required field absent / of the wrong JSON type
//   bad_value                   a value out of range or an unknown name; a constant whose
//                               artifact tensor is missing or of an encoding a graph cannot
//                               hold; a per_tensor weight whose rows have different scales;
//                               artifact tensors the document does not name; format other
//                               than kGraphFormat; Graph::validate's errors (e.g. a constant
//                               whose shape does not fit its operator)
//   unsupported_version         document version other than 1
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/crypto.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/runtime/graph.hpp"

#include <nlohmann/json.hpp>

namespace edgefed::runtime {

inline constexpr std::string_view kGraphFormat = "edgefed-graph";

// Signs `graph` with the model key. invalid_argument when the graph fails Graph::validate
// (the detail is validate's), `info` is not a JSON object, a string is not UTF-8, or the
// artifact cannot hold it (write_artifact: document over 64 KiB, tensor names).
Result<Bytes> write_graph_artifact(const Graph& graph, const Ed25519SecretKey& key, std::uint64_t model_version,
                                   const nlohmann::json& info = nlohmann::json::object());

struct GraphFile {
  Graph graph;
  std::uint64_t model_version = 0;
  nlohmann::json info;
};
Result<GraphFile> read_graph_artifact(ByteSpan bytes, const Ed25519PublicKey& trusted);

// True when `bytes` start like an artifact whose metadata names kGraphFormat (no verification:
// for tools choosing how to open a file).
bool looks_like_graph_artifact(ByteSpan bytes);

}  // namespace edgefed::runtime
