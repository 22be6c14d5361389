// Server-side TLS over an io::Stream, with OpenSSL driven through memory
// BIOs: ciphertext comes from the Stream's reads and goes out through its
// writes, so nothing ever blocks and OpenSSL never sees a socket.
//
// A TlsStream is a Channel: its owner reads and writes plaintext, and sees
// on_read (plaintext), on_eof (close_notify or TCP EOF), on_error, on_drain
// (everything, ciphertext included, handed to the kernel) and on_closed
// (last), as with a plain Stream. Differences: on_error comes with the
// TlsStream already closing (after a TLS failure it sends the alert, or the
// plain-HTTP refusal, first; a close(false) from the owner then does not
// cut that short), error_detail() says why, and closing() is true from the
// first close() on.
//
// Plain HTTP sent to a TLS port gets "HTTP/1.1 400 Bad Request" with a
// text/plain body saying the port speaks HTTPS, then the connection closes.
//
// Policy (one TlsContext per listener): TLS 1.2 and 1.3 only; for TLS 1.2
// only ECDHE key exchange with AEAD ciphers (AES-GCM, ChaCha20-Poly1305);
// groups X25519, P-256, P-384; no renegotiation, no compression. ALPN
// selects "http/1.1" when the client offers it and goes on without ALPN
// when it offers only others. Client certificates are not requested.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/io/channel.h"
#include "gateway/io/stream.h"
#include "gateway/io/timer.h"

struct ssl_ctx_st;
struct ssl_st;
struct bio_st;

namespace gw::io {

// The certificate, key and settings shared by a listener's connections.
class TlsContext {
 public:
  // Loads a PEM certificate chain (leaf first) and its private key, and
  // checks that they match. On failure returns null and says why in `error`
  // (naming the file).
  static std::unique_ptr<TlsContext> load(const std::string& cert_file, const std::string& key_file,
                                          std::string& error);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // For settings this class does not offer yet (client certificates).
  ssl_ctx_st* native_handle() { return ctx_; }

 private:
  explicit TlsContext(ssl_ctx_st* ctx) : ctx_(ctx) {}
  ssl_ctx_st* ctx_;  // owned; each connection's SSL holds a reference too
};

class TlsStream final : public Channel, private StreamHandler {
 public:
  // Server side of a TLS connection over `transport` (an accepted socket).
  // The handshake starts with the first read_start() or write(); plaintext
  // written before it completes is queued and sent after it.
  TlsStream(TlsContext& context, std::unique_ptr<Stream> transport);
  // Destroying an open TlsStream closes the socket without further
  // callbacks. Do not destroy it inside one of its callbacks other than
  // on_closed().
  ~TlsStream() override;
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  void set_handler(StreamHandler* handler) override { handler_ = handler; }
  // Plaintext already received is delivered from a later loop turn, never
  // from inside read_start().
  void read_start() override;
  // No on_read() after this returns. What is held back meanwhile is at most
  // one socket read of ciphertext: the socket is not read while stopped.
  void read_stop() override;
  bool reading() const override { return want_read_; }

  // Plaintext; encrypted in records of at most 16 KiB, a few at a time as
  // the socket takes them.
  void write(std::string_view data) override;
  // Plaintext not yet encrypted plus ciphertext not yet handed to the kernel.
  size_t queued() const override;

  // close(true): after the queued plaintext, a close_notify alert, then the
  // socket is closed once all of it is written (before the handshake
  // completes: at once if nothing is queued, else after the handshake).
  // close(false): at once; it also cuts short an earlier close(true). Only
  // on_closed() follows either, and write() is ignored from then on.
  void close(bool flush) override;
  bool closing() const override { return closing_; }

  const TlsFacts* tls() const override { return handshake_done_ ? &facts_ : nullptr; }
  std::string error_detail() const override { return detail_; }

  Stream& transport() { return *transport_; }

 private:
  // From the transport (ciphertext).
  void on_read(std::string_view data) override;
  void on_eof() override;
  void on_error(int uv_error) override;
  void on_drain() override;
  void on_closed() override;

  void start();
  void update_transport_reading();
  void advance_handshake();
  void handshake_failed();
  void refuse_plain_http();
  void record_facts();
  void drain_input();
  void deliver_eof();
  void pump_output();
  void send_ciphertext();
  void maybe_drained();
  void finish_close();
  void close_transport(bool flush);
  void fail_tls(std::string detail);
  void end_connection(int uv_error);

  ssl_st* ssl_ = nullptr;
  bio_st* in_bio_ = nullptr;   // ciphertext from the peer; owned by ssl_
  bio_st* out_bio_ = nullptr;  // ciphertext for the peer; owned by ssl_
  std::unique_ptr<Stream> transport_;
  StreamHandler* handler_ = nullptr;
  Timer resume_;  // delivers held-back input after read_start()

  std::string out_;          // plaintext not yet encrypted, from out_sent_ on
  size_t out_sent_ = 0;      // bytes at the front of out_ already encrypted
  std::string first_bytes_;  // the connection's first bytes: plain HTTP or TLS?
  std::string detail_;
  TlsFacts facts_;

  bool started_ = false;
  bool handshake_done_ = false;
  bool want_read_ = false;      // the owner wants plaintext
  bool input_starved_ = false;  // OpenSSL consumed all ciphertext it was given
  bool transport_eof_ = false;
  bool peer_closed_ = false;  // close_notify received
  bool eof_delivered_ = false;
  bool closing_ = false;         // close() called, or we ended the connection
  bool flush_on_close_ = false;  // close(true) waits for out_ to be encrypted
  bool failed_ = false;          // no more OpenSSL calls
  bool ending_by_us_ = false;    // sending an alert or the plain-HTTP refusal
  bool transport_closing_ = false;
  bool drain_owed_ = false;  // queued() was non-zero after a write()
  bool in_drain_ = false;
};

}  // namespace gw::io
