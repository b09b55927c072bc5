#include "edgefed/secagg/key_schedule.hpp"

#include "edgefed/common/crypto.hpp"

#include <algorithm>
#include <string_view>

namespace edgefed::secagg {
namespace {

void put_label(Bytes& out, std::string_view label) { out.insert(out.end(), label.begin(), label.end()); }

}  // namespace

namespace {

Secret32 share_key_from(const SessionId& sid, std::uint32_t sender, std::uint32_t receiver, const Secret32& shared,
                        const PartyKeys& sender_keys, const PartyKeys& receiver_keys) {
  Bytes info;
  put_label(info, "flsa/v1/share");
  ByteWriter w(info);
  w.put(sender);
  w.put(receiver);
  for (const PartyKeys* k : {&sender_keys, &receiver_keys}) {
    w.put_bytes(k->enc_pk.bytes);
    w.put_bytes(k->mask_pk.bytes);
  }
  return hkdf_sha256_key(shared.span(), sid, info);
}

}  // namespace

Result<Secret32> derive_share_key(const SessionId& sid, std::uint32_t sender, std::uint32_t receiver,
                                  const Secret32& own_enc_secret, const PartyKeys& sender_keys,
                                  const PartyKeys& receiver_keys, bool self_is_sender) {
  return derive_share_key(sid, sender, receiver, X25519PreparedKey(own_enc_secret), sender_keys, receiver_keys,
                          self_is_sender);
}

Result<Secret32> derive_share_key(const SessionId& sid, std::uint32_t sender, std::uint32_t receiver,
                                  const X25519PreparedKey& own_enc_key, const PartyKeys& sender_keys,
                                  const PartyKeys& receiver_keys, bool self_is_sender) {
  auto shared = own_enc_key.agree(self_is_sender ? receiver_keys.enc_pk : sender_keys.enc_pk);
  if (!shared) return shared.error();
  return share_key_from(sid, sender, receiver, *shared, sender_keys, receiver_keys);
}

namespace {

Secret32 pair_mask_key_from(const SessionParams& params, const SessionId& sid, std::uint32_t self, std::uint32_t peer,
                            const Secret32& shared, const X25519PublicKey& self_mask_pk,
                            const X25519PublicKey& peer_mask_pk) {
  const bool self_first = self < peer;
  Bytes info;
  put_label(info, "flsa/v1/pair");
  ByteWriter w(info);
  w.put(std::min(self, peer));
  w.put(std::max(self, peer));
  w.put_bytes((self_first ? self_mask_pk : peer_mask_pk).bytes);
  w.put_bytes((self_first ? peer_mask_pk : self_mask_pk).bytes);
  w.put(params.vector_length);
  w.put(params.ring_bits);
  return hkdf_sha256_key(shared.span(), sid, info);
}

}  // namespace

Result<Secret32> derive_pair_mask_key(const SessionParams& params, const SessionId& sid, std::uint32_t self,
                                      std::uint32_t peer, const Secret32& own_mask_secret,
                                      const X25519PublicKey& self_mask_pk, const X25519PublicKey& peer_mask_pk) {
  return derive_pair_mask_key(params, sid, self, peer, X25519PreparedKey(own_mask_secret), self_mask_pk, peer_mask_pk);
}

Result<Secret32> derive_pair_mask_key(const SessionParams& params, const SessionId& sid, std::uint32_t self,
                                      std::uint32_t peer, const X25519PreparedKey& own_mask_key,
                                      const X25519PublicKey& self_mask_pk, const X25519PublicKey& peer_mask_pk) {
  auto shared = own_mask_key.agree(peer_mask_pk);
  if (!shared) return shared.error();
  return pair_mask_key_from(params, sid, self, peer, *shared, self_mask_pk, peer_mask_pk);
}

Secret32 derive_self_mask_key(const SessionParams& params, const SessionId& sid, std::uint32_t self,
                              const Secret32& self_seed) {
  Bytes info;
  put_label(info, "flsa/v1/self");
  ByteWriter w(info);
  w.put(self);
  w.put(params.vector_length);
  w.put(params.ring_bits);
  return hkdf_sha256_key(self_seed.span(), sid, info);
}

Digest32 commit_self_seed(const SessionId& sid, std::uint32_t self, const Secret32& self_seed) {
  Sha256 h;
  h.update(as_bytes(std::string_view("flsa/v1/commit")));
  h.update(sid);
  Bytes slot;
  ByteWriter(slot).put(self);
  h.update(slot);
  h.update(self_seed.span());
  return h.finish();
}

Bytes share_aad(const SessionId& sid, std::uint32_t sender, std::uint32_t receiver) {
  Bytes aad(sid.begin(), sid.end());
  put_label(aad, "share");
  ByteWriter w(aad);
  w.put(sender);
  w.put(receiver);
  return aad;
}

Bytes advertise_signing_payload(const SessionId& sid, std::uint32_t slot, const X25519PublicKey& enc_pk,
                                const X25519PublicKey& mask_pk) {
  Bytes out;
  put_label(out, "flsa/v1/advertise");
  out.insert(out.end(), sid.begin(), sid.end());
  ByteWriter w(out);
  w.put(slot);
  w.put_bytes(enc_pk.bytes);
  w.put_bytes(mask_pk.bytes);
  return out;
}

Bytes survivors_signing_payload(const SessionId& sid, std::uint32_t signer, ByteSpan survivor_bitmap) {
  Bytes out;
  put_label(out, "flsa/v1/survivors");
  out.insert(out.end(), sid.begin(), sid.end());
  ByteWriter w(out);
  w.put(signer);
  w.put(static_cast<std::uint64_t>(survivor_bitmap.size()));
  out.insert(out.end(), survivor_bitmap.begin(), survivor_bitmap.end());
  return out;
}

}  // namespace edgefed::secagg
