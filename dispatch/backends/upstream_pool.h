// Idle kept-alive connections to one upstream HTTP server, for the `http`
// backend.
//
// Ownership: the backend and every live exchange hold the pool through a
// shared_ptr, so whichever goes first (a server stopping with requests in
// flight, or the last exchange) nothing dangles. shutdown() is called when
// the backend goes away: the idle connections close and later give_back()
// calls close what they return.
//
// A pooled connection keeps reading: an upstream that closes it (EOF), resets
// it or sends anything while no request is on it has made it useless, and it
// is dropped at once. The race where the upstream closes just as a request
// is written on it remains; the exchange handles that by retrying once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "gateway/io/address.h"
#include "gateway/io/stream.h"

struct uv_loop_s;

namespace gw {

class UpstreamPool {
 public:
  UpstreamPool(uv_loop_s* loop, io::Address address, uint32_t max_idle);
  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // The most recently returned idle connection (LIFO: the one least likely
  // to have been closed by the upstream's idle timeout), or null. Reading is
  // stopped and no handler is set.
  std::unique_ptr<io::Stream> take();

  // Keeps a connection whose last response was read to its end, for reuse.
  // When the pool is full the oldest idle connection is closed; after
  // shutdown(), or with max_idle 0, `stream` itself is.
  void give_back(std::unique_ptr<io::Stream> stream);

  // Closes every idle connection and keeps none from now on.
  void shutdown();

  size_t idle_count() const { return idle_.size(); }
  uv_loop_s* loop() const { return loop_; }
  const io::Address& address() const { return address_; }

 private:
  class Idle;
  void drop(Idle* idle);

  uv_loop_s* loop_;
  io::Address address_;
  uint32_t max_idle_;
  bool shut_ = false;
  std::vector<std::unique_ptr<Idle>> idle_;  // oldest first
};

}  // namespace gw
