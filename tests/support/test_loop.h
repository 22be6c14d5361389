// A libuv loop for unit tests of code that runs on one: every wait is
// bounded by a deadline, and the destructor checks that nothing was left
// open (a forgotten stream, timer, pending connect or process is a leak).
#pragma once

#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>
#include <csignal>
#include <functional>

#include "gateway/io/timer.h"

namespace gw::test {

class TestLoop {
 public:
  // `wait_ms`: how long run_until() waits by default for its condition.
  explicit TestLoop(int wait_ms = 5000) : wait_ms_(wait_ms) {
    std::signal(SIGPIPE, SIG_IGN);  // as the daemon does: a closed peer is an error code
    uv_loop_init(&loop_);
    loop_.data = nullptr;  // uv_loop_init keeps it; io::defer owns it
    // A ticking timer keeps UV_RUN_ONCE from sleeping past our deadlines.
    uv_timer_init(&loop_, &tick_);
    uv_timer_start(
        &tick_, [](uv_timer_t*) {}, 5, 5);
  }
  ~TestLoop() {
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    gw::io::release_deferred(&loop_);
    // Closing handles takes a loop turn or two; anything still alive after
    // that is a leak.
    auto deadline = Clock::now() + std::chrono::milliseconds(200);
    while (uv_loop_alive(&loop_) && Clock::now() < deadline) uv_run(&loop_, UV_RUN_NOWAIT);
    int rc = uv_loop_close(&loop_);
    CHECK(rc == 0);
    if (rc != 0) {
      uv_walk(
          &loop_,
          [](uv_handle_t* h, void*) {
            if (!uv_is_closing(h)) uv_close(h, nullptr);
          },
          nullptr);
      uv_run(&loop_, UV_RUN_NOWAIT);
      uv_loop_close(&loop_);
    }
  }
  TestLoop(const TestLoop&) = delete;
  TestLoop& operator=(const TestLoop&) = delete;

  uv_loop_t* get() { return &loop_; }

  // Runs the loop until `done` holds; false when the wait ran out first.
  bool run_until(const std::function<bool()>& done, int timeout_ms = -1) {
    auto deadline =
        Clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? wait_ms_ : timeout_ms);
    while (!done()) {
      if (Clock::now() > deadline) return false;
      uv_run(&loop_, UV_RUN_ONCE);
    }
    return true;
  }
  void run_for(int ms) {
    run_until([] { return false; }, ms);
  }

 private:
  using Clock = std::chrono::steady_clock;
  uv_loop_t loop_;
  uv_timer_t tick_;
  int wait_ms_;
};

}  // namespace gw::test
