// Internal: the client's per-stage state objects. See client.hpp for the contract.
#pragma once

#include "edgefed/secagg/client.hpp"
#include "edgefed/secagg/graph.hpp"
#include "edgefed/secagg/shamir.hpp"

#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace edgefed::secagg {

// What outlives every stage: the caller's ports, policy and input.
struct ClientContext {
  ClientPolicy policy;
  ClientInput input;
  Csprng* rng;
  SendToServer* sender;
  const IdentityVerifier* verifier;
  std::optional<ClientIdentity> identity;
  std::map<std::uint32_t, ShareKind> revealed;  // the ledger
};

// Session facts fixed by the announcement, carried from state to state.
struct ClientSession {
  SessionParams params;
  SessionId sid{};
  std::uint32_t slot = 0;
  std::vector<std::uint64_t> input;  // encoded ring elements, length m
};

// A live neighbour as learned from NeighbourKeys.
struct Peer {
  std::uint32_t slot;
  X25519PublicKey enc_pk;
  X25519PublicKey mask_pk;
  std::optional<Identity> identity;
};

// Shares this client holds for one peer (or for itself).
struct HeldShares {
  ShamirShare mask_key;
  ShamirShare self_seed;
};

class ClientState {
 public:
  explicit ClientState(ClientContext& ctx) : ctx_(ctx) {}
  virtual ~ClientState() = default;
  virtual ClientStage stage() const = 0;
  virtual std::optional<std::uint32_t> slot() const { return std::nullopt; }

  // Every event is out of order unless a stage overrides it.
  virtual Result<std::unique_ptr<ClientState>> on_announce(const SessionAnnounce&);
  virtual Result<std::unique_ptr<ClientState>> on_neighbour_keys(const NeighbourKeys&);
  virtual Result<std::unique_ptr<ClientState>> on_forwarded_shares(const ForwardShares&);
  virtual Result<std::unique_ptr<ClientState>> on_survivors(const SurvivorsView&);
  virtual Result<std::unique_ptr<ClientState>> on_unmask_request(const UnmaskRequest&);

 protected:
  Error unexpected(std::string_view what) const;
  ClientContext& ctx_;
};

std::unique_ptr<ClientState> make_initial_client_state(ClientContext& ctx);
std::unique_ptr<ClientState> make_terminal_client_state(ClientContext& ctx, ClientStage stage,
                                                        std::optional<std::uint32_t> slot);

}  // namespace edgefed::secagg
