// edgefed error vocabulary.
//
// Every failure that crosses a module boundary is an `Error`: a specific `ErrorCode` (for
// logs and tests) plus a human-readable detail. Codes group into an `ErrorCondition` that
// tells the receiver what to do, after Beast's error/condition split:
//
//   malformed     the peer sent bytes that do not decode: answer with an error frame, close
//   unauthorized  signature, certificate or key check failed: close, reveal no detail
//   stale         replayed, out of order, older model: ignore; the device drops this round
//   unsupported   a version or format we do not speak: answer naming what we support
//   invalid_argument  the caller (not a peer) misused an API or gave a bad config
//   unavailable   I/O or the environment failed; retrying may help
//
// Codes are registered as a Boost.System category, so they travel the same
// `boost::system::error_code` path Beast already uses.
#pragma once

#include <boost/system/error_code.hpp>

#include <string>
#include <string_view>

namespace edgefed {

enum class ErrorCode {
  // malformed
  truncated = 1,        // input ended before a declared length or field
  bad_length,           // a declared length is impossible or over a limit
  too_large,            // whole input over its size limit (checked before parsing)
  bad_encoding,         // not valid CBOR / JSON / magic bytes
  missing_field,        // a required field is absent
  bad_type,             // a field has the wrong type
  bad_value,            // a field is out of range, NaN/inf, inconsistent
  unknown_type,         // message type we do not know
  checksum_mismatch,    // content hash does not match: corrupted or truncated file
  schema_mismatch,      // tensors do not match the expected model schema
  // unauthorized
  bad_signature,        // signature does not verify under the trusted key
  // stale
  replayed,             // message seen before (same session/round/seq)
  out_of_order,         // sequence or stage not expected now
  rollback,             // model version not newer than the one already held
  // unsupported
  unsupported_version,  // protocol or format version we do not speak
  // caller / environment
  invalid_argument,     // API misuse or bad configuration value
  unknown_key,          // configuration key that does not exist
  io_error,             // file or socket I/O failed
  crypto_failure,       // the crypto library failed (not a bad input)
  timeout,              // a deadline passed (connect, handshake, receive); retrying may help
};

enum class ErrorCondition {
  malformed = 1,
  unauthorized,
  stale,
  unsupported,
  invalid_argument,
  unavailable,
};

// Stable lower_snake name of a code ("bad_signature"), for logs and error frames.
std::string_view to_string(ErrorCode code) noexcept;
std::string_view to_string(ErrorCondition condition) noexcept;
ErrorCondition condition_of(ErrorCode code) noexcept;

const boost::system::error_category& error_category() noexcept;
const boost::system::error_category& condition_category() noexcept;
boost::system::error_code make_error_code(ErrorCode code) noexcept;
boost::system::error_condition make_error_condition(ErrorCondition condition) noexcept;

// A failure: what happened (code) and where/why (detail, e.g. "body.tensors[3].shape:
// expected array"). The detail may name fields, sizes and stages; never secrets or raw data.
struct Error {
  ErrorCode code;
  std::string detail;

  ErrorCondition condition() const noexcept { return condition_of(code); }
  // "bad_signature: artifact signature does not verify under the trusted key"
  std::string message() const;
  // Returns a copy whose detail is prefixed by `context` ("artifact: ...").
  Error with_context(std::string_view context) const;
};

}  // namespace edgefed

namespace boost::system {
template <>
struct is_error_code_enum<edgefed::ErrorCode> : std::true_type {};
template <>
struct is_error_condition_enum<edgefed::ErrorCondition> : std::true_type {};
}  // namespace boost::system
