// A connected byte stream (TCP or unix socket) over libuv.
//
// Ownership: the Stream owns its libuv handle. close() is asynchronous:
// the handler's on_closed() is the last callback, after which the owner may
// destroy the Stream. Destroying an open Stream closes it without further
// callbacks. Writes are queued in full: queued() tells how many bytes wait,
// which is what backpressure decisions read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/io/address.h"
#include "gateway/io/channel.h"

struct uv_loop_s;
struct uv_stream_s;
struct uv_write_s;
struct uv_connect_s;

namespace gw::io {

class Stream : public Channel {
 public:
  // Adopts an initialised, connected handle (uv_tcp_t or uv_pipe_t
  // allocated with new).
  explicit Stream(uv_stream_s* handle);
  ~Stream() override;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  void set_handler(StreamHandler* handler) override { handler_ = handler; }
  void read_start() override;
  void read_stop() override;
  bool reading() const override { return reading_; }

  // Queues `data` for writing (tries to write at once first).
  void write(std::string_view data) override;
  size_t queued() const override;

  // sendfile(2) straight to the socket while it takes bytes. libuv tells
  // when a socket can take more only by completing a write of its own: when
  // the socket is full (or after kFileBurstBytes in one go, so that one
  // fast client does not hold the loop) the next piece of the file, at most
  // kFilePieceBytes, is read and written the ordinary way, and its
  // completion resumes sendfile(2). At most one piece is in memory.
  bool sends_files() const override { return true; }
  // `before` goes with MSG_MORE when the socket takes it at once: a small
  // response is one segment, head and file, as one write() made it.
  void send_file(std::string_view before, int fd, uint64_t offset, uint64_t length,
                 FileDone done) override;
  void cancel_file() override;
  static constexpr size_t kFileBurstBytes = 1 << 20;
  static constexpr size_t kFilePieceBytes = 16 * 1024;
  // Bytes of files sent by sendfile(2) and by copied pieces, process-wide:
  // what tests and measurements read to see which way bytes went.
  struct FileStats {
    uint64_t sendfile_bytes = 0;
    uint64_t copied_bytes = 0;
  };
  static FileStats file_stats();

  // Closes the stream; with flush, after the queued bytes are written.
  void close(bool flush) override;
  // close(true), but once the queued bytes are written the stream is
  // half-closed and what the peer still sends is read and dropped (at most
  // kLingerBytes, for at most kLingerMs) before the socket closes. Closing
  // a socket with unread input makes the kernel send a reset, which can
  // destroy an error answer before the peer has read it. The handler hears
  // nothing more but on_closed(). close(false) cuts the wait short.
  void close_lingering() override;
  bool input_pending() const override;
  static constexpr uint64_t kLingerMs = 5000;
  static constexpr size_t kLingerBytes = 4 << 20;
  bool closing() const override { return closing_ || linger_ != nullptr; }

  int fd() const;
  uv_stream_s* handle() { return handle_; }

  // Connects to `address`; `done(status, stream)` gets a Stream on success
  // (status 0) or a negative libuv error. A failed call never calls back:
  // the return value is the error instead.
  using ConnectCallback = std::function<void(int status, std::unique_ptr<Stream> stream)>;
  static int connect(uv_loop_s* loop, const Address& address, ConnectCallback done);

  // A connect its starter may abandon (a connect timeout, a request that went
  // away): cancel() closes the socket at once and `done` is never called, so
  // nothing waits minutes for a SYN that gets no answer. No-op once `done`
  // ran. Dropping the handle without cancel() lets the connect complete.
  class PendingConnect {
   public:
    void cancel();

   private:
    friend class Stream;
    uv_stream_s* handle_ = nullptr;  // null once completed or cancelled
    bool cancelled_ = false;
  };
  static int connect(uv_loop_s* loop, const Address& address, ConnectCallback done,
                     std::shared_ptr<PendingConnect>& pending);

 private:
  struct WriteReq;
  struct FileSend;
  static void on_write(uv_write_s* req, int status);
  void write_now(std::string_view data);
  void pump_file();
  void write_file_piece();
  void end_file(int status);
  void flushed();
  static void on_connect(uv_connect_s* req, int status);
  static int start_connect(uv_loop_s* loop, const Address& address, ConnectCallback done,
                           const std::shared_ptr<PendingConnect>& pending);
  void finish_close();
  void start_linger();
  void end_linger();
  struct Linger;

  uv_stream_s* handle_;
  StreamHandler* handler_ = nullptr;
  size_t queued_ = 0;               // bytes in libuv write requests
  std::unique_ptr<FileSend> file_;  // the file being sent, after queued_ bytes
  std::string after_file_;          // written while file_ is sent: goes after it
  bool reading_ = false;
  bool closing_ = false;
  bool close_after_flush_ = false;
  bool linger_after_flush_ = false;
  Linger* linger_ = nullptr;  // while lingering; freed by its timer's close
};

std::string uv_error_text(int uv_error);

}  // namespace gw::io
