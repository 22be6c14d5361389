#include "gateway/io/stream.h"

#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace gw::io {

namespace {

constexpr size_t kReadChunk = 64 * 1024;

std::atomic<uint64_t> g_sendfile_bytes{0};
std::atomic<uint64_t> g_copied_bytes{0};

void free_handle(uv_handle_t* h) {
  if (h->type == UV_TCP) {
    delete reinterpret_cast<uv_tcp_t*>(h);
  } else {
    delete reinterpret_cast<uv_pipe_t*>(h);
  }
}

void alloc_cb(uv_handle_t*, size_t, uv_buf_t* buf) {
  // One reusable buffer per loop thread: the data is handed to the handler
  // during the read callback and never kept by the Stream.
  static thread_local char chunk[kReadChunk];
  buf->base = chunk;
  buf->len = kReadChunk;
}

}  // namespace

std::string uv_error_text(int uv_error) {
  return std::string(uv_err_name(uv_error)) + ": " + uv_strerror(uv_error);
}

struct Stream::Linger {
  uv_timer_t timer;
  Stream* stream;
  size_t discarded = 0;
};

struct Stream::WriteReq {
  uv_write_t req;
  Stream* stream;
  std::string data;
};

struct Stream::FileSend {
  FileSend(int file, uint64_t from, uint64_t length, FileDone on_done)
      : fd(file), offset(from), remaining(length), done(std::move(on_done)) {}
  ~FileSend() { ::close(fd); }
  FileSend(const FileSend&) = delete;
  FileSend& operator=(const FileSend&) = delete;

  int fd;
  uint64_t offset;
  uint64_t remaining;
  uint64_t sent = 0;
  bool copy_only = false;  // sendfile(2) refused this file: pieces only
  FileDone done;
};

Stream::FileStats Stream::file_stats() {
  return {g_sendfile_bytes.load(std::memory_order_relaxed),
          g_copied_bytes.load(std::memory_order_relaxed)};
}

Stream::Stream(uv_stream_t* handle) : handle_(handle) {
  handle_->data = this;
}

Stream::~Stream() {
  file_.reset();  // closes the file; nobody is told any more
  if (linger_) {
    // Destroyed while lingering: no callback may reach us any more.
    handle_->data = nullptr;
    end_linger();
    return;
  }
  if (handle_ == nullptr) return;  // already closed
  if (!closing_) {
    handle_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(handle_), free_handle);
  } else {
    // A close is in flight: its callback frees the handle and must not call us.
    handle_->data = nullptr;
  }
}

int Stream::fd() const {
  uv_os_fd_t fd = -1;
  uv_fileno(reinterpret_cast<const uv_handle_t*>(handle_), &fd);
  return fd;
}

bool Stream::input_pending() const {
  if (!handle_ || closing_) return true;
  int unread = 0;
  if (ioctl(fd(), FIONREAD, &unread) != 0) return true;
  return unread > 0;
}

void Stream::read_start() {
  if (reading_ || closing_ || linger_) return;
  reading_ = true;
  uv_read_start(handle_, alloc_cb, [](uv_stream_t* h, ssize_t n, const uv_buf_t* buf) {
    auto* self = static_cast<Stream*>(h->data);
    if (!self || !self->handler_ || self->linger_) return;
    if (n > 0) {
      self->handler_->on_read(std::string_view(buf->base, static_cast<size_t>(n)));
    } else if (n == UV_EOF) {
      self->read_stop();
      self->handler_->on_eof();
    } else if (n < 0) {
      self->read_stop();
      self->handler_->on_error(static_cast<int>(n));
    }
  });
}

void Stream::read_stop() {
  if (!reading_) return;
  reading_ = false;
  uv_read_stop(handle_);
}

size_t Stream::queued() const {
  return queued_ + after_file_.size() + (file_ ? static_cast<size_t>(file_->remaining) : 0);
}

void Stream::write(std::string_view data) {
  if (closing_ || linger_ || data.empty()) return;
  if (file_) {
    after_file_.append(data);
    return;
  }
  write_now(data);
}

void Stream::write_now(std::string_view data) {
  if (queued_ == 0) {
    // Fast path: most responses fit the socket buffer at once.
    uv_buf_t buf = uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size()));
    int n = uv_try_write(handle_, &buf, 1);
    if (n > 0) data.remove_prefix(static_cast<size_t>(n));
    if (data.empty()) return;
    if (n < 0 && n != UV_EAGAIN) {
      if (handler_) handler_->on_error(n);
      return;
    }
  }
  auto* w = new WriteReq{{}, this, std::string(data)};
  w->req.data = w;
  queued_ += w->data.size();
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rc = uv_write(&w->req, handle_, &buf, 1, &Stream::on_write);
  if (rc < 0) {
    queued_ -= w->data.size();
    delete w;
    if (handler_) handler_->on_error(rc);
  }
}

void Stream::on_write(uv_write_t* req, int status) {
  auto* w = static_cast<WriteReq*>(req->data);
  // The request may outlive its Stream (destroyed while writes were pending).
  auto* self = static_cast<Stream*>(req->handle->data);
  size_t n = w->data.size();
  delete w;
  if (!self) return;
  self->queued_ -= n;
  if (status < 0) {
    // The socket failed: the file cannot go on either.
    if (self->file_) self->end_file(UV_ECANCELED);
    if (status != UV_ECANCELED && self->handler_ && !self->closing_)
      self->handler_->on_error(status);
    return;
  }
  if (self->queued_ > 0) return;
  if (self->file_) {
    // The socket took what was before the file (or its last piece): it
    // can take more now.
    self->pump_file();
    if (self->queued() > 0) return;
  }
  self->flushed();
}

void Stream::flushed() {
  if (closing_ || linger_) return;
  if (linger_after_flush_) {
    start_linger();
  } else if (close_after_flush_) {
    finish_close();
  } else if (handler_) {
    handler_->on_drain();
  }
}

void Stream::send_file(std::string_view before, int fd, uint64_t offset, uint64_t length,
                       FileDone done) {
  auto file = std::make_unique<FileSend>(fd, offset, length, std::move(done));
  if (!before.empty() && !closing_ && !linger_ && !file_) {
    if (queued_ == 0 && length > 0) {
      // The kernel holds these bytes back for the file's first ones.
      ssize_t n;
      do {
        n = ::send(this->fd(), before.data(), before.size(),
                   MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL);
      } while (n < 0 && errno == EINTR);
      if (n > 0) before.remove_prefix(static_cast<size_t>(n));
    }
    // The rest, or an error, the ordinary way.
    if (!before.empty()) write_now(before);
  }
  if (closing_ || linger_ || file_) {
    // Nothing more goes out on a closing stream; one file at a time.
    FileDone cancelled = std::move(file->done);
    file.reset();
    if (cancelled) cancelled(UV_ECANCELED, 0);
    return;
  }
  file_ = std::move(file);
  pump_file();
}

void Stream::pump_file() {
  // Only once libuv's queue is empty: the bytes keep their order.
  if (!file_ || queued_ > 0 || closing_ || linger_) return;
  const int socket = fd();
  size_t burst = kFileBurstBytes;
  while (file_->remaining > 0) {
    FileSend& f = *file_;
    if (!f.copy_only && burst > 0) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(f.remaining, burst));
      off_t offset = static_cast<off_t>(f.offset);
      ssize_t n = ::sendfile(socket, f.fd, &offset, want);
      if (n > 0) {
        const auto sent = static_cast<size_t>(n);
        f.offset += sent;
        f.remaining -= sent;
        f.sent += sent;
        burst -= sent;
        g_sendfile_bytes.fetch_add(sent, std::memory_order_relaxed);
        if (sent == want) continue;
        // A short count: the socket is full (or the file ended, which the
        // piece's read finds out).
      } else if (n == 0) {
        end_file(UV_EOF);  // the file is shorter than it was
        return;
      } else if (errno == EINTR) {
        continue;
      } else if (errno != EAGAIN) {
        // A file sendfile(2) cannot read from, or a socket error, which the
        // piece's write reports the ordinary way.
        f.copy_only = true;
      }
    }
    if (f.remaining == 0) break;
    // The socket is full or the burst is spent: a piece through libuv's
    // queue, whose completion (on_write) comes back here.
    write_file_piece();
    return;
  }
  end_file(0);
}

void Stream::write_file_piece() {
  FileSend& f = *file_;
  const size_t limit = f.copy_only ? kReadChunk : kFilePieceBytes;
  const size_t want = static_cast<size_t>(std::min<uint64_t>(f.remaining, limit));
  auto* w = new WriteReq{{}, this, std::string(want, '\0')};
  ssize_t n;
  do {
    n = ::pread(f.fd, w->data.data(), want, static_cast<off_t>(f.offset));
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {
    const int status = n == 0 ? UV_EOF : uv_translate_sys_error(errno);
    delete w;
    end_file(status);
    return;
  }
  const auto got = static_cast<size_t>(n);
  w->data.resize(got);
  f.offset += got;
  f.remaining -= got;
  f.sent += got;
  g_copied_bytes.fetch_add(got, std::memory_order_relaxed);
  w->req.data = w;
  queued_ += got;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(got));
  int rc = uv_write(&w->req, handle_, &buf, 1, &Stream::on_write);
  if (rc < 0) {
    queued_ -= got;
    delete w;
    end_file(UV_ECANCELED);
    if (handler_) handler_->on_error(rc);
  }
}

void Stream::end_file(int status) {
  std::unique_ptr<FileSend> file = std::move(file_);
  FileDone done = std::move(file->done);
  const uint64_t sent = file->sent;
  file.reset();  // closes it
  std::string after = std::move(after_file_);
  after_file_.clear();
  // What was written behind a file that could not all be sent would follow
  // a cut response: it is dropped with it.
  if (status == 0 && !after.empty()) write_now(after);
  if (done) done(status, sent);
}

void Stream::cancel_file() {
  if (!file_) return;
  end_file(UV_ECANCELED);
  // A close waiting for the file's bytes waits no more.
  if (queued_ == 0 && (close_after_flush_ || linger_after_flush_)) flushed();
}

void Stream::close(bool flush) {
  if (linger_) {
    if (!flush) end_linger();
    return;
  }
  if (closing_ || close_after_flush_) {
    if (!flush && !closing_) finish_close();
    return;
  }
  read_stop();
  if (flush && queued() > 0) {
    close_after_flush_ = true;
    return;
  }
  finish_close();
}

void Stream::close_lingering() {
  if (linger_ || closing_ || close_after_flush_) return;
  read_stop();
  if (queued() > 0) {
    close_after_flush_ = true;
    linger_after_flush_ = true;
    return;
  }
  start_linger();
}

void Stream::start_linger() {
  linger_after_flush_ = false;
  close_after_flush_ = false;
  linger_ = new Linger{{}, this};
  uv_timer_init(handle_->loop, &linger_->timer);
  linger_->timer.data = linger_;
  uv_timer_start(
      &linger_->timer, [](uv_timer_t* t) { static_cast<Linger*>(t->data)->stream->end_linger(); },
      kLingerMs, 0);
  // The FIN tells the peer the answer is complete. The request owns itself:
  // its callback may run after the stream is gone (UV_ECANCELED).
  auto* shutdown = new uv_shutdown_t;
  if (uv_shutdown(shutdown, handle_, [](uv_shutdown_t* req, int) { delete req; }) != 0) {
    delete shutdown;
  }
  uv_read_start(handle_, alloc_cb, [](uv_stream_t* h, ssize_t n, const uv_buf_t*) {
    auto* self = static_cast<Stream*>(h->data);
    if (!self || !self->linger_) return;
    if (n < 0) {
      self->end_linger();  // EOF: the peer has read our FIN; or an error
    } else if ((self->linger_->discarded += static_cast<size_t>(n)) > kLingerBytes) {
      self->end_linger();
    }
  });
}

void Stream::end_linger() {
  if (!linger_) return;
  uv_read_stop(handle_);
  linger_->stream = nullptr;
  uv_timer_stop(&linger_->timer);
  uv_close(reinterpret_cast<uv_handle_t*>(&linger_->timer),
           [](uv_handle_t* t) { delete static_cast<Linger*>(t->data); });
  linger_ = nullptr;
  finish_close();
}

void Stream::finish_close() {
  closing_ = true;
  close_after_flush_ = false;
  if (file_) end_file(UV_ECANCELED);
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) {
    auto* self = static_cast<Stream*>(h->data);
    free_handle(h);
    if (self) {
      // Our handle is gone; the destructor must not touch it.
      self->handle_ = nullptr;
      if (self->handler_) self->handler_->on_closed();
    }
  });
}

namespace {

struct ConnectReq {
  uv_connect_t req;
  uv_stream_t* handle;
  Stream::ConnectCallback done;
  uv_getaddrinfo_t gai;
  uv_loop_t* loop;
  uint16_t port;
  std::shared_ptr<Stream::PendingConnect> pending;
};

}  // namespace

void Stream::on_connect(uv_connect_t* req, int status) {
  auto* c = static_cast<ConnectReq*>(req->data);
  if (c->pending) {
    // The starter and this request share the PendingConnect: after a
    // cancel() the handle is closed already and nobody is told.
    if (c->pending->cancelled_) {
      delete c;
      return;
    }
    c->pending->handle_ = nullptr;
  }
  if (status < 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(c->handle), free_handle);
    c->done(status, nullptr);
  } else {
    c->done(0, std::make_unique<Stream>(c->handle));
  }
  delete c;
}

int Stream::connect(uv_loop_t* loop, const Address& address, ConnectCallback done) {
  std::shared_ptr<PendingConnect> none;
  return start_connect(loop, address, std::move(done), none);
}

int Stream::connect(uv_loop_t* loop, const Address& address, ConnectCallback done,
                    std::shared_ptr<PendingConnect>& pending) {
  pending = std::make_shared<PendingConnect>();
  return start_connect(loop, address, std::move(done), pending);
}

void Stream::PendingConnect::cancel() {
  if (handle_ == nullptr || cancelled_) return;
  cancelled_ = true;
  // The connect request completes with UV_ECANCELED before the close
  // callback; on_connect sees cancelled_ and only frees itself.
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), free_handle);
  handle_ = nullptr;
}

int Stream::start_connect(uv_loop_t* loop, const Address& address, ConnectCallback done,
                          const std::shared_ptr<PendingConnect>& pending) {
  auto* c = new ConnectReq{};
  c->done = std::move(done);
  c->req.data = c;
  c->loop = loop;
  c->pending = pending;
  if (address.is_unix) {
    auto* pipe = new uv_pipe_t;
    uv_pipe_init(loop, pipe, 0);
    c->handle = reinterpret_cast<uv_stream_t*>(pipe);
    if (pending) pending->handle_ = c->handle;
    uv_pipe_connect(&c->req, pipe, address.path.c_str(), on_connect);
    return 0;
  }
  sockaddr_storage ss{};
  auto* sa = reinterpret_cast<sockaddr*>(&ss);
  if (uv_ip4_addr(address.host.c_str(), address.port, reinterpret_cast<sockaddr_in*>(&ss)) != 0 &&
      uv_ip6_addr(address.host.c_str(), address.port, reinterpret_cast<sockaddr_in6*>(&ss)) != 0) {
    // Names are resolved once, synchronously, when the configuration is
    // loaded; here only numeric addresses are expected.
    delete c;
    return UV_EINVAL;
  }
  auto* tcp = new uv_tcp_t;
  uv_tcp_init(loop, tcp);
  uv_tcp_nodelay(tcp, 1);
  c->handle = reinterpret_cast<uv_stream_t*>(tcp);
  int rc = uv_tcp_connect(&c->req, tcp, sa, on_connect);
  if (rc < 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(tcp), free_handle);
    delete c;
    return rc;
  }
  if (pending) pending->handle_ = c->handle;
  return 0;
}

}  // namespace gw::io
