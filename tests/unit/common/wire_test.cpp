#include "edgefed/common/wire.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace edgefed;
using json = nlohmann::json;

namespace {

Envelope sample_envelope() {
  Envelope e;
  e.type = "masked_input";
  for (std::size_t i = 0; i < e.session.size(); ++i) e.session[i] = static_cast<std::uint8_t>(i * 7);
  e.round = 12;
  e.seq = 3;
  ParameterSet p;
  const std::vector<float> w = {1.5f, -2.25f, 0.0f, 3.0e-8f};
  REQUIRE(p.add("adapter.down", {2, 2}, w));
  e.body = {{"tensors", encode_parameters(p)}, {"weight", 600}, {"note", "ok"}};
  return e;
}

Bytes encode(const Envelope& e) {
  auto b = encode_envelope(e);
  REQUIRE(b);
  return *b;
}

// A frame from a hand-built JSON map (nlohmann sorts the keys, so "body" comes first).
Bytes sorted_frame(const json& j) { return json::to_cbor(j); }

ErrorCode decode_error(const Bytes& frame, const DecodeLimits& limits = {}) {
  auto r = decode_envelope(frame, limits);
  REQUIRE_FALSE(r);
  return r.error().code;
}

// Envelope prefix with the given header values, as the encoder lays it out.
Bytes header_prefix(const json& v, const json& type) {
  Bytes out = {0xA6};
  json::to_cbor(json("v"), out);
  json::to_cbor(v, out);
  json::to_cbor(json("type"), out);
  json::to_cbor(type, out);
  return out;
}

}  // namespace

TEST_CASE("an envelope survives encode and decode unchanged") {
  const Envelope e = sample_envelope();
  auto d = decode_envelope(encode(e));
  REQUIRE(d);
  CHECK(d->version == kProtocolVersion);
  CHECK(d->type == e.type);
  CHECK(d->session == e.session);
  CHECK(d->round == 12);
  CHECK(d->seq == 3);
  CHECK(d->body == e.body);
  auto params = decode_parameters(d->body["tensors"], "body.tensors");
  REQUIRE(params);
  CHECK(params->find("adapter.down")->data[3] == 3.0e-8f);
}

TEST_CASE("tensors travel as CBOR byte strings, not arrays of numbers") {
  const Bytes frame = encode(sample_envelope());
  auto d = decode_envelope(frame);
  REQUIRE(d);
  CHECK(d->body["tensors"][0]["data"].is_binary());
  CHECK(d->body["tensors"][0]["data"].get_binary().size() == 16);
}

TEST_CASE("encode refuses a body that is not a map and an invalid type name") {
  Envelope e = sample_envelope();
  e.body = json::array();
  CHECK(encode_envelope(e).error().code == ErrorCode::invalid_argument);
  e = sample_envelope();
  e.type = "Bad Type";
  CHECK(encode_envelope(e).error().code == ErrorCode::invalid_argument);
}

TEST_CASE("a frame over the size limit is refused before parsing") {
  Bytes frame(2000, 0xFF);  // not even CBOR: the size check must come first
  DecodeLimits limits;
  limits.max_frame_bytes = 1000;
  auto r = decode_envelope(frame, limits);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::too_large);
  CHECK(r.error().detail.find("2000") != std::string::npos);
}

TEST_CASE("the per-type limit applies before the body is parsed") {
  Bytes frame = header_prefix(1, "hello");
  frame.insert(frame.end(), 500, 0xFF);  // garbage where session and body would be
  DecodeLimits limits;
  limits.max_bytes_by_type = {{"hello", 256}};
  auto r = decode_envelope(frame, limits);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::too_large);
  CHECK(r.error().detail.find("'hello'") != std::string::npos);
}

TEST_CASE("a type outside the allow-list is unknown_type") {
  DecodeLimits limits;
  limits.max_bytes_by_type = {{"hello", 1 << 20}};
  CHECK(decode_error(encode(sample_envelope()), limits) == ErrorCode::unknown_type);
  limits.max_bytes_by_type["masked_input"] = 1 << 20;
  CHECK(decode_envelope(encode(sample_envelope()), limits).ok());
}

TEST_CASE("an unknown protocol version is refused naming ours") {
  Envelope e = sample_envelope();
  e.version = 2;
  auto r = decode_envelope(encode(e));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::unsupported_version);
  CHECK(r.error().detail.find("speaks 1") != std::string::npos);
}

TEST_CASE("every truncation of a valid frame is refused") {
  const Bytes frame = encode(sample_envelope());
  for (std::size_t n = 0; n < frame.size(); ++n) {
    auto r = decode_envelope(ByteSpan(frame.data(), n));
    REQUIRE_FALSE(r);
    INFO("prefix of " << n << " bytes: " << r.error().message());
    // A tiny prefix may also declare more items than it has bytes: bad_length.
    const ErrorCode c = r.error().code;
    CHECK((c == ErrorCode::truncated || c == ErrorCode::bad_length));
  }
}

TEST_CASE("trailing bytes, CBOR tags and non-CBOR input are bad_encoding") {
  Bytes frame = encode(sample_envelope());
  frame.push_back(0x00);
  CHECK(decode_error(frame) == ErrorCode::bad_encoding);
  const Bytes tagged = {0xC1, 0x1A, 0, 0, 0, 1};  // tag 1 (epoch time) around an integer
  CHECK(decode_error(tagged) == ErrorCode::bad_encoding);
  const Bytes garbage = {0xFF, 0xFF, 0xFF};
  CHECK(decode_error(garbage) == ErrorCode::bad_encoding);
}

TEST_CASE("envelope keys out of order, duplicated or extra are bad_encoding") {
  json j = {{"v", 1}, {"type", "hello"}, {"session", json::binary(std::vector<std::uint8_t>(16))},
            {"round", 0}, {"seq", 0}, {"body", json::object()}};
  CHECK(decode_error(sorted_frame(j)) == ErrorCode::bad_encoding);  // "body" sorts first

  Bytes dup = header_prefix(1, "hello");
  dup[0] = 0xA7;
  json::to_cbor(json("type"), dup);
  json::to_cbor(json("again"), dup);
  auto r = decode_envelope(dup);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::bad_encoding);
  CHECK(r.error().detail.find("duplicate") != std::string::npos);
}

TEST_CASE("wrong field types are bad_type and name the field") {
  Bytes v_text = header_prefix("1", "hello");
  v_text[0] = 0xA2;  // just v and type
  auto r = decode_envelope(v_text);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::bad_type);
  CHECK(r.error().detail == "envelope.v: expected unsigned integer, got string");

  Bytes type_number = header_prefix(1, 5);
  type_number[0] = 0xA3;
  json::to_cbor(json("session"), type_number);
  json::to_cbor(json::binary(std::vector<std::uint8_t>(16)), type_number);
  CHECK(decode_error(type_number) == ErrorCode::bad_type);
}

TEST_CASE("a session id of the wrong size is bad_length") {
  Bytes frame = header_prefix(1, "hello");
  json::to_cbor(json("session"), frame);
  json::to_cbor(json::binary(std::vector<std::uint8_t>(8)), frame);
  for (const char* k : {"round", "seq"}) {
    json::to_cbor(json(k), frame);
    json::to_cbor(json(0), frame);
  }
  json::to_cbor(json("body"), frame);
  json::to_cbor(json::object(), frame);
  auto r = decode_envelope(frame);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::bad_length);
  CHECK(r.error().detail.find("session") != std::string::npos);
}

TEST_CASE("a negative round and a body that is not a map are bad_type") {
  Bytes neg = header_prefix(1, "hello");
  json::to_cbor(json("session"), neg);
  json::to_cbor(json::binary(std::vector<std::uint8_t>(16)), neg);
  json::to_cbor(json("round"), neg);
  json::to_cbor(json(-1), neg);
  json::to_cbor(json("seq"), neg);
  json::to_cbor(json(0), neg);
  json::to_cbor(json("body"), neg);
  json::to_cbor(json::array(), neg);
  auto r = decode_envelope(neg);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::bad_type);
  CHECK(r.error().detail == "envelope.round: expected unsigned integer, got negative integer");
}

TEST_CASE("lengths that claim gigabytes are refused without allocating") {
  // An array declaring 2^40 elements, a map declaring 2^32 entries, a byte string of 4 GiB.
  const Bytes huge_array = {0x9B, 0, 0, 1, 0, 0, 0, 0, 0, 0x01};
  CHECK(decode_error(huge_array) == ErrorCode::bad_length);
  const Bytes huge_map = {0xBA, 0xFF, 0xFF, 0xFF, 0xFF, 0x61, 'v'};
  CHECK(decode_error(huge_map) == ErrorCode::bad_length);
  Bytes huge_bytes = header_prefix(1, "hello");
  json::to_cbor(json("session"), huge_bytes);
  huge_bytes.insert(huge_bytes.end(), {0x5A, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3});
  CHECK(decode_error(huge_bytes) == ErrorCode::truncated);
}

TEST_CASE("deep nesting is refused instead of exhausting the stack") {
  Bytes deep(100'000, 0x81);  // [[[[...]]]]
  deep.push_back(0x00);
  CHECK(decode_error(deep) == ErrorCode::bad_length);
}

TEST_CASE("too many items in one frame are refused") {
  json body = {{"xs", std::vector<int>(5000, 1)}};
  Envelope e = sample_envelope();
  e.body = body;
  DecodeLimits limits;
  limits.max_items = 1000;
  CHECK(decode_error(encode(e), limits) == ErrorCode::bad_length);
}

TEST_CASE("random corruption of a frame never crashes the decoder") {
  const Bytes frame = encode(sample_envelope());
  std::mt19937 rng(7);
  std::size_t accepted = 0;
  for (int i = 0; i < 20'000; ++i) {
    Bytes m = frame;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) m[rng() % m.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
    auto r = decode_envelope(m);
    if (r) ++accepted;  // a flip inside a float payload is still a valid frame
    else CHECK_FALSE(r.error().detail.empty());
  }
  CHECK(accepted < 20'000);
}

TEST_CASE("field reader errors name the path, the expected and the actual type") {
  json body = {{"k", "three"}, {"x", -4}, {"f", 1.5}, {"inner", {{"b", true}}}};
  FieldReader r(body, "body");
  CHECK(r.get_uint("k").error().detail == "body.k: expected unsigned integer, got string");
  CHECK(r.get_uint("missing").error().code == ErrorCode::missing_field);
  CHECK(r.get_int("x").value() == -4);
  CHECK(r.get_int("x", 0, 10).error().code == ErrorCode::bad_value);
  CHECK(r.get_double("f").value() == 1.5);
  CHECK(r.get_double("x").value() == -4.0);
  auto inner = r.get_object("inner");
  REQUIRE(inner);
  CHECK(inner->get_bool("b").value());
  CHECK(inner->get_string("b").error().detail == "body.inner.b: expected text, got boolean");
  CHECK(r.get_string("k", 3).error().code == ErrorCode::bad_length);
}

TEST_CASE("decode_parameters checks names, shapes and data lengths") {
  auto tensor = [](json name, json shape, std::size_t bytes) {
    return json{{"name", name}, {"shape", shape}, {"data", json::binary(std::vector<std::uint8_t>(bytes))}};
  };
  CHECK(decode_parameters(json::array({tensor("a", {2, 2}, 16)}), "t").ok());
  CHECK(decode_parameters(json::object(), "t").error().code == ErrorCode::bad_type);
  CHECK(decode_parameters(json::array({tensor("a", {2, 2}, 15)}), "t").error().code == ErrorCode::bad_length);
  CHECK(decode_parameters(json::array({tensor("a", {2, -2}, 16)}), "t").error().code == ErrorCode::bad_type);
  CHECK(decode_parameters(json::array({tensor(7, {1}, 4)}), "t").error().code == ErrorCode::bad_type);
  auto dup = decode_parameters(json::array({tensor("a", {1}, 4), tensor("a", {1}, 4)}), "t");
  CHECK(dup.error().code == ErrorCode::bad_value);
  // A shape claiming 2^60 elements with 4 bytes of data: refused by the element bound.
  auto huge = decode_parameters(json::array({tensor("a", {1u << 30, 1u << 30}, 4)}), "t");
  REQUIRE_FALSE(huge);
  CHECK(huge.error().code == ErrorCode::bad_length);
  CHECK(huge.error().detail.find("t[0].shape") == 0);
}
