// The `fastcgi` backend against a real libuv loop and a FastCGI app that runs
// on threads of its own with blocking sockets and speaks FastCGI through
// FastCgiServerCodec (raw records where a test needs a misbehaving app).
// Every wait is bounded: the loop runs against a deadline and the app's
// reads poll with a timeout.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "dispatch/backends/fastcgi_backend.h"
#include "gateway/io/timer.h"
#include "protocols/fastcgi_client.h"
#include "protocols/fastcgi_server.h"
#include "protocols/fastcgi_wire.h"
#include "tests/support/recording_sink.h"
#include "tests/support/slow_client.h"
#include "tests/support/split.h"
#include "tests/support/test_app.h"
#include "tests/support/test_loop.h"

namespace {

using gw::FastCgiBackend;
using gw::FastCgiBackendOptions;
using gw::Header;
using gw::Request;
using gw::ResponseHead;
using Clock = std::chrono::steady_clock;
using FakeSink = gw::test::RecordingSink;
namespace fcgi = gw::fcgi;

void sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// ---- The app: FastCGI over blocking sockets, one thread per connection ----

// What the app does with its answers to management records (FCGI_GET_VALUES)
// on its first connection; later connections always answer.
enum class Mgmt { Answer, Silent, UnknownType, Close };

struct AppRequest {
  gw::StreamId id = 0;
  Request request;
  std::string body;
  bool body_ended = false;
  bool aborted = false;
};

// One accepted connection, from the app's side.
class FcgiConn : public gw::test::AppSocket {
 public:
  FcgiConn(int fd, const std::atomic<bool>& stopping, const gw::Limits& limits, Mgmt mgmt)
      : AppSocket(fd, stopping), codec_(limits, false), mgmt_(mgmt) {}

  // Waits for the next request to start; false on close or timeout.
  bool wait_started() {
    while (requests_.size() <= taken_) {
      if (!pump()) return false;
    }
    ++taken_;
    return true;
  }
  // The request last returned by wait_started().
  AppRequest& current() { return requests_[taken_ - 1]; }
  bool wait_body_end() {
    while (!current().body_ended && !current().aborted) {
      if (!pump()) return false;
    }
    return current().body_ended;
  }
  bool wait_aborted() {
    while (!current().aborted) {
      if (!pump()) return false;
    }
    return true;
  }
  bool next() { return wait_started() && wait_body_end(); }

  // Answers the current request through the codec; false when the
  // connection is not to be kept (no FCGI_KEEP_CONN).
  bool respond(int status, std::vector<Header> headers, std::string_view body) {
    ResponseHead head;
    head.status = status;
    head.headers = std::move(headers);
    std::string out;
    codec_.write_head(current().id, head, out);
    if (!body.empty()) codec_.write_body(current().id, body, out);
    bool keep = codec_.write_end(current().id, out);
    send(out);
    return keep;
  }
  // END_REQUEST for the current request alone.
  bool end() {
    std::string out;
    bool keep = codec_.write_end(current().id, out);
    send(out);
    return keep;
  }

 private:
  // One read fed to the codec; false on close or timeout.
  bool pump() {
    if (!fill()) return false;
    std::vector<gw::Event> events;
    std::string out;
    gw::FeedResult r = codec_.feed(buf_, events, out);
    for (auto& e : events) {
      if (auto* s = std::get_if<gw::RequestStarted>(&e)) {
        requests_.push_back(AppRequest{s->stream, std::move(s->request), "", false, false});
      } else if (auto* d = std::get_if<gw::BodyData>(&e)) {
        find(d->stream).body.append(d->data);
      } else if (auto* b = std::get_if<gw::BodyEnd>(&e)) {
        find(b->stream).body_ended = true;
      } else if (auto* a = std::get_if<gw::StreamAborted>(&e)) {
        find(a->stream).aborted = true;
      }
    }
    buf_.erase(0, r.consumed);
    if (r.error) return false;
    if (!out.empty()) {
      switch (mgmt_) {
        case Mgmt::Answer:
          send(out);
          break;
        case Mgmt::Silent:
          break;
        case Mgmt::UnknownType: {
          std::string unknown;
          fcgi::append_unknown_type(unknown, fcgi::FCGI_GET_VALUES);
          send(unknown);
          break;
        }
        case Mgmt::Close:
          ::close(fd_);
          fd_ = -1;
          return false;
      }
      mgmt_ = Mgmt::Answer;
    }
    return true;
  }

  AppRequest& find(gw::StreamId id) {
    for (auto it = requests_.rbegin(); it != requests_.rend(); ++it) {
      if (it->id == id) return *it;
    }
    return stray_;  // the codec reports no id it did not start; the tests then fail
  }

  gw::FastCgiServerCodec codec_;
  Mgmt mgmt_;
  std::deque<AppRequest> requests_;
  AppRequest stray_;
  size_t taken_ = 0;
};

struct AppOptions {
  std::string unix_path;  // "" for 127.0.0.1:0
  gw::Limits limits;
  Mgmt first_mgmt = Mgmt::Answer;
  int backlog = 16;
  // 0: a thread per connection. Else that many workers, each serving one
  // connection until it closes before accepting the next, as PHP-FPM does.
  int workers = 0;
};

// Accepts connections and runs `handler(conn, index)` for each on a thread
// of its own. What handlers record() is read after stop() (the joins order
// it); accepts(), flag() and the busy counters may be read while it runs.
class App {
 public:
  using Handler = std::function<void(FcgiConn&, int)>;

  explicit App(Handler handler, AppOptions options = {})
      : handler_(std::move(handler)),
        options_(std::move(options)),
        listener_(options_.unix_path, options_.backlog) {
    int fd = listener_.fd();
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);  // workers race to accept
    if (handler_) thread_ = std::thread([this] { serve(); });
  }
  ~App() { stop(); }

  std::string address() const { return listener_.address(); }
  uint16_t port() const { return listener_.port(); }
  int accepts() const { return accepts_; }
  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  void set_flag(int i) { flags_[i] = true; }
  bool flag(int i) const { return flags_[i]; }
  void record(std::string what) {
    std::lock_guard<std::mutex> lock(mutex_);
    log.push_back(std::move(what));
  }
  // Requests being worked on at once, as handlers report them.
  void busy(int delta) {
    int now = inflight_ += delta;
    int seen = max_inflight_;
    while (now > seen && !max_inflight_.compare_exchange_weak(seen, now)) {
    }
  }
  int max_inflight() const { return max_inflight_; }

  std::vector<std::string> log;  // what handlers recorded, in order

 private:
  void serve() {
    std::vector<std::thread> threads;
    for (int w = 0; w < options_.workers; ++w) {
      threads.emplace_back([this] {
        while (int c = accept_one()) {
          if (c > 0) run(c);
        }
      });
    }
    while (options_.workers == 0) {
      int c = accept_one();
      if (c == 0) break;
      if (c > 0) threads.emplace_back([this, c] { run(c); });
    }
    for (auto& t : threads) t.join();
  }

  // A connection, -1 when none came in a while, 0 when stopping.
  int accept_one() {
    if (stopping_) return 0;
    pollfd p{listener_.fd(), POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) return -1;
    int c = accept(listener_.fd(), nullptr, nullptr);
    return c > 0 ? c : -1;
  }

  void run(int fd) {
    int index = accepts_++;
    FcgiConn conn(fd, stopping_, options_.limits, index == 0 ? options_.first_mgmt : Mgmt::Answer);
    handler_(conn, index);
  }

  Handler handler_;
  AppOptions options_;
  gw::test::TestListener listener_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepts_{0};
  std::atomic<int> inflight_{0};
  std::atomic<int> max_inflight_{0};
  std::atomic<bool> flags_[4] = {};
  std::mutex mutex_;
  std::thread thread_;
};

// ---- The loop ----

using Loop = gw::test::TestLoop;

// ---- Helpers ----

Request make_request(std::string method, std::string target,
                     std::optional<uint64_t> content_length = 0) {
  Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  size_t q = r.target.find('?');
  r.path = r.target.substr(0, q);
  if (q != std::string::npos) r.query = r.target.substr(q + 1);
  r.path_info = r.path;
  r.server_protocol = "HTTP/1.1";
  r.headers = {{"Host", "example.org"}};
  r.content_length = content_length;
  r.remote_addr = "192.0.2.7";
  r.server_name = "example.org";
  r.server_port = 80;
  return r;
}

FastCgiBackendOptions options_for(const App& app, uint32_t timeout_ms = 5000) {
  FastCgiBackendOptions o;
  o.upstream = app.address();
  o.connect_timeout_ms = 2000;
  o.timeout_ms = timeout_ms;
  o.get_values_timeout_ms = 500;
  return o;
}

std::string param(const Request& r, std::string_view name) {
  for (const Header& p : r.params) {
    if (p.name == name) return p.value;
  }
  return "<absent>";
}

// An app answering every request on a connection with "hello".
App::Handler serve_hello(App& app) {
  return [&app](FcgiConn& c, int) {
    while (c.next()) {
      app.record(c.current().request.method + " " + c.current().request.target);
      if (!c.respond(200, {{"Content-Type", "text/plain"}}, "hello")) return;
    }
  };
}

// Runs one request with no body to its end.
void fetch(Loop& loop, FastCgiBackend& backend, FakeSink& sink, const Request& req) {
  auto ex = backend.start(req, sink);
  ex->finish_body();
  REQUIRE(loop.run_until([&] { return sink.finished(); }));
}

std::string stdout_records(gw::StreamId id, std::string_view data) {
  std::string out;
  fcgi::append_stream_data(out, fcgi::FCGI_STDOUT, id, data);
  return out;
}

std::string end_request(gw::StreamId id, uint8_t protocol_status, uint32_t app_status = 0) {
  std::string out;
  fcgi::append_end_request(out, id, app_status, protocol_status);
  return out;
}

using Vars = std::vector<std::pair<std::string, std::string>>;

Vars flatten(const std::vector<Header>& vars) {
  Vars out;
  for (const auto& v : vars) out.emplace_back(v.name, v.value);
  return out;
}

}  // namespace

// ---- Variables (pure) ----

TEST_CASE("fastcgi backend: request variables with a fixed script and extra params") {
  Request r = make_request("POST", "/app/tickets/1?x=%41", 3);
  r.script_name = "/app";
  r.path_info = "/tickets/1";
  r.headers = {{"Host", "example.org"},
               {"Content-Type", "text/plain"},
               {"Content-Length", "3"},
               {"Proxy", "http://evil/"},
               {"X-A", "1"},
               {"X-A", "2"}};
  r.remote_port = 5555;
  r.https = true;
  r.remote_user = "alice";
  r.auth_type = "Basic";
  r.ssl_protocol = "TLSv1.3";
  FastCgiBackendOptions o;
  o.script_filename = "/srv/app/index.php";
  o.params = {{"TRAC_ENV", "/srv/trac"},
              {"CONTENT_LENGTH", "999"},
              {"SERVER_SOFTWARE", "front"},
              {"", "nameless"},
              {"TRAC_ENV", "/srv/trac2"}};
  Vars want = {
      {"CONTENT_LENGTH", "3"},
      {"CONTENT_TYPE", "text/plain"},
      {"GATEWAY_INTERFACE", "CGI/1.1"},
      {"HTTPS", "on"},
      {"PATH_INFO", "/tickets/1"},
      {"QUERY_STRING", "x=%41"},
      {"REMOTE_ADDR", "192.0.2.7"},
      {"REMOTE_PORT", "5555"},
      {"AUTH_TYPE", "Basic"},
      {"REMOTE_USER", "alice"},
      {"REQUEST_METHOD", "POST"},
      {"REQUEST_URI", "/app/tickets/1?x=%41"},
      {"SCRIPT_FILENAME", "/srv/app/index.php"},
      {"SCRIPT_NAME", "/app"},
      {"SERVER_NAME", "example.org"},
      {"SERVER_PORT", "80"},
      {"SERVER_PROTOCOL", "HTTP/1.1"},
      {"SERVER_SOFTWARE", "front"},
      {"SSL_PROTOCOL", "TLSv1.3"},
      {"HTTP_HOST", "example.org"},
      {"HTTP_X_A", "1, 2"},
      {"REDIRECT_STATUS", "200"},
      {"TRAC_ENV", "/srv/trac2"},
  };
  CHECK(flatten(gw::fastcgi_request_vars(r, o)) == want);
}

TEST_CASE("fastcgi backend: document_root maps the path PHP-style") {
  FastCgiBackendOptions o;
  o.document_root = "/srv/blog/";
  Request r = make_request("GET", "/");
  r.script_name = "/blog";
  struct Case {
    std::string path_info;
    std::string script_filename, script_name, path_info_sent;
  };
  std::vector<Case> cases = {
      {"/sub/index.php/extra/x.php", "/srv/blog/sub/index.php", "/blog/sub/index.php",
       "/extra/x.php"},
      {"/a.php", "/srv/blog/a.php", "/blog/a.php", ""},
      {"/sub/", "/srv/blog/sub/index.php", "/blog/sub/index.php", ""},
      {"", "/srv/blog/index.php", "/blog/index.php", ""},
      {"/.php/x", "/srv/blog/.php/x", "/blog", "/.php/x"},  // no script name before ".php"
      {"/style.css", "/srv/blog/style.css", "/blog", "/style.css"},
      {"/x.phpx/y", "/srv/blog/x.phpx/y", "/blog", "/x.phpx/y"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.path_info);
    r.path_info = c.path_info;
    std::vector<Header> vars = gw::fastcgi_request_vars(r, o);
    auto get = [&vars](std::string_view name) {
      std::string found = "<absent>";
      int count = 0;
      for (const auto& v : vars) {
        if (v.name == name) {
          found = v.value;
          ++count;
        }
      }
      CHECK(count <= 1);
      return found;
    };
    CHECK(get("DOCUMENT_ROOT") == "/srv/blog/");
    CHECK(get("SCRIPT_FILENAME") == c.script_filename);
    CHECK(get("SCRIPT_NAME") == c.script_name);
    CHECK(get("PATH_INFO") == c.path_info_sent);
  }
  SUBCASE("no index: a directory is passed as it is") {
    o.index.clear();
    r.path_info = "/sub/";
    Vars vars = flatten(gw::fastcgi_request_vars(r, o));
    CHECK(std::count(vars.begin(), vars.end(),
                     std::pair<std::string, std::string>("SCRIPT_FILENAME", "/srv/blog/sub/")) ==
          1);
  }
  SUBCASE("a script_filename wins and keeps the routed split") {
    o.script_filename = "/srv/blog/index.php";
    r.path_info = "/a.php/b";
    Vars vars = flatten(gw::fastcgi_request_vars(r, o));
    CHECK(std::count(vars.begin(), vars.end(),
                     std::pair<std::string, std::string>("PATH_INFO", "/a.php/b")) == 1);
    CHECK(std::count(vars.begin(), vars.end(),
                     std::pair<std::string, std::string>("SCRIPT_NAME", "/blog")) == 1);
  }
}

TEST_CASE("fastcgi backend: the decoder tells when it stands between records") {
  std::string stream = stdout_records(1, "Status: 200 OK\r\n\r\nhi");
  std::string end = end_request(1, fcgi::FCGI_REQUEST_COMPLETE);
  end[6] = 3;  // three bytes of padding
  end += "pad";
  std::string input = stream + end;
  gw::test::for_each_split(input, [&](std::string_view a, std::string_view b) {
    gw::FastCgiClientDecoder decoder;
    std::vector<fcgi::ClientEvent> events;
    CHECK(decoder.at_record_boundary());
    REQUIRE_FALSE(decoder.feed(a, events).error);
    bool ends_a_record = a.size() == stream.size() || a.size() == input.size();
    CHECK(decoder.at_record_boundary() == ends_a_record);
    REQUIRE_FALSE(decoder.feed(b, events).error);
    CHECK(decoder.at_record_boundary());
    REQUIRE(std::holds_alternative<fcgi::EndRequest>(events.back()));
    // Part of a next record's header: no longer between records.
    REQUIRE_FALSE(decoder.feed(std::string_view("\x01\x06", 2), events).error);
    CHECK_FALSE(decoder.at_record_boundary());
  });
}

// ---- Requests against a real app ----

TEST_CASE("fastcgi backend: GET, the variables the app gets and the response") {
  Loop loop;
  App app([&app](FcgiConn& c, int) {
    if (!c.next()) return;
    const Request& r = c.current().request;
    app.record(r.method + " " + r.target + " | " + r.script_name + " | " + r.path_info + " | " +
               (r.content_length ? std::to_string(*r.content_length) : "none") + " | " +
               *r.header("Host") + " | " + param(r, "SCRIPT_FILENAME") + " | " +
               param(r, "DOCUMENT_ROOT") + " | " + param(r, "REDIRECT_STATUS") + " | " +
               param(r, "TRAC_ENV") + " | " + (r.https ? "https" : "http") + " | " + r.remote_user);
    c.respond(201, {{"Content-Type", "text/plain"}, {"X-App", "1"}}, "hello");
    c.wait_closed();
  });
  {
    FastCgiBackendOptions o = options_for(app);
    o.script_filename = "/srv/app/index.php";
    o.document_root = "/srv/app";
    o.params = {{"TRAC_ENV", "/srv/trac"}};
    FastCgiBackend backend(loop.get(), o);
    CHECK(backend.setup_error().empty());
    CHECK(backend.kind() == "fastcgi");
    FakeSink sink;
    Request req = make_request("GET", "/app/x?y=1");
    req.script_name = "/app";
    req.path_info = "/x";
    req.https = true;
    req.remote_user = "alice";
    fetch(loop, backend, sink, req);
    CHECK(sink.ended);
    REQUIRE(sink.head);
    CHECK(sink.head->status == 201);
    CHECK(sink.header("Content-Type") == "text/plain");
    CHECK(sink.header("X-App") == "1");
    CHECK(sink.body() == "hello");
    CHECK(sink.logs.empty());
    // The app answered FCGI_GET_VALUES: the smaller of its MAX_CONNS (4096)
    // and MAX_REQS (64).
    CHECK(backend.connection_limit() == 64);
  }
  app.stop();
  REQUIRE(app.log.size() == 1);
  CHECK(app.log[0] ==
        "GET /app/x?y=1 | /app | /x | 0 | example.org | /srv/app/index.php | /srv/app | 200 | "
        "/srv/trac | https | alice");
}

TEST_CASE("fastcgi backend: POST of 10 MiB streams with backpressure and the app reads it") {
  constexpr size_t kSize = 10 << 20;
  auto byte_at = [](size_t i) { return static_cast<char>('a' + (i * 7 + i / 65536) % 26); };
  Loop loop;
  App app([&app, &byte_at](FcgiConn& c, int) {
    if (!c.wait_started()) return;
    app.set_flag(0);
    while (!app.flag(2)) sleep_ms(5);  // reads nothing until told
    if (!c.wait_body_end()) return;
    const std::string& body = c.current().body;
    size_t bad = 0;
    while (bad < body.size() && body[bad] == byte_at(bad)) ++bad;
    app.record(std::to_string(body.size()) + " " +
               std::to_string(*c.current().request.content_length) +
               (bad == body.size() ? " intact" : " differs at " + std::to_string(bad)));
    c.respond(200, {}, "got " + std::to_string(body.size()));
    c.wait_closed();
  });
  FastCgiBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  auto ex = backend.start(make_request("POST", "/up", kSize), sink);
  size_t sent = 0;
  std::string piece;
  auto push = [&] {
    while (sent < kSize && !ex->body_congested()) {
      size_t n = std::min<size_t>(64 * 1024 + 17, kSize - sent);
      piece.resize(n);
      for (size_t i = 0; i < n; ++i) piece[i] = byte_at(sent + i);
      ex->send_body(piece);
      sent += n;
    }
  };
  // Before the request goes the backend holds the body up to its bound.
  push();
  CHECK(ex->body_congested());
  CHECK(sent >= 256 * 1024);
  CHECK(sent <= 512 * 1024);
  REQUIRE(loop.run_until([&] { return app.flag(0); }));
  // The app reads nothing yet: once the socket buffers are full the queue
  // stays above the bound however long the loop runs.
  bool stuck = false;
  for (int i = 0; i < 250 && !stuck; ++i) {
    push();
    loop.run_for(20);
    stuck = ex->body_congested();
  }
  REQUIRE(stuck);
  CHECK(sent < kSize);
  app.set_flag(2);
  // Every pause ends with on_body_drained, as the connection waits for it.
  while (sent < kSize) {
    if (!ex->body_congested()) {
      push();
      continue;
    }
    int drained = sink.drained;
    REQUIRE(loop.run_until([&] { return sink.drained > drained; }));
  }
  ex->finish_body();
  REQUIRE(loop.run_until([&] { return sink.finished(); }, 20000));
  CHECK(sink.ended);
  CHECK(sink.body() == "got " + std::to_string(kSize));
  app.stop();
  REQUIRE(app.log.size() == 1);
  CHECK(app.log[0] == std::to_string(kSize) + " " + std::to_string(kSize) + " intact");
}

TEST_CASE("fastcgi backend: one kept connection carries sequential requests") {
  Loop loop;
  App app(serve_hello(app));
  FastCgiBackend backend(loop.get(), options_for(app));
  for (int i = 0; i < 5; ++i) {
    FakeSink sink;
    fetch(loop, backend, sink, make_request("GET", "/" + std::to_string(i)));
    CHECK(sink.ended);
    CHECK(sink.body() == "hello");
    CHECK(backend.idle_connections() == 1);
  }
  CHECK(app.accepts() == 1);
  CHECK(backend.open_connections() == 1);
  app.stop();
  CHECK(app.log == std::vector<std::string>{"GET /0", "GET /1", "GET /2", "GET /3", "GET /4"});
}

TEST_CASE("fastcgi backend: keepalive 0 uses one connection per request") {
  Loop loop;
  App app(serve_hello(app));
  FastCgiBackendOptions o = options_for(app);
  o.keepalive = 0;
  FastCgiBackend backend(loop.get(), o);
  for (int i = 0; i < 3; ++i) {
    FakeSink sink;
    fetch(loop, backend, sink, make_request("GET", "/"));
    CHECK(sink.body() == "hello");
    CHECK(backend.idle_connections() == 0);
  }
  CHECK(loop.run_until([&] { return backend.open_connections() == 0; }));
  CHECK(app.accepts() == 3);
}

TEST_CASE("fastcgi backend: never more concurrent requests than FCGI_GET_VALUES allows") {
  Loop loop;
  AppOptions ao;
  ao.limits.max_connections = 2;  // FCGI_MAX_CONNS=2
  App app(
      [&app](FcgiConn& c, int) {
        while (c.next()) {
          app.busy(+1);
          sleep_ms(30);
          app.busy(-1);
          if (!c.respond(200, {}, c.current().request.target)) return;
        }
      },
      ao);
  bool keep = true;
  SUBCASE("kept connections") {}
  SUBCASE("one connection per request") {
    keep = false;
  }
  FastCgiBackendOptions o = options_for(app);
  if (!keep) o.keepalive = 0;
  FastCgiBackend backend(loop.get(), o);
  constexpr int kRequests = 6;
  std::vector<std::unique_ptr<FakeSink>> sinks;
  std::vector<std::unique_ptr<gw::Exchange>> exchanges;
  for (int i = 0; i < kRequests; ++i) {
    sinks.push_back(std::make_unique<FakeSink>());
    exchanges.push_back(backend.start(make_request("GET", "/" + std::to_string(i)), *sinks[i]));
    exchanges.back()->finish_body();
  }
  size_t most_open = 0;
  REQUIRE(loop.run_until([&] {
    most_open = std::max(most_open, backend.open_connections());
    return std::all_of(sinks.begin(), sinks.end(), [](auto& s) { return s->finished(); });
  }));
  for (int i = 0; i < kRequests; ++i) {
    CHECK(sinks[i]->ended);
    CHECK(sinks[i]->body() == "/" + std::to_string(i));
  }
  CHECK(backend.connection_limit() == 2);
  CHECK(most_open <= 2);
  CHECK(app.max_inflight() == 2);  // the cap was reached, never passed
  if (keep) CHECK(app.accepts() == 2);
  if (!keep) CHECK(app.accepts() == kRequests);
}

TEST_CASE("fastcgi backend: apps that do not answer FCGI_GET_VALUES still work") {
  Loop loop;
  AppOptions ao;
  int expect_accepts = 0;
  SUBCASE("silent") {
    ao.first_mgmt = Mgmt::Silent;
    expect_accepts = 3;  // the first request waited on its connection; two more opened
  }
  SUBCASE("FCGI_UNKNOWN_TYPE") {
    ao.first_mgmt = Mgmt::UnknownType;
    expect_accepts = 3;
  }
  SUBCASE("closes the connection") {
    ao.first_mgmt = Mgmt::Close;
    expect_accepts = 4;  // the first request goes again on a new connection
  }
  App app(serve_hello(app), ao);
  FastCgiBackendOptions o = options_for(app);
  o.get_values_timeout_ms = 400;
  FastCgiBackend backend(loop.get(), o);
  // Requests arriving while the first connection asks wait for the answer.
  std::vector<std::unique_ptr<FakeSink>> sinks;
  std::vector<std::unique_ptr<gw::Exchange>> exchanges;
  auto started = Clock::now();
  for (int i = 0; i < 3; ++i) {
    sinks.push_back(std::make_unique<FakeSink>());
    exchanges.push_back(backend.start(make_request("GET", "/"), *sinks[i]));
    exchanges.back()->finish_body();
  }
  REQUIRE(loop.run_until([&] {
    return std::all_of(sinks.begin(), sinks.end(), [](auto& s) { return s->finished(); });
  }));
  auto took = Clock::now() - started;
  for (auto& s : sinks) {
    CHECK(s->ended);
    CHECK(s->body() == "hello");
  }
  CHECK(backend.connection_limit() == 0);
  CHECK(app.accepts() == expect_accepts);
  // libuv counts from its cached loop time, up to a millisecond or so early.
  if (ao.first_mgmt == Mgmt::Silent) CHECK(took >= std::chrono::milliseconds(390));
  if (ao.first_mgmt != Mgmt::Silent) CHECK(took < std::chrono::milliseconds(400));
}

TEST_CASE("fastcgi backend: an app with fewer workers than connections and no cap") {
  // As PHP-FPM: each worker stays with its kept connection, and GET_VALUES
  // gets no FCGI_MAX_CONNS. Connections over the worker count wait in the
  // accept queue until a kept one closes.
  Loop loop;
  AppOptions ao;
  ao.workers = 2;
  ao.first_mgmt = Mgmt::UnknownType;
  App app(
      [&app](FcgiConn& c, int) {
        while (c.next()) {
          app.busy(+1);
          sleep_ms(30);
          app.busy(-1);
          if (!c.respond(200, {}, c.current().request.target)) return;
        }
      },
      ao);
  // Well under the 3 s a worker waits on an idle connection before it
  // closes it: requests left in the accept queue would time out.
  FastCgiBackend backend(loop.get(), options_for(app, 1000));
  constexpr int kRequests = 6;
  std::vector<std::unique_ptr<FakeSink>> sinks;
  std::vector<std::unique_ptr<gw::Exchange>> exchanges;
  for (int i = 0; i < kRequests; ++i) {
    sinks.push_back(std::make_unique<FakeSink>());
    exchanges.push_back(backend.start(make_request("GET", "/" + std::to_string(i)), *sinks[i]));
    exchanges.back()->finish_body();
  }
  REQUIRE(loop.run_until([&] {
    return std::all_of(sinks.begin(), sinks.end(), [](auto& s) { return s->finished(); });
  }));
  for (int i = 0; i < kRequests; ++i) {
    CHECK(sinks[i]->ended);
    CHECK(sinks[i]->body() == "/" + std::to_string(i));
  }
  CHECK(backend.connection_limit() == 0);
  CHECK(app.max_inflight() == 2);
  // Once nothing waits, connections are kept again.
  REQUIRE(backend.idle_connections() >= 1);
  int accepts = app.accepts();
  FakeSink later;
  fetch(loop, backend, later, make_request("GET", "/later"));
  CHECK(later.body() == "/later");
  CHECK(app.accepts() == accepts);
}

TEST_CASE("fastcgi backend: a configured max_conns caps without asking the app") {
  Loop loop;
  App app(
      [&app](FcgiConn& c, int) {
        while (c.next()) {
          app.busy(+1);
          sleep_ms(20);
          app.busy(-1);
          if (!c.respond(200, {}, "ok")) return;
        }
      },
      AppOptions{"", gw::Limits{}, Mgmt::Close, 16});  // closing on GET_VALUES would show
  FastCgiBackendOptions o = options_for(app);
  o.max_conns = 1;
  FastCgiBackend backend(loop.get(), o);
  CHECK(backend.connection_limit() == 1);
  std::vector<std::unique_ptr<FakeSink>> sinks;
  std::vector<std::unique_ptr<gw::Exchange>> exchanges;
  for (int i = 0; i < 4; ++i) {
    sinks.push_back(std::make_unique<FakeSink>());
    exchanges.push_back(backend.start(make_request("GET", "/"), *sinks[i]));
    exchanges.back()->finish_body();
  }
  REQUIRE(loop.run_until([&] {
    return std::all_of(sinks.begin(), sinks.end(), [](auto& s) { return s->finished(); });
  }));
  for (auto& s : sinks) CHECK(s->body() == "ok");
  CHECK(app.accepts() == 1);
  CHECK(app.max_inflight() == 1);
}

TEST_CASE("fastcgi backend: a full wait queue and a long wait give 503") {
  Loop loop;
  App app([&app](FcgiConn& c, int) {
    while (c.next()) {
      app.set_flag(0);
      while (!app.flag(1) && !app.flag(3)) sleep_ms(5);
      if (!c.respond(200, {}, "ok")) return;
    }
  });
  FastCgiBackendOptions o = options_for(app);
  o.max_conns = 1;
  o.max_waiting = 1;
  o.connect_timeout_ms = 200;
  FastCgiBackend backend(loop.get(), o);
  FakeSink first, second, third;
  auto a = backend.start(make_request("GET", "/a"), first);
  a->finish_body();
  REQUIRE(loop.run_until([&] { return app.flag(0); }));
  auto b = backend.start(make_request("GET", "/b"), second);
  b->finish_body();
  CHECK_FALSE(second.finished());
  auto c = backend.start(make_request("GET", "/c"), third);
  CHECK(third.error_status == 503);
  CHECK(third.why == "fastcgi upstream " + app.address() +
                         ": 1 requests already waiting for a connection, a fixed bound (1 "
                         "connection open, limit 1: project.json backend.max_conns or the app's "
                         "FCGI_MAX_CONNS)");
  REQUIRE(loop.run_until([&] { return second.finished(); }));
  CHECK(second.error_status == 503);
  CHECK(second.why == "fastcgi upstream " + app.address() +
                          ": no connection free within 200 ms (project.json "
                          "backend.connect_timeout_ms; 1 connection open, limit 1: project.json "
                          "backend.max_conns or the app's FCGI_MAX_CONNS)");
  app.set_flag(1);
  REQUIRE(loop.run_until([&] { return first.finished(); }));
  CHECK(first.body() == "ok");
  app.set_flag(3);
}

TEST_CASE("fastcgi backend: a waiting request gets the connection the one before gave back") {
  Loop loop;
  App app([&app](FcgiConn& c, int) {
    while (c.next()) {
      app.busy(+1);
      sleep_ms(20);
      app.busy(-1);
      if (!c.respond(200, {}, c.current().request.target)) return;
    }
  });
  FastCgiBackendOptions o = options_for(app);
  o.max_conns = 1;
  FastCgiBackend backend(loop.get(), o);
  std::vector<std::unique_ptr<FakeSink>> sinks;
  std::vector<std::unique_ptr<gw::Exchange>> exchanges;
  for (int i = 0; i < 3; ++i) {
    sinks.push_back(std::make_unique<FakeSink>());
    exchanges.push_back(backend.start(make_request("GET", "/" + std::to_string(i)), *sinks[i]));
    exchanges.back()->finish_body();
  }
  CHECK(backend.open_connections() == 1);
  REQUIRE(loop.run_until([&] {
    return std::all_of(sinks.begin(), sinks.end(), [](auto& s) { return s->finished(); });
  }));
  for (int i = 0; i < 3; ++i) CHECK(sinks[i]->body() == "/" + std::to_string(i));
  CHECK(app.accepts() == 1);
  CHECK(app.max_inflight() == 1);
}

TEST_CASE("fastcgi backend: FCGI_OVERLOADED is retried once on a new connection") {
  Loop loop;
  bool twice = false;
  SUBCASE("then served") {}
  SUBCASE("overloaded again") {
    twice = true;
  }
  App app([&app, twice](FcgiConn& c, int index) {
    while (c.next()) {
      app.record(std::to_string(index) + " " + c.current().request.target + " " + c.current().body);
      if (index == 0 || twice) {
        c.send(end_request(c.current().id, fcgi::FCGI_OVERLOADED));
        c.wait_closed();
        return;
      }
      if (!c.respond(200, {}, "served")) return;
    }
  });
  FastCgiBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  auto ex = backend.start(make_request("POST", "/p", 4), sink);
  ex->send_body("body");
  ex->finish_body();
  REQUIRE(loop.run_until([&] { return sink.finished(); }));
  if (!twice) {
    CHECK(sink.ended);
    CHECK(sink.body() == "served");
  } else {
    CHECK(sink.error_status == 503);
    CHECK(sink.why ==
          "fastcgi upstream " + app.address() + ": overloaded (FCGI_OVERLOADED), again");
  }
  CHECK(app.accepts() == 2);
  app.stop();
  CHECK(app.log == std::vector<std::string>{"0 /p body", "1 /p body"});
}

TEST_CASE("fastcgi backend: a pooled connection the app recycled") {
  Loop loop;
  int mode = 0;
  SUBCASE("closed while idle") {
    mode = 0;
  }
  SUBCASE("closed after reading the next request") {
    mode = 1;
  }
  SUBCASE("reset after reading the next request") {
    mode = 2;
  }
  App app([&app, mode](FcgiConn& c, int index) {
    while (c.next()) {
      app.record(std::to_string(index) + " " + c.current().request.target + " " + c.current().body);
      if (index == 0 && c.current().request.target == "/2") {
        if (mode == 2) c.reset();
        return;  // closes
      }
      if (!c.respond(200, {}, "served " + c.current().body)) return;
      if (index == 0 && mode == 0) return;
    }
  });
  FastCgiBackend backend(loop.get(), options_for(app));
  FakeSink first;
  fetch(loop, backend, first, make_request("GET", "/1"));
  CHECK(first.body() == "served ");
  if (mode == 0) {
    // The pool watches its idle connections and drops the closed one.
    REQUIRE(loop.run_until([&] { return backend.idle_connections() == 0; }));
  } else {
    CHECK(backend.idle_connections() == 1);
  }
  FakeSink second;
  auto ex = backend.start(make_request("POST", "/2", 5), second);
  ex->send_body("hello");
  ex->finish_body();
  REQUIRE(loop.run_until([&] { return second.finished(); }));
  CHECK(second.ended);
  CHECK(second.body() == "served hello");
  CHECK(app.accepts() == 2);
  app.stop();
  if (mode == 0) {
    CHECK(app.log == std::vector<std::string>{"0 /1 ", "1 /2 hello"});
  } else {
    CHECK(app.log == std::vector<std::string>{"0 /1 ", "0 /2 hello", "1 /2 hello"});
  }
}

TEST_CASE("fastcgi backend: no retry once more body went than is held") {
  Loop loop;
  App app([&app](FcgiConn& c, int index) {
    while (c.next()) {
      app.record(std::to_string(index) + " " + std::to_string(c.current().body.size()));
      if (c.current().request.target == "/big") return;  // closes without answering
      if (!c.respond(200, {}, "ok")) return;
    }
  });
  FastCgiBackend backend(loop.get(), options_for(app));
  FakeSink first;
  fetch(loop, backend, first, make_request("GET", "/1"));
  REQUIRE(first.ended);
  FakeSink second;
  constexpr size_t kBig = 100 * 1024;  // over the 64 KiB kept for a retry
  auto ex = backend.start(make_request("POST", "/big", kBig), second);
  ex->send_body(std::string(kBig / 2, 'x'));
  ex->send_body(std::string(kBig / 2, 'y'));
  ex->finish_body();
  REQUIRE(loop.run_until([&] { return second.finished(); }));
  CHECK(second.error_status == 502);
  CHECK(second.why == "fastcgi upstream " + app.address() +
                          ": closed the connection before "
                          "responding");
  CHECK(app.accepts() == 1);
}

TEST_CASE("fastcgi backend: cancel sends FCGI_ABORT_REQUEST and keeps a connection ended in time") {
  Loop loop;
  bool with_body = false;
  SUBCASE("after the request") {}
  SUBCASE("in the middle of the request body") {
    with_body = true;
  }
  App app([&app](FcgiConn& c, int) {
    if (!c.wait_started()) return;
    app.set_flag(0);
    if (!c.wait_aborted()) return;
    app.record("aborted " + c.current().request.target + " after " +
               std::to_string(c.current().body.size()) + " body bytes");
    if (!c.end()) return;
    while (c.next()) {
      app.record(c.current().request.target);
      if (!c.respond(200, {}, "hello")) return;
    }
  });
  FastCgiBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  auto ex =
      backend.start(make_request(with_body ? "POST" : "GET", "/slow", with_body ? 100 : 0), sink);
  if (with_body) ex->send_body("0123456789");
  if (!with_body) ex->finish_body();
  REQUIRE(loop.run_until([&] { return app.flag(0); }));
  loop.run_for(20);
  ex->cancel();
  // The connection waits for END_REQUEST, then goes back to the pool.
  REQUIRE(loop.run_until([&] { return backend.idle_connections() == 1; }));
  CHECK_FALSE(sink.finished());
  ex.reset();
  FakeSink next;
  fetch(loop, backend, next, make_request("GET", "/next"));
  CHECK(next.body() == "hello");
  CHECK(app.accepts() == 1);
  app.stop();
  CHECK(app.log ==
        std::vector<std::string>{
            "aborted /slow after " + std::string(with_body ? "10" : "0") + " body bytes", "/next"});
}

TEST_CASE("fastcgi backend: an aborted request the app does not end is closed in bounded time") {
  Loop loop;
  App app([&app](FcgiConn& c, int) {
    if (!c.next()) return;
    app.set_flag(0);
    if (c.wait_aborted()) app.set_flag(1);
    if (c.wait_closed()) app.set_flag(2);
  });
  FastCgiBackend backend(loop.get(), options_for(app, 200));
  FakeSink sink;
  auto ex = backend.start(make_request("GET", "/"), sink);
  ex->finish_body();
  REQUIRE(loop.run_until([&] { return app.flag(0); }));
  ex->cancel();
  ex.reset();
  auto cancelled = Clock::now();
  REQUIRE(loop.run_until([&] { return app.flag(2); }));
  CHECK(app.flag(1));
  CHECK(Clock::now() - cancelled >= std::chrono::milliseconds(150));
  CHECK(backend.idle_connections() == 0);
  CHECK(backend.open_connections() == 0);
  CHECK_FALSE(sink.finished());
}

TEST_CASE("fastcgi backend: cancel from inside the sink") {
  Loop loop;
  App app([&app](FcgiConn& c, int) {
    if (!c.next()) return;
    gw::StreamId id = c.current().id;
    // Several records in one write: they reach the backend in one read.
    c.send(stdout_records(id, "Status: 200 OK\r\n\r\n") + stdout_records(id, "a") +
           stdout_records(id, "b") + stdout_records(id, "c"));
    if (c.wait_aborted()) app.set_flag(1);
    c.wait_closed();
  });
  FastCgiBackend backend(loop.get(), options_for(app, 100));
  FakeSink sink;
  auto ex = backend.start(make_request("GET", "/"), sink);
  ex->finish_body();
  sink.after_body = [&] {
    ex->cancel();
    sink.cancelled = true;  // FakeSink now fails on any further call
  };
  REQUIRE(loop.run_until([&] { return app.flag(1); }));
  CHECK(sink.body() == "a");
  CHECK_FALSE(sink.ended);
  loop.run_for(150);
  CHECK(backend.idle_connections() == 0);
}

TEST_CASE("fastcgi backend: cancel while waiting or connecting leaves nothing behind") {
  Loop loop;
  // A full accept queue: Linux drops further SYNs, so the connect hangs.
  App app(nullptr, AppOptions{"", gw::Limits{}, Mgmt::Answer, 0});
  int filler = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = htons(app.port());
  REQUIRE(connect(filler, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
  {
    FastCgiBackend backend(loop.get(), options_for(app));
    FakeSink sink, waiting;
    auto ex = backend.start(make_request("GET", "/"), sink);
    auto ex2 = backend.start(make_request("GET", "/"), waiting);  // waits for the probe
    loop.run_for(50);
    CHECK(backend.open_connections() == 1);
    ex->cancel();
    ex.reset();
    // The waiting request connects (and asks GET_VALUES) in its place.
    loop.run_for(50);
    CHECK(backend.open_connections() == 1);
    ex2->cancel();
    ex2.reset();
    CHECK(backend.open_connections() == 0);
    CHECK_FALSE(sink.finished());
    CHECK_FALSE(waiting.finished());
  }
  ::close(filler);
  // ~Loop checks that the abandoned connects left no handle behind.
}

TEST_CASE("fastcgi backend: the app dying mid-response cuts it") {
  Loop loop;
  bool reset = false;
  SUBCASE("closed") {}
  SUBCASE("reset") {
    reset = true;
  }
  App app([reset](FcgiConn& c, int) {
    if (!c.next()) return;
    c.send(stdout_records(c.current().id, "Status: 200 OK\r\nContent-Length: 100\r\n\r\npartial"));
    sleep_ms(50);
    if (reset) c.reset();
  });
  FastCgiBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  REQUIRE(sink.head);
  CHECK(sink.head->status == 200);
  CHECK(sink.body() == "partial");
  CHECK(sink.error_status == 502);
  std::string prefix = "fastcgi upstream " + app.address() + ": ";
  if (!reset) CHECK(sink.why == prefix + "closed the connection mid-response");
  if (reset) CHECK(sink.why == prefix + "mid-response: ECONNRESET: connection reset by peer");
  CHECK(backend.idle_connections() == 0);
}

TEST_CASE("fastcgi backend: failures before the response give 502") {
  Loop loop;
  int mode = 0;
  std::string want;
  SUBCASE("closed") {
    mode = 0;
    want = "closed the connection before responding";
  }
  SUBCASE("closed inside the head") {
    mode = 1;
    want = "closed the connection before the end of its response head";
  }
  SUBCASE("malformed record") {
    mode = 2;
    want = "malformed record: FastCGI record version 2 (only 1 is supported)";
  }
  SUBCASE("malformed head") {
    mode = 3;
    want = "malformed response head: ";
  }
  SUBCASE("ended without a response") {
    mode = 4;
    want = "ended the request without a response (app status 3)";
  }
  SUBCASE("unknown role") {
    mode = 5;
    want = "does not take the responder role (FCGI_UNKNOWN_ROLE)";
  }
  SUBCASE("another request id") {
    mode = 6;
    want = "sent FCGI_STDOUT for request id 2 (only 1 is in use)";
  }
  App app([mode](FcgiConn& c, int) {
    if (!c.next()) return;
    gw::StreamId id = c.current().id;
    if (mode == 1) c.send(stdout_records(id, "Status: 200 OK\r\nX-Half: "));
    if (mode == 2) c.send(std::string("\x02\x06\x00\x01\x00\x00\x00\x00", 8));
    if (mode == 3) c.send(stdout_records(id, "Status: abc\r\n\r\n"));
    if (mode == 4) c.send(end_request(id, fcgi::FCGI_REQUEST_COMPLETE, 3));
    if (mode == 5) c.send(end_request(id, fcgi::FCGI_UNKNOWN_ROLE));
    if (mode == 6) c.send(stdout_records(2, "Status: 200 OK\r\n\r\n"));
    if (mode == 0 || mode == 1) return;
    c.wait_closed();
  });
  FastCgiBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.error_status == 502);
  CHECK_FALSE(sink.head);
  std::string prefix = "fastcgi upstream " + app.address() + ": ";
  CHECK(sink.why.substr(0, prefix.size() + want.size()) == prefix + want);
  CHECK(backend.idle_connections() == 0);
}

TEST_CASE("fastcgi backend: a refused connection gives 502") {
  Loop loop;
  SUBCASE("tcp") {
    uint16_t port = gw::test::closed_port();
    FastCgiBackendOptions o;
    o.upstream = "127.0.0.1:" + std::to_string(port);
    FastCgiBackend backend(loop.get(), o);
    for (int i = 0; i < 2; ++i) {  // the second asks GET_VALUES again
      FakeSink sink;
      fetch(loop, backend, sink, make_request("GET", "/"));
      CHECK(sink.error_status == 502);
      CHECK(sink.why == "fastcgi upstream 127.0.0.1:" + std::to_string(port) +
                            ": connect: ECONNREFUSED: connection refused");
    }
    CHECK(backend.open_connections() == 0);
  }
  SUBCASE("unix socket path missing") {
    FastCgiBackendOptions o;
    o.upstream = "unix:/nonexistent/gw-fcgi.sock";
    FastCgiBackend backend(loop.get(), o);
    FakeSink sink;
    fetch(loop, backend, sink, make_request("GET", "/"));
    CHECK(sink.error_status == 502);
    CHECK(sink.why.find(": connect: ENOENT") != std::string::npos);
  }
}

TEST_CASE("fastcgi backend: an unusable address answers 502") {
  Loop loop;
  FastCgiBackendOptions o;
  o.upstream = "no port here";
  FastCgiBackend backend(loop.get(), o);
  CHECK_FALSE(backend.setup_error().empty());
  FakeSink sink;
  auto ex = backend.start(make_request("GET", "/"), sink);
  CHECK(sink.error_status == 502);
  CHECK(sink.why == backend.setup_error());
  ex->send_body("ignored");
  ex->finish_body();
}

TEST_CASE("fastcgi backend: connect timeout gives 504") {
  Loop loop;
  App app(nullptr, AppOptions{"", gw::Limits{}, Mgmt::Answer, 0});
  int filler = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = htons(app.port());
  REQUIRE(connect(filler, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
  {
    FastCgiBackendOptions o = options_for(app);
    o.connect_timeout_ms = 100;
    FastCgiBackend backend(loop.get(), o);
    FakeSink sink;
    fetch(loop, backend, sink, make_request("GET", "/"));
    CHECK(sink.error_status == 504);
    CHECK(sink.why == "fastcgi upstream " + app.address() +
                          ": connect: timed out after 100 ms "
                          "(project.json backend.connect_timeout_ms)");
  }
  ::close(filler);
}

TEST_CASE("fastcgi backend: an app that never answers gives 504") {
  Loop loop;
  App app([&app](FcgiConn& c, int) {
    if (!c.next()) return;
    if (c.wait_closed()) app.set_flag(1);
  });
  FastCgiBackend backend(loop.get(), options_for(app, 100));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.error_status == 504);
  CHECK_FALSE(sink.head);
  CHECK(sink.why == "fastcgi upstream " + app.address() +
                        ": no response within 100 ms "
                        "(project.json backend.timeout_ms)");
  CHECK(loop.run_until([&] { return app.flag(1); }));  // the backend closed the connection
  CHECK(backend.open_connections() == 0);
}

TEST_CASE("fastcgi backend: an app stalling mid-response is cut with 504") {
  Loop loop;
  App app([](FcgiConn& c, int) {
    if (!c.next()) return;
    c.send(stdout_records(c.current().id, "Status: 200 OK\r\n\r\npartial"));
    c.wait_closed();
  });
  FastCgiBackend backend(loop.get(), options_for(app, 100));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  REQUIRE(sink.head);
  CHECK(sink.body() == "partial");
  CHECK(sink.error_status == 504);
  CHECK(sink.why == "fastcgi upstream " + app.address() +
                        ": response stalled: nothing for 100 ms "
                        "(project.json backend.timeout_ms)");
}

TEST_CASE("fastcgi backend: a request body that stops coming gives 408") {
  Loop loop;
  App app([&app](FcgiConn& c, int) {
    if (!c.wait_started()) return;
    app.set_flag(0);
    c.wait_closed();
  });
  FastCgiBackend backend(loop.get(), options_for(app, 100));
  FakeSink sink;
  auto ex = backend.start(make_request("POST", "/", 10), sink);
  ex->send_body("12345");
  REQUIRE(loop.run_until([&] { return sink.finished(); }));
  CHECK(app.flag(0));
  CHECK(sink.error_status == 408);
  CHECK(sink.why ==
        "request body: nothing from the client for 100 ms "
        "(project.json backend.timeout_ms)");
}

TEST_CASE("fastcgi backend: STDERR goes to the error log line by line") {
  Loop loop;
  App app([](FcgiConn& c, int) {
    if (!c.next()) return;
    std::string err;
    fcgi::append_stream_data(err, fcgi::FCGI_STDERR, c.current().id,
                             "first line\nsecond \x1b[31mred\r\n[error] forged?\n" +
                                 std::string(1500, 'x') + "\nno newline at the end");
    c.send(err);
    c.respond(200, {}, "ok");
    c.wait_closed();
  });
  FastCgiBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.body() == "ok");
  std::string who = "fastcgi upstream " + app.address() + ": stderr: ";
  // As the app wrote it: the error log escapes the ESC byte when it writes the line.
  std::vector<std::string> want = {
      who + "first line",
      who + "second \x1b[31mred",
      who + "[error] forged?",
      who + std::string(1024, 'x') + " [cut at 1024 bytes]",
      who + "no newline at the end",
  };
  CHECK(sink.logs == want);
}

TEST_CASE("fastcgi backend: response reading pauses while the sink is congested") {
  constexpr size_t kSize = 1 << 20;
  std::string payload(kSize, '\0');
  for (size_t i = 0; i < kSize; ++i) payload[i] = static_cast<char>('a' + i % 26);
  Loop loop;
  App app([&payload](FcgiConn& c, int) {
    while (c.next()) {
      if (!c.respond(200, {{"Content-Type", "text/plain"}}, payload)) return;
    }
  });
  FastCgiBackend backend(loop.get(), options_for(app, 100));
  FakeSink sink;
  sink.congest_after_each_piece = true;
  auto ex = backend.start(make_request("GET", "/"), sink);
  ex->finish_body();
  REQUIRE(loop.run_until([&] { return !sink.body().empty(); }));
  loop.run_for(300);  // longer than timeout_ms: a paused response is not a stalled app
  CHECK(sink.body().size() < kSize);
  CHECK_FALSE(sink.finished());
  // One piece per resume, as a connection draining slowly would allow.
  int resumes = gw::test::resume_until_finished(loop, sink, *ex);
  REQUIRE(resumes >= 0);
  CHECK(resumes > 1);
  CHECK(sink.ended);
  CHECK(sink.body() == payload);
  CHECK(backend.idle_connections() == 1);
}

TEST_CASE("fastcgi backend: a head held while the sink is congested") {
  Loop loop;
  App app([](FcgiConn& c, int) {
    if (!c.next()) return;
    c.respond(200, {}, "body");  // head, body and end in one write
    c.wait_closed();
  });
  FastCgiBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  sink.congested_now = true;  // another response fills the client connection
  auto ex = backend.start(make_request("GET", "/"), sink);
  ex->finish_body();
  loop.run_for(100);
  CHECK_FALSE(sink.head);
  sink.congested_now = false;
  ex->resume_response();
  REQUIRE(loop.run_until([&] { return sink.finished(); }));
  CHECK(sink.ended);
  CHECK(sink.body() == "body");
}

TEST_CASE("fastcgi backend: a body of unknown length is held and sent with its length") {
  Loop loop;
  App app([&app](FcgiConn& c, int) {
    while (c.next()) {
      const Request& r = c.current().request;
      app.record((r.content_length ? std::to_string(*r.content_length) : "none") + " " +
                 c.current().body);
      if (!c.respond(200, {}, "ok")) return;
    }
  });
  FastCgiBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  auto ex = backend.start(make_request("POST", "/", std::nullopt), sink);
  ex->send_body("abc");
  ex->send_body("defg");
  CHECK_FALSE(ex->body_congested());
  loop.run_for(20);
  CHECK(app.accepts() == 0);  // nothing goes before the end
  ex->finish_body();
  REQUIRE(loop.run_until([&] { return sink.finished(); }));
  CHECK(sink.body() == "ok");
  app.stop();
  CHECK(app.log == std::vector<std::string>{"7 abcdefg"});
}

TEST_CASE("fastcgi backend: a body of unknown length over the bound gets 411") {
  Loop loop;
  App app(serve_hello(app));
  FastCgiBackendOptions o = options_for(app);
  o.max_buffered_body = 10;
  FastCgiBackend backend(loop.get(), o);
  FakeSink sink;
  auto ex = backend.start(make_request("POST", "/", std::nullopt), sink);
  ex->send_body("123456");
  CHECK_FALSE(sink.finished());
  ex->send_body("123456");
  CHECK(sink.error_status == 411);
  CHECK(sink.why ==
        "request body of unknown length over 10 bytes: it is held to send its length first");
  ex->finish_body();
  CHECK(app.accepts() == 0);
}

TEST_CASE("fastcgi backend: a local redirect goes to the client as a 302") {
  Loop loop;
  App app([](FcgiConn& c, int) {
    if (!c.next()) return;
    std::string out = stdout_records(c.current().id, "Location: /elsewhere?x=1\r\n\r\n");
    c.send(out + end_request(c.current().id, fcgi::FCGI_REQUEST_COMPLETE));
    c.wait_closed();
  });
  FastCgiBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.ended);
  CHECK(sink.status() == 302);
  CHECK(sink.header("Location") == "/elsewhere?x=1");
}

TEST_CASE("fastcgi backend: bytes after END_REQUEST make the connection unusable") {
  Loop loop;
  App app([&app](FcgiConn& c, int) {
    if (!c.next()) return;
    gw::StreamId id = c.current().id;
    c.send(stdout_records(id, "Status: 200 OK\r\n\r\nok") +
           end_request(id, fcgi::FCGI_REQUEST_COMPLETE) + std::string("\x01\x06\x00", 3));
    if (c.wait_closed()) app.set_flag(1);
  });
  FastCgiBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.ended);
  CHECK(sink.body() == "ok");
  CHECK(backend.idle_connections() == 0);
  CHECK(loop.run_until([&] { return app.flag(1); }));
}

TEST_CASE("fastcgi backend: a request started from inside on_end reuses the connection") {
  Loop loop;
  App app(serve_hello(app));
  FastCgiBackend backend(loop.get(), options_for(app));
  FakeSink first, second;
  std::unique_ptr<gw::Exchange> next;
  first.after_end = [&] {
    next = backend.start(make_request("GET", "/2"), second);
    next->finish_body();
  };
  auto ex = backend.start(make_request("GET", "/1"), first);
  ex->finish_body();
  REQUIRE(loop.run_until([&] { return second.finished(); }));
  CHECK(first.ended);
  CHECK(second.ended);
  CHECK(second.body() == "hello");
  CHECK(app.accepts() == 1);
}

TEST_CASE("fastcgi backend: unix socket upstream") {
  Loop loop;
  char dir_template[] = "/tmp/gw-fcgi-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  std::string dir = dir_template;
  {
    App app(serve_hello(app), AppOptions{dir + "/app.sock", gw::Limits{}, Mgmt::Answer, 16});
    FastCgiBackend backend(loop.get(), options_for(app));
    for (int i = 0; i < 2; ++i) {
      FakeSink sink;
      fetch(loop, backend, sink, make_request("GET", "/"));
      CHECK(sink.ended);
      CHECK(sink.body() == "hello");
    }
    CHECK(app.accepts() == 1);
  }
  ::rmdir(dir.c_str());
}

TEST_CASE("fastcgi backend: shutdown closes idle connections") {
  Loop loop;
  App app([&app](FcgiConn& c, int) {
    while (c.next()) {
      if (!c.respond(200, {}, "ok")) return;
    }
    app.set_flag(1);  // the backend closed the connection (or the app stopped)
  });
  FastCgiBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(backend.idle_connections() == 1);
  backend.shutdown();
  CHECK(backend.idle_connections() == 0);
  CHECK(backend.open_connections() == 0);
  CHECK(loop.run_until([&] { return app.flag(1); }, 1000));
  // A request after shutdown still works; its connection is not kept.
  FakeSink late;
  fetch(loop, backend, late, make_request("GET", "/"));
  CHECK(late.body() == "ok");
  CHECK(backend.idle_connections() == 0);
}

TEST_CASE("fastcgi backend: backend destroyed while a request is in flight") {
  Loop loop;
  App app([&app](FcgiConn& c, int) {
    if (!c.next()) return;
    app.set_flag(0);
    while (!app.flag(2)) sleep_ms(5);
    c.respond(200, {}, "hello");
    c.wait_closed();
  });
  FakeSink sink;
  std::unique_ptr<gw::Exchange> ex;
  {
    FastCgiBackend backend(loop.get(), options_for(app));
    ex = backend.start(make_request("GET", "/"), sink);
    ex->finish_body();
    REQUIRE(loop.run_until([&] { return app.flag(0); }));
  }
  app.set_flag(2);
  REQUIRE(loop.run_until([&] { return sink.finished(); }));
  CHECK(sink.ended);
  CHECK(sink.body() == "hello");
  ex.reset();  // the last owner of the pool; the connection was closed, not kept
}
