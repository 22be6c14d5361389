// Signal watchers on a libuv loop: a handler runs on the loop, between two
// callbacks, never inside a signal handler. The watchers do not keep the
// loop alive: once the server has stopped, the loop runs dry with them.
#pragma once

#include <functional>
#include <memory>
#include <vector>

struct uv_loop_s;

namespace gw {

class SignalWatchers {
 public:
  explicit SignalWatchers(uv_loop_s* loop);
  // Stops every watcher; their handles are freed on the loop's next turn.
  ~SignalWatchers();
  SignalWatchers(const SignalWatchers&) = delete;
  SignalWatchers& operator=(const SignalWatchers&) = delete;

  // From now on `signum` runs `handler` (instead of its default action).
  void watch(int signum, std::function<void()> handler);

 private:
  struct Watch;
  uv_loop_s* loop_;
  std::vector<Watch*> watches_;  // each freed in its close callback
};

}  // namespace gw
