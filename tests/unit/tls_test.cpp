// TlsContext and TlsStream on a real libuv loop. The server side is ours,
// listening on 127.0.0.1; each client is OpenSSL on its own thread with a
// blocking (or polled) socket, verifying the server against the test CA in
// tests/vectors/tls.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gateway/io/stream.h"
#include "gateway/io/timer.h"
#include "gateway/io/tls.h"
#include "tests/support/test_loop.h"

namespace {

using Clock = std::chrono::steady_clock;
using gw::io::TlsContext;
using gw::io::TlsFacts;
using gw::io::TlsStream;

const std::string kDir = std::string(GW_VECTORS_DIR) + "/tls/";
constexpr int kWaitMs = 10000;            // the longest wait on the loop in a test
constexpr int kClientTimeoutSec = 5;      // a client blocked longer gives up
constexpr size_t kHighWater = 64 * 1024;  // the echo server's pause point

const std::string kRefusal =
    "HTTP/1.1 400 Bad Request\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 49\r\n"
    "Connection: close\r\n"
    "\r\n"
    "This port speaks HTTPS; use an https:// address.\n";

// ---- The loop ----

// Waits on the loop last at most kWaitMs by default.
class Loop : public gw::test::TestLoop {
 public:
  Loop() : TestLoop(kWaitMs) {}
};

// ---- The server side ----

// One accepted connection: its TlsStream and everything it reported. By
// default it answers EOF with close(true) and an error with close(false),
// as the daemon's connections do.
struct Peer final : gw::io::StreamHandler {
  std::unique_ptr<TlsStream> tls;
  bool auto_start = true;  // read_start() right after accept
  std::string received;
  std::vector<std::string> events;  // "read", "eof", "error", "drain", "closed"
  int reads = 0;
  int error_code = 0;
  int pauses = 0;
  int drains = 0;
  bool closed = false;
  bool after_closed = false;        // a callback came after on_closed
  bool read_while_stopped = false;  // on_read after read_stop()
  size_t max_queued = 0;
  std::function<void(Peer&, std::string_view)> on_data;
  std::function<void(Peer&)> on_end;
  std::function<void(Peer&)> on_drained;

  void note(const char* what) {
    if (closed) after_closed = true;
    events.emplace_back(what);
  }
  void on_read(std::string_view data) override {
    note("read");
    if (!tls->reading()) read_while_stopped = true;
    ++reads;
    received.append(data);
    if (on_data) on_data(*this, data);
  }
  void on_eof() override {
    note("eof");
    if (on_end) {
      on_end(*this);
    } else {
      tls->close(true);
    }
  }
  void on_error(int code) override {
    note("error");
    error_code = code;
    tls->close(false);
  }
  void on_drain() override {
    note("drain");
    ++drains;
    if (on_drained) on_drained(*this);
  }
  void on_closed() override {
    note("closed");
    closed = true;
  }
};

// Listens on 127.0.0.1 (an ephemeral port) and wraps each accepted socket
// in a TlsStream. `socket_buffer` (when set) shrinks the kernel buffers so
// that backpressure shows with little data.
class Server {
 public:
  using Setup = std::function<void(Peer&)>;
  Server(uv_loop_t* loop, TlsContext& context, Setup setup = {}, int socket_buffer = 0)
      : context_(context), setup_(std::move(setup)), socket_buffer_(socket_buffer) {
    tcp_ = new uv_tcp_t;
    uv_tcp_init(loop, tcp_);
    tcp_->data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    int rc = uv_tcp_bind(tcp_, reinterpret_cast<const sockaddr*>(&addr), 0);
    if (rc == 0 && socket_buffer_ > 0) {
      int size = socket_buffer_;  // inherited by accepted sockets
      uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(tcp_), &size);
    }
    if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp_), 16, &Server::on_connection);
    CHECK(rc == 0);
    sockaddr_storage ss{};
    int len = sizeof ss;
    uv_tcp_getsockname(tcp_, reinterpret_cast<sockaddr*>(&ss), &len);
    port_ = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }
  ~Server() {
    peers.clear();  // an open TlsStream closes its socket without callbacks
    uv_close(reinterpret_cast<uv_handle_t*>(tcp_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  uint16_t port() const { return port_; }
  Peer& peer() { return *peers.at(0); }
  bool peer_closed() const { return peers.size() == 1 && peers[0]->closed; }

  std::vector<std::unique_ptr<Peer>> peers;

 private:
  static void on_connection(uv_stream_t* listener, int status) {
    auto* self = static_cast<Server*>(listener->data);
    if (status < 0) return;
    auto* tcp = new uv_tcp_t;
    uv_tcp_init(listener->loop, tcp);
    if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(tcp)) != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(tcp),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
      return;
    }
    if (self->socket_buffer_ > 0) {
      int size = self->socket_buffer_;
      uv_send_buffer_size(reinterpret_cast<uv_handle_t*>(tcp), &size);
    }
    auto peer = std::make_unique<Peer>();
    peer->tls = std::make_unique<TlsStream>(
        self->context_, std::make_unique<gw::io::Stream>(reinterpret_cast<uv_stream_t*>(tcp)));
    peer->tls->set_handler(peer.get());
    Peer& p = *peer;
    self->peers.push_back(std::move(peer));
    if (self->setup_) self->setup_(p);
    if (p.auto_start) p.tls->read_start();
  }

  TlsContext& context_;
  Setup setup_;
  int socket_buffer_;
  uv_tcp_t* tcp_;
  uint16_t port_ = 0;
};

std::unique_ptr<TlsContext> load_context() {
  std::string error;
  auto context = TlsContext::load(kDir + "server.pem", kDir + "server.key", error);
  REQUIRE_MESSAGE(context != nullptr, error);
  CHECK(error.empty());
  return context;
}

// ---- The client side ----

std::string take_ssl_error() {
  unsigned long e = ERR_peek_error();
  std::string text = e == 0 ? "no error queued" : ERR_reason_error_string(e);
  ERR_clear_error();
  return text;
}

// ALPN's wire form: each name with a one-byte length before it.
std::string alpn_list(std::initializer_list<std::string_view> names) {
  std::string out;
  for (auto name : names) {
    out += static_cast<char>(name.size());
    out += name;
  }
  return out;
}

int connect_socket(uint16_t port, int buffer = 0) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{kClientTimeoutSec, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (buffer > 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

struct ClientOptions {
  int min_version = 0;  // 0: OpenSSL's defaults
  int max_version = 0;
  std::string ciphers;  // TLS 1.2 and older
  std::string alpn;     // from alpn_list()
  int socket_buffer = 0;
  bool no_ticket = false;  // TLS 1.2: ask for a session id instead of a ticket
  X509* cert = nullptr;    // a client certificate to present
  EVP_PKEY* key = nullptr;
};

// A TLS client for one thread: blocking socket (with timeouts, so a server
// that stalls fails the test instead of hanging it), server verified
// against the test CA and the name "localhost".
class Client {
 public:
  explicit Client(uint16_t port, const ClientOptions& options = {}) {
    fd_ = connect_socket(port, options.socket_buffer);
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, (kDir + "ca.pem").c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (options.min_version != 0) SSL_CTX_set_min_proto_version(ctx_, options.min_version);
    if (options.max_version != 0) SSL_CTX_set_max_proto_version(ctx_, options.max_version);
    if (!options.ciphers.empty()) SSL_CTX_set_cipher_list(ctx_, options.ciphers.c_str());
    if (options.no_ticket) SSL_CTX_set_options(ctx_, SSL_OP_NO_TICKET);
    if (!options.alpn.empty()) {
      SSL_CTX_set_alpn_protos(ctx_, reinterpret_cast<const unsigned char*>(options.alpn.data()),
                              static_cast<unsigned>(options.alpn.size()));
    }
    if (options.cert != nullptr) {
      SSL_CTX_use_certificate(ctx_, options.cert);
      SSL_CTX_use_PrivateKey(ctx_, options.key);
    }
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, "localhost");
    SSL_set1_host(ssl_, "localhost");
  }
  ~Client() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
    ERR_clear_error();
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  SSL* ssl() { return ssl_; }
  int fd() const { return fd_; }

  bool handshake() {
    if (fd_ < 0) {
      error = "connect failed";
      return false;
    }
    ERR_clear_error();
    if (SSL_connect(ssl_) == 1) return true;
    error = take_ssl_error();
    return false;
  }
  bool send(std::string_view data) {
    while (!data.empty()) {
      int n = SSL_write(ssl_, data.data(), static_cast<int>(std::min<size_t>(data.size(), 65536)));
      if (n <= 0) {
        error = take_ssl_error();
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  // Reads until the server's close_notify (true) or EOF, an error or a
  // timeout (false).
  bool read_to_close(std::string& out) {
    char buf[16384];
    for (;;) {
      int n = SSL_read(ssl_, buf, sizeof buf);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
        continue;
      }
      bool clean = SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN;
      ERR_clear_error();
      return clean;
    }
  }

  std::string error;

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

// Runs `body` on its own thread; joined on destruction.
class ClientThread {
 public:
  explicit ClientThread(std::function<void()> body)
      : thread_([this, body = std::move(body)] {
          body();
          done_ = true;
        }) {}
  ~ClientThread() { thread_.join(); }
  bool done() const { return done_; }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// Writes `pieces` on a plain socket, a moment apart, then reads until EOF.
std::string plain_exchange(uint16_t port, const std::vector<std::string_view>& pieces) {
  int fd = connect_socket(port);
  if (fd < 0) return "connect failed";
  for (auto piece : pieces) {
    if (::send(fd, piece.data(), piece.size(), MSG_NOSIGNAL) < 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

std::string pattern(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(size, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

// What a client saw of the handshake.
struct ClientView {
  bool ok = false;
  std::string error;
  std::string version;
  std::string cipher;
  int bits = 0;
  std::string alpn;
  std::string session_id;
  std::string reply;
  bool close_notify = false;
};

std::string hex(const unsigned char* data, unsigned int size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 0x0f];
  }
  return out;
}

// Handshakes, sends "hello", and reads the reply to the close_notify.
ClientView hello_client(uint16_t port, const ClientOptions& options) {
  ClientView view;
  Client c(port, options);
  view.ok = c.handshake();
  if (!view.ok) {
    view.error = c.error;
    return view;
  }
  view.version = SSL_get_version(c.ssl());
  const SSL_CIPHER* cipher = SSL_get_current_cipher(c.ssl());
  view.cipher = SSL_CIPHER_get_name(cipher);
  view.bits = SSL_CIPHER_get_bits(cipher, nullptr);
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(c.ssl(), &alpn, &alpn_len);
  if (alpn != nullptr) view.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  c.send("hello");
  view.close_notify = c.read_to_close(view.reply);
  // The session id is known once the reply (and, in TLS 1.3, the tickets
  // before it) has been read.
  unsigned int id_len = 0;
  const unsigned char* id = SSL_SESSION_get_id(SSL_get_session(c.ssl()), &id_len);
  view.session_id = hex(id, id_len);
  return view;
}

// A server that answers "hello" with "bye" and close(true), keeping the
// facts it had then.
Server::Setup answer_hello(std::optional<TlsFacts>& facts, bool& facts_too_early) {
  return [&facts, &facts_too_early](Peer& p) {
    facts_too_early = p.tls->tls() != nullptr;
    p.on_data = [&facts](Peer& q, std::string_view) {
      if (q.received != "hello") return;
      facts = *q.tls->tls();
      q.tls->write("bye");
      q.tls->close(true);
    };
  };
}

struct HelloRun {
  ClientView client;
  std::optional<TlsFacts> facts;
  bool facts_too_early = true;
  bool finished = false;
  std::vector<std::string> events;
};

HelloRun run_hello(const ClientOptions& options, TlsContext* shared_context = nullptr) {
  HelloRun run;
  Loop loop;
  std::unique_ptr<TlsContext> own;
  if (shared_context == nullptr) own = load_context();
  TlsContext& context = shared_context ? *shared_context : *own;
  {
    Server server(loop.get(), context, answer_hello(run.facts, run.facts_too_early));
    {
      ClientThread client([&] { run.client = hello_client(server.port(), options); });
      run.finished = loop.run_until([&] { return client.done() && server.peer_closed(); });
    }
    if (!server.peers.empty()) run.events = server.peer().events;
    CHECK(ERR_peek_error() == 0);  // nothing left on the loop thread's error queue
  }
  return run;
}

// A refused handshake: what the client saw, and what the server reported.
struct Refusal {
  bool finished = false;
  std::string client_error;
  std::string detail;
  int error_code = 0;
  std::vector<std::string> events;
  bool had_facts = true;
};

Refusal run_refused(const ClientOptions& options) {
  Refusal r;
  Loop loop;
  auto context = load_context();
  Server server(loop.get(), *context);
  {
    ClientThread client([&] {
      Client c(server.port(), options);
      if (!c.handshake()) r.client_error = c.error;
    });
    r.finished = loop.run_until([&] { return client.done() && server.peer_closed(); });
  }
  if (!server.peers.empty()) {
    r.detail = server.peer().tls->error_detail();
    r.error_code = server.peer().error_code;
    r.events = server.peer().events;
    r.had_facts = server.peer().tls->tls() != nullptr;
  }
  CHECK(ERR_peek_error() == 0);
  return r;
}

using Events = std::vector<std::string>;

}  // namespace

TEST_CASE("tls: TLS 1.3 handshake; the facts are what the client saw") {
  HelloRun run = run_hello({.alpn = alpn_list({"h2", "http/1.1"})});
  REQUIRE(run.finished);
  REQUIRE_MESSAGE(run.client.ok, run.client.error);
  REQUIRE(run.facts.has_value());
  CHECK_FALSE(run.facts_too_early);  // tls() is null before the handshake
  CHECK(run.client.version == "TLSv1.3");
  CHECK(run.facts->protocol == run.client.version);
  CHECK(run.facts->cipher == run.client.cipher);
  CHECK(run.facts->cipher.rfind("TLS_", 0) == 0);  // a TLS 1.3 suite
  CHECK(run.facts->key_bits == static_cast<uint32_t>(run.client.bits));
  CHECK(run.facts->key_bits >= 128);
  CHECK(run.facts->alpn == "http/1.1");
  CHECK(run.client.alpn == "http/1.1");
  CHECK(run.facts->client_cert.empty());
  // The server's own id for the session it put in its tickets (a TLS 1.3
  // client derives another from the ticket).
  CHECK(run.facts->session_id.size() == 64);
  CHECK(run.facts->session_id.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(run.client.reply == "bye");
  CHECK(run.client.close_notify);
  CHECK(run.events == Events{"read", "closed"});
}

TEST_CASE("tls: TLS 1.2 client with an ECDHE-GCM cipher") {
  ClientOptions options{.max_version = TLS1_2_VERSION,
                        .ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384",
                        .alpn = alpn_list({"http/1.1"})};
  SUBCASE("session in a ticket") {}
  SUBCASE("session by id") {
    options.no_ticket = true;
  }
  HelloRun run = run_hello(options);
  REQUIRE(run.finished);
  REQUIRE_MESSAGE(run.client.ok, run.client.error);
  REQUIRE(run.facts.has_value());
  CHECK(run.facts->protocol == "TLSv1.2");
  CHECK(run.facts->cipher == "ECDHE-ECDSA-AES256-GCM-SHA384");
  CHECK(run.facts->key_bits == 256);
  CHECK(run.facts->alpn == "http/1.1");
  if (options.no_ticket) {
    // The id the server chose in its hello, as the client has it.
    CHECK(run.facts->session_id.size() == 64);
    CHECK(run.facts->session_id == run.client.session_id);
  } else {
    // A TLS 1.2 server hello that promises a ticket carries no session id.
    CHECK(run.facts->session_id.empty());
    CHECK(run.client.session_id.size() == 64);  // the client's hash of its ticket
  }
  CHECK(run.client.reply == "bye");
  CHECK(run.client.close_notify);
}

TEST_CASE("tls: ChaCha20-Poly1305 in TLS 1.2 too") {
  HelloRun run =
      run_hello({.max_version = TLS1_2_VERSION, .ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305"});
  REQUIRE_MESSAGE(run.client.ok, run.client.error);
  REQUIRE(run.facts.has_value());
  CHECK(run.facts->cipher == "ECDHE-ECDSA-CHACHA20-POLY1305");
  CHECK(run.facts->key_bits == 256);
  CHECK(run.facts->alpn.empty());  // none offered
}

TEST_CASE("tls: ALPN") {
  SUBCASE("http/1.1 is chosen among others") {
    HelloRun run = run_hello({.alpn = alpn_list({"h2", "http/1.1", "spdy/3"})});
    REQUIRE_MESSAGE(run.client.ok, run.client.error);
    REQUIRE(run.facts.has_value());
    CHECK(run.facts->alpn == "http/1.1");
    CHECK(run.client.alpn == "http/1.1");
  }
  SUBCASE("a client offering only h2 is served without ALPN") {
    HelloRun run = run_hello({.alpn = alpn_list({"h2"})});
    REQUIRE_MESSAGE(run.client.ok, run.client.error);
    REQUIRE(run.facts.has_value());
    CHECK(run.facts->alpn.empty());
    CHECK(run.client.alpn.empty());
    CHECK(run.client.reply == "bye");
  }
  SUBCASE("no ALPN offered") {
    HelloRun run = run_hello({});
    REQUIRE_MESSAGE(run.client.ok, run.client.error);
    REQUIRE(run.facts.has_value());
    CHECK(run.facts->alpn.empty());
  }
}

TEST_CASE("tls: a TLS 1.1 client is refused with a protocol_version alert") {
  // Old protocols need security level 0 even on the client.
  Refusal r = run_refused({.min_version = TLS1_1_VERSION,
                           .max_version = TLS1_1_VERSION,
                           .ciphers = "DEFAULT:@SECLEVEL=0"});
  REQUIRE(r.finished);
  CHECK(r.client_error == "tlsv1 alert protocol version");
  CHECK(r.detail == "TLS handshake: unsupported protocol");
  CHECK(r.error_code == UV_EPROTO);
  CHECK(r.events == Events{"error", "closed"});
  CHECK_FALSE(r.had_facts);
}

TEST_CASE("tls: a TLS 1.2 client with only CBC ciphers is refused") {
  Refusal r = run_refused({.max_version = TLS1_2_VERSION,
                           .ciphers = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384"});
  REQUIRE(r.finished);
  CHECK(r.client_error == "sslv3 alert handshake failure");
  CHECK(r.detail == "TLS handshake: no shared cipher");
  CHECK(r.events == Events{"error", "closed"});
}

TEST_CASE("tls: plain HTTP on the TLS port is answered 400 and closed") {
  std::vector<std::string_view> pieces;
  SUBCASE("one piece") {
    pieces = {"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"};
  }
  SUBCASE("in two pieces") {
    pieces = {"G", "ET /x HTTP/1.1\r\nHost: localhost\r\n\r\n"};
  }
  SUBCASE("another method") {
    pieces = {"OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n"};
  }
  SUBCASE("a proxy's CONNECT") {
    pieces = {"CONNECT localhost:443 HTTP/1.1\r\n\r\n"};
  }
  Loop loop;
  auto context = load_context();
  Server server(loop.get(), *context);
  std::string answer;
  {
    ClientThread client([&] { answer = plain_exchange(server.port(), pieces); });
    REQUIRE(loop.run_until([&] { return client.done() && server.peer_closed(); }));
  }
  CHECK(answer == kRefusal);
  Peer& p = server.peer();
  CHECK(p.tls->error_detail() == "plain HTTP request on the HTTPS port: answered 400");
  CHECK(p.error_code == UV_EPROTO);
  // The peer's close(false) after on_error did not cut the answer short.
  CHECK(p.events == Events{"error", "closed"});
  CHECK(p.received.empty());
  CHECK(ERR_peek_error() == 0);
}

TEST_CASE("tls: bytes that are neither TLS nor HTTP get an alert, not the 400") {
  Loop loop;
  auto context = load_context();
  Server server(loop.get(), *context);
  std::string answer;
  {
    // An application-data record before any handshake.
    ClientThread client([&] {
      answer = plain_exchange(server.port(), {std::string_view("\x17\x03\x03\x00\x05hello", 10)});
    });
    REQUIRE(loop.run_until([&] { return client.done() && server.peer_closed(); }));
  }
  // One fatal alert record (RFC 8446 6: level 2), unexpected_message (10).
  REQUIRE(answer.size() == 7);
  CHECK(answer[0] == '\x15');
  CHECK(answer.substr(3) == std::string("\x00\x02\x02\x0a", 4));
  Peer& p = server.peer();
  CHECK(p.tls->error_detail() == "TLS handshake: unexpected message");
  CHECK(p.events == Events{"error", "closed"});
  CHECK(ERR_peek_error() == 0);
}

TEST_CASE("tls: a client that leaves during the handshake is on_eof") {
  Loop loop;
  auto context = load_context();
  Server server(loop.get(), *context);
  {
    ClientThread client([&] {
      int fd = connect_socket(server.port());
      if (fd >= 0) ::close(fd);
    });
    REQUIRE(loop.run_until([&] { return client.done() && server.peer_closed(); }));
  }
  Peer& p = server.peer();
  CHECK(p.events == Events{"eof", "closed"});
  CHECK(p.tls->tls() == nullptr);
  CHECK(p.tls->error_detail() == "TLS handshake: the client closed the connection");
}

TEST_CASE("tls: echo of 1 MiB each way under backpressure") {
  const std::string data = pattern(1 << 20, 7);
  Loop loop;
  auto context = load_context();
  auto echo = [](Peer& p) {
    p.on_data = [](Peer& q, std::string_view d) {
      q.tls->write(d);
      q.max_queued = std::max(q.max_queued, q.tls->queued());
      if (q.tls->queued() > kHighWater) {
        ++q.pauses;
        q.tls->read_stop();
      }
    };
    p.on_drained = [](Peer& q) {
      CHECK(q.tls->queued() == 0);
      q.tls->read_start();
    };
  };
  // Small kernel buffers on both ends, so 1 MiB cannot hide in them.
  Server server(loop.get(), *context, echo, 16 * 1024);
  std::string back;
  size_t sent_before_stall = 0;
  bool shut_cleanly = false;
  std::string error;
  {
    ClientThread client([&] {
      Client c(server.port(), {.socket_buffer = 16 * 1024});
      if (!c.handshake()) {
        error = c.error;
        return;
      }
      fcntl(c.fd(), F_SETFL, fcntl(c.fd(), F_GETFL) | O_NONBLOCK);
      SSL_set_mode(c.ssl(), SSL_MODE_ENABLE_PARTIAL_WRITE);
      size_t sent = 0;
      bool reading = false;  // first only write, until the server stops taking
      auto deadline = Clock::now() + std::chrono::seconds(kClientTimeoutSec * 2);
      char buf[16384];
      while (back.size() < data.size() && Clock::now() < deadline) {
        if (sent < data.size()) {
          // Retried with the same arguments after WANT_WRITE, as OpenSSL requires.
          size_t n = std::min<size_t>(data.size() - sent, 16384);
          int rc = SSL_write(c.ssl(), data.data() + sent, static_cast<int>(n));
          if (rc > 0) {
            sent += static_cast<size_t>(rc);
            continue;
          }
          if (SSL_get_error(c.ssl(), rc) != SSL_ERROR_WANT_WRITE) {
            error = "write: " + take_ssl_error();
            return;
          }
        }
        if (reading) {
          int rc = SSL_read(c.ssl(), buf, sizeof buf);
          if (rc > 0) {
            back.append(buf, static_cast<size_t>(rc));
            continue;
          }
          if (SSL_get_error(c.ssl(), rc) != SSL_ERROR_WANT_READ) {
            error = "read: " + take_ssl_error();
            return;
          }
        }
        pollfd pfd{c.fd(),
                   static_cast<short>((sent < data.size() ? POLLOUT : 0) | (reading ? POLLIN : 0)),
                   0};
        if (poll(&pfd, 1, reading ? 100 : 300) == 0 && !reading) {
          sent_before_stall = sent;
          reading = true;
        }
      }
      fcntl(c.fd(), F_SETFL, fcntl(c.fd(), F_GETFL) & ~O_NONBLOCK);
      SSL_shutdown(c.ssl());
      std::string rest;
      shut_cleanly = c.read_to_close(rest) && rest.empty();
    });
    REQUIRE(loop.run_until([&] { return client.done() && server.peer_closed(); }, 20000));
  }
  CHECK(error == "");
  CHECK(back.size() == data.size());
  CHECK(back == data);
  CHECK(shut_cleanly);
  Peer& p = server.peer();
  CHECK(p.received == data);
  // The client stalled: the server stopped reading while its queue was full.
  CHECK(sent_before_stall > 0);
  CHECK(sent_before_stall < data.size());
  CHECK(p.pauses > 0);
  CHECK(p.drains >= p.pauses);
  CHECK_FALSE(p.read_while_stopped);
  // What was over the mark is one record's plaintext at most.
  CHECK(p.max_queued <= kHighWater + 16 * 1024 + 1024);
  CHECK(p.events.back() == "closed");
  CHECK_FALSE(p.after_closed);
  CHECK(ERR_peek_error() == 0);
}

TEST_CASE("tls: read_stop holds back records already received; read_start delivers them") {
  Loop loop;
  auto context = load_context();
  Server server(loop.get(), *context, [](Peer& p) {
    p.on_data = [](Peer& q, std::string_view) {
      if (q.reads == 1) q.tls->read_stop();
    };
  });
  std::string reply;
  bool close_notify = false;
  bool sent = false;
  {
    ClientThread client([&] {
      Client c(server.port());
      if (!c.handshake()) return;
      // Three records in one TCP send: they reach the server in one read.
      BIO* records = BIO_new(BIO_s_mem());
      SSL_set0_wbio(c.ssl(), records);
      for (std::string_view word : {"one", "two", "three"}) {
        SSL_write(c.ssl(), word.data(), static_cast<int>(word.size()));
      }
      char* bytes = nullptr;
      long size = BIO_get_mem_data(records, &bytes);
      sent = ::send(c.fd(), bytes, static_cast<size_t>(size), MSG_NOSIGNAL) == size;
      BIO* socket = SSL_get_rbio(c.ssl());
      BIO_up_ref(socket);
      SSL_set0_wbio(c.ssl(), socket);  // frees `records`
      close_notify = c.read_to_close(reply);
    });
    REQUIRE(loop.run_until([&] { return server.peers.size() == 1 && server.peer().reads == 1; }));
    Peer& p = server.peer();
    loop.run_for(200);
    CHECK(p.received == "one");
    CHECK(p.reads == 1);
    p.tls->read_start();
    CHECK(p.reads == 1);  // never from inside read_start()
    REQUIRE(loop.run_until([&] { return p.received == "onetwothree"; }));
    CHECK(p.reads == 3);
    p.tls->write("done");
    p.tls->close(true);
    REQUIRE(loop.run_until([&] { return client.done() && p.closed; }));
  }
  CHECK(sent);
  CHECK(reply == "done");
  CHECK(close_notify);
  CHECK(server.peer().events == Events{"read", "read", "read", "closed"});
}

TEST_CASE("tls: close(true) sends everything queued, then close_notify") {
  const std::string data = pattern(1 << 20, 11);
  Loop loop;
  auto context = load_context();
  size_t queued_at_start = 0;
  // Written and closed at accept, before the handshake: it all waits for it.
  Server server(
      loop.get(), *context,
      [&](Peer& p) {
        p.tls->write(data);
        queued_at_start = p.tls->queued();
        p.tls->close(true);
        CHECK(p.tls->closing());
        p.tls->write("ignored after close");
      },
      16 * 1024);
  std::string got;
  bool close_notify = false;
  {
    ClientThread client([&] {
      Client c(server.port(), {.socket_buffer = 16 * 1024});
      if (c.handshake()) close_notify = c.read_to_close(got);
    });
    REQUIRE(loop.run_until([&] { return client.done() && server.peer_closed(); }));
  }
  CHECK(queued_at_start == data.size());
  CHECK(got.size() == data.size());
  CHECK(got == data);
  CHECK(close_notify);
  CHECK(server.peer().events == Events{"closed"});  // no drain or error after close()
  CHECK(server.peer().tls->tls() != nullptr);
  CHECK(ERR_peek_error() == 0);
}

TEST_CASE("tls: close(false) after close(true) cuts the flush short") {
  Loop loop;
  auto context = load_context();
  const std::string data = pattern(4 << 20, 3);
  Server server(
      loop.get(), *context,
      [&](Peer& p) {
        p.tls->write(data);
        p.tls->close(true);
      },
      16 * 1024);
  std::string got;
  bool close_notify = true;
  std::atomic<bool> flushing{false};
  {
    ClientThread client([&] {
      Client c(server.port(), {.socket_buffer = 16 * 1024});
      if (!c.handshake()) return;
      char buf[100];
      int n = SSL_read(c.ssl(), buf, sizeof buf);  // the first bytes: the flush has begun
      if (n > 0) got.assign(buf, static_cast<size_t>(n));
      flushing = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      close_notify = c.read_to_close(got);
    });
    REQUIRE(loop.run_until([&] { return flushing.load(); }));
    server.peer().tls->close(false);
    REQUIRE(loop.run_until([&] { return client.done() && server.peer_closed(); }));
  }
  CHECK(got.size() < data.size());
  CHECK_FALSE(close_notify);
  CHECK(server.peer().events == Events{"closed"});
}

TEST_CASE("tls: close_notify from the client is on_eof; the answer still goes out") {
  Loop loop;
  auto context = load_context();
  Server server(loop.get(), *context, [](Peer& p) {
    p.on_end = [](Peer& q) {
      q.tls->write("pong");
      q.tls->close(true);
    };
  });
  std::string reply;
  bool close_notify = false;
  {
    ClientThread client([&] {
      Client c(server.port());
      if (!c.handshake() || !c.send("ping")) return;
      SSL_shutdown(c.ssl());  // our close_notify; reading goes on
      close_notify = c.read_to_close(reply);
    });
    REQUIRE(loop.run_until([&] { return client.done() && server.peer_closed(); }));
  }
  CHECK(server.peer().received == "ping");
  CHECK(server.peer().events == Events{"read", "eof", "closed"});
  CHECK(reply == "pong");
  CHECK(close_notify);
}

TEST_CASE("tls: TCP EOF without close_notify is on_eof too") {
  Loop loop;
  auto context = load_context();
  Server server(loop.get(), *context);
  std::string reply;
  bool close_notify = false;
  {
    ClientThread client([&] {
      Client c(server.port());
      if (!c.handshake() || !c.send("x")) return;
      ::shutdown(c.fd(), SHUT_WR);
      close_notify = c.read_to_close(reply);
    });
    REQUIRE(loop.run_until([&] { return client.done() && server.peer_closed(); }));
  }
  CHECK(server.peer().received == "x");
  CHECK(server.peer().events == Events{"read", "eof", "closed"});
  CHECK(close_notify);  // the peer's close(true) after on_eof
  CHECK(reply.empty());
}

TEST_CASE("tls: on_eof waits for held-back input while reading is stopped") {
  Loop loop;
  auto context = load_context();
  Server server(loop.get(), *context,
                [](Peer& p) { p.on_data = [](Peer& q, std::string_view) { q.tls->read_stop(); }; });
  {
    ClientThread client([&] {
      Client c(server.port());
      if (!c.handshake()) return;
      BIO* records = BIO_new(BIO_s_mem());
      SSL_set0_wbio(c.ssl(), records);
      SSL_write(c.ssl(), "ab", 2);
      SSL_write(c.ssl(), "cd", 2);
      char* bytes = nullptr;
      long size = BIO_get_mem_data(records, &bytes);
      ::send(c.fd(), bytes, static_cast<size_t>(size), MSG_NOSIGNAL);
      ::shutdown(c.fd(), SHUT_WR);
      BIO* socket = SSL_get_rbio(c.ssl());
      BIO_up_ref(socket);
      SSL_set0_wbio(c.ssl(), socket);
      std::string ignored;
      c.read_to_close(ignored);
    });
    REQUIRE(loop.run_until([&] { return server.peers.size() == 1 && server.peer().reads == 1; }));
    Peer& p = server.peer();
    loop.run_for(200);
    CHECK(p.events == Events{"read"});
    p.tls->read_start();
    REQUIRE(loop.run_until([&] { return p.reads == 2; }));
    p.tls->read_start();
    REQUIRE(loop.run_until([&] { return client.done() && p.closed; }));
  }
  CHECK(server.peer().received == "abcd");
  CHECK(server.peer().events == Events{"read", "read", "eof", "closed"});
}

TEST_CASE("tls: on_drain once the queue empties, and only after it was not empty") {
  const std::string data = pattern(1 << 20, 13);
  Loop loop;
  auto context = load_context();
  size_t queued_after_small = 1;
  size_t queued_after_large = 0;
  Server server(
      loop.get(), *context,
      [&](Peer& p) {
        p.on_data = [&](Peer& q, std::string_view) {
          q.tls->write("hi");  // the socket takes it at once: nothing to drain
          queued_after_small = q.tls->queued();
          q.tls->write(data);
          queued_after_large = q.tls->queued();
        };
        p.on_drained = [](Peer& q) { q.tls->close(true); };
      },
      16 * 1024);
  std::string got;
  bool close_notify = false;
  {
    ClientThread client([&] {
      Client c(server.port(), {.socket_buffer = 16 * 1024});
      if (!c.handshake() || !c.send("go")) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the queue fill
      close_notify = c.read_to_close(got);
    });
    REQUIRE(loop.run_until([&] { return client.done() && server.peer_closed(); }));
  }
  CHECK(queued_after_small == 0);
  CHECK(queued_after_large > 0);
  CHECK(queued_after_large <= data.size() + 2);
  CHECK(server.peer().events == Events{"read", "drain", "closed"});
  CHECK(got == "hi" + data);
  CHECK(close_notify);
}

TEST_CASE("tls: a corrupt record after the handshake ends the connection with an alert") {
  Loop loop;
  auto context = load_context();
  Server server(loop.get(), *context);
  std::string client_error;
  {
    ClientThread client([&] {
      Client c(server.port());
      if (!c.handshake()) return;
      BIO* records = BIO_new(BIO_s_mem());
      SSL_set0_wbio(c.ssl(), records);
      SSL_write(c.ssl(), "hello", 5);
      char* bytes = nullptr;
      long size = BIO_get_mem_data(records, &bytes);
      std::string record(bytes, static_cast<size_t>(size));
      record.back() ^= 1;  // the tag no longer matches
      ::send(c.fd(), record.data(), record.size(), MSG_NOSIGNAL);
      BIO* socket = SSL_get_rbio(c.ssl());
      BIO_up_ref(socket);
      SSL_set0_wbio(c.ssl(), socket);
      char buf[100];
      if (SSL_read(c.ssl(), buf, sizeof buf) <= 0) client_error = take_ssl_error();
    });
    REQUIRE(loop.run_until([&] { return client.done() && server.peer_closed(); }));
  }
  Peer& p = server.peer();
  CHECK(p.received.empty());
  CHECK(p.events == Events{"error", "closed"});
  CHECK(p.error_code == UV_EPROTO);
  CHECK(p.tls->error_detail() == "TLS: decryption failed or bad record mac");
  CHECK(client_error == "sslv3 alert bad record mac");
  CHECK(ERR_peek_error() == 0);
}

TEST_CASE("tls: a reset from the client is on_error with libuv's code") {
  Loop loop;
  auto context = load_context();
  Server server(loop.get(), *context);
  {
    ClientThread client([&] {
      Client c(server.port());
      if (!c.handshake()) return;
      linger hard{1, 0};  // close() sends RST
      setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    });
    REQUIRE(loop.run_until([&] { return client.done() && server.peer_closed(); }));
  }
  Peer& p = server.peer();
  CHECK(p.events == Events{"error", "closed"});
  // A reset read, or a reset met while sending the session tickets.
  CHECK((p.error_code == UV_ECONNRESET || p.error_code == UV_EPIPE));
  CHECK(p.tls->error_detail().empty());  // the code says it all
}

TEST_CASE("tls: a TLS 1.2 client asking to renegotiate is refused") {
  Loop loop;
  auto context = load_context();
  Server server(loop.get(), *context);
  bool asked = false;
  std::string client_error;
  {
    ClientThread client([&] {
      Client c(server.port(), {.max_version = TLS1_2_VERSION});
      if (!c.handshake() || !c.send("a")) return;
      asked = SSL_renegotiate(c.ssl()) == 1;
      ERR_clear_error();
      // The server answers the new ClientHello with a no_renegotiation
      // warning, which this client takes as the end.
      if (SSL_do_handshake(c.ssl()) != 1) client_error = take_ssl_error();
    });
    REQUIRE(loop.run_until([&] { return client.done() && server.peer_closed(); }));
  }
  CHECK(asked);
  CHECK(client_error == "no renegotiation");
  Peer& p = server.peer();
  CHECK(p.received == "a");
  CHECK(p.events == Events{"read", "error", "closed"});
  CHECK(p.tls->error_detail() == "TLS: sslv3 alert handshake failure");
}

TEST_CASE("tls: a client certificate shows in the facts") {
  // Not a configuration the daemon offers yet: asked for here through the
  // native handle, accepting any certificate.
  auto context = load_context();
  SSL_CTX_set_verify(context->native_handle(), SSL_VERIFY_PEER,
                     [](int, X509_STORE_CTX*) { return 1; });
  EVP_PKEY* key = EVP_EC_gen("P-256");
  REQUIRE(key != nullptr);
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("test client"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  REQUIRE(X509_sign(cert, key, EVP_sha256()) > 0);
  BIO* pem = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(pem, cert);
  char* pem_data = nullptr;
  long pem_len = BIO_get_mem_data(pem, &pem_data);
  std::string expected(pem_data, static_cast<size_t>(pem_len));
  BIO_free(pem);

  for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    CAPTURE(version);
    HelloRun run = run_hello({.max_version = version, .cert = cert, .key = key}, context.get());
    REQUIRE_MESSAGE(run.client.ok, run.client.error);
    REQUIRE(run.facts.has_value());
    CHECK(run.facts->client_cert == expected);
    CHECK(run.client.reply == "bye");
  }
  X509_free(cert);
  EVP_PKEY_free(key);
}

TEST_CASE("tls: destroying an open TlsStream frees everything") {
  Loop loop;
  auto context = load_context();
  Server server(loop.get(), *context);
  bool close_notify = true;
  {
    ClientThread client([&] {
      Client c(server.port());
      if (!c.handshake() || !c.send("hello")) return;
      std::string ignored;
      close_notify = c.read_to_close(ignored);
    });
    REQUIRE(loop.run_until([&] { return server.peers.size() == 1 && server.peer().reads == 1; }));
    server.peer().tls->write(pattern(1 << 20, 5));  // with data still queued
    server.peer().tls.reset();
    REQUIRE(loop.run_until([&] { return client.done(); }));
  }
  CHECK_FALSE(close_notify);
  CHECK(server.peer().events == Events{"read"});
  // ~Loop checks that every handle was closed.
}

namespace {

// A private key in a temporary PEM file, encrypted when given a passphrase.
struct TempKey {
  TempKey(EVP_PKEY* key, const char* passphrase) {
    char name[] = "/tmp/gw-tls-test-XXXXXX";
    int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    path = name;
    FILE* f = fdopen(fd, "w");
    const EVP_CIPHER* cipher = passphrase ? EVP_aes_256_cbc() : nullptr;
    int pass_len = passphrase ? static_cast<int>(std::strlen(passphrase)) : 0;
    CHECK(PEM_write_PKCS8PrivateKey(f, key, cipher, passphrase, pass_len, nullptr, nullptr) == 1);
    std::fclose(f);
    EVP_PKEY_free(key);
  }
  ~TempKey() { ::unlink(path.c_str()); }
  std::string path;
};

}  // namespace

TEST_CASE("tls: TlsContext::load errors name the file and the reason") {
  const std::string cert = kDir + "server.pem";
  const std::string key = kDir + "server.key";
  std::string error;
  SUBCASE("missing certificate") {
    CHECK(TlsContext::load(kDir + "nope.pem", key, error) == nullptr);
    CHECK(error == kDir + "nope.pem: No such file or directory");
  }
  SUBCASE("missing key") {
    CHECK(TlsContext::load(cert, kDir + "nope.key", error) == nullptr);
    CHECK(error == kDir + "nope.key: No such file or directory");
  }
  SUBCASE("a certificate file that is not PEM") {
    CHECK(TlsContext::load(kDir + "make-certs", key, error) == nullptr);
    CHECK(error == kDir + "make-certs: not a usable PEM certificate chain: no start line");
  }
  SUBCASE("a key file that is not a key") {
    CHECK(TlsContext::load(cert, kDir + "ca.pem", error) == nullptr);
    CHECK(error == kDir + "ca.pem: not a usable PEM private key: unsupported");
  }
  SUBCASE("a key that does not match the certificate") {
    CHECK(TlsContext::load(kDir + "ca.pem", key, error) == nullptr);
    CHECK(error == key + ": the private key does not match the certificate in " + kDir + "ca.pem");
  }
  SUBCASE("a key of another type than the certificate's") {
    TempKey rsa(EVP_RSA_gen(2048), nullptr);
    CHECK(TlsContext::load(cert, rsa.path, error) == nullptr);
    CHECK(error == rsa.path + ": the private key does not match the certificate in " + cert);
  }
  SUBCASE("an encrypted key is refused, not prompted for") {
    TempKey locked(EVP_EC_gen("P-256"), "secret");
    CHECK(TlsContext::load(cert, locked.path, error) == nullptr);
    CHECK(error.rfind(locked.path + ": not a usable PEM private key: ", 0) == 0);
  }
  SUBCASE("the right pair") {
    CHECK(TlsContext::load(cert, key, error) != nullptr);
    CHECK(error.empty());
  }
  CHECK(ERR_peek_error() == 0);
}
