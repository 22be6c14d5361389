#include "gateway/io/timer.h"

#include <uv.h>

#include <vector>

namespace gw::io {

Timer::Timer(uv_loop_t* loop) : handle_(new uv_timer_t) {
  uv_timer_init(loop, handle_);
  handle_->data = this;
}

Timer::~Timer() {
  handle_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

void Timer::start(uint64_t timeout_ms, std::function<void()> callback, uint64_t repeat_ms) {
  callback_ = std::move(callback);
  uv_timer_start(handle_, &Timer::on_timer, timeout_ms, repeat_ms);
}

void Timer::stop() {
  uv_timer_stop(handle_);
}

void Timer::on_timer(uv_timer_t* handle) {
  auto* self = static_cast<Timer*>(handle->data);
  if (self && self->callback_) {
    // The callback may destroy this Timer; keep the function alive for the call.
    auto cb = self->callback_;
    cb();
  }
}

namespace {

// One idle handle per loop runs the deferred work; it is only active while
// work is queued, so an idle loop still sleeps in poll.
struct Deferred {
  uv_idle_t idle;
  std::vector<std::function<void()>> queue;
};

void run_deferred(uv_idle_t* idle) {
  auto* d = static_cast<Deferred*>(idle->data);
  std::vector<std::function<void()>> work;
  work.swap(d->queue);
  for (auto& fn : work) fn();
  if (d->queue.empty()) uv_idle_stop(idle);
}

}  // namespace

void defer(uv_loop_t* loop, std::function<void()> fn) {
  // Stored in the loop's data slot only through this function: the loop
  // belongs to gateway/server.cpp, which leaves loop->data to us.
  auto* d = static_cast<Deferred*>(loop->data);
  if (!d) {
    d = new Deferred;
    uv_idle_init(loop, &d->idle);
    d->idle.data = d;
    uv_unref(reinterpret_cast<uv_handle_t*>(&d->idle));
    loop->data = d;
  }
  d->queue.push_back(std::move(fn));
  uv_idle_start(&d->idle, run_deferred);
}

void release_deferred(uv_loop_t* loop) {
  auto* d = static_cast<Deferred*>(loop->data);
  if (!d) return;
  while (!d->queue.empty()) run_deferred(&d->idle);
  loop->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&d->idle),
           [](uv_handle_t* h) { delete static_cast<Deferred*>(h->data); });
}

}  // namespace gw::io
