// Request body sources: memory, regular file (uv_fs_read), pipe (a paused
// stream). See body_source.h.
#include "gateway/client/body_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>

#include "gateway/io/stream.h"
#include "gateway/io/timer.h"

namespace gw::client {

namespace {

ClientError input_error(const std::string& what) {
  return ClientError{Failure::BodyInput, what};
}

std::string describe_file(const BodySpec& spec) {
  return spec.kind == BodySpec::Kind::Stdin ? std::string("standard input")
                                            : "'" + spec.value + "'";
}

// Calls back through io::defer, so never from inside read(); a destroyed
// source drops what is still queued.
class Deferred {
 public:
  explicit Deferred(uv_loop_s* loop) : loop_(loop) {}
  ~Deferred() { *alive_ = false; }

  void post(std::function<void()> fn) {
    io::defer(loop_, [alive = alive_, fn = std::move(fn)] {
      if (*alive) fn();
    });
  }

 private:
  uv_loop_s* loop_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

class MemorySource final : public BodySource {
 public:
  MemorySource(uv_loop_s* loop, std::string text) : text_(std::move(text)), deferred_(loop) {
    length_ = text_.size();
  }

  void read(size_t max, Callback done) override {
    callback_ = std::move(done);
    ++reads_;
    deferred_.post([this, reads = reads_, max] {
      if (reads != reads_) return;  // cancelled
      std::string_view piece = std::string_view(text_).substr(pos_, max);
      pos_ += piece.size();
      Callback cb = std::move(callback_);
      cb(piece, std::nullopt);
    });
  }

  void cancel() override { ++reads_; }

 private:
  std::string text_;
  size_t pos_ = 0;
  uint64_t reads_ = 0;
  Callback callback_;
  Deferred deferred_;
};

class FileSource final : public BodySource {
 public:
  FileSource(uv_loop_s* loop, int fd, bool owns_fd, std::string name,
             std::optional<uint64_t> length)
      : loop_(loop), fd_(fd), owns_fd_(owns_fd), name_(std::move(name)), deferred_(loop) {
    length_ = length;
    op_ = new ReadOp;
    op_->req.data = op_;
  }

  ~FileSource() override {
    if (op_->busy) {
      op_->owner = nullptr;  // the completion frees it; the fd stays open until exit
    } else {
      delete op_;
      if (owns_fd_) ::close(fd_);
    }
  }

  void read(size_t max, Callback done) override {
    callback_ = std::move(done);
    op_->owner = this;
    op_->buffer.resize(max);
    uv_buf_t buf = uv_buf_init(op_->buffer.data(), static_cast<unsigned>(max));
    int rc = uv_fs_read(loop_, &op_->req, fd_, &buf, 1, -1, &FileSource::on_read);
    if (rc < 0) {
      deferred_.post([this, rc] { finish(rc); });
      return;
    }
    op_->busy = true;
  }

  void cancel() override { callback_ = nullptr; }

 private:
  struct ReadOp {
    uv_fs_t req;
    FileSource* owner = nullptr;
    bool busy = false;
    std::string buffer;
  };

  static void on_read(uv_fs_t* req) {
    auto* op = static_cast<ReadOp*>(req->data);
    auto result = static_cast<ssize_t>(req->result);
    uv_fs_req_cleanup(req);
    op->busy = false;
    if (!op->owner) {
      delete op;
      return;
    }
    op->owner->finish(result);
  }

  void finish(ssize_t result) {
    if (!callback_) return;  // cancelled
    Callback cb = std::move(callback_);
    callback_ = nullptr;
    if (result < 0) {
      cb({}, input_error("cannot read the body from " + name_ + ": " +
                         uv_strerror(static_cast<int>(result))));
      return;
    }
    cb(std::string_view(op_->buffer.data(), static_cast<size_t>(result)), std::nullopt);
  }

  uv_loop_s* loop_;
  int fd_;
  bool owns_fd_;
  std::string name_;
  ReadOp* op_;
  Callback callback_;
  Deferred deferred_;
};

// A pipe or socket: read while a piece is wanted, paused otherwise, so the
// writer on the other end is held back by the pipe's own buffer.
class PipeSource final : public BodySource, private io::StreamHandler {
 public:
  PipeSource(uv_loop_s* loop, std::unique_ptr<io::Stream> stream, std::string name)
      : stream_(std::move(stream)), name_(std::move(name)), deferred_(loop) {
    stream_->set_handler(this);
  }

  ~PipeSource() override { stream_->set_handler(nullptr); }

  void read(size_t max, Callback done) override {
    callback_ = std::move(done);
    max_ = max;
    if (!buffer_.empty() || eof_ || error_) {
      ++posts_;
      deferred_.post([this, posts = posts_] {
        if (posts == posts_) deliver();
      });
    } else {
      stream_->read_start();
    }
  }

  void cancel() override {
    callback_ = nullptr;
    ++posts_;
    stream_->read_stop();
  }

 private:
  void on_read(std::string_view data) override {
    buffer_.append(data);  // at most one read of the stream's buffer: 64 KiB
    stream_->read_stop();
    deliver();
  }
  void on_eof() override {
    eof_ = true;
    deliver();
  }
  void on_error(int uv_error) override {
    error_ = input_error("cannot read the body from " + name_ + ": " + uv_strerror(uv_error));
    deliver();
  }

  void deliver() {
    if (!callback_) return;
    Callback cb = std::move(callback_);
    callback_ = nullptr;
    if (!buffer_.empty()) {
      size_t n = std::min(max_, buffer_.size());
      piece_.assign(buffer_, 0, n);
      buffer_.erase(0, n);
      cb(piece_, std::nullopt);
    } else if (error_) {
      cb({}, error_);
    } else {
      cb({}, std::nullopt);
    }
  }

  std::unique_ptr<io::Stream> stream_;
  std::string name_;
  std::string buffer_;
  std::string piece_;
  size_t max_ = 0;
  bool eof_ = false;
  std::optional<ClientError> error_;
  uint64_t posts_ = 0;
  Callback callback_;
  Deferred deferred_;
};

std::variant<std::unique_ptr<BodySource>, ClientError> open_pipe(uv_loop_s* loop, int fd,
                                                                 const std::string& name) {
  auto* pipe = new uv_pipe_t;
  uv_pipe_init(loop, pipe, 0);
  // The Stream owns the handle from here: its destructor closes and frees it.
  auto stream = std::make_unique<io::Stream>(reinterpret_cast<uv_stream_t*>(pipe));
  int rc = uv_pipe_open(pipe, fd);
  if (rc < 0) {
    return input_error("cannot read the body from " + name + ": " + uv_strerror(rc));
  }
  return std::make_unique<PipeSource>(loop, std::move(stream), name);
}

}  // namespace

std::variant<std::unique_ptr<BodySource>, ClientError> open_body(uv_loop_s* loop,
                                                                 const BodySpec& spec) {
  using Kind = BodySpec::Kind;
  if (spec.kind == Kind::None) return std::unique_ptr<BodySource>();
  if (spec.kind == Kind::Text) return std::make_unique<MemorySource>(loop, spec.value);
  const std::string name = describe_file(spec);
  int fd = 0;
  bool owns_fd = false;
  if (spec.kind == Kind::File) {
    fd = ::open(spec.value.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return input_error("cannot open the body file " + name + ": " + strerror(errno));
    owns_fd = true;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ClientError err = input_error("cannot read the body from " + name + ": " + strerror(errno));
    if (owns_fd) ::close(fd);
    return err;
  }
  if (S_ISREG(st.st_mode)) {
    off_t pos = lseek(fd, 0, SEEK_CUR);
    uint64_t size = static_cast<uint64_t>(st.st_size);
    uint64_t length = pos > 0 && static_cast<uint64_t>(pos) <= size ? size - pos : size;
    return std::make_unique<FileSource>(loop, fd, owns_fd, name, length);
  }
  if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
    // The pipe handle takes the descriptor over; it is closed with it.
    return open_pipe(loop, fd, name);
  }
  if (owns_fd) ::close(fd);
  if (S_ISDIR(st.st_mode)) return input_error("the body file " + name + " is a directory");
  if (spec.kind == Kind::Stdin && isatty(fd)) {
    return input_error("standard input is a terminal: pipe or redirect the body into it");
  }
  return input_error("the body " + name + " is neither a regular file nor a pipe");
}

std::optional<ClientError> load_body(const BodySpec& spec, size_t max, std::string& out) {
  out.clear();
  if (spec.kind == BodySpec::Kind::None) return std::nullopt;
  if (spec.kind == BodySpec::Kind::Text) {
    out = spec.value;
    return std::nullopt;
  }
  const std::string name = describe_file(spec);
  int fd = ::open(spec.value.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return input_error("cannot open the body file " + name + ": " + strerror(errno));
  struct stat st {};
  std::optional<ClientError> err;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    err = input_error("the body " + name + " is not a regular file");
  } else if (static_cast<uint64_t>(st.st_size) > max) {
    err = input_error("the body file " + name + " is over " + std::to_string(max >> 20) +
                      " MiB, more than --bench keeps in memory");
  } else {
    out.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < out.size()) {
      ssize_t n = ::read(fd, out.data() + got, out.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        err = input_error("cannot read the body from " + name + ": " +
                          (n < 0 ? strerror(errno) : "it shrank while being read"));
        break;
      }
      got += static_cast<size_t>(n);
    }
  }
  ::close(fd);
  return err;
}

}  // namespace gw::client
