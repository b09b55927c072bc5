#include "bounded_cbor.hpp"

#include <optional>
#include <vector>

namespace edgefed::detail {
namespace {

using json = nlohmann::json;

// A SAX consumer that builds the DOM like nlohmann's own, but refuses excessive depth,
// item counts and declared container lengths before the reader recurses or loops on them.
class BoundedSax {
 public:
  BoundedSax(std::size_t input_bytes, const CborBounds& bounds)
      : input_bytes_(input_bytes), bounds_(bounds) {}

  bool null() { return put(json(nullptr)); }
  bool boolean(bool v) { return put(json(v)); }
  bool number_integer(json::number_integer_t v) { return put(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return put(json(v)); }
  bool number_float(json::number_float_t v, const std::string&) { return put(json(v)); }
  bool string(json::string_t& v) { return put(json(std::move(v))); }
  bool binary(json::binary_t& v) {
    return put(json::binary(std::move(static_cast<json::binary_t::container_type&>(v))));
  }

  bool start_object(std::size_t len) { return open(json::object(), len, "map"); }
  bool start_array(std::size_t len) { return open(json::array(), len, "array"); }
  bool end_object() { stack_.pop_back(); return true; }
  bool end_array() { stack_.pop_back(); return true; }

  bool key(json::string_t& k) {
    json& object = *stack_.back();
    if (object.contains(k)) return abort(ErrorCode::bad_encoding, "duplicate map key '" + k + "'");
    if (stack_.size() == 1 && bounds_.on_top_level_key) {
      if (auto st = bounds_.on_top_level_key(k, object.size()); !st) return abort(st.error());
    }
    pending_key_name_ = k;
    pending_key_ = &object[k];
    return true;
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) {
    if (error_) return false;  // we aborted; nlohmann reports that as a parse error too
    const std::string what = ex.what();
    const bool eof = what.find("unexpected end of input") != std::string::npos;
    return abort(eof ? ErrorCode::truncated : ErrorCode::bad_encoding,
                 "CBOR at byte " + std::to_string(position) + ": " +
                     (eof ? std::string("unexpected end of input") : what));
  }

  Result<json> take() && {
    if (error_) return std::move(*error_);
    return std::move(root_);
  }

 private:
  bool count_item() {
    if (++items_ > bounds_.max_items) {
      return abort(ErrorCode::bad_length, "more than " + std::to_string(bounds_.max_items) + " items");
    }
    return true;
  }

  bool put(json&& v) {
    if (!count_item()) return false;
    const json* placed = place(std::move(v));
    if (stack_.size() == 1 && stack_.back()->is_object() && bounds_.on_top_level_value) {
      if (auto st = bounds_.on_top_level_value(pending_key_name_, *placed); !st) return abort(st.error());
    }
    return true;
  }

  json* place(json&& v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    *pending_key_ = std::move(v);
    return pending_key_;
  }

  bool open(json&& container, std::size_t declared, const char* kind) {
    if (!count_item()) return false;
    if (stack_.size() + 1 > bounds_.max_depth) {
      return abort(ErrorCode::bad_length, "nesting deeper than " + std::to_string(bounds_.max_depth));
    }
    // Each element takes at least one byte (a map entry two), so a declared length beyond
    // the input size is a lie: refuse it before the reader loops over it.
    if (declared != static_cast<std::size_t>(-1) && declared > input_bytes_) {
      return abort(ErrorCode::bad_length, std::string(kind) + " declares " + std::to_string(declared) +
                                              " elements in a " + std::to_string(input_bytes_) +
                                              "-byte input");
    }
    stack_.push_back(place(std::move(container)));
    return true;
  }

  bool abort(ErrorCode code, std::string detail) { return abort(Error{code, std::move(detail)}); }
  bool abort(Error e) {
    if (!error_) error_ = std::move(e);
    return false;
  }

  std::size_t input_bytes_;
  const CborBounds& bounds_;
  json root_;
  std::vector<json*> stack_;
  json* pending_key_ = nullptr;
  std::string pending_key_name_;
  std::size_t items_ = 0;
  std::optional<Error> error_;
};

}  // namespace

Result<json> parse_cbor_bounded(ByteSpan bytes, const CborBounds& bounds) {
  BoundedSax sax(bytes.size(), bounds);
  try {
    // strict: the item must span the whole input; CBOR tags are refused (default handler).
    json::sax_parse(bytes.begin(), bytes.end(), &sax, nlohmann::json::input_format_t::cbor,
                    /*strict=*/true);
  } catch (const std::exception& ex) {
    // nlohmann may still throw from allocation or out-of-range conversions; never let it out.
    return fail(ErrorCode::bad_encoding, std::string("CBOR: ") + ex.what());
  }
  return std::move(sax).take();
}

}  // namespace edgefed::detail
