// The `http` backend against a real libuv loop and a small app server that
// runs on its own thread with blocking sockets. Every wait is bounded: the
// loop runs against a deadline and the app's reads poll with a timeout.
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
#include <cctype>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dispatch/backends/http_proxy.h"
#include "gateway/io/timer.h"
#include "tests/support/slow_client.h"
#include "tests/support/test_app.h"
#include "tests/support/test_loop.h"

namespace {

using gw::Header;
using gw::HttpProxyBackend;
using gw::HttpProxyOptions;
using gw::Request;
using gw::ResponseHead;
using Clock = std::chrono::steady_clock;
using FakeSink = gw::test::RecordingSink;

// ---- The app server: blocking sockets on a thread ----

// One accepted connection, from the app's side.
class AppConn : public gw::test::AppSocket {
 public:
  using AppSocket::AppSocket;

  // The request head, up to and including the empty line; "" when the
  // connection closed or nothing came in time. Body bytes stay buffered.
  std::string read_head() {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return "";
    }
    std::string head = buf_.substr(0, end + 4);
    buf_.erase(0, end + 4);
    return head;
  }

  // The body the head announces (Content-Length or chunked, framing kept).
  std::optional<std::string> read_body(const std::string& head) {
    std::string lower;
    for (char c : head) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.find("\r\ntransfer-encoding: chunked\r\n") != std::string::npos) {
      return read_chunked();
    }
    size_t cl = lower.find("\r\ncontent-length: ");
    size_t length = cl == std::string::npos ? 0 : std::stoul(lower.substr(cl + 18));
    if (!need(length)) return std::nullopt;
    std::string body = buf_.substr(0, length);
    buf_.erase(0, length);
    return body;
  }

  // One whole request, raw; "" on close or timeout.
  std::string read_request() {
    std::string head = read_head();
    if (head.empty()) return "";
    std::optional<std::string> body = read_body(head);
    return body ? head + *body : "";
  }

 private:
  std::optional<std::string> read_chunked() {
    size_t pos = 0;
    for (;;) {
      size_t eol;
      while ((eol = buf_.find("\r\n", pos)) == std::string::npos) {
        if (!fill()) return std::nullopt;
      }
      size_t size = std::stoul(buf_.substr(pos, eol - pos), nullptr, 16);
      pos = eol + 2 + size + 2;  // no trailers: the last chunk ends with CRLF CRLF
      if (!need(pos)) return std::nullopt;
      if (size == 0) break;
    }
    std::string body = buf_.substr(0, pos);
    buf_.erase(0, pos);
    return body;
  }
};

// The app: a thread per accepted connection (tests/support/test_app.h).
using App = gw::test::TestApp<AppConn, std::string>;

// ---- The loop ----

using Loop = gw::test::TestLoop;

// ---- The sink ----

Request make_request(std::string method, std::string target,
                     std::optional<uint64_t> content_length = 0) {
  Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.server_protocol = "HTTP/1.1";
  r.headers = {{"Host", "example.org"}};
  r.content_length = content_length;
  r.remote_addr = "192.0.2.7";
  return r;
}

HttpProxyOptions options_for(const App& app, uint32_t timeout_ms = 5000) {
  HttpProxyOptions o;
  o.upstream = app.address();
  o.connect_timeout_ms = 2000;
  o.timeout_ms = timeout_ms;
  return o;
}

const char kHello[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";

// An app that answers every request on a connection with kHello, recording it.
App::Handler serve_hello(App& app) {
  return [&app](AppConn& c, int) {
    for (;;) {
      std::string req = c.read_request();
      if (req.empty()) return;
      app.record(req);
      c.send(kHello);
    }
  };
}

// Runs one request with no body to its end.
void fetch(Loop& loop, HttpProxyBackend& backend, FakeSink& sink, const Request& req) {
  auto ex = backend.start(req, sink);
  ex->finish_body();
  REQUIRE(loop.run_until([&] { return sink.finished(); }));
}

}  // namespace

TEST_CASE("http proxy: upstream headers drop hop-by-hop fields and add X-Forwarded-*") {
  Request r = make_request("GET", "/app/x?y=1");
  r.script_name = "/app";
  r.https = true;
  r.headers = {{"Host", "example.org"},
               {"Connection", "keep-alive, X-Secret"},
               {"Keep-Alive", "timeout=5"},
               {"TE", "trailers"},
               {"Upgrade", "h2c"},
               {"Proxy-Connection", "close"},
               {"Proxy", "http://evil/"},
               {"X-Secret", "hop"},
               {"X-Forwarded-For", "198.51.100.1"},
               {"X-Forwarded-Proto", "gopher"},
               {"X-Forwarded-Host", "spoofed"},
               {"X-Forwarded-Prefix", "/spoofed"},
               {"Accept", "*/*"},
               {"X-Forwarded-For", "198.51.100.2"}};
  std::vector<Header> got = gw::upstream_request_headers(r, "127.0.0.1:9");
  std::vector<std::pair<std::string, std::string>> flat;
  for (const auto& h : got) flat.emplace_back(h.name, h.value);
  std::vector<std::pair<std::string, std::string>> want = {
      {"Host", "example.org"},
      {"Accept", "*/*"},
      {"X-Forwarded-For", "198.51.100.1, 198.51.100.2, 192.0.2.7"},
      {"X-Forwarded-Proto", "https"},
      {"X-Forwarded-Host", "example.org"},
      {"X-Forwarded-Prefix", "/app"},
  };
  CHECK(flat == want);
}

TEST_CASE("http proxy: the target goes without the mount prefix, encoded as the client sent it") {
  struct Case {
    std::string target, script_name, path_info, want;
  };
  const std::vector<Case> cases = {
      {"/app/x?y=1", "/app", "/x", "/x?y=1"},
      {"/app", "/app", "", "/"},
      {"/app?q", "/app", "", "/?q"},
      {"/app/", "/app", "/", "/"},
      {"/x/y", "", "/x/y", "/x/y"},
      {"/apps/wiki/a%2520b/caf%C3%A9?x=%2520", "/apps/wiki", "/a%20b/caf\xC3\xA9",
       "/a%2520b/caf%C3%A9?x=%2520"},
      // The prefix itself encoded by the client: taken off whole.
      {"/w%69ki/p%2Fq", "/wiki", "/p/q", "/p%2Fq"},
      {"/caf%c3%a9/x", "/caf\xC3\xA9", "/x", "/x"},
      // A raw path that does not start with the prefix (a front end that
      // rewrote it, or "//" the router normalised): path_info re-encoded.
      {"//app/a%20b?z", "/app", "/a b", "/a%20b?z"},
      {"/other/x", "/app", "/x", "/x"},
      {"/application/x", "/app", "/x", "/x"},
      {"/ap%", "/app", "", "/"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.target);
    Request r = make_request("GET", c.target);
    r.script_name = c.script_name;
    r.path_info = c.path_info;
    CHECK(gw::upstream_target(r) == c.want);
  }
}

TEST_CASE("http proxy: X-Remote-User carries the authenticated user, never the client's") {
  Request r = make_request("GET", "/app/x");
  r.headers = {{"Host", "example.org"}, {"X-Remote-User", "mallory"}, {"x-remote-user", "eve"}};
  auto names = [](const std::vector<Header>& hs) {
    std::string s;
    for (const auto& h : hs) s += h.name + "=" + h.value + "\n";
    return s;
  };
  SUBCASE("nobody authenticated: no X-Remote-User at all") {
    CHECK(names(gw::upstream_request_headers(r, "127.0.0.1:9")) ==
          "Host=example.org\n"
          "X-Forwarded-For=192.0.2.7\n"
          "X-Forwarded-Proto=http\n"
          "X-Forwarded-Host=example.org\n");
  }
  SUBCASE("the front end's user") {
    r.remote_user = "alice";
    CHECK(names(gw::upstream_request_headers(r, "127.0.0.1:9")) ==
          "Host=example.org\n"
          "X-Forwarded-For=192.0.2.7\n"
          "X-Forwarded-Proto=http\n"
          "X-Forwarded-Host=example.org\n"
          "X-Remote-User=alice\n");
  }
  SUBCASE("a user name that cannot stand in a field is not sent") {
    r.remote_user = "al\r\nX-Admin: 1";
    std::string got = names(gw::upstream_request_headers(r, "127.0.0.1:9"));
    CHECK(got.find("X-Remote-User") == std::string::npos);
    CHECK(got.find("X-Admin") == std::string::npos);
  }
}

TEST_CASE("http proxy: a request without Host gets one") {
  Request r = make_request("GET", "/");
  r.headers.clear();
  r.remote_addr.clear();
  SUBCASE("from the server name and a non-default port") {
    r.server_name = "site.test";
    r.server_port = 8080;
    auto got = gw::upstream_request_headers(r, "127.0.0.1:9");
    REQUIRE(got.size() == 2);
    CHECK(got[0].name == "Host");
    CHECK(got[0].value == "site.test:8080");
    CHECK(got[1].name == "X-Forwarded-Proto");
  }
  SUBCASE("from the upstream when nothing names the server") {
    auto got = gw::upstream_request_headers(r, "127.0.0.1:9");
    REQUIRE(got.size() == 2);
    CHECK(got[0].value == "127.0.0.1:9");
  }
}

TEST_CASE("http proxy: GET with a Content-Length response") {
  Loop loop;
  App served(serve_hello(served));
  {
    HttpProxyBackend backend(loop.get(), options_for(served));
    CHECK(backend.setup_error().empty());
    FakeSink sink;
    Request req = make_request("GET", "/app/x?y=1");
    req.script_name = "/app";
    req.headers.push_back({"Connection", "keep-alive"});
    req.headers.push_back({"User-Agent", "t/1"});
    fetch(loop, backend, sink, req);
    CHECK(sink.ended);
    REQUIRE(sink.head);
    CHECK(sink.head->status == 200);
    CHECK(sink.header("Content-Type") == "text/plain");
    CHECK(sink.header("Content-Length") == "5");
    CHECK(sink.body() == "hello");
  }
  served.stop();
  REQUIRE(served.requests.size() == 1);
  CHECK(served.requests[0] ==
        "GET /x?y=1 HTTP/1.1\r\n"
        "Host: example.org\r\n"
        "User-Agent: t/1\r\n"
        "X-Forwarded-For: 192.0.2.7\r\n"
        "X-Forwarded-Proto: http\r\n"
        "X-Forwarded-Host: example.org\r\n"
        "X-Forwarded-Prefix: /app\r\n"
        "\r\n");
}

TEST_CASE("http proxy: chunked response arriving in pieces") {
  Loop loop;
  App app([&app](AppConn& c, int) {
    app.record(c.read_request());
    const std::vector<std::string> pieces = {"HTTP/1.1 200 OK\r\nTransfer-Enc",
                                             "oding: chunked\r\nX-App: 1\r\n\r\n5\r\nhel",
                                             "lo\r\n6\r\n world\r\n", "0\r\n\r\n"};
    for (const auto& p : pieces) {
      c.send(p);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    c.wait_closed();
  });
  {
    HttpProxyBackend backend(loop.get(), options_for(app));
    FakeSink sink;
    fetch(loop, backend, sink, make_request("GET", "/"));
    CHECK(sink.ended);
    CHECK(sink.body() == "hello world");
    CHECK(sink.header("X-App") == "1");
    CHECK(sink.header("Transfer-Encoding") == "<absent>");
  }
}

TEST_CASE("http proxy: close-delimited response ends at EOF") {
  Loop loop;
  App app([&app](AppConn& c, int) {
    app.record(c.read_request());
    c.send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    c.send("close");
  });
  HttpProxyBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.ended);
  CHECK(sink.body() == "until close");
  CHECK(backend.idle_connections() == 0);
}

TEST_CASE("http proxy: HEAD response has no body") {
  Loop loop;
  App app([&app](AppConn& c, int) {
    app.record(c.read_request());
    c.send("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
    c.wait_closed();
  });
  HttpProxyBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("HEAD", "/"));
  CHECK(sink.ended);
  CHECK(sink.header("Content-Length") == "1234");
  CHECK(sink.body().empty());
  CHECK(backend.idle_connections() == 1);
}

namespace {

// Serves one request: flags 0 when the head is in, records head + body.
App::Handler record_one(App& app) {
  return [&app](AppConn& c, int) {
    std::string head = c.read_head();
    if (head.empty()) return;
    app.set_flag(0);
    std::optional<std::string> body = c.read_body(head);
    app.record(head + body.value_or("(short)"));
    c.send(kHello);
    c.wait_closed();
  };
}

}  // namespace

TEST_CASE("http proxy: request body with Content-Length is forwarded exactly") {
  Loop loop;
  App rec(record_one(rec));
  const std::string want =
      "POST /submit HTTP/1.1\r\n"
      "Host: example.org\r\n"
      "Content-Type: text/plain\r\n"
      "X-Forwarded-For: 192.0.2.7\r\n"
      "X-Forwarded-Proto: http\r\n"
      "X-Forwarded-Host: example.org\r\n"
      "Content-Length: 11\r\n"
      "\r\n"
      "hello world";
  {
    HttpProxyBackend backend(loop.get(), options_for(rec));
    FakeSink sink;
    Request req = make_request("POST", "/submit", 11);
    req.headers.push_back({"Content-Type", "text/plain"});
    req.headers.push_back({"Content-Length", "11"});
    auto ex = backend.start(req, sink);
    SUBCASE("body before the connection is up") {}
    SUBCASE("body after the connection is up") {
      REQUIRE(loop.run_until([&] { return rec.flag(0); }));
    }
    ex->send_body("hello ");
    ex->send_body("world");
    ex->finish_body();
    REQUIRE(loop.run_until([&] { return sink.finished(); }));
    CHECK(sink.ended);
    CHECK(sink.body() == "hello");
  }
  rec.stop();
  REQUIRE(rec.requests.size() == 1);
  CHECK(rec.requests[0] == want);
}

TEST_CASE("http proxy: request body of unknown length") {
  Loop loop;
  App rec(record_one(rec));
  std::string want_framing;
  {
    HttpProxyBackend backend(loop.get(), options_for(rec));
    FakeSink sink;
    auto ex = backend.start(make_request("PUT", "/f", std::nullopt), sink);
    SUBCASE("complete before the connection is up: sent with its length") {
      ex->send_body("abc");
      ex->send_body("defgh");
      ex->finish_body();
      want_framing = "Content-Length: 8\r\n\r\nabcdefgh";
    }
    SUBCASE("streaming: sent chunked") {
      REQUIRE(loop.run_until([&] { return rec.flag(0); }));
      ex->send_body("abc");
      ex->send_body("defgh");
      ex->finish_body();
      want_framing = "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n";
    }
    SUBCASE("empty: sent with length 0") {
      ex->finish_body();
      want_framing = "Content-Length: 0\r\n\r\n";
    }
    REQUIRE(loop.run_until([&] { return sink.finished(); }));
    CHECK(sink.ended);
  }
  rec.stop();
  REQUIRE(rec.requests.size() == 1);
  CHECK(rec.requests[0] ==
        "PUT /f HTTP/1.1\r\n"
        "Host: example.org\r\n"
        "X-Forwarded-For: 192.0.2.7\r\n"
        "X-Forwarded-Proto: http\r\n"
        "X-Forwarded-Host: example.org\r\n" +
            want_framing);
}

TEST_CASE("http proxy: a pooled request of unknown length waits a turn for its end") {
  Loop loop;
  App served(serve_hello(served));
  {
    HttpProxyBackend backend(loop.get(), options_for(served));
    FakeSink first;
    fetch(loop, backend, first, make_request("GET", "/1"));
    REQUIRE(backend.idle_connections() == 1);
    FakeSink second;
    // As a FastCGI front sends it: no CONTENT_LENGTH, the empty STDIN record
    // in the same read.
    auto ex = backend.start(make_request("GET", "/2", std::nullopt), second);
    ex->finish_body();
    REQUIRE(loop.run_until([&] { return second.finished(); }));
    CHECK(second.ended);
    CHECK(served.accepts() == 1);
  }
  served.stop();
  REQUIRE(served.requests.size() == 2);
  CHECK(served.requests[1] ==
        "GET /2 HTTP/1.1\r\n"
        "Host: example.org\r\n"
        "X-Forwarded-For: 192.0.2.7\r\n"
        "X-Forwarded-Proto: http\r\n"
        "X-Forwarded-Host: example.org\r\n"
        "\r\n");
}

TEST_CASE("http proxy: keep-alive connection is reused") {
  Loop loop;
  App served(serve_hello(served));
  {
    HttpProxyBackend backend(loop.get(), options_for(served));
    for (int i = 0; i < 3; ++i) {
      FakeSink sink;
      fetch(loop, backend, sink, make_request("GET", "/" + std::to_string(i)));
      CHECK(sink.ended);
      CHECK(sink.body() == "hello");
      CHECK(backend.idle_connections() == 1);
    }
    CHECK(served.accepts() == 1);
  }
  served.stop();
  CHECK(served.requests.size() == 3);
}

TEST_CASE("http proxy: the pool hands out the most recently returned connection") {
  Loop loop;
  // Each connection names itself; the second answers later than the first.
  App app([&app](AppConn& c, int index) {
    for (;;) {
      std::string req = c.read_request();
      if (req.empty()) return;
      app.record(req);
      if (index == 1) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      c.send("HTTP/1.1 200 OK\r\nX-Conn: " + std::to_string(index) +
             "\r\nContent-Length: 0\r\n\r\n");
    }
  });
  HttpProxyBackend backend(loop.get(), options_for(app));
  FakeSink a, b;
  auto ea = backend.start(make_request("GET", "/a"), a);
  auto eb = backend.start(make_request("GET", "/b"), b);
  REQUIRE(loop.run_until([&] { return a.finished() && b.finished(); }));
  REQUIRE(app.accepts() == 2);
  CHECK(backend.idle_connections() == 2);
  FakeSink c;
  fetch(loop, backend, c, make_request("GET", "/c"));
  CHECK(c.ended);
  CHECK(c.header("X-Conn") == "1");
  CHECK(app.accepts() == 2);
}

TEST_CASE("http proxy: keepalive limits the idle connections") {
  Loop loop;
  App served(serve_hello(served));
  HttpProxyOptions o = options_for(served);
  o.keepalive = 1;
  HttpProxyBackend backend(loop.get(), o);
  FakeSink a, b;
  auto ea = backend.start(make_request("GET", "/a"), a);
  auto eb = backend.start(make_request("GET", "/b"), b);
  REQUIRE(loop.run_until([&] { return a.finished() && b.finished(); }));
  CHECK(served.accepts() == 2);
  CHECK(backend.idle_connections() == 1);
}

TEST_CASE("http proxy: a connection the upstream will close is not pooled") {
  Loop loop;
  App app([&app](AppConn& c, int) {
    app.record(c.read_request());
    c.send("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
  });
  HttpProxyBackend backend(loop.get(), options_for(app));
  for (int i = 0; i < 2; ++i) {
    FakeSink sink;
    fetch(loop, backend, sink, make_request("GET", "/"));
    CHECK(sink.ended);
    CHECK(sink.body() == "ok");
    CHECK(sink.header("Connection") == "<absent>");
    CHECK(backend.idle_connections() == 0);
  }
  CHECK(app.accepts() == 2);
}

TEST_CASE("http proxy: bytes after the response make the connection unusable") {
  Loop loop;
  bool same_read = false;
  SUBCASE("in the same read") {
    same_read = true;
  }
  SUBCASE("while idle") {
    same_read = false;
  }
  App app([&app, same_read](AppConn& c, int) {
    app.record(c.read_request());
    if (same_read) {
      c.send(std::string(kHello) + "HTTP/1.1 200 OK\r\n");
    } else {
      c.send(kHello);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      c.send("HTTP/1.1 200 OK\r\n");
    }
    c.wait_closed();
  });
  HttpProxyBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.ended);
  CHECK(sink.body() == "hello");
  if (same_read) {
    CHECK(backend.idle_connections() == 0);
  } else {
    CHECK(backend.idle_connections() == 1);
    // Well before the app gives up waiting and closes (gw::test::kAppReadTimeoutMs).
    CHECK(loop.run_until([&] { return backend.idle_connections() == 0; }, 1000));
  }
}

TEST_CASE("http proxy: an idle connection the upstream closed is dropped") {
  Loop loop;
  App app([&app](AppConn& c, int) {
    app.record(c.read_request());
    c.send(kHello);  // keep-alive, then the app's idle timeout closes it
  });
  HttpProxyBackend backend(loop.get(), options_for(app));
  FakeSink first;
  fetch(loop, backend, first, make_request("GET", "/"));
  CHECK(first.ended);
  CHECK(loop.run_until([&] { return backend.idle_connections() == 0; }));
  FakeSink second;
  fetch(loop, backend, second, make_request("GET", "/"));
  CHECK(second.ended);
  CHECK(second.body() == "hello");
  CHECK(app.accepts() == 2);
}

TEST_CASE("http proxy: keep-alive race") {
  // The first connection answers one request, then reads the next and closes
  // without answering, as an app whose idle timeout fired just then.
  Loop loop;
  App app([&app](AppConn& c, int index) {
    std::string req = c.read_request();
    app.record(req);
    if (index > 0) {
      c.send(kHello);
      c.wait_closed();
      return;
    }
    c.send(kHello);
    app.record(c.read_request());
  });
  HttpProxyBackend backend(loop.get(), options_for(app));
  FakeSink first;
  fetch(loop, backend, first, make_request("GET", "/1"));
  REQUIRE(first.ended);
  REQUIRE(backend.idle_connections() == 1);

  SUBCASE("a request without body is retried on a new connection") {
    FakeSink second;
    fetch(loop, backend, second, make_request("GET", "/2"));
    CHECK(second.ended);
    CHECK(second.body() == "hello");
    CHECK(app.accepts() == 2);
  }
  SUBCASE("a request whose body was sent is not") {
    FakeSink second;
    auto ex = backend.start(make_request("POST", "/2", 3), second);
    ex->send_body("abc");
    ex->finish_body();
    REQUIRE(loop.run_until([&] { return second.finished(); }));
    CHECK(second.error_status == 502);
    CHECK(second.why.find("closed the connection before responding") != std::string::npos);
    CHECK(app.accepts() == 1);
  }
}

TEST_CASE("http proxy: upstream refusing connections gives 502") {
  Loop loop;
  HttpProxyOptions o;
  SUBCASE("tcp") {
    o.upstream = "127.0.0.1:" + std::to_string(gw::test::closed_port());
  }
  SUBCASE("unix socket") {
    o.upstream = "unix:/nonexistent/gw-proxy-test.sock";
  }
  HttpProxyBackend backend(loop.get(), o);
  FakeSink sink;
  auto ex = backend.start(make_request("GET", "/"), sink);
  REQUIRE(loop.run_until([&] { return sink.finished(); }));
  CHECK(sink.error_status == 502);
  CHECK_FALSE(sink.head);
  CHECK(sink.why.find("upstream " + o.upstream + ": connect: ") == 0);
  CHECK((sink.why.find("ECONNREFUSED") != std::string::npos ||
         sink.why.find("ENOENT") != std::string::npos));
}

TEST_CASE("http proxy: an unusable upstream address answers 502") {
  Loop loop;
  HttpProxyOptions o;
  o.upstream = "no-port-here";
  HttpProxyBackend backend(loop.get(), o);
  CHECK_FALSE(backend.setup_error().empty());
  FakeSink sink;
  auto ex = backend.start(make_request("GET", "/"), sink);
  CHECK(sink.error_status == 502);
  ex->send_body("ignored");
  ex->finish_body();
}

TEST_CASE("http proxy: connect timeout gives 504") {
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
    HttpProxyOptions o = options_for(app);
    o.connect_timeout_ms = 100;
    HttpProxyBackend backend(loop.get(), o);
    FakeSink sink;
    auto ex = backend.start(make_request("GET", "/"), sink);
    REQUIRE(loop.run_until([&] { return sink.finished(); }));
    CHECK(sink.error_status == 504);
    CHECK(sink.why == "upstream " + app.address() +
                          ": connect: timed out after 100 ms "
                          "(project.json backend.connect_timeout_ms)");
  }
  ::close(filler);
}

TEST_CASE("http proxy: upstream that never answers gives 504") {
  Loop loop;
  App app([&app](AppConn& c, int) {
    app.record(c.read_request());
    if (c.wait_closed()) app.set_flag(1);
  });
  HttpProxyBackend backend(loop.get(), options_for(app, 100));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.error_status == 504);
  CHECK_FALSE(sink.head);
  CHECK(sink.why == "upstream " + app.address() +
                        ": no response within 100 ms "
                        "(project.json backend.timeout_ms)");
  CHECK(loop.run_until([&] { return app.flag(1); }));  // the proxy closed the connection
  CHECK(backend.idle_connections() == 0);
}

TEST_CASE("http proxy: a request body that stops coming times out") {
  Loop loop;
  App app([&app](AppConn& c, int) {
    app.record(c.read_head());
    app.set_flag(0);
    if (c.wait_closed()) app.set_flag(1);
  });
  HttpProxyBackend backend(loop.get(), options_for(app, 100));
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

TEST_CASE("http proxy: upstream stalling mid-body cuts the response") {
  Loop loop;
  App app([&app](AppConn& c, int) {
    app.record(c.read_request());
    c.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
    c.wait_closed();
  });
  HttpProxyBackend backend(loop.get(), options_for(app, 100));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  REQUIRE(sink.head);
  CHECK(sink.body() == "partial");
  CHECK(sink.error_status == 504);
  CHECK(sink.why.find("response stalled") != std::string::npos);
}

TEST_CASE("http proxy: upstream failing mid-response is an error after the head") {
  Loop loop;
  bool reset = false;
  SUBCASE("closed") {}
  SUBCASE("reset") {
    reset = true;
  }
  App app([&app, reset](AppConn& c, int) {
    app.record(c.read_request());
    c.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (reset) c.reset();
  });
  HttpProxyBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  REQUIRE(sink.head);
  CHECK(sink.head->status == 200);
  CHECK(sink.body() == "partial");
  CHECK(sink.error_status == 502);
  CHECK(sink.why.find("upstream " + app.address() + ": ") == 0);
  CHECK(backend.idle_connections() == 0);
}

TEST_CASE("http proxy: upstream failing before the response gives 502") {
  Loop loop;
  int mode = 0;
  SUBCASE("closed") {
    mode = 0;
  }
  SUBCASE("reset") {
    mode = 1;
  }
  SUBCASE("malformed") {
    mode = 2;
  }
  App app([&app, mode](AppConn& c, int) {
    app.record(c.read_request());
    if (mode == 1) c.reset();
    if (mode == 2) {
      c.send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
      c.wait_closed();
    }
  });
  HttpProxyBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.error_status == 502);
  CHECK_FALSE(sink.head);
  std::string prefix = "upstream " + app.address() + ": ";
  CHECK(sink.why.find(prefix) == 0);
  if (mode == 0) CHECK(sink.why == prefix + "closed the connection before responding");
  if (mode == 1) CHECK(sink.why.find("ECONNRESET") != std::string::npos);
  if (mode == 2) CHECK(sink.why.find(prefix + "malformed response: ") == 0);
}

TEST_CASE("http proxy: cancel mid-response closes the upstream") {
  Loop loop;
  App app([&app](AppConn& c, int) {
    app.record(c.read_request());
    c.send("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
    if (c.wait_closed()) app.set_flag(1);
  });
  HttpProxyBackend backend(loop.get(), options_for(app, 100));
  FakeSink sink;
  auto ex = backend.start(make_request("GET", "/"), sink);
  ex->finish_body();
  REQUIRE(loop.run_until([&] { return sink.body().size() == 10; }));
  ex->cancel();
  CHECK(loop.run_until([&] { return app.flag(1); }));
  loop.run_for(200);  // past the timeout: still nothing for the sink
  CHECK_FALSE(sink.finished());
  CHECK(backend.idle_connections() == 0);
}

TEST_CASE("http proxy: cancel from inside the sink") {
  Loop loop;
  App app([&app](AppConn& c, int) {
    app.record(c.read_request());
    // Several chunks in one write: they reach the proxy in one read.
    c.send(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n");
    if (c.wait_closed()) app.set_flag(1);
  });
  HttpProxyBackend backend(loop.get(), options_for(app));
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
  CHECK(backend.idle_connections() == 0);
}

TEST_CASE("http proxy: a request started from inside on_end reuses the connection") {
  // A pipelined request begins while the previous exchange is still on the
  // stack in on_end(): the connection must be back in the pool by then.
  Loop loop;
  App served(serve_hello(served));
  HttpProxyBackend backend(loop.get(), options_for(served));
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
  CHECK(served.accepts() == 1);
}

TEST_CASE("http proxy: cancel while connecting") {
  Loop loop;
  App app(nullptr, "", 0);
  int filler = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = htons(app.port());
  REQUIRE(connect(filler, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
  {
    HttpProxyBackend backend(loop.get(), options_for(app));
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

TEST_CASE("http proxy: response reading pauses while the sink is congested") {
  constexpr size_t kSize = 1 << 20;
  std::string payload(kSize, '\0');
  for (size_t i = 0; i < kSize; ++i) payload[i] = static_cast<char>('a' + i % 26);
  Loop loop;
  App app([&app, &payload](AppConn& c, int) {
    app.record(c.read_request());
    c.send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(payload.size()) + "\r\n\r\n");
    c.send(payload);
    c.wait_closed();
  });
  HttpProxyBackend backend(loop.get(), options_for(app, 100));
  FakeSink sink;
  sink.congest_after_each_piece = true;
  auto ex = backend.start(make_request("GET", "/"), sink);
  ex->finish_body();
  REQUIRE(loop.run_until([&] { return !sink.body().empty(); }));
  loop.run_for(300);  // longer than timeout_ms: a paused response is not a stalled upstream
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

TEST_CASE("http proxy: request body backpressure") {
  Loop loop;
  App app([&app](AppConn& c, int) {
    std::string head = c.read_head();
    app.set_flag(0);
    while (!app.flag(2)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::optional<std::string> body = c.read_body(head);
    app.record(body.value_or("(short)"));
    c.send(kHello);
    c.wait_closed();
  });
  HttpProxyBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  auto ex = backend.start(make_request("POST", "/up", std::nullopt), sink);
  const std::string piece(64 * 1024, 'x');
  size_t sent = 0;
  auto send_piece = [&] {
    ex->send_body(piece);
    sent += piece.size();
  };
  // Before the connection is up the proxy holds the body up to its bound.
  while (!ex->body_congested()) {
    send_piece();
    REQUIRE(sent <= 512 * 1024);
  }
  CHECK(sent >= 256 * 1024);
  const size_t held = sent;
  REQUIRE(loop.run_until([&] { return app.flag(0); }));
  // The app reads nothing yet: once the socket buffers are full, the queue
  // stays above the bound however long the loop runs.
  bool stuck = false;
  for (int i = 0; i < 250 && !stuck; ++i) {
    while (!ex->body_congested()) send_piece();
    loop.run_for(20);
    stuck = ex->body_congested();
  }
  REQUIRE(stuck);
  int drained_before = sink.drained;
  app.set_flag(2);  // the app starts reading
  REQUIRE(loop.run_until([&] { return sink.drained > drained_before; }));
  CHECK_FALSE(ex->body_congested());
  ex->finish_body();
  REQUIRE(loop.run_until([&] { return sink.finished(); }));
  CHECK(sink.ended);
  app.stop();
  // What was held went as one chunk, every later piece as its own.
  auto chunk = [](size_t n) {
    char size[32];
    snprintf(size, sizeof size, "%zx\r\n", n);
    return size + std::string(n, 'x') + "\r\n";
  };
  std::string want = chunk(held);
  for (size_t n = held; n < sent; n += piece.size()) want += chunk(piece.size());
  want += "0\r\n\r\n";
  REQUIRE(app.requests.size() == 1);
  CHECK(app.requests[0].size() == want.size());
  CHECK(app.requests[0] == want);
}

TEST_CASE("http proxy: unix socket upstream") {
  Loop loop;
  std::string path = "/tmp/gw-proxy-test-" + std::to_string(getpid()) + ".sock";
  App app(
      [&app](AppConn& c, int) {
        for (;;) {
          std::string req = c.read_request();
          if (req.empty()) return;
          app.record(req);
          c.send(kHello);
        }
      },
      path);
  HttpProxyBackend backend(loop.get(), options_for(app));
  FakeSink sink;
  Request req = make_request("GET", "/");
  req.headers.clear();  // no Host: the upstream is not a host name
  fetch(loop, backend, sink, req);
  CHECK(sink.ended);
  CHECK(sink.body() == "hello");
  app.stop();
  REQUIRE(app.requests.size() == 1);
  CHECK(app.requests[0].find("\r\nHost: localhost\r\n") != std::string::npos);
}

TEST_CASE("http proxy: backend destroyed while a request is in flight") {
  Loop loop;
  App app([&app](AppConn& c, int) {
    app.record(c.read_request());
    app.set_flag(0);
    while (!app.flag(2)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    c.send(kHello);
    c.wait_closed();
  });
  FakeSink sink;
  std::unique_ptr<gw::Exchange> ex;
  {
    HttpProxyBackend backend(loop.get(), options_for(app));
    ex = backend.start(make_request("GET", "/"), sink);
    ex->finish_body();
    REQUIRE(loop.run_until([&] { return app.flag(0); }));
  }
  app.set_flag(2);
  REQUIRE(loop.run_until([&] { return sink.finished(); }));
  CHECK(sink.ended);
  CHECK(sink.body() == "hello");
  ex.reset();  // the last owner of the pool; the connection was closed, not pooled
}
