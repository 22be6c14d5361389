#include "gateway/io/work.h"

#include <uv.h>

#include <cstdlib>
#include <utility>

namespace gw::io {

struct Work::Job {
  uv_work_t req;
  std::function<void()> job;
  std::function<void()> done;
  Work* owner;  // null once the Work is gone
};

Work::Work(uv_loop_t* loop, std::function<void()> job, std::function<void()> done)
    : job_(new Job{uv_work_t{}, std::move(job), std::move(done), this}) {
  job_->req.data = job_;
  int rc = uv_queue_work(
      loop, &job_->req,
      [](uv_work_t* req) {
        auto* j = static_cast<Job*>(req->data);
        j->job();
      },
      [](uv_work_t* req, int status) {
        auto* j = static_cast<Job*>(req->data);
        std::function<void()> finish = std::move(j->done);
        Work* owner = j->owner;
        delete j;  // the job function and its captures end here, on the loop
        if (owner == nullptr) return;
        owner->job_ = nullptr;
        if (status == 0 && finish) finish();  // may destroy the Work
      });
  // uv_queue_work fails only for a null work callback, which never happens here.
  if (rc != 0) std::abort();
}

Work::~Work() {
  if (job_ == nullptr) return;
  job_->owner = nullptr;
  uv_cancel(reinterpret_cast<uv_req_t*>(&job_->req));  // fails harmlessly once running
}

}  // namespace gw::io
