#include "dispatch/backends/upstream_timers.h"

#include <utility>

namespace gw {

void UpstreamConnect::start(uv_loop_s* loop, const io::Address& address, uint32_t timeout_ms,
                            io::Timer& timer, Done done) {
  timer_ = &timer;
  done_ = std::move(done);
  timer.start(timeout_ms, [this, timeout_ms] {
    cancel();
    finish(nullptr, 504,
           "connect: timed out after " + std::to_string(timeout_ms) +
               " ms (project.json backend.connect_timeout_ms)");
  });
  // `this` is safe in the callback: cancel() (also in the destructor) stops it.
  int rc = io::Stream::connect(
      loop, address,
      [this](int status, std::unique_ptr<io::Stream> stream) {
        pending_.reset();
        timer_->stop();
        if (status < 0) {
          finish(nullptr, 502, "connect: " + io::uv_error_text(status));
        } else {
          finish(std::move(stream), 0, std::string());
        }
      },
      pending_);
  if (rc < 0) {
    pending_.reset();
    timer.stop();
    finish(nullptr, 502, "connect: " + io::uv_error_text(rc));
  }
}

void UpstreamConnect::cancel() {
  if (!pending_) return;
  pending_->cancel();
  pending_.reset();
}

void UpstreamConnect::finish(std::unique_ptr<io::Stream> stream, int status, std::string why) {
  Done done = std::move(done_);
  done_ = nullptr;
  if (done) done(std::move(stream), status, std::move(why));
}

void StallTimer::arm(bool progress, bool paused, uint32_t timeout_ms) {
  if (paused) {
    stop();
    return;
  }
  if (armed_ && !progress) return;
  armed_ = true;
  timer_.start(timeout_ms, [this] {
    armed_ = false;
    on_stall_();
  });
}

void StallTimer::stop() {
  timer_.stop();
  armed_ = false;
}

StallError stall_error(std::string_view who, uint32_t timeout_ms, bool response_started,
                       bool waiting_for_client) {
  std::string ms = std::to_string(timeout_ms) + " ms (project.json backend.timeout_ms)";
  if (response_started) return {504, std::string(who) + ": response stalled: nothing for " + ms};
  if (waiting_for_client) return {408, "request body: nothing from the client for " + ms};
  return {504, std::string(who) + ": no response within " + ms};
}

}  // namespace gw
