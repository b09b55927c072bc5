#include "edgefed/secagg/messages.hpp"

#include <algorithm>
#include <cstring>

namespace edgefed::secagg {

using json = nlohmann::json;

namespace {

constexpr std::size_t kMaxEntries = kMaxCohort;
constexpr std::size_t kMaxCertificateBytes = 4096;
constexpr std::size_t kMaxReasonBytes = 256;
// sender ‖ receiver ‖ share of mask_sk ‖ share of b_u, sealed: see client.cpp.
constexpr std::size_t kShareCiphertextBytes = 4 + 4 + 2 * kShamirShareSize + kGcmTagBytes;

json bin(ByteSpan b) { return json::binary(std::vector<std::uint8_t>(b.begin(), b.end())); }
template <std::size_t N>
json bin(const std::array<std::uint8_t, N>& a) { return bin(ByteSpan(a.data(), N)); }

template <std::size_t N>
Result<std::array<std::uint8_t, N>> fixed_bytes(const FieldReader& r, std::string_view key) {
  auto b = r.get_bytes(key, N);
  if (!b) return b.error();
  if (b->size() != N) {
    return fail(ErrorCode::bad_length, r.path() + "." + std::string(key) + ": expected " + std::to_string(N) +
                                           " bytes, got " + std::to_string(b->size()));
  }
  std::array<std::uint8_t, N> out;
  std::memcpy(out.data(), b->data(), N);
  return out;
}

// Range-checked before narrowing: every caller bounds the value to 32 bits.
Result<std::uint32_t> narrow(Result<std::uint64_t> v) {
  if (!v) return v.error();
  return static_cast<std::uint32_t>(*v);
}

Result<std::uint32_t> get_slot(const FieldReader& r, std::string_view key = "slot") {
  auto v = r.get_uint(key, 1, kMaxCohort);
  if (!v) return v.error();
  return static_cast<std::uint32_t>(*v);
}

// Iterates an array field of maps, calling `each(FieldReader)` per element.
template <typename F>
Status for_each_entry(const FieldReader& r, std::string_view key, std::size_t max, F&& each) {
  auto arr = r.get_array(key, max);
  if (!arr) return arr.error();
  for (std::size_t i = 0; i < (*arr)->size(); ++i) {
    FieldReader e((**arr)[i], r.path() + "." + std::string(key) + "[" + std::to_string(i) + "]");
    if (!(**arr)[i].is_object()) return fail(ErrorCode::bad_type, e.path() + ": expected a map");
    EDGEFED_TRY(each(e));
  }
  return {};
}

// ---- encoders ------------------------------------------------------------------------

json encode_params(const SessionParams& p) {
  return {{"round", p.round},           {"n", p.n},
          {"k", p.k},                   {"t", p.t},
          {"min_survivors", p.min_survivors}, {"ring_bits", p.ring_bits},
          {"input_bits", p.input_bits}, {"clip", p.clip},
          {"vector_length", p.vector_length}, {"prg", static_cast<std::uint8_t>(p.prg)},
          {"mode", static_cast<std::uint8_t>(p.mode)}, {"graph_commitment", bin(p.graph_commitment)},
          {"server_nonce", bin(p.server_nonce)}};
}

void put_identity(json& j, const std::optional<Identity>& id, const std::optional<Ed25519Signature>& sig) {
  if (id) j["identity"] = {{"key", bin(id->key.bytes)}, {"certificate", bin(id->certificate)}};
  if (sig) j["signature"] = bin(sig->bytes);
}

json encode_addressed(const std::vector<AddressedCiphertext>& v) {
  json arr = json::array();
  for (const auto& c : v) arr.push_back({{"slot", c.slot}, {"ciphertext", bin(c.ciphertext)}});
  return arr;
}

struct BodyEncoder {
  json operator()(const SessionAnnounce& m) const {
    return {{"sid", bin(m.sid)}, {"params", encode_params(m.params)}, {"slot", m.slot}};
  }
  json operator()(const AdvertiseKeys& m) const {
    json j = {{"sid", bin(m.sid)}, {"enc_pk", bin(m.enc_pk.bytes)}, {"mask_pk", bin(m.mask_pk.bytes)}};
    put_identity(j, m.identity, m.signature);
    return j;
  }
  json operator()(const NeighbourKeys& m) const {
    json entries = json::array();
    for (const auto& e : m.entries) {
      json j = {{"slot", e.slot}, {"enc_pk", bin(e.enc_pk.bytes)}, {"mask_pk", bin(e.mask_pk.bytes)}};
      put_identity(j, e.identity, e.signature);
      entries.push_back(std::move(j));
    }
    return {{"sid", bin(m.sid)}, {"graph_seed", bin(m.graph_seed)}, {"entries", std::move(entries)}};
  }
  json operator()(const ShareKeys& m) const {
    return {{"sid", bin(m.sid)}, {"seed_commitment", bin(m.seed_commitment)}, {"shares", encode_addressed(m.shares)}};
  }
  json operator()(const ForwardShares& m) const {
    return {{"sid", bin(m.sid)}, {"shares", encode_addressed(m.shares)}};
  }
  json operator()(const MaskedInput& m) const { return {{"sid", bin(m.sid)}, {"packed", bin(m.packed)}}; }
  json operator()(const SurvivorsView& m) const { return {{"sid", bin(m.sid)}, {"bitmap", bin(m.bitmap)}}; }
  json operator()(const SurvivorsSignature& m) const {
    return {{"sid", bin(m.sid)}, {"signature", bin(m.signature.bytes)}};
  }
  json operator()(const UnmaskRequest& m) const {
    json sigs = json::array();
    for (const auto& s : m.signatures) sigs.push_back({{"slot", s.slot}, {"signature", bin(s.signature.bytes)}});
    return {{"sid", bin(m.sid)}, {"dropped", m.dropped}, {"signatures", std::move(sigs)}};
  }
  json operator()(const UnmaskResponse& m) const {
    json shares = json::array();
    std::array<std::uint8_t, kShamirShareSize> buf;
    for (const auto& s : m.shares) {
      encode_share(s.share, buf);
      shares.push_back({{"owner", s.owner}, {"kind", static_cast<std::uint8_t>(s.kind)}, {"share", bin(buf)}});
    }
    secure_wipe(buf.data(), buf.size());
    return {{"sid", bin(m.sid)}, {"shares", std::move(shares)}};
  }
  json operator()(const Abort& m) const { return {{"sid", bin(m.sid)}, {"reason", m.reason}}; }
};

// ---- decoders ------------------------------------------------------------------------

Result<SessionParams> decode_params(const FieldReader& r) {
  SessionParams p;
  EDGEFED_ASSIGN_OR_RETURN(p.round, r.get_uint("round"));
  EDGEFED_ASSIGN_OR_RETURN(p.n, narrow(r.get_uint("n", 0, kMaxCohort)));
  EDGEFED_ASSIGN_OR_RETURN(p.k, narrow(r.get_uint("k", 0, kMaxCohort)));
  EDGEFED_ASSIGN_OR_RETURN(p.t, narrow(r.get_uint("t", 0, kMaxCohort)));
  EDGEFED_ASSIGN_OR_RETURN(p.min_survivors, narrow(r.get_uint("min_survivors", 0, kMaxCohort)));
  EDGEFED_ASSIGN_OR_RETURN(p.ring_bits, narrow(r.get_uint("ring_bits", 0, 64)));
  EDGEFED_ASSIGN_OR_RETURN(p.input_bits, narrow(r.get_uint("input_bits", 0, 64)));
  EDGEFED_ASSIGN_OR_RETURN(p.clip, r.get_double("clip"));
  EDGEFED_ASSIGN_OR_RETURN(p.vector_length, r.get_uint("vector_length", 0, kMaxVectorLength));
  EDGEFED_ASSIGN_OR_RETURN(auto prg, r.get_uint("prg", 1, 2));
  EDGEFED_ASSIGN_OR_RETURN(auto mode, r.get_uint("mode", 1, 2));
  EDGEFED_ASSIGN_OR_RETURN(p.graph_commitment, fixed_bytes<32>(r, "graph_commitment"));
  EDGEFED_ASSIGN_OR_RETURN(p.server_nonce, fixed_bytes<32>(r, "server_nonce"));
  p.prg = static_cast<PrgKind>(prg);
  p.mode = static_cast<ThreatModel>(mode);
  return p;
}

Status get_identity(const FieldReader& r, std::optional<Identity>& id, std::optional<Ed25519Signature>& sig) {
  if (r.has("identity")) {
    auto obj = r.get_object("identity");
    if (!obj) return obj.error();
    auto key = fixed_bytes<32>(*obj, "key");
    if (!key) return key.error();
    auto cert = obj->get_bytes("certificate", kMaxCertificateBytes);
    if (!cert) return cert.error();
    id = Identity{Ed25519PublicKey{*key}, Bytes(cert->begin(), cert->end())};
  }
  if (r.has("signature")) {
    auto s = fixed_bytes<64>(r, "signature");
    if (!s) return s.error();
    sig = Ed25519Signature{*s};
  }
  return {};
}

Result<std::vector<AddressedCiphertext>> get_addressed(const FieldReader& r) {
  std::vector<AddressedCiphertext> out;
  EDGEFED_TRY(for_each_entry(r, "shares", kMaxEntries, [&](const FieldReader& e) -> Status {
    auto slot = get_slot(e);
    if (!slot) return slot.error();
    auto ct = e.get_bytes("ciphertext", kShareCiphertextBytes);
    if (!ct) return ct.error();
    out.push_back({*slot, Bytes(ct->begin(), ct->end())});
    return {};
  }));
  return out;
}

template <typename M>
Result<M> with_sid(const FieldReader& r) {
  M m;
  auto sid = fixed_bytes<32>(r, "sid");
  if (!sid) return sid.error();
  m.sid = *sid;
  return m;
}

// Both sides may abort with the same message.
Result<Abort> decode_abort(const FieldReader& r) {
  EDGEFED_ASSIGN_OR_RETURN(Abort m, with_sid<Abort>(r));
  EDGEFED_ASSIGN_OR_RETURN(m.reason, r.get_string("reason", kMaxReasonBytes));
  return m;
}

template <typename Variant, typename M>
Result<Variant> wrap(Result<M> m) {
  if (!m) return m.error();
  return Variant(std::move(*m));
}

Result<ServerMessage> decode_server(std::string_view type, const FieldReader& r) {
  if (type == "secagg.announce") {
    auto m = with_sid<SessionAnnounce>(r);
    if (!m) return m.error();
    auto params_reader = r.get_object("params");
    if (!params_reader) return params_reader.error();
    auto params = decode_params(*params_reader);
    if (!params) return params.error();
    auto slot = get_slot(r);
    if (!slot) return slot.error();
    m->params = *params;
    m->slot = *slot;
    return ServerMessage(std::move(*m));
  }
  if (type == "secagg.neighbour_keys") {
    auto m = with_sid<NeighbourKeys>(r);
    if (!m) return m.error();
    auto seed = fixed_bytes<32>(r, "graph_seed");
    if (!seed) return seed.error();
    m->graph_seed = *seed;
    EDGEFED_TRY(for_each_entry(r, "entries", kMaxEntries, [&](const FieldReader& e) -> Status {
      NeighbourKeyEntry entry;
      auto slot = get_slot(e);
      if (!slot) return slot.error();
      auto enc = fixed_bytes<32>(e, "enc_pk");
      if (!enc) return enc.error();
      auto mask = fixed_bytes<32>(e, "mask_pk");
      if (!mask) return mask.error();
      entry.slot = *slot;
      entry.enc_pk.bytes = *enc;
      entry.mask_pk.bytes = *mask;
      EDGEFED_TRY(get_identity(e, entry.identity, entry.signature));
      m->entries.push_back(std::move(entry));
      return {};
    }));
    return ServerMessage(std::move(*m));
  }
  if (type == "secagg.forward_shares") {
    auto m = with_sid<ForwardShares>(r);
    if (!m) return m.error();
    auto shares = get_addressed(r);
    if (!shares) return shares.error();
    m->shares = std::move(*shares);
    return ServerMessage(std::move(*m));
  }
  if (type == "secagg.survivors") {
    auto m = with_sid<SurvivorsView>(r);
    if (!m) return m.error();
    auto bitmap = r.get_bytes("bitmap", (kMaxCohort + 7) / 8);
    if (!bitmap) return bitmap.error();
    m->bitmap.assign(bitmap->begin(), bitmap->end());
    return ServerMessage(std::move(*m));
  }
  if (type == "secagg.unmask_request") {
    auto m = with_sid<UnmaskRequest>(r);
    if (!m) return m.error();
    auto dropped = r.get_array("dropped", kMaxEntries);
    if (!dropped) return dropped.error();
    for (const json& d : **dropped) {
      if (!d.is_number_unsigned() || d.get<std::uint64_t>() == 0 || d.get<std::uint64_t>() > kMaxCohort) {
        return fail(ErrorCode::bad_type, r.path() + ".dropped: expected slot numbers");
      }
      m->dropped.push_back(static_cast<std::uint32_t>(d.get<std::uint64_t>()));
    }
    EDGEFED_TRY(for_each_entry(r, "signatures", kMaxEntries, [&](const FieldReader& e) -> Status {
      auto slot = get_slot(e);
      if (!slot) return slot.error();
      auto sig = fixed_bytes<64>(e, "signature");
      if (!sig) return sig.error();
      m->signatures.push_back({*slot, Ed25519Signature{*sig}});
      return {};
    }));
    return ServerMessage(std::move(*m));
  }
  if (type == "secagg.abort") return wrap<ServerMessage>(decode_abort(r));
  return fail(ErrorCode::unknown_type, "not a SecAgg server message: '" + std::string(type.substr(0, 64)) + "'");
}

Result<ClientMessage> decode_client(std::string_view type, const FieldReader& r) {
  if (type == "secagg.advertise_keys") {
    auto m = with_sid<AdvertiseKeys>(r);
    if (!m) return m.error();
    auto enc = fixed_bytes<32>(r, "enc_pk");
    if (!enc) return enc.error();
    auto mask = fixed_bytes<32>(r, "mask_pk");
    if (!mask) return mask.error();
    m->enc_pk.bytes = *enc;
    m->mask_pk.bytes = *mask;
    EDGEFED_TRY(get_identity(r, m->identity, m->signature));
    return ClientMessage(std::move(*m));
  }
  if (type == "secagg.share_keys") {
    auto m = with_sid<ShareKeys>(r);
    if (!m) return m.error();
    auto commitment = fixed_bytes<32>(r, "seed_commitment");
    if (!commitment) return commitment.error();
    auto shares = get_addressed(r);
    if (!shares) return shares.error();
    m->seed_commitment = *commitment;
    m->shares = std::move(*shares);
    return ClientMessage(std::move(*m));
  }
  if (type == "secagg.masked_input") {
    auto m = with_sid<MaskedInput>(r);
    if (!m) return m.error();
    auto packed = r.get_bytes("packed", kMaxVectorLength * 8);
    if (!packed) return packed.error();
    m->packed.assign(packed->begin(), packed->end());
    return ClientMessage(std::move(*m));
  }
  if (type == "secagg.survivors_signature") {
    auto m = with_sid<SurvivorsSignature>(r);
    if (!m) return m.error();
    auto sig = fixed_bytes<64>(r, "signature");
    if (!sig) return sig.error();
    m->signature = Ed25519Signature{*sig};
    return ClientMessage(std::move(*m));
  }
  if (type == "secagg.unmask_response") {
    auto m = with_sid<UnmaskResponse>(r);
    if (!m) return m.error();
    EDGEFED_TRY(for_each_entry(r, "shares", kMaxEntries, [&](const FieldReader& e) -> Status {
      auto owner = get_slot(e, "owner");
      if (!owner) return owner.error();
      auto kind = e.get_uint("kind", 1, 2);
      if (!kind) return kind.error();
      auto bytes = e.get_bytes("share", kShamirShareSize);
      if (!bytes) return bytes.error();
      auto share = decode_share(*bytes);
      if (!share) return share.error().with_context(e.path() + ".share");
      m->shares.push_back({*owner, static_cast<ShareKind>(*kind), *share});
      return {};
    }));
    return ClientMessage(std::move(*m));
  }
  if (type == "secagg.abort") return wrap<ClientMessage>(decode_abort(r));
  return fail(ErrorCode::unknown_type, "not a SecAgg client message: '" + std::string(type.substr(0, 64)) + "'");
}

struct ServerTypeName {
  std::string_view operator()(const SessionAnnounce&) const { return "secagg.announce"; }
  std::string_view operator()(const NeighbourKeys&) const { return "secagg.neighbour_keys"; }
  std::string_view operator()(const ForwardShares&) const { return "secagg.forward_shares"; }
  std::string_view operator()(const SurvivorsView&) const { return "secagg.survivors"; }
  std::string_view operator()(const UnmaskRequest&) const { return "secagg.unmask_request"; }
  std::string_view operator()(const Abort&) const { return "secagg.abort"; }
};

struct ClientTypeName {
  std::string_view operator()(const AdvertiseKeys&) const { return "secagg.advertise_keys"; }
  std::string_view operator()(const ShareKeys&) const { return "secagg.share_keys"; }
  std::string_view operator()(const MaskedInput&) const { return "secagg.masked_input"; }
  std::string_view operator()(const SurvivorsSignature&) const { return "secagg.survivors_signature"; }
  std::string_view operator()(const UnmaskResponse&) const { return "secagg.unmask_response"; }
  std::string_view operator()(const Abort&) const { return "secagg.abort"; }
};

}  // namespace

std::string_view message_type(const ServerMessage& m) { return std::visit(ServerTypeName{}, m); }
std::string_view message_type(const ClientMessage& m) { return std::visit(ClientTypeName{}, m); }
const SessionId& session_of(const ServerMessage& m) {
  return std::visit([](const auto& x) -> const SessionId& { return x.sid; }, m);
}
const SessionId& session_of(const ClientMessage& m) {
  return std::visit([](const auto& x) -> const SessionId& { return x.sid; }, m);
}

json encode_body(const ServerMessage& m) { return std::visit(BodyEncoder{}, m); }
json encode_body(const ClientMessage& m) { return std::visit(BodyEncoder{}, m); }

Result<ServerMessage> decode_server_message(std::string_view type, const json& body) {
  return decode_server(type, FieldReader(body, "body"));
}
Result<ClientMessage> decode_client_message(std::string_view type, const json& body) {
  return decode_client(type, FieldReader(body, "body"));
}

namespace {
template <typename Message>
Result<Bytes> frame_of(const Message& m, std::uint64_t round, std::uint64_t seq) {
  Envelope env;
  env.type = std::string(message_type(m));
  const SessionId& sid = session_of(m);
  std::copy_n(sid.begin(), env.session.size(), env.session.begin());
  env.round = round;
  env.seq = seq;
  env.body = encode_body(m);
  return encode_envelope(env);
}
}  // namespace

Result<Bytes> encode_frame(const ServerMessage& m, std::uint64_t round, std::uint64_t seq) { return frame_of(m, round, seq); }
Result<Bytes> encode_frame(const ClientMessage& m, std::uint64_t round, std::uint64_t seq) { return frame_of(m, round, seq); }

Result<ServerMessage> decode_server_frame(ByteSpan frame, const DecodeLimits& limits) {
  EDGEFED_ASSIGN_OR_RETURN(Envelope env, decode_envelope(frame, limits));
  return decode_server_message(env.type, env.body);
}

Result<ClientMessage> decode_client_frame(ByteSpan frame, const DecodeLimits& limits) {
  EDGEFED_ASSIGN_OR_RETURN(Envelope env, decode_envelope(frame, limits));
  return decode_client_message(env.type, env.body);
}

std::size_t max_message_bytes(std::string_view type, const SessionParams& p) {
  constexpr std::size_t kOverhead = 1024;  // envelope, keys, field names
  const std::size_t peers = static_cast<std::size_t>(p.k) + 1;
  if (type == "secagg.neighbour_keys") return kOverhead + peers * (64 + 32 + 64 + kMaxCertificateBytes + 64);
  if (type == "secagg.share_keys" || type == "secagg.forward_shares") return kOverhead + peers * (kShareCiphertextBytes + 32);
  if (type == "secagg.masked_input") return kOverhead + (p.vector_length * p.ring_bits + 7) / 8;
  if (type == "secagg.survivors") return kOverhead + (p.n + 7) / 8;
  if (type == "secagg.unmask_request") return kOverhead + peers * 96;
  if (type == "secagg.unmask_response") return kOverhead + peers * (kShamirShareSize + 48);
  return kOverhead + kMaxCertificateBytes;
}

}  // namespace edgefed::secagg
