// A one-shot or repeating timer on the loop. Destroying it stops it: no
// callback runs after the destructor.
#pragma once

#include <cstdint>
#include <functional>

struct uv_loop_s;
struct uv_timer_s;

namespace gw::io {

class Timer {
 public:
  explicit Timer(uv_loop_s* loop);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void start(uint64_t timeout_ms, std::function<void()> callback, uint64_t repeat_ms = 0);
  void stop();

 private:
  static void on_timer(uv_timer_s* handle);
  uv_timer_s* handle_;  // freed in its close callback
  std::function<void()> callback_;
};

// Runs `fn` on a later turn of the loop, outside the current call stack.
// Used to destroy objects that may still be on the stack (an Exchange that
// just called its sink, a Connection whose handle just closed).
void defer(uv_loop_s* loop, std::function<void()> fn);

// Runs what is still deferred and frees the loop's deferred-work handle;
// call before the last uv_run when shutting the loop down.
void release_deferred(uv_loop_s* loop);

}  // namespace gw::io
