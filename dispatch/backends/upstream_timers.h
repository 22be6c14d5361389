// The timeouts of an exchange with an app (http, fastcgi and scgi
// backends), kept on the exchange's one io::Timer: the bounded connect, and
// the stall timeout while the exchange waits for the app.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/io/address.h"
#include "gateway/io/stream.h"
#include "gateway/io/timer.h"

struct uv_loop_s;

namespace gw {

// A connect bounded by `timeout_ms` on the exchange's timer. `done` runs
// exactly once unless cancel() came first: with the stream, or with none, a
// status (504 for the timeout, 502 for a refusal) and the reason for the
// log ("connect: ..."). cancel() (also the destructor) closes the socket of
// a connect still under way.
class UpstreamConnect {
 public:
  using Done = std::function<void(std::unique_ptr<io::Stream> stream, int status, std::string why)>;

  UpstreamConnect() = default;
  ~UpstreamConnect() { cancel(); }
  UpstreamConnect(const UpstreamConnect&) = delete;
  UpstreamConnect& operator=(const UpstreamConnect&) = delete;

  void start(uv_loop_s* loop, const io::Address& address, uint32_t timeout_ms, io::Timer& timer,
             Done done);
  void cancel();

 private:
  void finish(std::unique_ptr<io::Stream> stream, int status, std::string why);

  std::shared_ptr<io::Stream::PendingConnect> pending_;
  io::Timer* timer_ = nullptr;
  Done done_;
};

// The stall timeout: runs while the exchange waits for the app, restarts
// on progress, and stops while the client is the slow side (its
// connection's own timeouts apply then).
class StallTimer {
 public:
  StallTimer(io::Timer& timer, std::function<void()> on_stall)
      : timer_(timer), on_stall_(std::move(on_stall)) {}

  // `progress`: something moved, so start counting again even if running.
  void arm(bool progress, bool paused, uint32_t timeout_ms);
  void stop();

 private:
  io::Timer& timer_;
  std::function<void()> on_stall_;
  bool armed_ = false;
};

// What a stall means, for the answer and the log. `waiting_for_client`:
// the request body is not complete and nothing is queued to the app, so
// the client is the one that went quiet (408); otherwise the app (504).
struct StallError {
  int status;
  std::string why;
};
StallError stall_error(std::string_view who, uint32_t timeout_ms, bool response_started,
                       bool waiting_for_client);

}  // namespace gw
