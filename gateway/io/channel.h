// What a connection needs of its transport, plain (io::Stream) or TLS
// (io::TlsStream): bytes in through a StreamHandler, bytes out with a queue
// the owner watches for backpressure, and an asynchronous close whose
// on_closed() is the last callback. Over TLS every byte here is plaintext.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace gw::io {

class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  virtual void on_read(std::string_view data) = 0;
  virtual void on_eof() = 0;
  virtual void on_error(int uv_error) = 0;  // read or write failed; close follows
  virtual void on_drain() {}                // queued() fell to zero
  virtual void on_closed() {}               // last callback
};

// What the TLS handshake settled, for logs and for the HTTPS/SSL_*
// variables a request carries.
struct TlsFacts {
  std::string protocol;     // "TLSv1.3", "TLSv1.2"
  std::string cipher;       // OpenSSL's name: "TLS_AES_256_GCM_SHA384"
  std::string session_id;   // lower-case hex; empty for a TLS 1.2 session in a ticket
  std::string client_cert;  // PEM, empty when the client presented none
  std::string alpn;         // "http/1.1", or empty when none was agreed
  uint32_t key_bits = 0;    // the cipher's secret bits: 128, 256
};

class Channel {
 public:
  virtual ~Channel() = default;

  virtual void set_handler(StreamHandler* handler) = 0;
  virtual void read_start() = 0;
  virtual void read_stop() = 0;
  virtual bool reading() const = 0;

  // Queues `data` for writing; never refuses (the owner watches queued()).
  virtual void write(std::string_view data) = 0;
  // Bytes accepted by write() and send_file() and not yet handed to the
  // kernel.
  virtual size_t queued() const = 0;

  // Sending a file with no copy through user space (sendfile(2)): a plain
  // socket can, a TLS channel cannot (its bytes are encrypted in user space),
  // and the caller then writes the file's bytes itself.
  virtual bool sends_files() const { return false; }
  // Queues `before` (a response head), then `length` bytes of the regular
  // file `fd` from `offset`, after what was written before; what is written
  // after goes after them. Takes `fd`:
  // it is closed once the bytes are sent, on cancel_file(), on close() or
  // when the channel is destroyed. queued() counts the bytes not yet sent.
  // `done(status, sent)` comes once (not after destruction), maybe before
  // send_file returns: status 0 when every byte was handed to the kernel;
  // UV_EOF when the file shrank, another negative libuv error when reading
  // it failed (the bytes promised cannot all come: the caller cuts the
  // response); UV_ECANCELED after cancel_file(), close(), or a socket error
  // (which reaches on_error as usual). `sent` counts the bytes handed on.
  using FileDone = std::function<void(int status, uint64_t sent)>;
  virtual void send_file(std::string_view before, int fd, uint64_t /*offset*/, uint64_t /*length*/,
                         FileDone done) {
    write(before);
    ::close(fd);
    if (done) done(-ENOTSUP, 0);  // UV_ENOTSUP
  }
  // Stops a file being sent (done gets UV_ECANCELED); what was queued
  // before it is still written.
  virtual void cancel_file() {}

  // Closes; with flush, after the queued bytes are written.
  virtual void close(bool flush) = 0;
  // close(true) for a peer that may still be sending (an error answer to a
  // request whose input was not all read): see Stream::close_lingering.
  virtual void close_lingering() { close(true); }
  // Whether bytes the peer sent may still wait unread in the kernel: a
  // close over unread bytes turns into a reset that can destroy the answer
  // on its way. True when it cannot be told (TLS: the layer reads ahead).
  virtual bool input_pending() const { return true; }
  virtual bool closing() const = 0;

  // Null on a plain channel, and on a TLS one before its handshake completed.
  virtual const TlsFacts* tls() const { return nullptr; }
  // Why on_error came (or why the connection ended), for the log; empty
  // when the libuv error code says it all.
  virtual std::string error_detail() const { return {}; }
};

}  // namespace gw::io
