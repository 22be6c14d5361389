#include "dispatch/backends/upstream_pool.h"

#include <algorithm>
#include <utility>

namespace gw {

// Watches one idle connection. Any event while idle makes it useless: EOF
// (the upstream's keep-alive timeout), an error, or bytes nobody asked for
// (which would otherwise be read as the start of the next response).
class UpstreamPool::Idle final : public io::StreamHandler {
 public:
  Idle(UpstreamPool& pool, std::unique_ptr<io::Stream> stream)
      : pool_(pool), stream_(std::move(stream)) {
    stream_->set_handler(this);
    stream_->read_start();
  }
  ~Idle() override {
    if (stream_) stream_->set_handler(nullptr);
  }

  std::unique_ptr<io::Stream> release() {
    stream_->read_stop();
    stream_->set_handler(nullptr);
    return std::move(stream_);
  }

  // Each of these destroys `this` (and closes the stream) through drop():
  // nothing may follow the call. io::Stream touches nothing of its own after
  // a handler callback returns, so dropping it from inside one is safe.
  void on_read(std::string_view) override { pool_.drop(this); }
  void on_eof() override { pool_.drop(this); }
  void on_error(int) override { pool_.drop(this); }

 private:
  UpstreamPool& pool_;
  std::unique_ptr<io::Stream> stream_;
};

UpstreamPool::UpstreamPool(uv_loop_s* loop, io::Address address, uint32_t max_idle)
    : loop_(loop), address_(std::move(address)), max_idle_(max_idle) {}

UpstreamPool::~UpstreamPool() = default;

std::unique_ptr<io::Stream> UpstreamPool::take() {
  if (idle_.empty()) return nullptr;
  std::unique_ptr<Idle> idle = std::move(idle_.back());
  idle_.pop_back();
  return idle->release();
}

void UpstreamPool::give_back(std::unique_ptr<io::Stream> stream) {
  if (!stream || stream->closing()) return;
  if (shut_ || max_idle_ == 0) return;  // `stream` closes as it goes out of scope
  if (idle_.size() >= max_idle_) idle_.erase(idle_.begin());
  idle_.push_back(std::make_unique<Idle>(*this, std::move(stream)));
}

void UpstreamPool::shutdown() {
  shut_ = true;
  idle_.clear();
}

void UpstreamPool::drop(Idle* idle) {
  auto it = std::find_if(idle_.begin(), idle_.end(),
                         [idle](const std::unique_ptr<Idle>& p) { return p.get() == idle; });
  if (it != idle_.end()) idle_.erase(it);
}

}  // namespace gw
