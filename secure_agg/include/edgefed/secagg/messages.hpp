// Typed SecAgg+ messages and their wire bodies.
//
// The state machines see only these structs. `encode_*` turns one into (wire type name,
// CBOR body map) for common's Envelope; `decode_*` maps a decoded body back with explicit
// type, length and range checks (no generic deserializer), so a malformed message is a
// typed Error naming the field before any protocol logic sees it.
//
// Every message carries the 32-byte session id; state machines reject a message whose id
// is not their session's (replay across sessions or rounds, case 14).
//
// Flow (slots 1..n; [..] active mode only):
//   S→C SessionAnnounce   params + the client's slot
//   C→S AdvertiseKeys     enc_pk, mask_pk [+ identity key, certificate, signature]
//   S→C NeighbourKeys     graph seed + keys of the client's live neighbours and its own
//   C→S ShareKeys         one AEAD ciphertext per live neighbour + commitment to b_u
//   S→C ForwardShares     the ciphertexts neighbours addressed to this client
//   C→S MaskedInput       bit-packed masked vector in Z_{2^b}
//  [S→C SurvivorsView     bitmap of all slots whose masked input the server accepted]
//  [C→S SurvivorsSignature  signature over sid ‖ bitmap]
//   S→C UnmaskRequest     neighbours that dropped after ShareKeys [+ neighbours' signatures]
//   C→S UnmaskResponse    per holder-of peer: b_v share (alive) or mask_sk_v share (dropped)
//   both  Abort           the sender gives up the session (reason is informational)
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/crypto.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/common/wire.hpp"
#include "edgefed/secagg/primitives.hpp"
#include "edgefed/secagg/session.hpp"
#include "edgefed/secagg/shamir.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace edgefed::secagg {

// Active mode: a device's long-term identity key and the certificate binding it to the
// device (opaque here; an IdentityVerifier port checks it).
struct Identity {
  Ed25519PublicKey key;
  Bytes certificate;
};

struct SessionAnnounce {
  SessionId sid{};
  SessionParams params;
  std::uint32_t slot = 0;
};

struct AdvertiseKeys {
  SessionId sid{};
  X25519PublicKey enc_pk;
  X25519PublicKey mask_pk;
  std::optional<Identity> identity;          // active mode
  std::optional<Ed25519Signature> signature;  // active mode, over advertise_signing_payload
};

struct NeighbourKeyEntry {
  std::uint32_t slot = 0;
  X25519PublicKey enc_pk;
  X25519PublicKey mask_pk;
  std::optional<Identity> identity;
  std::optional<Ed25519Signature> signature;
};

struct NeighbourKeys {
  SessionId sid{};
  Digest32 graph_seed{};                  // opens params.graph_commitment
  std::vector<NeighbourKeyEntry> entries;  // sorted by slot; includes the receiver itself
};

struct AddressedCiphertext {
  std::uint32_t slot = 0;  // receiver (in ShareKeys) or sender (in ForwardShares)
  Bytes ciphertext;
};

struct ShareKeys {
  SessionId sid{};
  Digest32 seed_commitment{};
  std::vector<AddressedCiphertext> shares;  // sorted by receiver slot
};

struct ForwardShares {
  SessionId sid{};
  std::vector<AddressedCiphertext> shares;  // sorted by sender slot
};

struct MaskedInput {
  SessionId sid{};
  Bytes packed;  // vector_length elements of ring_bits bits, bit-packed little-endian
};

struct SurvivorsView {
  SessionId sid{};
  Bytes bitmap;  // bit (slot − 1) set: that slot's masked input is in the sum
};

struct SurvivorsSignature {
  SessionId sid{};
  Ed25519Signature signature;
};

struct SlotSignature {
  std::uint32_t slot = 0;
  Ed25519Signature signature;
};

struct UnmaskRequest {
  SessionId sid{};
  std::vector<std::uint32_t> dropped;        // neighbours that shared keys but sent no input
  std::vector<SlotSignature> signatures;     // active mode: neighbours' survivor signatures
};

enum class ShareKind : std::uint8_t { self_seed = 1, mask_key = 2 };

struct RevealedShare {
  std::uint32_t owner = 0;  // whose secret this is a share of
  ShareKind kind = ShareKind::self_seed;
  ShamirShare share;
};

struct UnmaskResponse {
  SessionId sid{};
  std::vector<RevealedShare> shares;
};

struct Abort {
  SessionId sid{};
  std::string reason;
};

using ServerMessage =
    std::variant<SessionAnnounce, NeighbourKeys, ForwardShares, SurvivorsView, UnmaskRequest, Abort>;
using ClientMessage =
    std::variant<AdvertiseKeys, ShareKeys, MaskedInput, SurvivorsSignature, UnmaskResponse, Abort>;

// Wire type name of each alternative ("secagg.advertise_keys", ...).
std::string_view message_type(const ServerMessage& message);
std::string_view message_type(const ClientMessage& message);
const SessionId& session_of(const ServerMessage& message);
const SessionId& session_of(const ClientMessage& message);

nlohmann::json encode_body(const ServerMessage& message);
nlohmann::json encode_body(const ClientMessage& message);
Result<ServerMessage> decode_server_message(std::string_view type, const nlohmann::json& body);
Result<ClientMessage> decode_client_message(std::string_view type, const nlohmann::json& body);

// A message as one complete wire frame: common's Envelope with the message's type and body,
// the first 16 bytes of its session id as the envelope's session token, and the caller's
// round and sequence number. Fails only for a message whose body cannot be encoded.
Result<Bytes> encode_frame(const ServerMessage& message, std::uint64_t round = 0, std::uint64_t seq = 0);
Result<Bytes> encode_frame(const ClientMessage& message, std::uint64_t round = 0, std::uint64_t seq = 0);
// A frame back into a typed message: decode_envelope (with `limits`), then the body.
Result<ServerMessage> decode_server_frame(ByteSpan frame, const DecodeLimits& limits = {});
Result<ClientMessage> decode_client_frame(ByteSpan frame, const DecodeLimits& limits = {});

// Upper bound of the encoded size of each message type for a session, for the transport's
// per-type frame limits (DecodeLimits::max_bytes_by_type).
std::size_t max_message_bytes(std::string_view type, const SessionParams& params);

}  // namespace edgefed::secagg
