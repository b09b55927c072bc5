// The session's key schedule (research/secagg.md §6.3). Every derivation is bound to the
// session id (HKDF salt) and to both parties' public keys (HKDF info), so a key the server
// substitutes or a message replayed from another session derives a different key and fails
// authentication instead of leaking anything.
#pragma once

#include "edgefed/common/bytes.hpp"
#include "edgefed/common/result.hpp"
#include "edgefed/secagg/primitives.hpp"
#include "edgefed/secagg/session.hpp"

namespace edgefed::secagg {

// A party's two public keys as one side sees them.
struct PartyKeys {
  X25519PublicKey enc_pk;
  X25519PublicKey mask_pk;
};

// AEAD key for shares sent from `sender` to `receiver` (direction-specific):
// HKDF(X25519(own enc secret, peer enc_pk), sid, "flsa/v1/share" ‖ sender ‖ receiver ‖
//      enc_pk_s ‖ mask_pk_s ‖ enc_pk_r ‖ mask_pk_r). Both parties' *both* keys go into the
// info, so a server that shows either side a substituted key — encryption or mask — makes
// the two derive different keys and the shares fail authentication.
// bad_value if the peer's encryption key is invalid or of small order.
Result<Secret32> derive_share_key(const SessionId& sid, std::uint32_t sender, std::uint32_t receiver,
                                  const Secret32& own_enc_secret, const PartyKeys& sender_keys,
                                  const PartyKeys& receiver_keys, bool self_is_sender);

// The same with this party's encryption key already loaded (one load per session).
Result<Secret32> derive_share_key(const SessionId& sid, std::uint32_t sender, std::uint32_t receiver,
                                  const X25519PreparedKey& own_enc_key, const PartyKeys& sender_keys,
                                  const PartyKeys& receiver_keys, bool self_is_sender);

// Pairwise mask key of u and v (symmetric): HKDF(X25519(mask_sk_u, mask_pk_v), sid,
// "flsa/v1/pair" ‖ min ‖ max ‖ mask_pk_min ‖ mask_pk_max ‖ m ‖ b).
Result<Secret32> derive_pair_mask_key(const SessionParams& params, const SessionId& sid, std::uint32_t self,
                                      std::uint32_t peer, const Secret32& own_mask_secret,
                                      const X25519PublicKey& self_mask_pk, const X25519PublicKey& peer_mask_pk);

// The same with the owner's private key already loaded (the server's repair loop).
Result<Secret32> derive_pair_mask_key(const SessionParams& params, const SessionId& sid, std::uint32_t self,
                                      std::uint32_t peer, const X25519PreparedKey& own_mask_key,
                                      const X25519PublicKey& self_mask_pk, const X25519PublicKey& peer_mask_pk);

// Self mask key of u: HKDF(b_u, sid, "flsa/v1/self" ‖ u ‖ m ‖ b).
Secret32 derive_self_mask_key(const SessionParams& params, const SessionId& sid, std::uint32_t self,
                              const Secret32& self_seed);

// Commitment to b_u, sent with the shares so the server can check a reconstructed seed:
// SHA-256("flsa/v1/commit" ‖ sid ‖ u ‖ b_u).
Digest32 commit_self_seed(const SessionId& sid, std::uint32_t self, const Secret32& self_seed);

// Associated data of the share ciphertext sender → receiver: sid ‖ "share" ‖ sender ‖ receiver.
Bytes share_aad(const SessionId& sid, std::uint32_t sender, std::uint32_t receiver);

// What an active-mode client signs with its identity key.
Bytes advertise_signing_payload(const SessionId& sid, std::uint32_t slot, const X25519PublicKey& enc_pk,
                                const X25519PublicKey& mask_pk);
// The signer's slot is in the payload, so one signature never counts for two slots.
Bytes survivors_signing_payload(const SessionId& sid, std::uint32_t signer, ByteSpan survivor_bitmap);

}  // namespace edgefed::secagg
