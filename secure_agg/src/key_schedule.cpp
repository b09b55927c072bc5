#include "edgefed/secagg/key_schedule.hpp"

#include "edgefed/common/crypto.hpp"

#include <algorithm>
#include <string_view>

namespace edgefed::secagg {
namespace {

void put_label(Bytes& out, std::string_view label) { out.insert(out.end(), label.begin(), label.end()); }

}  // namespace

Result<Secret32> derive_share_key(const SessionId& sid, std::uint32_t sender, std::uint32_t receiver,
                                  const Secret32& own_enc_secret, const PartyKeys& sender_keys,
                                  const PartyKeys& receiver_keys, bool self_is_sender) {
  auto shared = x25519_agree(own_enc_secret, self_is_sender ? receiver_keys.enc_pk : sender_keys.enc_pk);
  if (!shared) return shared.error();
  Bytes info;
  put_label(info, "flsa/v1/share");
  ByteWriter w(info);
  w.put(sender);
  w.put(receiver);
  for (const PartyKeys* k : {&sender_keys, &receiver_keys}) {
    w.put_bytes(k->enc_pk.bytes);
    w.put_bytes(k->mask_pk.bytes);
  }
  return hkdf_sha256_key(shared->span(), sid, info);
}

Result<Secret32> derive_pair_mask_key(const SessionParams& params, const SessionId& sid, std::uint32_t self,
                                      std::uint32_t peer, const Secret32& own_mask_secret,
                                      const X25519PublicKey& self_mask_pk, const X25519PublicKey& peer_mask_pk) {
  auto shared = x25519_agree(own_mask_secret, peer_mask_pk);
  if (!shared) return shared.error();
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
  return hkdf_sha256_key(shared->span(), sid, info);
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

Bytes survivors_signing_payload(const SessionId& sid, ByteSpan survivor_bitmap) {
  Bytes out;
  put_label(out, "flsa/v1/survivors");
  out.insert(out.end(), sid.begin(), sid.end());
  ByteWriter(out).put(static_cast<std::uint64_t>(survivor_bitmap.size()));
  out.insert(out.end(), survivor_bitmap.begin(), survivor_bitmap.end());
  return out;
}

}  // namespace edgefed::secagg
