// Ports: how the pure protocol state machines reach the outside world. The transport (or a
// test harness) implements them; the state machines never see sockets, clocks or threads.
#pragma once

#include "edgefed/secagg/messages.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>

namespace edgefed::secagg {

// Client → server. Called synchronously from inside SecAggClient::handle(); must not call
// back into the client (queue the message instead).
class SendToServer {
 public:
  virtual ~SendToServer() = default;
  virtual void send(ClientMessage message) = 0;
};

// Server → one client (by slot). Same re-entrancy rule as SendToServer.
class SendToClients {
 public:
  virtual ~SendToClients() = default;
  virtual void send(std::uint32_t slot, ServerMessage message) = 0;
};

// Active mode: decides whether `identity` is the genuine long-term key of the device in
// `slot` (e.g. its certificate chains to the fleet CA and names that device).
class IdentityVerifier {
 public:
  virtual ~IdentityVerifier() = default;
  [[nodiscard]] virtual bool verify(std::uint32_t slot, const Identity& identity) const = 0;
};

// Runs task(i, worker) for every i < count across `workers()` workers and returns when all
// are done. worker < workers() identifies per-worker scratch. The default runs inline.
class Executor {
 public:
  virtual ~Executor() = default;
  virtual std::size_t workers() const { return 1; }
  virtual void run(std::size_t count, const std::function<void(std::size_t task, std::size_t worker)>& task) {
    for (std::size_t i = 0; i < count; ++i) task(i, 0);
  }
};

}  // namespace edgefed::secagg
