#include "edgefed/common/error.hpp"

namespace edgefed {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::truncated: return "truncated";
    case ErrorCode::bad_length: return "bad_length";
    case ErrorCode::too_large: return "too_large";
    case ErrorCode::bad_encoding: return "bad_encoding";
    case ErrorCode::missing_field: return "missing_field";
    case ErrorCode::bad_type: return "bad_type";
    case ErrorCode::bad_value: return "bad_value";
    case ErrorCode::unknown_type: return "unknown_type";
    case ErrorCode::checksum_mismatch: return "checksum_mismatch";
    case ErrorCode::schema_mismatch: return "schema_mismatch";
    case ErrorCode::bad_signature: return "bad_signature";
    case ErrorCode::replayed: return "replayed";
    case ErrorCode::out_of_order: return "out_of_order";
    case ErrorCode::rollback: return "rollback";
    case ErrorCode::unsupported_version: return "unsupported_version";
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::unknown_key: return "unknown_key";
    case ErrorCode::io_error: return "io_error";
    case ErrorCode::crypto_failure: return "crypto_failure";
    case ErrorCode::timeout: return "timeout";
  }
  return "unknown_error";
}

std::string_view to_string(ErrorCondition condition) noexcept {
  switch (condition) {
    case ErrorCondition::malformed: return "malformed";
    case ErrorCondition::unauthorized: return "unauthorized";
    case ErrorCondition::stale: return "stale";
    case ErrorCondition::unsupported: return "unsupported";
    case ErrorCondition::invalid_argument: return "invalid_argument";
    case ErrorCondition::unavailable: return "unavailable";
  }
  return "unknown_condition";
}

ErrorCondition condition_of(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::bad_signature: return ErrorCondition::unauthorized;
    case ErrorCode::replayed:
    case ErrorCode::out_of_order:
    case ErrorCode::rollback: return ErrorCondition::stale;
    case ErrorCode::unsupported_version: return ErrorCondition::unsupported;
    case ErrorCode::invalid_argument:
    case ErrorCode::unknown_key: return ErrorCondition::invalid_argument;
    case ErrorCode::io_error:
    case ErrorCode::crypto_failure:
    case ErrorCode::timeout: return ErrorCondition::unavailable;
    default: return ErrorCondition::malformed;
  }
}

namespace {

class CodeCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "edgefed"; }
  std::string message(int ev) const override {
    return std::string(to_string(static_cast<ErrorCode>(ev)));
  }
  boost::system::error_condition default_error_condition(int ev) const noexcept override {
    return make_error_condition(condition_of(static_cast<ErrorCode>(ev)));
  }
};

class ConditionCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "edgefed.condition"; }
  std::string message(int ev) const override {
    return std::string(to_string(static_cast<ErrorCondition>(ev)));
  }
};

}  // namespace

const boost::system::error_category& error_category() noexcept {
  static const CodeCategory category;
  return category;
}

const boost::system::error_category& condition_category() noexcept {
  static const ConditionCategory category;
  return category;
}

boost::system::error_code make_error_code(ErrorCode code) noexcept {
  return {static_cast<int>(code), error_category()};
}

boost::system::error_condition make_error_condition(ErrorCondition condition) noexcept {
  return {static_cast<int>(condition), condition_category()};
}

std::string Error::message() const {
  std::string out(to_string(code));
  if (!detail.empty()) out.append(": ").append(detail);
  return out;
}

Error Error::with_context(std::string_view context) const {
  return Error{code, std::string(context) + ": " + detail};
}

}  // namespace edgefed
