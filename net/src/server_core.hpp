// What every session of one WsServer shares: config, handler, and the registry of live
// connections (thread-safe) that send()/close()/stop() look sessions up in.
#pragma once

#include "edgefed/net/server.hpp"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace edgefed::net::detail {

class ServerSession;

class ServerCore {
 public:
  ServerCore(const ServerConfig& config, ServerHandler& handler)
      : config_(config), handler_(handler) {}

  const ServerConfig& config() const { return config_; }
  ServerHandler& handler() { return handler_; }

  ConnectionId next_id() { return next_id_.fetch_add(1) + 1; }

  // Registers a new connection. False once shutdown began or at max_connections.
  bool add(ConnectionId id, const std::shared_ptr<ServerSession>& session) {
    std::lock_guard lock(mutex_);
    if (shutting_down_ || sessions_.size() >= config_.max_connections) return false;
    sessions_.emplace(id, session);
    return true;
  }

  void remove(ConnectionId id) {
    std::lock_guard lock(mutex_);
    sessions_.erase(id);
    if (sessions_.empty()) empty_.notify_all();
  }

  std::shared_ptr<ServerSession> find(ConnectionId id) const {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(id);
    return it == sessions_.end() ? nullptr : it->second.lock();
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
  }

  // Refuses further add() calls and returns the sessions live at that moment.
  std::vector<std::shared_ptr<ServerSession>> begin_shutdown() {
    std::lock_guard lock(mutex_);
    shutting_down_ = true;
    return snapshot_locked();
  }

  std::vector<std::shared_ptr<ServerSession>> snapshot() const {
    std::lock_guard lock(mutex_);
    return snapshot_locked();
  }

  bool wait_until_empty(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return empty_.wait_for(lock, timeout, [this] { return sessions_.empty(); });
  }

 private:
  std::vector<std::shared_ptr<ServerSession>> snapshot_locked() const {
    std::vector<std::shared_ptr<ServerSession>> out;
    for (const auto& [id, weak] : sessions_) {
      if (auto session = weak.lock()) out.push_back(std::move(session));
    }
    return out;
  }

  const ServerConfig& config_;
  ServerHandler& handler_;
  std::atomic<ConnectionId> next_id_{0};
  mutable std::mutex mutex_;
  std::condition_variable empty_;
  std::unordered_map<ConnectionId, std::weak_ptr<ServerSession>> sessions_;
  bool shutting_down_ = false;
};

}  // namespace edgefed::net::detail
