// The `scgi` backend against a real libuv loop and a small SCGI app that runs
// on its own thread with blocking sockets and parses the request by hand.
// Every wait is bounded: the loop runs against a deadline and the app's
// reads poll with a timeout.
#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>
#include "tests/support/recording_sink.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dispatch/backends/scgi_backend.h"
#include "gateway/io/timer.h"
#include "tests/support/slow_client.h"
#include "tests/support/test_app.h"
#include "tests/support/test_loop.h"

namespace {

using gw::Header;
using gw::Request;
using gw::ScgiBackend;
using gw::ScgiBackendOptions;
using Clock = std::chrono::steady_clock;
using FakeSink = gw::test::RecordingSink;

template <size_t N>
std::string B(const char (&s)[N]) {
  return std::string(s, N - 1);
}

// ---- The app: blocking sockets on a thread ----

// What the app read: the netstring as sent, its variables, the body.
struct ScgiRequest {
  std::string netstring;
  std::vector<std::pair<std::string, std::string>> vars;
  std::string body;

  std::string var(const std::string& name) const {
    for (const auto& v : vars) {
      if (v.first == name) return v.second;
    }
    return "<absent>";
  }
};

// One accepted connection, from the app's side.
class AppConn : public gw::test::AppSocket {
 public:
  using AppSocket::AppSocket;

  // The netstring and its variables; body bytes stay buffered. nullopt when
  // the connection closed, nothing came in time, or the netstring is bad.
  std::optional<ScgiRequest> read_head() {
    size_t colon;
    while ((colon = buf_.find(':')) == std::string::npos) {
      if (buf_.size() > 8 || !fill()) return std::nullopt;
    }
    size_t length = std::stoul(buf_.substr(0, colon));
    if (!need(colon + 1 + length + 1) || buf_[colon + 1 + length] != ',') return std::nullopt;
    ScgiRequest r;
    r.netstring = buf_.substr(0, colon + 1 + length + 1);
    std::string block = buf_.substr(colon + 1, length);
    buf_.erase(0, r.netstring.size());
    size_t pos = 0;
    while (pos < block.size()) {
      size_t name_end = block.find('\0', pos);
      size_t value_end = block.find('\0', name_end + 1);
      if (name_end == std::string::npos || value_end == std::string::npos) return std::nullopt;
      r.vars.emplace_back(block.substr(pos, name_end - pos),
                          block.substr(name_end + 1, value_end - name_end - 1));
      pos = value_end + 1;
    }
    return r;
  }

  // The CONTENT_LENGTH bytes of body; false when they did not all come.
  bool read_body(ScgiRequest& r) {
    size_t length = std::stoul(r.var("CONTENT_LENGTH"));
    if (!need(length)) return false;
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return true;
  }

  std::optional<ScgiRequest> read_request() {
    std::optional<ScgiRequest> r = read_head();
    if (!r || !read_body(*r)) return std::nullopt;
    return r;
  }
};

// The app: a thread per accepted connection (tests/support/test_app.h).
using App = gw::test::TestApp<AppConn, ScgiRequest>;

// ---- The loop ----

using Loop = gw::test::TestLoop;

Request make_request(std::string method, std::string target,
                     std::optional<uint64_t> content_length = 0) {
  Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.path = r.target.substr(0, r.target.find('?'));
  r.path_info = r.path;
  r.server_protocol = "HTTP/1.1";
  r.headers = {{"Host", "example.org"}};
  r.content_length = content_length;
  r.remote_addr = "192.0.2.7";
  r.server_name = "example.org";
  r.server_port = 80;
  return r;
}

ScgiBackendOptions options_for(const App& app, uint32_t timeout_ms = 5000) {
  ScgiBackendOptions o;
  o.upstream = app.address();
  o.connect_timeout_ms = 2000;
  o.timeout_ms = timeout_ms;
  return o;
}

const char kHello[] = "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nhello";

// Serves one request: flags 0 when the netstring is in, records it with its
// body, answers kHello and closes.
App::Handler serve_hello(App& app) {
  return [&app](AppConn& c, int) {
    std::optional<ScgiRequest> r = c.read_head();
    if (!r) return;
    app.set_flag(0);
    if (!c.read_body(*r)) r->body = "(short)";
    app.record(*r);
    c.send(kHello);
  };
}

void fetch(Loop& loop, ScgiBackend& backend, FakeSink& sink, const Request& req) {
  auto ex = backend.start(req, sink);
  ex->finish_body();
  REQUIRE(loop.run_until([&] { return sink.finished(); }));
}

std::string pattern(size_t size) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 65536) % 26);
  return s;
}

}  // namespace

TEST_CASE("scgi backend: request variables, with params replacing or appended") {
  Request r = make_request("GET", "/x");
  std::vector<Header> params = {{"TRAC_ENV", "/srv/a"},
                                {"SERVER_NAME", "configured.example"},
                                {"", "no name"},
                                {"TRAC_ENV", "/srv/b"}};
  std::vector<Header> vars = gw::scgi_request_vars(r, params);
  std::vector<std::pair<std::string, std::string>> flat;
  for (const auto& v : vars) flat.emplace_back(v.name, v.value);
  std::vector<std::pair<std::string, std::string>> want = {
      {"CONTENT_LENGTH", "0"},
      {"GATEWAY_INTERFACE", "CGI/1.1"},
      {"PATH_INFO", "/x"},
      {"QUERY_STRING", ""},
      {"REMOTE_ADDR", "192.0.2.7"},
      {"REQUEST_METHOD", "GET"},
      {"REQUEST_URI", "/x"},
      {"SCRIPT_NAME", ""},
      {"SERVER_NAME", "configured.example"},
      {"SERVER_PORT", "80"},
      {"SERVER_PROTOCOL", "HTTP/1.1"},
      {"SERVER_SOFTWARE", "gatewayd"},
      {"HTTP_HOST", "example.org"},
      {"TRAC_ENV", "/srv/b"},
  };
  CHECK(flat == want);
}

TEST_CASE("scgi backend: GET, the netstring byte for byte and the response") {
  Loop loop;
  App app(serve_hello(app));
  {
    ScgiBackendOptions o = options_for(app);
    o.params = {{"TRAC_ENV", "/srv/trac"}, {"SCRIPT_NAME", "/mounted"}, {"SCGI", "2"}};
    ScgiBackend backend(loop.get(), o);
    CHECK(backend.kind() == "scgi");
    CHECK(backend.setup_error().empty());
    FakeSink sink;
    Request req = make_request("GET", "/app/wiki/Start?x=1");
    req.path = "/app/wiki/Start";
    req.query = "x=1";
    req.script_name = "/app";
    req.path_info = "/wiki/Start";
    req.remote_port = 5555;
    req.headers = {{"Host", "example.org"}, {"User-Agent", "t/1"}, {"Proxy", "http://evil/"}};
    fetch(loop, backend, sink, req);
    CHECK(sink.ended);
    REQUIRE(sink.head);
    CHECK(sink.head->status == 200);
    CHECK(sink.header("Content-Type") == "text/plain");
    CHECK(sink.body() == "hello");
  }
  app.stop();
  REQUIRE(app.requests.size() == 1);
  const std::string block =
      B("CONTENT_LENGTH\0000\0"
        "SCGI\0001\0"
        "GATEWAY_INTERFACE\0CGI/1.1\0"
        "PATH_INFO\0/wiki/Start\0"
        "QUERY_STRING\0x=1\0"
        "REMOTE_ADDR\000192.0.2.7\0"
        "REMOTE_PORT\0005555\0"
        "REQUEST_METHOD\0GET\0"
        "REQUEST_URI\0/app/wiki/Start?x=1\0"
        "SCRIPT_NAME\0/mounted\0"
        "SERVER_NAME\0example.org\0"
        "SERVER_PORT\00080\0"
        "SERVER_PROTOCOL\0HTTP/1.1\0"
        "SERVER_SOFTWARE\0gatewayd\0"
        "HTTP_HOST\0example.org\0"
        "HTTP_USER_AGENT\0t/1\0"
        "TRAC_ENV\0/srv/trac\0");
  CHECK(app.requests[0].netstring == std::to_string(block.size()) + ":" + block + ",");
  CHECK(app.requests[0].body.empty());
}

TEST_CASE("scgi backend: one connection per request") {
  Loop loop;
  App app(serve_hello(app));
  ScgiBackend backend(loop.get(), options_for(app));
  for (int i = 0; i < 3; ++i) {
    FakeSink sink;
    fetch(loop, backend, sink, make_request("GET", "/" + std::to_string(i)));
    CHECK(sink.ended);
    CHECK(sink.body() == "hello");
  }
  CHECK(app.accepts() == 3);
}

TEST_CASE("scgi backend: request body with a length is sent after the netstring") {
  Loop loop;
  App app(serve_hello(app));
  {
    ScgiBackend backend(loop.get(), options_for(app));
    FakeSink sink;
    Request req = make_request("POST", "/submit", 11);
    req.headers.push_back({"Content-Type", "text/plain"});
    auto ex = backend.start(req, sink);
    SUBCASE("body before the connection is up") {}
    SUBCASE("body after the connection is up") {
      REQUIRE(loop.run_until([&] { return app.flag(0); }));
    }
    ex->send_body("hello ");
    ex->send_body("world");
    ex->finish_body();
    REQUIRE(loop.run_until([&] { return sink.finished(); }));
    CHECK(sink.ended);
  }
  app.stop();
  REQUIRE(app.requests.size() == 1);
  CHECK(app.requests[0].var("CONTENT_LENGTH") == "11");
  CHECK(app.requests[0].var("CONTENT_TYPE") == "text/plain");
  CHECK(app.requests[0].var("REQUEST_METHOD") == "POST");
  CHECK(app.requests[0].body == "hello world");
}

TEST_CASE("scgi backend: POST of 10 MiB streams with backpressure") {
  constexpr size_t kSize = 10 << 20;
  const std::string payload = pattern(kSize);
  Loop loop;
  App app([&app](AppConn& c, int) {
    std::optional<ScgiRequest> r = c.read_head();
    if (!r) return;
    app.set_flag(0);
    while (!app.flag(2)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!c.read_body(*r)) r->body = "(short)";
    std::string size = std::to_string(r->body.size());
    app.record(std::move(*r));
    c.send("Status: 201 Created\r\nContent-Type: text/plain\r\n\r\n" + size);
  });
  {
    ScgiBackend backend(loop.get(), options_for(app));
    FakeSink sink;
    auto ex = backend.start(make_request("PUT", "/big", kSize), sink);
    constexpr size_t kPiece = 64 * 1024;
    size_t sent = 0;
    auto send_piece = [&] {
      ex->send_body(std::string_view(payload).substr(sent, kPiece));
      sent += kPiece;
    };
    // Before the connection is up the backend holds the body up to its bound.
    while (!ex->body_congested()) {
      send_piece();
      REQUIRE(sent <= 512 * 1024);
    }
    CHECK(sent >= 256 * 1024);
    REQUIRE(loop.run_until([&] { return app.flag(0); }));
    // The app reads nothing yet: once the socket buffers are full the queue
    // stays above the bound however long the loop runs.
    bool stuck = false;
    for (int i = 0; i < 250 && !stuck; ++i) {
      while (!ex->body_congested() && sent < kSize) send_piece();
      loop.run_for(20);
      stuck = ex->body_congested();
    }
    REQUIRE(stuck);
    CHECK(sent < kSize);
    int drained_before = sink.drained;
    app.set_flag(2);  // the app starts reading
    while (sent < kSize) {
      REQUIRE(loop.run_until([&] { return !ex->body_congested(); }));
      while (!ex->body_congested() && sent < kSize) send_piece();
    }
    ex->finish_body();
    REQUIRE(loop.run_until([&] { return sink.finished(); }));
    CHECK(sink.drained > drained_before);
    CHECK(sink.ended);
    CHECK(sink.status() == 201);
    CHECK(sink.body() == std::to_string(kSize));
  }
  app.stop();
  REQUIRE(app.requests.size() == 1);
  CHECK(app.requests[0].var("CONTENT_LENGTH") == std::to_string(kSize));
  CHECK(app.requests[0].body.size() == kSize);
  CHECK(app.requests[0].body == payload);
}

TEST_CASE("scgi backend: response reading pauses while the sink is congested") {
  constexpr size_t kSize = 1 << 20;
  const std::string payload = pattern(kSize);
  Loop loop;
  App app([&app, &payload](AppConn& c, int) {
    std::optional<ScgiRequest> r = c.read_request();
    if (!r) return;
    app.record(*r);
    c.send("Status: 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n");
    c.send(payload);
  });
  ScgiBackend backend(loop.get(), options_for(app, 100));
  FakeSink sink;
  sink.congest_after_each_piece = true;
  auto ex = backend.start(make_request("GET", "/"), sink);
  ex->finish_body();
  REQUIRE(loop.run_until([&] { return !sink.body().empty(); }));
  loop.run_for(300);  // longer than timeout_ms: a paused response is not a stalled app
  CHECK(sink.body().size() < kSize);
  CHECK_FALSE(sink.finished());
  int resumes = gw::test::resume_until_finished(loop, sink, *ex);
  REQUIRE(resumes >= 0);
  CHECK(resumes > 1);
  CHECK(sink.ended);
  CHECK(sink.body() == payload);
}

TEST_CASE("scgi backend: a head held while the sink is congested") {
  Loop loop;
  App app([&app](AppConn& c, int) {
    std::optional<ScgiRequest> r = c.read_request();
    if (!r) return;
    app.record(*r);
    c.send(kHello);
  });
  ScgiBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  sink.congested_now = true;
  auto ex = backend.start(make_request("GET", "/"), sink);
  ex->finish_body();
  loop.run_for(100);
  CHECK_FALSE(sink.head);
  sink.congested_now = false;
  ex->resume_response();
  REQUIRE(loop.run_until([&] { return sink.finished(); }));
  CHECK(sink.ended);
  CHECK(sink.status() == 200);
  CHECK(sink.body() == "hello");
}

TEST_CASE("scgi backend: a body of unknown length is held and sent with its length") {
  Loop loop;
  App app(serve_hello(app));
  {
    ScgiBackendOptions o = options_for(app);
    o.max_buffered_body = 8;
    ScgiBackend backend(loop.get(), o);
    FakeSink sink;
    auto ex = backend.start(make_request("POST", "/f", std::nullopt), sink);
    ex->send_body("abc");
    CHECK_FALSE(ex->body_congested());
    loop.run_for(50);
    ex->send_body("defgh");  // exactly the bound
    loop.run_for(50);
    CHECK(app.accepts() == 0);  // nothing is sent before the length is known
    ex->finish_body();
    REQUIRE(loop.run_until([&] { return sink.finished(); }));
    CHECK(sink.ended);
  }
  app.stop();
  REQUIRE(app.requests.size() == 1);
  REQUIRE(app.requests[0].vars.size() > 2);
  CHECK(app.requests[0].vars[0] == std::make_pair(std::string("CONTENT_LENGTH"), std::string("8")));
  CHECK(app.requests[0].vars[1] == std::make_pair(std::string("SCGI"), std::string("1")));
  CHECK(app.requests[0].body == "abcdefgh");
}

TEST_CASE("scgi backend: an empty body of unknown length is sent as CONTENT_LENGTH 0") {
  Loop loop;
  App app(serve_hello(app));
  {
    ScgiBackend backend(loop.get(), options_for(app));
    FakeSink sink;
    fetch(loop, backend, sink, make_request("GET", "/", std::nullopt));
    CHECK(sink.ended);
  }
  app.stop();
  REQUIRE(app.requests.size() == 1);
  CHECK(app.requests[0].var("CONTENT_LENGTH") == "0");
}

TEST_CASE("scgi backend: a body of unknown length over the bound gets 411") {
  Loop loop;
  App app(serve_hello(app));
  ScgiBackendOptions o = options_for(app);
  o.max_buffered_body = 8;
  ScgiBackend backend(loop.get(), o);
  FakeSink sink;
  auto ex = backend.start(make_request("POST", "/f", std::nullopt), sink);
  ex->send_body("abcde");
  CHECK_FALSE(sink.finished());
  ex->send_body("fghi");
  CHECK(sink.error_status == 411);
  CHECK(sink.why ==
        "request body of unknown length over 8 bytes: an SCGI app needs the length first");
  ex->send_body("more");
  ex->finish_body();
  loop.run_for(50);
  CHECK(app.accepts() == 0);
}

TEST_CASE("scgi backend: the app failing before a response gives 502") {
  Loop loop;
  int mode = 0;
  SUBCASE("closed") {
    mode = 0;
  }
  SUBCASE("closed inside the head") {
    mode = 1;
  }
  SUBCASE("reset") {
    mode = 2;
  }
  SUBCASE("malformed") {
    mode = 3;
  }
  App app([&app, mode](AppConn& c, int) {
    std::optional<ScgiRequest> r = c.read_request();
    if (!r) return;
    app.record(*r);
    if (mode == 1) c.send("Status: 200 OK\r\nContent-Ty");
    if (mode == 2) c.reset();
    if (mode == 3) {
      c.send("Status: 2xx Fine\r\n\r\nbody");
      c.wait_closed();
    }
  });
  ScgiBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.error_status == 502);
  CHECK_FALSE(sink.head);
  std::string prefix = "scgi upstream " + app.address() + ": ";
  CHECK(sink.why.find(prefix) == 0);
  if (mode == 0) CHECK(sink.why == prefix + "closed the connection before responding");
  if (mode == 1) CHECK(sink.why == prefix + "closed the connection inside its response head");
  if (mode == 2) CHECK(sink.why.find("ECONNRESET") != std::string::npos);
  if (mode == 3) CHECK(sink.why.find(prefix + "malformed response: ") == 0);
}

TEST_CASE("scgi backend: the app resetting mid-response cuts it") {
  Loop loop;
  App app([&app](AppConn& c, int) {
    std::optional<ScgiRequest> r = c.read_request();
    if (!r) return;
    app.record(*r);
    c.send("Status: 200 OK\r\n\r\npartial");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    c.reset();
  });
  ScgiBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  REQUIRE(sink.head);
  CHECK(sink.body() == "partial");
  CHECK(sink.error_status == 502);
  CHECK(sink.why.find("scgi upstream " + app.address() + ": mid-response: ECONNRESET") == 0);
}

TEST_CASE("scgi backend: a refused connection gives 502") {
  Loop loop;
  ScgiBackendOptions o;
  SUBCASE("tcp") {
    o.upstream = "127.0.0.1:" + std::to_string(gw::test::closed_port());
  }
  SUBCASE("unix socket") {
    o.upstream = "unix:/nonexistent/gw-scgi-test.sock";
  }
  ScgiBackend backend(loop.get(), o);
  FakeSink sink;
  auto ex = backend.start(make_request("GET", "/"), sink);
  REQUIRE(loop.run_until([&] { return sink.finished(); }));
  CHECK(sink.error_status == 502);
  CHECK_FALSE(sink.head);
  CHECK(sink.why.find("scgi upstream " + o.upstream + ": connect: ") == 0);
  CHECK((sink.why.find("ECONNREFUSED") != std::string::npos ||
         sink.why.find("ENOENT") != std::string::npos));
}

TEST_CASE("scgi backend: an unusable address answers 502") {
  Loop loop;
  ScgiBackendOptions o;
  o.upstream = "no-port-here";
  ScgiBackend backend(loop.get(), o);
  CHECK(backend.setup_error() ==
        "scgi upstream \"no-port-here\": not an address (host:port, [v6]:port or unix:/path)");
  FakeSink sink;
  auto ex = backend.start(make_request("GET", "/"), sink);
  CHECK(sink.error_status == 502);
  CHECK(sink.why == backend.setup_error());
  ex->send_body("ignored");
  ex->finish_body();
}

TEST_CASE("scgi backend: connect timeout gives 504") {
  Loop loop;
  // A full accept queue: Linux drops further SYNs, so the connect hangs.
  App app(nullptr, "", 0);
  int filler = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = htons(app.port());
  REQUIRE(connect(filler, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
  {
    ScgiBackendOptions o = options_for(app);
    o.connect_timeout_ms = 100;
    ScgiBackend backend(loop.get(), o);
    FakeSink sink;
    auto ex = backend.start(make_request("GET", "/"), sink);
    REQUIRE(loop.run_until([&] { return sink.finished(); }));
    CHECK(sink.error_status == 504);
    CHECK(sink.why == "scgi upstream " + app.address() +
                          ": connect: timed out after 100 ms "
                          "(project.json backend.connect_timeout_ms)");
  }
  ::close(filler);
}

TEST_CASE("scgi backend: an app that never answers gives 504") {
  Loop loop;
  App app([&app](AppConn& c, int) {
    std::optional<ScgiRequest> r = c.read_request();
    if (!r) return;
    app.record(*r);
    if (c.wait_closed()) app.set_flag(1);
  });
  ScgiBackend backend(loop.get(), options_for(app, 100));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.error_status == 504);
  CHECK_FALSE(sink.head);
  CHECK(sink.why == "scgi upstream " + app.address() +
                        ": no response within 100 ms "
                        "(project.json backend.timeout_ms)");
  CHECK(loop.run_until([&] { return app.flag(1); }));  // the backend closed the connection
}

TEST_CASE("scgi backend: an app stalling mid-response cuts it with 504") {
  Loop loop;
  App app([&app](AppConn& c, int) {
    std::optional<ScgiRequest> r = c.read_request();
    if (!r) return;
    app.record(*r);
    c.send("Status: 200 OK\r\n\r\npartial");
    c.wait_closed();
  });
  ScgiBackend backend(loop.get(), options_for(app, 100));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  REQUIRE(sink.head);
  CHECK(sink.body() == "partial");
  CHECK(sink.error_status == 504);
  CHECK(sink.why == "scgi upstream " + app.address() +
                        ": response stalled: nothing for 100 ms "
                        "(project.json backend.timeout_ms)");
}

TEST_CASE("scgi backend: a request body that stops coming gives 408") {
  Loop loop;
  App app([&app](AppConn& c, int) {
    std::optional<ScgiRequest> r = c.read_head();
    if (!r) return;
    app.set_flag(0);
    if (c.wait_closed()) app.set_flag(1);
  });
  ScgiBackend backend(loop.get(), options_for(app, 100));
  FakeSink sink;
  auto ex = backend.start(make_request("POST", "/", 10), sink);
  REQUIRE(loop.run_until([&] { return app.flag(0); }));
  ex->send_body("12345");
  REQUIRE(loop.run_until([&] { return sink.finished(); }));
  CHECK(sink.error_status == 408);
  CHECK(sink.why ==
        "request body: nothing from the client for 100 ms "
        "(project.json backend.timeout_ms)");
  CHECK(loop.run_until([&] { return app.flag(1); }));
}

TEST_CASE("scgi backend: cancel mid-response closes the connection") {
  Loop loop;
  App app([&app](AppConn& c, int) {
    std::optional<ScgiRequest> r = c.read_request();
    if (!r) return;
    app.record(*r);
    c.send("Status: 200 OK\r\n\r\n0123456789");
    if (c.wait_closed()) app.set_flag(1);
  });
  ScgiBackend backend(loop.get(), options_for(app, 100));
  FakeSink sink;
  auto ex = backend.start(make_request("GET", "/"), sink);
  ex->finish_body();
  REQUIRE(loop.run_until([&] { return sink.body().size() == 10; }));
  ex->cancel();
  CHECK(loop.run_until([&] { return app.flag(1); }));
  loop.run_for(200);  // past the timeout: still nothing for the sink
  CHECK_FALSE(sink.finished());
}

TEST_CASE("scgi backend: cancel while connecting leaves nothing behind") {
  Loop loop;
  App app(nullptr, "", 0);
  int filler = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = htons(app.port());
  REQUIRE(connect(filler, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
  {
    ScgiBackend backend(loop.get(), options_for(app));
    FakeSink sink;
    auto ex = backend.start(make_request("GET", "/"), sink);
    loop.run_for(50);
    ex->cancel();
    ex.reset();
    loop.run_for(50);
    CHECK_FALSE(sink.finished());
  }
  ::close(filler);
  // ~Loop checks that the abandoned connect left no handle behind.
}

TEST_CASE("scgi backend: a local redirect goes to the client as a 302") {
  Loop loop;
  App app([&app](AppConn& c, int) {
    std::optional<ScgiRequest> r = c.read_request();
    if (!r) return;
    app.record(*r);
    c.send("Location: /other/place?x=1\r\n\r\n");
  });
  ScgiBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.ended);
  CHECK(sink.status() == 302);
  CHECK(sink.header("Location") == "/other/place?x=1");
}

TEST_CASE("scgi backend: unix socket upstream") {
  Loop loop;
  std::string path = "/tmp/gw-scgi-test-" + std::to_string(getpid()) + ".sock";
  App app(serve_hello(app), path);
  ScgiBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.ended);
  CHECK(sink.body() == "hello");
  CHECK(app.accepts() == 1);
}

TEST_CASE("scgi backend: backend destroyed while a request is in flight") {
  Loop loop;
  App app([&app](AppConn& c, int) {
    std::optional<ScgiRequest> r = c.read_request();
    if (!r) return;
    app.record(*r);
    app.set_flag(0);
    while (!app.flag(2)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    c.send(kHello);
  });
  FakeSink sink;
  std::unique_ptr<gw::Exchange> ex;
  {
    ScgiBackend backend(loop.get(), options_for(app));
    ex = backend.start(make_request("GET", "/"), sink);
    ex->finish_body();
    REQUIRE(loop.run_until([&] { return app.flag(0); }));
  }
  app.set_flag(2);
  REQUIRE(loop.run_until([&] { return sink.finished(); }));
  CHECK(sink.ended);
  CHECK(sink.body() == "hello");
  ex.reset();
}
