// Internal: CBOR -> nlohmann::json with bounds enforced *while* parsing.
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/result.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <string_view>

namespace edgefed::detail {

struct CborBounds {
  std::size_t max_depth = 16;
  std::size_t max_items = 1u << 20;
  // Called for each key of the top-level map with its position (0, 1, ...), and for each
  // complete scalar value of the top-level map; an error aborts the parse with it at once,
  // before the rest of the input is read. Either may be empty.
  std::function<Status(std::string_view key, std::size_t position)> on_top_level_key;
  std::function<Status(std::string_view key, const nlohmann::json& value)> on_top_level_value;
};

// Parses exactly one CBOR data item spanning all of `bytes`. Never throws.
Result<nlohmann::json> parse_cbor_bounded(ByteSpan bytes, const CborBounds& bounds);

}  // namespace edgefed::detail
