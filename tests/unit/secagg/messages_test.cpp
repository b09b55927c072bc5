// Wire bodies of the SecAgg messages: every type round-trips through CBOR, and malformed
// bodies are typed errors naming the field.
#include "edgefed/common/wire.hpp"
#include "edgefed/secagg/messages.hpp"

#include <catch2/catch.hpp>

using namespace edgefed;
using namespace edgefed::secagg;
using json = nlohmann::json;

namespace {

secagg::SessionId sid() {
  secagg::SessionId s{};
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(i);
  return s;
}

X25519PublicKey key(std::uint8_t fill) {
  X25519PublicKey k;
  k.bytes.fill(fill);
  return k;
}

ServerMessage rt(const ServerMessage& m) {
  auto back = decode_server_frame(encode_frame(m).value());
  REQUIRE(back);
  return *back;
}
ClientMessage rt(const ClientMessage& m) {
  auto back = decode_client_frame(encode_frame(m).value());
  REQUIRE(back);
  return *back;
}

}  // namespace

TEST_CASE("every server message survives the wire") {
  SessionParams p;
  p.round = 3;
  p.n = 100;
  p.k = 30;
  p.t = 17;
  p.min_survivors = 90;
  p.vector_length = 1001;
  p.clip = 0.5;
  p.mode = ThreatModel::active;
  p.prg = PrgKind::chacha20;
  p.graph_commitment.fill(7);
  p.server_nonce.fill(9);
  auto a = std::get<SessionAnnounce>(rt(SessionAnnounce{sid(), p, 12}));
  CHECK(a.slot == 12);
  CHECK(canonical_encoding(a.params) == canonical_encoding(p));

  NeighbourKeys nk{sid(), {}, {}};
  nk.graph_seed.fill(3);
  nk.entries.push_back({4, key(1), key(2), Identity{Ed25519PublicKey{}, Bytes{1, 2, 3}}, Ed25519Signature{}});
  nk.entries.push_back({9, key(3), key(4), std::nullopt, std::nullopt});
  auto nk2 = std::get<NeighbourKeys>(rt(nk));
  REQUIRE(nk2.entries.size() == 2);
  CHECK(nk2.entries[0].identity->certificate == Bytes{1, 2, 3});
  CHECK(nk2.entries[1].mask_pk == key(4));
  CHECK_FALSE(nk2.entries[1].identity);

  auto fs = std::get<ForwardShares>(rt(ForwardShares{sid(), {{5, Bytes(112, 0xAB)}}}));
  CHECK(fs.shares[0].ciphertext == Bytes(112, 0xAB));
  auto ur = std::get<UnmaskRequest>(rt(UnmaskRequest{sid(), {2, 7}, {{3, Ed25519Signature{}}}}));
  CHECK(ur.dropped == std::vector<std::uint32_t>{2, 7});
  CHECK(std::get<SurvivorsView>(rt(SurvivorsView{sid(), Bytes{0xFF, 0x01}})).bitmap == Bytes{0xFF, 0x01});
  CHECK(std::get<Abort>(rt(ServerMessage(Abort{sid(), "deadline"}))).reason == "deadline");
}

TEST_CASE("every client message survives the wire") {
  auto ak = std::get<AdvertiseKeys>(rt(AdvertiseKeys{sid(), key(5), key(6), std::nullopt, std::nullopt}));
  CHECK(ak.enc_pk == key(5));
  auto sk = std::get<ShareKeys>(rt(ShareKeys{sid(), Digest32{}, {{2, Bytes(112, 1)}, {3, Bytes(112, 2)}}}));
  CHECK(sk.shares.size() == 2);
  CHECK(std::get<MaskedInput>(rt(MaskedInput{sid(), Bytes(400, 7)})).packed.size() == 400);
  ShamirShare share{4, {1, 2, 3, 4, 5}};
  auto resp = std::get<UnmaskResponse>(rt(UnmaskResponse{sid(), {{7, ShareKind::mask_key, share}}}));
  REQUIRE(resp.shares.size() == 1);
  CHECK(resp.shares[0].owner == 7);
  CHECK(resp.shares[0].kind == ShareKind::mask_key);
  CHECK(resp.shares[0].share.y[4] == 5);
}

TEST_CASE("malformed message bodies are typed errors naming the field") {
  json body = encode_body(ClientMessage(AdvertiseKeys{sid(), key(5), key(6), std::nullopt, std::nullopt}));
  body["enc_pk"] = json::binary(std::vector<std::uint8_t>(31));
  auto r = decode_client_message("secagg.advertise_keys", body);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::bad_length);
  CHECK(r.error().detail.find("body.enc_pk") != std::string::npos);

  body = encode_body(ClientMessage(ShareKeys{sid(), Digest32{}, {{2, Bytes(112, 1)}}}));
  body["shares"][0]["slot"] = 0;
  CHECK(decode_client_message("secagg.share_keys", body).error().code == ErrorCode::bad_value);
  body["shares"][0]["slot"] = "two";
  CHECK(decode_client_message("secagg.share_keys", body).error().code == ErrorCode::bad_type);
  body["shares"][0]["slot"] = 2;
  body["shares"][0]["ciphertext"] = json::binary(std::vector<std::uint8_t>(5000));
  CHECK(decode_client_message("secagg.share_keys", body).error().code == ErrorCode::bad_length);

  json resp = encode_body(ClientMessage(UnmaskResponse{sid(), {{7, ShareKind::mask_key, ShamirShare{4, {}}}}}));
  resp["shares"][0]["kind"] = 3;
  CHECK(decode_client_message("secagg.unmask_response", resp).error().code == ErrorCode::bad_value);
  resp["shares"][0]["kind"] = 1;
  resp["shares"][0]["share"] = json::binary(std::vector<std::uint8_t>(kShamirShareSize, 0));  // x = 0
  CHECK(decode_client_message("secagg.unmask_response", resp).error().code == ErrorCode::bad_value);

  CHECK(decode_client_message("secagg.announce", json::object()).error().code == ErrorCode::unknown_type);
  CHECK(decode_server_message("secagg.unmask_request", json{{"sid", json::binary(std::vector<std::uint8_t>(32))}})
            .error()
            .code == ErrorCode::missing_field);
  json req = encode_body(ServerMessage(UnmaskRequest{sid(), {1}, {}}));
  req["dropped"] = json::array({-1});
  CHECK(decode_server_message("secagg.unmask_request", req).error().code == ErrorCode::bad_type);
}

TEST_CASE("per-type size bounds grow with the neighbourhood and the vector") {
  SessionParams small, large;
  small.k = 4;
  large.k = 400;
  small.vector_length = 10;
  large.vector_length = 100000;
  CHECK(max_message_bytes("secagg.share_keys", small) < max_message_bytes("secagg.share_keys", large));
  CHECK(max_message_bytes("secagg.masked_input", large) >= 100000 * 4);
}
