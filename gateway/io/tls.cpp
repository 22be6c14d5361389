// TLS for the io layer: TlsContext (certificate, key, policy) and TlsStream
// (OpenSSL over memory BIOs on top of a Stream). The contract is in tls.h.
#include "gateway/io/tls.h"

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace gw::io {

namespace {

// The most plaintext one TLS record carries: the unit SSL_write is fed in.
constexpr size_t kRecordPlaintext = 16 * 1024;
// Plaintext is encrypted a few records at a time, and only while the socket
// has less than this queued: a large write waits as plaintext instead of
// becoming a second, encrypted copy.
constexpr size_t kRecordsPerBatch = 4;
constexpr size_t kCiphertextQueueLimit = kRecordsPerBatch * kRecordPlaintext;
// Room for one batch with its record headers, tags and padding.
constexpr size_t kCiphertextChunk = kRecordsPerBatch * (kRecordPlaintext + 256);
// Enough of the first bytes to tell an HTTP request line from a ClientHello.
constexpr size_t kFirstBytes = 16;
constexpr long kSessionCacheSize = 1024;
// Memory BIOs and strings keep their largest size for good. Once empty, one
// that grew past this is replaced, so an idle connection that once moved a
// large body holds little (one allocation per batch while it streams).
constexpr size_t kIdleBufferLimit = 16 * 1024;

// TLS 1.2: ECDHE key exchange (forward secrecy) with AEAD ciphers only.
// TLS 1.3 keeps OpenSSL's default suites, which are all AEAD.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kGroups = "X25519:P-256:P-384";
constexpr std::string_view kHttp11 = "http/1.1";
constexpr unsigned char kSessionContext[] = "gatewayd";

constexpr std::string_view kRefusalBody = "This port speaks HTTPS; use an https:// address.\n";

const std::string& plain_http_refusal() {
  static const std::string text =
      "HTTP/1.1 400 Bad Request\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "Content-Length: " +
      std::to_string(kRefusalBody.size()) +
      "\r\n"
      "Connection: close\r\n"
      "\r\n" +
      std::string(kRefusalBody);
  return text;
}

std::string error_text(unsigned long e) {
  if (e == 0) return "unknown error";
  if (const char* reason = ERR_reason_error_string(e)) return reason;
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// The first error queued is the cause (later ones are its callers giving
// up); the queue is left empty for whatever runs next on this thread.
std::string take_error() {
  std::string text = error_text(ERR_peek_error());
  ERR_clear_error();
  return text;
}

// A request line starts with a method token and a space ("GET ",
// "OPTIONS "); a TLS connection starts with a handshake record (0x16).
bool looks_like_http(std::string_view first) {
  size_t i = 0;
  while (i < first.size() &&
         ((first[i] >= 'A' && first[i] <= 'Z') || first[i] == '-' || first[i] == '_')) {
    ++i;
  }
  return i > 0 && i < first.size() && first[i] == ' ';
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                unsigned int in_len, void*) {
  // `in` is the client's list of length-prefixed names (OpenSSL has checked
  // its framing). Only HTTP/1.1 is spoken here: a client offering only
  // others (h2 alone) is served without ALPN rather than refused.
  unsigned int i = 0;
  while (i < in_len) {
    unsigned int n = in[i];
    if (n == 0 || n > in_len - i - 1) break;
    if (std::string_view(reinterpret_cast<const char*>(in + i + 1), n) == kHttp11) {
      *out = in + i + 1;
      *out_len = static_cast<unsigned char>(n);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + n;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

// Never ask for a passphrase: OpenSSL's default prompts on the terminal.
int no_passphrase(char*, int, int, void*) {
  return 0;
}

std::string hex(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 0x0f];
  }
  return out;
}

std::string file_problem(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return path + ": " + std::strerror(errno);
  std::fclose(f);
  return {};
}

bool empty_but_large(BIO* bio) {
  if (BIO_ctrl_pending(bio) != 0) return false;
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(bio, &mem);
  return mem != nullptr && mem->max > kIdleBufferLimit;
}

bool is_key_mismatch(unsigned long e) {
  return ERR_GET_LIB(e) == ERR_LIB_X509 && (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
                                            ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH);
}

// The context settings; false with `error` set when OpenSSL refuses one.
bool configure(SSL_CTX* ctx, std::string& error) {
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // Idle connections keep no record buffers.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
  // Sessions for TLS 1.2 resumption by id: a bounded cache.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(ctx, kSessionCacheSize);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1 ||
      SSL_CTX_set1_groups_list(ctx, kGroups) != 1 ||
      SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1) != 1) {
    error = "TLS settings: " + take_error();
    return false;
  }
  return true;
}

}  // namespace

// ---- TlsContext ----

std::unique_ptr<TlsContext> TlsContext::load(const std::string& cert_file,
                                             const std::string& key_file, std::string& error) {
  ERR_clear_error();
  // OpenSSL's text for an unreadable file names neither the file nor errno.
  error = file_problem(cert_file);
  if (error.empty()) error = file_problem(key_file);
  if (!error.empty()) return nullptr;

  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) {
    error = "TLS: " + take_error();
    return nullptr;
  }
  std::unique_ptr<TlsContext> context(new TlsContext(ctx));
  if (!configure(ctx, error)) return nullptr;
  // The files are readable (checked above): what fails now is their content.
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    error = cert_file + ": not a usable PEM certificate chain: " + take_error();
    return nullptr;
  }
  const std::string mismatch =
      key_file + ": the private key does not match the certificate in " + cert_file;
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    error = is_key_mismatch(ERR_peek_error())
                ? mismatch
                : key_file + ": not a usable PEM private key: " + take_error();
    ERR_clear_error();
    return nullptr;
  }
  // A key of another type than the certificate's is accepted above (it
  // would serve a certificate of its own type); this catches it.
  if (SSL_CTX_check_private_key(ctx) != 1) {
    error = mismatch;
    ERR_clear_error();
    return nullptr;
  }
  return context;
}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

// ---- TlsStream ----

TlsStream::TlsStream(TlsContext& context, std::unique_ptr<Stream> transport)
    : transport_(std::move(transport)), resume_(transport_->handle()->loop) {
  transport_->set_handler(this);
  ERR_clear_error();
  ssl_ = SSL_new(context.native_handle());
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (ssl_ == nullptr || in == nullptr || out == nullptr) {
    // Out of memory: reported as a failure once started.
    BIO_free(in);
    BIO_free(out);
    SSL_free(ssl_);
    ssl_ = nullptr;
    ERR_clear_error();
    return;
  }
  // An empty memory BIO means "wait for more" (its default), never EOF:
  // the socket's EOF is handled here, not by OpenSSL.
  SSL_set_bio(ssl_, in, out);
  in_bio_ = in;
  out_bio_ = out;
  SSL_set_accept_state(ssl_);
}

TlsStream::~TlsStream() {
  SSL_free(ssl_);  // frees both BIOs
  // transport_ then closes the socket without calling back.
}

size_t TlsStream::queued() const {
  return (out_.size() - out_sent_) + transport_->queued();
}

void TlsStream::start() {
  if (started_) return;
  started_ = true;
  if (ssl_ == nullptr) {
    // Reported from the loop, as a failed socket read would be.
    resume_.start(0, [this] { fail_tls("TLS: out of memory"); });
    return;
  }
  update_transport_reading();
}

void TlsStream::read_start() {
  if (closing_ || want_read_) return;
  want_read_ = true;
  start();
  bool held_back = handshake_done_ && !input_starved_ && !peer_closed_;
  bool eof_pending = (peer_closed_ || transport_eof_) && !eof_delivered_;
  if (held_back || eof_pending) {
    // Not from here: the owner may be in the middle of its own bookkeeping.
    resume_.start(0, [this] { drain_input(); });
  } else {
    update_transport_reading();
  }
}

void TlsStream::read_stop() {
  if (!want_read_) return;
  want_read_ = false;
  resume_.stop();
  update_transport_reading();
}

void TlsStream::update_transport_reading() {
  if (transport_closing_) return;
  bool want;
  if (!started_ || failed_ || transport_eof_ || peer_closed_) {
    want = false;
  } else if (!handshake_done_) {
    // The handshake goes on whatever the owner wants, and even after a
    // close(true) that waits for it to send what was queued.
    want = !closing_ || flush_on_close_;
  } else {
    // Read only when OpenSSL has used up what it was given: the ciphertext
    // held while the owner is not reading stays one socket read at most.
    want = want_read_ && input_starved_ && !closing_;
  }
  if (want) {
    transport_->read_start();
  } else {
    transport_->read_stop();
  }
}

// ---- input ----

void TlsStream::on_read(std::string_view data) {
  if (failed_ || transport_closing_ || (closing_ && handshake_done_)) return;
  if (first_bytes_.size() < kFirstBytes) {
    first_bytes_.append(data.substr(0, kFirstBytes - first_bytes_.size()));
  }
  // At most one socket read (64 KiB) per call, so the int cast is safe. A
  // memory BIO takes everything unless memory runs out.
  if (BIO_write(in_bio_, data.data(), static_cast<int>(data.size())) !=
      static_cast<int>(data.size())) {
    ERR_clear_error();
    fail_tls("TLS: out of memory");
    return;
  }
  input_starved_ = false;
  if (!handshake_done_) {
    advance_handshake();
  } else {
    drain_input();
  }
}

void TlsStream::advance_handshake() {
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_);
  if (rc != 1) {
    int err = SSL_get_error(ssl_, rc);
    if (err != SSL_ERROR_WANT_READ) {
      handshake_failed();
      return;
    }
    ERR_clear_error();
    input_starved_ = true;
    send_ciphertext();  // ServerHello and the rest of our flight
    return;
  }
  handshake_done_ = true;
  first_bytes_ = std::string();
  record_facts();
  send_ciphertext();  // our last flight (TLS 1.2), session tickets
  if (transport_closing_) return;
  pump_output();  // plaintext written before the handshake was done
  if (transport_closing_) return;
  maybe_drained();
  if (closing_) return;
  // Application data may have come in the same read as the client's Finished.
  if (want_read_) {
    drain_input();
  } else {
    update_transport_reading();
  }
}

void TlsStream::handshake_failed() {
  unsigned long e = ERR_peek_error();
  bool http_request =
      ERR_GET_LIB(e) == ERR_LIB_SSL &&
      (ERR_GET_REASON(e) == SSL_R_HTTP_REQUEST || ERR_GET_REASON(e) == SSL_R_HTTPS_PROXY_REQUEST);
  std::string reason = take_error();
  failed_ = true;
  if (http_request || looks_like_http(first_bytes_)) {
    refuse_plain_http();
    return;
  }
  detail_ = "TLS handshake: " + reason;
  send_ciphertext();  // the alert OpenSSL wrote, if any
  end_connection(UV_EPROTO);
}

void TlsStream::refuse_plain_http() {
  // A browser pointed at http:// on this port gets a readable answer rather
  // than an alert it cannot show. Nothing OpenSSL wrote is sent.
  BIO_reset(out_bio_);
  detail_ = "plain HTTP request on the HTTPS port: answered 400";
  transport_->write(plain_http_refusal());
  end_connection(UV_EPROTO);
}

void TlsStream::record_facts() {
  facts_.protocol = SSL_get_version(ssl_);
  if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_)) {
    facts_.cipher = SSL_CIPHER_get_name(cipher);
    facts_.key_bits = static_cast<uint32_t>(std::max(SSL_CIPHER_get_bits(cipher, nullptr), 0));
  }
  if (const SSL_SESSION* session = SSL_get_session(ssl_)) {
    unsigned int len = 0;
    const unsigned char* id = SSL_SESSION_get_id(session, &len);
    facts_.session_id = hex(id, len);
  }
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl_, &alpn, &alpn_len);
  if (alpn != nullptr) facts_.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  if (X509* cert = SSL_get0_peer_certificate(ssl_)) {
    BIO* pem = BIO_new(BIO_s_mem());
    if (pem != nullptr && PEM_write_bio_X509(pem, cert) == 1) {
      char* data = nullptr;
      long len = BIO_get_mem_data(pem, &data);
      if (len > 0) facts_.client_cert.assign(data, static_cast<size_t>(len));
    }
    BIO_free(pem);
  }
  ERR_clear_error();
}

void TlsStream::drain_input() {
  if (in_drain_) return;
  in_drain_ = true;
  // One record's plaintext at most per SSL_read, delivered at once: nothing
  // decrypted is ever held back, so read_stop() leaves only ciphertext.
  char plain[kRecordPlaintext];
  while (want_read_ && !closing_ && handshake_done_ && !peer_closed_ && !input_starved_) {
    ERR_clear_error();
    int n = SSL_read(ssl_, plain, sizeof plain);
    if (n > 0) {
      if (handler_) handler_->on_read(std::string_view(plain, static_cast<size_t>(n)));
      continue;
    }
    int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_READ) {
      input_starved_ = true;
    } else if (err == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;  // close_notify: the client sends nothing more
    } else {
      in_drain_ = false;
      fail_tls("TLS: " + take_error());
      return;
    }
    ERR_clear_error();
  }
  in_drain_ = false;
  if (closing_) return;
  if (input_starved_ && empty_but_large(in_bio_)) {
    if (BIO* fresh = BIO_new(BIO_s_mem())) {
      SSL_set0_rbio(ssl_, fresh);  // frees the old one
      in_bio_ = fresh;
    }
    ERR_clear_error();
  }
  send_ciphertext();  // what SSL_read answered (a TLS 1.3 KeyUpdate)
  if (transport_closing_) return;
  deliver_eof();
  if (!closing_) update_transport_reading();
}

void TlsStream::deliver_eof() {
  if (!want_read_ || eof_delivered_ || closing_) return;
  // Without close_notify, EOF still ends the input: HTTP frames its own
  // messages, so a truncation shows there.
  bool ended = peer_closed_ || (transport_eof_ && (input_starved_ || !handshake_done_));
  if (!ended) return;
  eof_delivered_ = true;
  if (handler_) handler_->on_eof();
}

void TlsStream::on_eof() {
  transport_eof_ = true;
  if (closing_) {
    // A close(true) still waiting for the handshake waits in vain.
    if (!handshake_done_ && !transport_closing_) close_transport(false);
    return;
  }
  if (!handshake_done_ && started_) {
    detail_ = "TLS handshake: the client closed the connection";
  }
  drain_input();
}

// ---- output ----

void TlsStream::write(std::string_view data) {
  if (closing_ || failed_ || data.empty()) return;
  start();
  out_.append(data);
  pump_output();
  if (!closing_ && queued() > 0) drain_owed_ = true;
}

void TlsStream::pump_output() {
  if (failed_ || transport_closing_ || !handshake_done_) return;
  while (out_sent_ < out_.size() && transport_->queued() < kCiphertextQueueLimit) {
    ERR_clear_error();
    for (size_t i = 0; i < kRecordsPerBatch && out_sent_ < out_.size(); ++i) {
      size_t n = std::min(kRecordPlaintext, out_.size() - out_sent_);
      int rc = SSL_write(ssl_, out_.data() + out_sent_, static_cast<int>(n));
      if (rc <= 0) {
        // A memory BIO never fills: only a broken connection ends here.
        fail_tls("TLS: " + take_error());
        return;
      }
      out_sent_ += static_cast<size_t>(rc);
    }
    send_ciphertext();
    if (transport_closing_) return;
  }
  // Drop the sent front once it is the larger part: amortised, each byte is
  // moved at most once.
  if (out_sent_ == out_.size()) {
    if (out_.capacity() > kIdleBufferLimit) {
      out_ = std::string();
    } else {
      out_.clear();
    }
    out_sent_ = 0;
  } else if (out_sent_ > out_.size() / 2) {
    out_.erase(0, out_sent_);
    out_sent_ = 0;
  }
  if (flush_on_close_ && out_.empty()) finish_close();
}

void TlsStream::send_ciphertext() {
  // Through one buffer per loop thread: the Stream writes it at once or
  // copies what the socket did not take.
  static thread_local char chunk[kCiphertextChunk];
  if (out_bio_ == nullptr) return;
  while (!transport_closing_) {
    int n = BIO_read(out_bio_, chunk, sizeof chunk);
    if (n <= 0) break;
    transport_->write(std::string_view(chunk, static_cast<size_t>(n)));
  }
  if (!failed_ && empty_but_large(out_bio_)) {
    if (BIO* fresh = BIO_new(BIO_s_mem())) {
      SSL_set0_wbio(ssl_, fresh);  // frees the old one
      out_bio_ = fresh;
    }
  }
  ERR_clear_error();
}

void TlsStream::on_drain() {
  // The socket took all the ciphertext: encrypt more.
  pump_output();
  maybe_drained();
}

void TlsStream::maybe_drained() {
  if (!drain_owed_ || closing_ || queued() > 0) return;
  drain_owed_ = false;
  if (handler_) handler_->on_drain();
}

// ---- closing ----

void TlsStream::close(bool flush) {
  if (closing_) {
    // A close(false) cuts short a flush the owner asked for, but not the
    // alert or refusal this side is sending.
    if (!flush && !ending_by_us_) {
      flush_on_close_ = false;
      out_.clear();
      out_sent_ = 0;
      if (transport_closing_) {
        transport_->close(false);
      } else {
        close_transport(false);
      }
    }
    return;
  }
  closing_ = true;
  want_read_ = false;
  resume_.stop();
  if (!flush || failed_) {
    out_.clear();
    out_sent_ = 0;
    close_transport(false);
    return;
  }
  if (!handshake_done_ && (out_.empty() || transport_eof_)) {
    // Nothing waits for the handshake, or it can never complete.
    out_.clear();
    close_transport(true);
    return;
  }
  flush_on_close_ = true;
  if (handshake_done_) {
    update_transport_reading();
    pump_output();  // ends in finish_close() once out_ is encrypted
  }
  // Otherwise the handshake completes first (advance_handshake pumps).
}

void TlsStream::finish_close() {
  flush_on_close_ = false;
  if (!failed_) {
    // close_notify goes after the last record; the client's is not awaited.
    ERR_clear_error();
    SSL_shutdown(ssl_);
    ERR_clear_error();
    send_ciphertext();
  }
  if (!transport_closing_) close_transport(true);
}

void TlsStream::close_transport(bool flush) {
  transport_closing_ = true;
  transport_->close(flush);
}

void TlsStream::fail_tls(std::string detail) {
  detail_ = std::move(detail);
  failed_ = true;
  send_ciphertext();  // the alert OpenSSL wrote, if any
  end_connection(UV_EPROTO);
}

void TlsStream::end_connection(int uv_error) {
  if (transport_closing_) return;
  bool notify = !closing_;
  closing_ = true;
  ending_by_us_ = true;
  want_read_ = false;
  flush_on_close_ = false;
  out_.clear();
  out_sent_ = 0;
  resume_.stop();
  close_transport(true);  // after the alert or the refusal
  if (notify && handler_) handler_->on_error(uv_error);
}

void TlsStream::on_error(int uv_error) {
  if (transport_closing_) return;
  failed_ = true;
  bool notify = !closing_;
  closing_ = true;
  want_read_ = false;
  flush_on_close_ = false;
  resume_.stop();
  close_transport(false);
  if (notify && handler_) handler_->on_error(uv_error);
}

void TlsStream::on_closed() {
  if (handler_) handler_->on_closed();  // last: the owner may free us now
}

}  // namespace gw::io
