// Request buffering: collect the body, then start the inner exchange and
// replay the body at the pace the inner exchange accepts it.
#include "dispatch/backends/body_buffer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace gw {

namespace {

constexpr size_t kReplayChunk = 64 * 1024;

// The body, in memory until it outgrows the threshold, then in a file that
// has no name (nothing is left behind, whatever happens to the process).
class BodyStore {
 public:
  BodyStore(const BodyBufferOptions& options) : options_(options) {}
  ~BodyStore() {
    if (fd_ >= 0) ::close(fd_);
  }
  BodyStore(const BodyStore&) = delete;
  BodyStore& operator=(const BodyStore&) = delete;

  // Returns why the bytes could not be kept, or "".
  std::string append(std::string_view data) {
    size_ += data.size();
    if (fd_ < 0 && memory_.size() + data.size() <= options_.memory_bytes) {
      memory_.append(data);
      return {};
    }
    if (fd_ < 0) {
      if (std::string why = open_file(); !why.empty()) return why;
      std::string held = std::move(memory_);
      memory_.clear();
      if (std::string why = write_all(held); !why.empty()) return why;
    }
    return write_all(data);
  }

  uint64_t size() const { return size_; }

  // The next piece of the body from `offset`, at most `max` bytes; "" at
  // the end. Sets `error` when the file cannot be read.
  std::string read(uint64_t offset, size_t max, std::string& error) const {
    if (fd_ < 0) {
      if (offset >= memory_.size()) return {};
      return memory_.substr(static_cast<size_t>(offset), max);
    }
    std::string out(max, '\0');
    ssize_t n;
    do {
      n = ::pread(fd_, out.data(), max, static_cast<off_t>(offset));
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      error = std::string("reading the buffered body: ") + std::strerror(errno);
      return {};
    }
    out.resize(static_cast<size_t>(n));
    return out;
  }

 private:
  std::string open_file() {
    fd_ = ::open(options_.temp_dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd_ < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
      // A file system without O_TMPFILE: a named file, unlinked at once.
      std::string path = options_.temp_dir + "/gatewayd-body-XXXXXX";
      fd_ = ::mkostemp(path.data(), O_CLOEXEC);
      if (fd_ >= 0) ::unlink(path.c_str());
    }
    if (fd_ < 0) {
      return "cannot make a temporary file in " + options_.temp_dir + ": " + std::strerror(errno);
    }
    return {};
  }

  std::string write_all(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return std::string("writing the buffered body: ") + std::strerror(errno);
      data.remove_prefix(static_cast<size_t>(n));
    }
    return {};
  }

  const BodyBufferOptions& options_;
  std::string memory_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

class BufferingExchange final : public Exchange, public ResponseSink {
 public:
  BufferingExchange(Backend& inner, const Request& request, ResponseSink& sink,
                    const BodyBufferOptions& options)
      : inner_(inner), request_(request), sink_(sink), store_(options) {}

  // ---- Exchange: the body from the front end ----
  void send_body(std::string_view data) override {
    if (failed_ || cancelled_) return;
    if (std::string why = store_.append(data); !why.empty()) fail(why);
  }
  void finish_body() override {
    if (failed_ || cancelled_) return;
    // A request that announced no length and sent nothing stays without one
    // (a GET must not turn into CONTENT_LENGTH=0).
    if (request_.content_length || store_.size() > 0) request_.content_length = store_.size();
    inner_exchange_ = inner_.start(request_, *this);
    replay();
  }
  bool body_congested() const override { return false; }  // absorbed as it comes
  void resume_response() override {
    if (inner_exchange_) inner_exchange_->resume_response();
  }
  void cancel() override {
    cancelled_ = true;
    if (inner_exchange_) inner_exchange_->cancel();
  }

  // ---- ResponseSink: the inner exchange's answer, passed through ----
  void on_head(ResponseHead head) override { sink_.on_head(std::move(head)); }
  void on_body(std::string_view data) override { sink_.on_body(data); }
  void on_end() override { sink_.on_end(); }
  void on_error(int status, std::string_view why) override { sink_.on_error(status, why); }
  bool congested() const override { return sink_.congested(); }
  void on_body_drained() override { replay(); }
  void log_error(std::string_view message) override { sink_.log_error(message); }
  bool can_send_file() const override { return sink_.can_send_file(); }
  void on_file(int fd, uint64_t offset, uint64_t length) override {
    sink_.on_file(fd, offset, length);
  }

 private:
  // Feeds the stored body while the inner exchange takes it. Re-entered
  // from on_body_drained(), which the inner exchange may call from
  // send_body() itself: the flag keeps one loop running.
  void replay() {
    if (replaying_ || !inner_exchange_ || body_finished_) return;
    replaying_ = true;
    while (!cancelled_ && !body_finished_ && !inner_exchange_->body_congested()) {
      std::string error;
      std::string piece = store_.read(sent_, kReplayChunk, error);
      if (!error.empty()) {
        replaying_ = false;
        fail(error);
        return;
      }
      if (piece.empty()) {
        body_finished_ = true;
        inner_exchange_->finish_body();
        break;
      }
      sent_ += piece.size();
      inner_exchange_->send_body(piece);
    }
    replaying_ = false;
  }

  void fail(const std::string& why) {
    if (failed_) return;
    failed_ = true;
    if (inner_exchange_) inner_exchange_->cancel();
    sink_.on_error(500, "request buffering: " + why);
  }

  Backend& inner_;
  Request request_;
  ResponseSink& sink_;
  BodyStore store_;
  std::unique_ptr<Exchange> inner_exchange_;
  uint64_t sent_ = 0;
  bool replaying_ = false;
  bool body_finished_ = false;
  bool failed_ = false;
  bool cancelled_ = false;
};

class BodyBufferBackend final : public Backend {
 public:
  BodyBufferBackend(std::unique_ptr<Backend> inner, BodyBufferOptions options)
      : inner_(std::move(inner)), options_(std::move(options)) {}

  std::unique_ptr<Exchange> start(const Request& request, ResponseSink& sink) override {
    if (request.content_length && *request.content_length == 0) {
      return inner_->start(request, sink);
    }
    return std::make_unique<BufferingExchange>(*inner_, request, sink, options_);
  }
  std::string_view kind() const override { return inner_->kind(); }
  void shutdown() override { inner_->shutdown(); }
  void report(BackendReport& out) const override { inner_->report(out); }

 private:
  std::unique_ptr<Backend> inner_;
  BodyBufferOptions options_;
};

}  // namespace

std::unique_ptr<Backend> wrap_body_buffer(std::unique_ptr<Backend> inner,
                                          BodyBufferOptions options) {
  return std::make_unique<BodyBufferBackend>(std::move(inner), std::move(options));
}

}  // namespace gw
