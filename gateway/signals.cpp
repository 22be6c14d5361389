#include "gateway/signals.h"

#include <uv.h>

namespace gw {

struct SignalWatchers::Watch {
  uv_signal_t handle;
  std::function<void()> handler;
};

SignalWatchers::SignalWatchers(uv_loop_t* loop) : loop_(loop) {}

SignalWatchers::~SignalWatchers() {
  for (Watch* w : watches_) {
    uv_signal_stop(&w->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&w->handle),
             [](uv_handle_t* h) { delete static_cast<Watch*>(h->data); });
  }
}

void SignalWatchers::watch(int signum, std::function<void()> handler) {
  auto* w = new Watch;
  w->handler = std::move(handler);
  uv_signal_init(loop_, &w->handle);
  w->handle.data = w;
  uv_signal_start(
      &w->handle,
      [](uv_signal_t* h, int) {
        // A copy: the handler may destroy the watchers.
        auto run = static_cast<Watch*>(h->data)->handler;
        run();
      },
      signum);
  uv_unref(reinterpret_cast<uv_handle_t*>(&w->handle));
  watches_.push_back(w);
}

}  // namespace gw
