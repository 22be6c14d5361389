// A job on libuv's thread pool for work too slow for the loop (password
// hashing): `job` runs on a pool thread, then `done` on the loop thread.
//
// Destroying the Work before `done` ran cancels it: a job not yet started
// never starts, and `done` is never called. A job already running finishes
// on its thread; it must therefore only touch what it owns (its captures
// live until it ends), never the object that queued it.
#pragma once

#include <functional>

struct uv_loop_s;

namespace gw::io {

class Work {
 public:
  Work(uv_loop_s* loop, std::function<void()> job, std::function<void()> done);
  ~Work();
  Work(const Work&) = delete;
  Work& operator=(const Work&) = delete;

  bool pending() const { return job_ != nullptr; }

 private:
  struct Job;
  Job* job_;  // owned by libuv until its after-work callback; null once done
};

}  // namespace gw::io
