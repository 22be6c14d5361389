// X-Sendfile / X-Accel-Redirect (dispatch/backends/sendfile.h) in front of a
// scripted app backend, and project.json's "sendfile" section
// (gateway/config_files.cpp).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "dispatch/backends/sendfile.h"
#include "gateway/config.h"
#include "tests/support/recording_sink.h"

namespace {

namespace fs = std::filesystem;
using gw::Header;
using gw::Request;
using gw::SendfileLocation;
using gw::SendfileOptions;
using Sink = gw::test::RecordingSink;
using Mode = SendfileOptions::Mode;
using Form = SendfileOptions::Form;

// A temporary tree:
//   <base>/files/report.pdf     "0123456789" (10 bytes)
//   <base>/files/my file.txt    "spaced"
//   <base>/files/sub/           a directory
//   <base>/files/big.bin        200000 bytes, byte i = i % 251
//   <base>/other/page.html      "<p>not found page</p>"
//   <base>/secret.txt           outside every allowed directory
class Tree {
 public:
  Tree() {
    char tmpl[] = "/tmp/gw-sendfile-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    base = fs::canonical(tmpl).string();
    files = base + "/files";
    other = base + "/other";
    fs::create_directories(files + "/sub");
    fs::create_directories(other);
    write("files/report.pdf", "0123456789");
    write("files/my file.txt", "spaced");
    std::string big(200000, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i % 251);
    write("files/big.bin", big);
    write("other/page.html", "<p>not found page</p>");
    write("secret.txt", "secret");
  }
  ~Tree() {
    std::error_code ec;
    fs::remove_all(base, ec);
  }
  void write(const std::string& rel, const std::string& content) const {
    std::ofstream(base + "/" + rel, std::ios::binary) << content;
  }

  std::string base;
  std::string files;
  std::string other;
};

// The app: answers with `status`, `headers` and `body`, at once from start()
// or when the test calls answer(); records what the gateway did to it.
class ScriptedApp : public gw::Backend {
 public:
  struct State {
    int status = 200;
    std::vector<Header> headers;
    std::vector<std::string> body;
    bool answer_at_start = true;
    bool fail_after_head = false;
    // Recorded:
    gw::ResponseSink* sink = nullptr;
    std::string request_body;
    bool body_finished = false;
    int cancels = 0;
    Request request;
  };

  explicit ScriptedApp(State& state) : state_(state) {}

  // Plays the answer into the sink the gateway gave.
  static void answer(State& s, bool head_only = false) {
    gw::ResponseHead head;
    head.status = s.status;
    head.headers = s.headers;
    s.sink->on_head(std::move(head));
    if (head_only) return;
    for (const auto& piece : s.body) s.sink->on_body(piece);
    if (s.fail_after_head) {
      s.sink->on_error(502, "app went away");
    } else {
      s.sink->on_end();
    }
  }

  class AppExchange : public gw::Exchange {
   public:
    explicit AppExchange(State& s) : s_(s) {}
    void send_body(std::string_view data) override { s_.request_body.append(data); }
    void finish_body() override { s_.body_finished = true; }
    void cancel() override { ++s_.cancels; }

   private:
    State& s_;
  };

  std::unique_ptr<gw::Exchange> start(const Request& r, gw::ResponseSink& sink) override {
    state_.sink = &sink;
    state_.request = r;
    if (state_.answer_at_start) answer(state_);
    return std::make_unique<AppExchange>(state_);
  }
  std::string_view kind() const override { return "scripted"; }

 private:
  State& state_;
};

Request get(std::string method = "GET") {
  Request r;
  r.method = std::move(method);
  r.script_name = "/proj";
  r.path_info = "/download";
  r.path = "/proj/download";
  r.target = r.path;
  r.server_protocol = "HTTP/1.1";
  return r;
}

Request with(Request r, std::string name, std::string value) {
  r.headers.push_back({std::move(name), std::move(value)});
  return r;
}

SendfileOptions serve_options(const Tree& tree) {
  SendfileOptions o;
  o.mode = Mode::Serve;
  o.dirs = {tree.files};
  o.locations = {{"/protected", tree.files}, {"/pages", tree.other}};
  return o;
}

struct Run {
  ScriptedApp::State app;
  std::unique_ptr<gw::Backend> backend;
  Sink sink;
  std::unique_ptr<gw::Exchange> exchange;

  explicit Run(const SendfileOptions& options) {
    backend = gw::wrap_sendfile(std::make_unique<ScriptedApp>(app), options);
  }
  Sink& fetch(const Request& r) {
    exchange = backend->start(r, sink);
    return sink;
  }
};

std::vector<std::string> names(const gw::ResponseHead& head) {
  std::vector<std::string> out;
  for (const auto& h : head.headers) out.push_back(h.name);
  return out;
}

bool none_mentions(const std::vector<std::string>& pieces, const std::string& what) {
  for (const auto& p : pieces) {
    if (p.find(what) != std::string::npos) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("sendfile: an answer without the headers passes untouched") {
  Tree tree;
  Run run(serve_options(tree));
  run.app.headers = {{"Content-Type", "text/html"}, {"Content-Length", "5"}, {"X-Other", "1"}};
  run.app.body = {"he", "llo"};
  auto& s = run.fetch(get());
  CHECK(s.ended);
  CHECK(s.status() == 200);
  CHECK(s.head->headers == run.app.headers);
  CHECK(s.pieces == std::vector<std::string>{"he", "llo"});
  CHECK(s.logs.empty());
}

TEST_CASE("sendfile: serve X-Sendfile from an allowed directory") {
  Tree tree;
  Run run(serve_options(tree));
  run.app.headers = {{"Content-Type", "application/pdf"},
                     {"Set-Cookie", "a=1"},
                     {"X-Sendfile", tree.files + "/report.pdf"},
                     {"Content-Length", "11"},
                     {"ETag", "\"app\""}};
  run.app.body = {"app's body"};
  auto& s = run.fetch(get());
  CHECK(s.ended);
  CHECK(s.status() == 200);
  CHECK(s.body() == "0123456789");
  std::vector<std::string> expected = {"Content-Type", "Content-Length", "Accept-Ranges",
                                       "ETag",         "Last-Modified",  "Set-Cookie"};
  CHECK(names(*s.head) == expected);
  CHECK(s.header("Content-Type") == "application/pdf");
  CHECK(s.header("Content-Length") == "10");
  CHECK(s.header("Set-Cookie") == "a=1");
  CHECK(s.header("ETag") != "\"app\"");
  CHECK(s.header("ETag").starts_with("\""));
  CHECK(none_mentions(s.pieces, "app's body"));
  CHECK(s.logs.empty());
  CHECK(run.app.cancels == 0);
}

TEST_CASE("sendfile: the Content-Type comes from the file name when the app gave none") {
  Tree tree;
  Run run(serve_options(tree));
  SUBCASE("X-Sendfile, percent-encoded as lighttpd and mod_xsendfile read it") {
    run.app.headers = {{"x-sendfile", tree.files + "/my%20file.txt"}};
  }
  SUBCASE("lighttpd's old name") {
    run.app.headers = {{"X-LIGHTTPD-send-file", tree.files + "/my file.txt"}};
  }
  SUBCASE("X-Accel-Redirect through a location, query dropped") {
    run.app.headers = {{"X-Accel-Redirect", "/protected/my%20file.txt?x=1"}};
  }
  auto& s = run.fetch(get());
  CHECK(s.ended);
  CHECK(s.status() == 200);
  CHECK(s.header("Content-Type") == "text/plain; charset=utf-8");
  CHECK(s.body() == "spaced");
  CHECK(s.header("X-Sendfile") == "<absent>");
  CHECK(s.header("X-LIGHTTPD-send-file") == "<absent>");
  CHECK(s.header("X-Accel-Redirect") == "<absent>");
}

TEST_CASE("sendfile: refusals are 404s that name nothing to the client") {
  Tree tree;
  Run run(serve_options(tree));
  std::string value;
  std::string header = "X-Sendfile";
  std::string log_part;
  SUBCASE("outside every allowed directory") {
    value = tree.base + "/secret.txt";
    log_part = "leads outside the allowed directories";
  }
  SUBCASE("dot-dot out of an allowed directory") {
    value = tree.files + "/../secret.txt";
    log_part = "leads outside the allowed directories";
  }
  SUBCASE("a symlink inside leading out") {
    REQUIRE(::symlink((tree.base + "/secret.txt").c_str(), (tree.files + "/link").c_str()) == 0);
    value = tree.files + "/link";
    log_part = "leads outside the allowed directories, to " + tree.base + "/secret.txt";
  }
  SUBCASE("a relative path") {
    value = "files/report.pdf";
    log_part = "is not an absolute path";
  }
  SUBCASE("a bad escape") {
    value = tree.files + "/%zz";
    log_part = "is not an absolute path";
  }
  SUBCASE("an encoded NUL") {
    value = tree.files + "/report.pdf%00.txt";
    log_part = "is not an absolute path";
  }
  SUBCASE("a directory") {
    value = tree.files + "/sub";
    log_part = "is a directory";
  }
  SUBCASE("a missing file") {
    value = tree.files + "/missing.pdf";
    log_part = "No such file";
  }
  SUBCASE("an X-Accel-Redirect no location holds") {
    header = "X-Accel-Redirect";
    value = "/elsewhere/report.pdf";
    log_part = "matches no location";
  }
  SUBCASE("an X-Accel-Redirect to a named location") {
    header = "X-Accel-Redirect";
    value = "@files";
    log_part = "matches no location";
  }
  SUBCASE("an X-Accel-Redirect climbing out of its location") {
    header = "X-Accel-Redirect";
    value = "/protected/../../secret.txt";
    log_part = "matches no location";
  }
  CAPTURE(value);
  run.app.headers = {{"Set-Cookie", "a=1"}, {header, value}};
  run.app.body = {"app's body"};
  auto& s = run.fetch(get());
  CHECK(s.ended);
  CHECK(s.status() == 404);
  CHECK(s.body() == "404 Not Found\n");
  CHECK(s.header("Set-Cookie") == "<absent>");
  CHECK(s.header(header) == "<absent>");
  REQUIRE(s.logs.size() == 1);
  CHECK(s.logs[0].starts_with("sendfile: "));
  CHECK(s.logs[0].find(log_part) != std::string::npos);
  CHECK(none_mentions(s.pieces, tree.base));
  CHECK(none_mentions(s.pieces, "secret"));
}

TEST_CASE("sendfile: symlinks that stay inside are followed") {
  Tree tree;
  Run run(serve_options(tree));
  REQUIRE(::symlink("report.pdf", (tree.files + "/current.pdf").c_str()) == 0);
  run.app.headers = {{"X-Sendfile", tree.files + "/current.pdf"}};
  auto& s = run.fetch(get());
  CHECK(s.status() == 200);
  CHECK(s.body() == "0123456789");
}

TEST_CASE("sendfile: conditional requests and ranges on the file") {
  Tree tree;
  Run first(serve_options(tree));
  first.app.headers = {{"X-Sendfile", tree.files + "/report.pdf"}};
  const std::string etag = first.fetch(get()).header("ETag");

  Run run(serve_options(tree));
  run.app.headers = {{"Cache-Control", "private"}, {"X-Sendfile", tree.files + "/report.pdf"}};
  SUBCASE("a range") {
    auto& s = run.fetch(with(get(), "Range", "bytes=2-5"));
    CHECK(s.status() == 206);
    CHECK(s.header("Content-Range") == "bytes 2-5/10");
    CHECK(s.header("Content-Length") == "4");
    CHECK(s.header("Cache-Control") == "private");
    CHECK(s.body() == "2345");
  }
  SUBCASE("a suffix range with a matching If-Range") {
    auto& s = run.fetch(with(with(get(), "Range", "bytes=-3"), "If-Range", etag));
    CHECK(s.status() == 206);
    CHECK(s.body() == "789");
  }
  SUBCASE("an unsatisfiable range") {
    auto& s = run.fetch(with(get(), "Range", "bytes=10-"));
    CHECK(s.status() == 416);
    CHECK(s.header("Content-Range") == "bytes */10");
    CHECK(s.header("Content-Type") == "text/plain; charset=utf-8");
  }
  SUBCASE("If-None-Match: 304 with the app's cache headers") {
    auto& s = run.fetch(with(get(), "If-None-Match", etag));
    CHECK(s.status() == 304);
    CHECK(s.header("ETag") == etag);
    CHECK(s.header("Cache-Control") == "private");
    CHECK(s.body().empty());
  }
  SUBCASE("a POST answered with a file is served as GET would be") {
    auto& s = run.fetch(with(get("POST"), "Range", "bytes=0-0"));
    CHECK(s.status() == 206);
    CHECK(s.body() == "0");
  }
  CHECK(run.sink.ended);
}

TEST_CASE("sendfile: HEAD gets the file's head and no body") {
  Tree tree;
  Run run(serve_options(tree));
  run.app.headers = {{"X-Accel-Redirect", "/protected/report.pdf"}};
  auto& s = run.fetch(get("HEAD"));
  CHECK(s.ended);
  CHECK(s.status() == 200);
  CHECK(s.header("Content-Length") == "10");
  CHECK(s.header("Content-Type") == "application/pdf");
  CHECK(s.pieces.empty());
  CHECK(run.app.request.method == "HEAD");
}

TEST_CASE("sendfile: another status keeps the status and sends the whole file") {
  Tree tree;
  Run run(serve_options(tree));
  run.app.status = 404;
  run.app.headers = {{"X-Accel-Redirect", "/pages/page.html"}};
  auto& s = run.fetch(with(get(), "Range", "bytes=0-1"));
  CHECK(s.ended);
  CHECK(s.status() == 404);
  CHECK(s.body() == "<p>not found page</p>");
  CHECK(s.header("Content-Type") == "text/html; charset=utf-8");
  CHECK(s.header("ETag") == "<absent>");
  CHECK(s.header("Content-Range") == "<absent>");
}

TEST_CASE("sendfile: a 304 or 204 from the app carries no file") {
  Tree tree;
  for (int status : {304, 204}) {
    CAPTURE(status);
    Run run(serve_options(tree));
    run.app.status = status;
    run.app.headers = {{"ETag", "\"v1\""}, {"X-Sendfile", tree.files + "/report.pdf"}};
    auto& s = run.fetch(get());
    CHECK(s.ended);
    CHECK(s.status() == status);
    std::vector<Header> expected = {{"ETag", "\"v1\""}};
    CHECK(s.head->headers == expected);
    CHECK(s.pieces.empty());
  }
}

TEST_CASE("sendfile: a 206 from the app gets the file's own range rules") {
  Tree tree;
  Run run(serve_options(tree));
  run.app.status = 206;
  run.app.headers = {{"X-Sendfile", tree.files + "/report.pdf"}};
  SUBCASE("no Range: the whole file") {
    auto& s = run.fetch(get());
    CHECK(s.status() == 200);
    CHECK(s.body() == "0123456789");
  }
  SUBCASE("a Range") {
    auto& s = run.fetch(with(get(), "Range", "bytes=8-"));
    CHECK(s.status() == 206);
    CHECK(s.header("Content-Range") == "bytes 8-9/10");
    CHECK(s.body() == "89");
  }
}

TEST_CASE("sendfile: the answer ends when both the file and the app are done") {
  Tree tree;
  Run run(serve_options(tree));
  run.app.answer_at_start = false;
  run.app.headers = {{"X-Sendfile", tree.files + "/report.pdf"}};
  run.app.body = {"dropped 1", "dropped 2"};
  auto& s = run.fetch(get());
  CHECK_FALSE(s.head.has_value());
  ScriptedApp::answer(run.app, /*head_only=*/true);
  CHECK(s.body() == "0123456789");
  CHECK_FALSE(s.ended);  // the app has not finished
  for (const auto& piece : run.app.body) run.app.sink->on_body(piece);
  CHECK_FALSE(run.app.sink->congested());  // the dropped body never waits
  CHECK_FALSE(s.ended);
  run.app.sink->on_end();
  CHECK(s.ended);
  CHECK(s.body() == "0123456789");
  CHECK(run.app.cancels == 0);
}

TEST_CASE("sendfile: the app failing after naming the file does not cut it") {
  Tree tree;
  Run run(serve_options(tree));
  run.app.fail_after_head = true;
  run.app.headers = {{"X-Sendfile", tree.files + "/report.pdf"}};
  auto& s = run.fetch(get());
  CHECK(s.ended);
  CHECK_FALSE(s.error_status.has_value());
  CHECK(s.body() == "0123456789");
  REQUIRE(s.logs.size() == 1);
  CHECK(s.logs[0].find("app went away") != std::string::npos);
}

TEST_CASE("sendfile: an app error before its head reaches the client") {
  Tree tree;
  Run run(serve_options(tree));
  run.app.answer_at_start = false;
  auto& s = run.fetch(get());
  run.app.sink->on_error(504, "timed out");
  REQUIRE(s.error_status.has_value());
  CHECK(*s.error_status == 504);
  CHECK(s.why == "timed out");
}

TEST_CASE("sendfile: a large file follows the client's pace") {
  Tree tree;
  Run run(serve_options(tree));
  run.app.headers = {{"X-Sendfile", tree.files + "/big.bin"}};
  run.sink.congest_after_each_piece = true;
  auto& s = run.fetch(get());
  CHECK(s.header("Content-Length") == "200000");
  size_t rounds = 0;
  while (!s.ended && rounds < 100) {
    CHECK(s.congested_now);
    s.congested_now = false;
    run.exchange->resume_response();
    ++rounds;
  }
  CHECK(s.ended);
  CHECK(rounds >= 3);  // several pieces, each after a resume
  std::string body = s.body();
  REQUIRE(body.size() == 200000);
  bool same = true;
  for (size_t i = 0; i < body.size(); ++i) same = same && body[i] == static_cast<char>(i % 251);
  CHECK(same);
}

TEST_CASE("sendfile: cancel stops the file and the app") {
  Tree tree;
  Run run(serve_options(tree));
  run.app.answer_at_start = false;
  run.app.headers = {{"X-Sendfile", tree.files + "/big.bin"}};
  run.sink.congest_after_each_piece = true;
  auto& s = run.fetch(get());
  ScriptedApp::answer(run.app, /*head_only=*/true);
  CHECK(s.pieces.size() == 1);
  run.exchange->cancel();
  s.cancelled = true;  // the sink checks nothing more arrives
  CHECK(run.app.cancels == 1);
  s.congested_now = false;
  run.exchange->resume_response();
  CHECK(s.pieces.size() == 1);
}

TEST_CASE("sendfile: the request body still reaches the app") {
  Tree tree;
  Run run(serve_options(tree));
  run.app.answer_at_start = false;
  run.app.headers = {{"X-Sendfile", tree.files + "/report.pdf"}};
  run.fetch(get("POST"));
  run.exchange->send_body("a=1");
  ScriptedApp::answer(run.app, /*head_only=*/true);
  run.exchange->send_body("&b=2");
  run.exchange->finish_body();
  CHECK(run.app.request_body == "a=1&b=2");
  CHECK(run.app.body_finished);
  CHECK(run.app.request.method == "POST");  // the app sees the request as sent
  run.app.sink->on_end();
  CHECK(run.sink.ended);
}

TEST_CASE("sendfile: pass hands the header on in the front end's form") {
  Tree tree;
  SendfileOptions o;
  o.mode = Mode::Pass;
  o.locations = {{"/protected", "/srv/files"}, {"/protected/big", "/data/big"}};
  struct Case {
    Form pass_as;
    Header given;
    Header expected;
  };
  std::vector<Case> cases = {
      {Form::XAccelRedirect,
       {"X-Accel-Redirect", "/anything?x=1"},
       {"X-Accel-Redirect", "/anything?x=1"}},
      {Form::XAccelRedirect,
       {"X-Sendfile", "/srv/files/a b.pdf"},
       {"X-Accel-Redirect", "/protected/a%20b.pdf"}},
      {Form::XAccelRedirect,
       {"X-LIGHTTPD-send-file", "/data/big/x.iso"},
       {"X-Accel-Redirect", "/protected/big/x.iso"}},
      {Form::XSendfile,
       {"X-Accel-Redirect", "/protected/a%20b.pdf?x"},
       {"X-Sendfile", "/srv/files/a%20b.pdf"}},
      {Form::XSendfile, {"X-LIGHTTPD-send-file", "/any/where"}, {"X-Sendfile", "/any/where"}},
      {Form::XLighttpdSendFile,
       {"X-Sendfile", "relative kept"},
       {"X-LIGHTTPD-send-file", "relative kept"}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.given.value);
    o.pass_as = c.pass_as;
    Run run(o);
    run.app.headers = {{"Content-Type", "text/plain"}, c.given, {"Content-Length", "0"}};
    auto& s = run.fetch(get());
    CHECK(s.ended);
    CHECK(s.status() == 200);
    std::vector<Header> expected = {
        {"Content-Type", "text/plain"}, {"Content-Length", "0"}, c.expected};
    CHECK(s.head->headers == expected);
    CHECK(s.logs.empty());
  }
}

TEST_CASE("sendfile: pass with nothing to convert through is a 404") {
  SendfileOptions o;
  o.mode = Mode::Pass;
  o.locations = {{"/protected", "/srv/files"}};
  o.pass_as = Form::XAccelRedirect;
  Run run(o);
  run.app.headers = {{"X-Sendfile", "/etc/passwd"}};
  run.app.body = {"app's body"};
  auto& s = run.fetch(get());
  CHECK(s.ended);
  CHECK(s.status() == 404);
  CHECK(s.header("X-Accel-Redirect") == "<absent>");
  CHECK(s.body() == "404 Not Found\n");
  REQUIRE(s.logs.size() == 1);
  CHECK(s.logs[0].find("/etc/passwd") != std::string::npos);
  CHECK(s.logs[0].find("cannot be converted to X-Accel-Redirect") != std::string::npos);
}

TEST_CASE("sendfile: pass keeps the app's body and pace") {
  SendfileOptions o;
  o.mode = Mode::Pass;
  o.pass_as = Form::XSendfile;
  Run run(o);
  run.app.headers = {{"X-Sendfile", "/srv/a"}};
  run.app.body = {"kept"};
  auto& s = run.fetch(get());
  CHECK(s.body() == "kept");
  CHECK(s.ended);
}

TEST_CASE("sendfile: off is no wrapper at all; kind is the app's") {
  ScriptedApp::State state;
  auto app = std::make_unique<ScriptedApp>(state);
  gw::Backend* raw = app.get();
  CHECK(gw::wrap_sendfile(std::move(app), SendfileOptions{}).get() == raw);
  SendfileOptions o;
  o.mode = Mode::Serve;
  auto wrapped = gw::wrap_sendfile(std::make_unique<ScriptedApp>(state), o);
  CHECK(wrapped->kind() == "scripted");
}

TEST_CASE("sendfile: path and URI conversions") {
  using gw::sendfile::path_from_header;
  using gw::sendfile::path_to_uri;
  using gw::sendfile::uri_to_path;
  CHECK(path_from_header("/srv/a%20b") == "/srv/a b");
  CHECK(path_from_header("/srv//x/./y/../z") == "/srv/x/z");
  CHECK(path_from_header("/../etc/passwd") == std::nullopt);
  CHECK(path_from_header("srv/x") == std::nullopt);
  CHECK(path_from_header("") == std::nullopt);
  CHECK(path_from_header("/a%2") == std::nullopt);
  CHECK(path_from_header("/a%00b") == std::nullopt);

  std::vector<SendfileLocation> l = {{"/p", "/srv/p"}, {"/p/deep", "/other"}};
  CHECK(uri_to_path(l, "/p/x.txt") == "/srv/p/x.txt");
  CHECK(uri_to_path(l, "/p/deep/x.txt") == "/other/x.txt");
  CHECK(uri_to_path(l, "/p/deeper/x.txt") == "/srv/p/deeper/x.txt");
  CHECK(uri_to_path(l, "/px/x.txt") == std::nullopt);
  CHECK(uri_to_path(l, "/p/a%2Fb?q=%zz") == "/srv/p/a/b");
  CHECK(uri_to_path(l, "/p/deep/../x") == "/srv/p/x");
  CHECK(uri_to_path(l, "/p/../x") == std::nullopt);
  CHECK(uri_to_path(l, "p/x") == std::nullopt);
  CHECK(uri_to_path(l, "@named") == std::nullopt);
  CHECK(uri_to_path({}, "/p/x") == std::nullopt);

  CHECK(path_to_uri(l, "/srv/p/a b?.txt") == "/p/a%20b%3F.txt");
  CHECK(path_to_uri(l, "/other/x") == "/p/deep/x");
  CHECK(path_to_uri(l, "/srv/px/x") == std::nullopt);
  CHECK(path_to_uri(l, "/srv/p") == "/p");
}

// --- project.json "sendfile" -------------------------------------------------

namespace {

std::optional<gw::ConfigError> load(const Tree& tree, const std::string& section,
                                    gw::ProjectConfig& p) {
  fs::create_directories(tree.base + "/proj");
  tree.write("proj/project.json", R"({"backend": {"type": "echo"}, "sendfile": )" + section + "}");
  return gw::load_project(tree.base + "/proj", p);
}

}  // namespace

TEST_CASE("sendfile config: serve, pass and off") {
  Tree tree;
  fs::create_directories(tree.base + "/proj/dl");
  const std::string dl = tree.base + "/proj/dl";
  {
    gw::ProjectConfig p;
    REQUIRE_FALSE(load(tree,
                       R"({"mode": "serve", "dirs": ["dl", ")" + tree.files +
                           R"(/"], "locations": {"/protected/": "../other"}})",
                       p)
                      .has_value());
    SendfileOptions expected;
    expected.mode = Mode::Serve;
    expected.dirs = {dl, tree.files};
    expected.locations = {{"/protected", tree.other}};
    CHECK(p.sendfile == expected);
  }
  {
    gw::ProjectConfig p;
    REQUIRE_FALSE(load(tree,
                       R"({"mode": "pass", "pass_as": "X-Accel-Redirect",
                           "locations": {"/internal": "/not/here/", "/rel": "files"}})",
                       p)
                      .has_value());
    SendfileOptions expected;
    expected.mode = Mode::Pass;
    expected.locations = {{"/internal", "/not/here"}, {"/rel", tree.base + "/proj/files"}};
    CHECK(p.sendfile == expected);
  }
  {
    gw::ProjectConfig p;
    REQUIRE_FALSE(load(tree, R"({"mode": "pass", "pass_as": "X-LIGHTTPD-send-file"})", p));
    CHECK(p.sendfile.pass_as == Form::XLighttpdSendFile);
    REQUIRE_FALSE(load(tree, R"({"mode": "pass", "pass_as": "X-Sendfile"})", p));
    CHECK(p.sendfile.pass_as == Form::XSendfile);
    REQUIRE_FALSE(load(tree, R"({"mode": "off"})", p));
    CHECK(p.sendfile == SendfileOptions{});
  }
}

TEST_CASE("sendfile config: bad sections are refused with the key named") {
  Tree tree;
  const std::string file = tree.base + "/proj/project.json";
  struct Bad {
    std::string section;
    std::string where;
    std::string why_part;
  };
  std::vector<Bad> bad = {
      {R"("serve")", "sendfile", "must be an object"},
      {R"({})", "sendfile.mode", "is required"},
      {R"({"mode": "on"})", "sendfile.mode", "must be \"serve\""},
      {R"({"mode": "serve"})", "sendfile.dirs", "is required"},
      {R"({"mode": "serve", "dirs": "x"})", "sendfile.dirs", "must be an array"},
      {R"({"mode": "serve", "dirs": [""]})", "sendfile.dirs[0]", "non-empty"},
      {R"({"mode": "serve", "dirs": ["missing"]})", "sendfile.dirs[0]", "No such file"},
      {R"({"mode": "serve", "locations": {"/p": "missing"}})", "sendfile.locations./p",
       "No such file"},
      {R"({"mode": "serve", "locations": {"p": "/tmp"}})", "sendfile.locations.p",
       "must start with '/'"},
      {R"({"mode": "serve", "locations": {"/": "/tmp"}})", "sendfile.locations./", "must not"},
      {R"({"mode": "serve", "dirs": ["/tmp"], "pass_as": "X-Sendfile"})", "sendfile.pass_as",
       "only for"},
      {R"({"mode": "pass"})", "sendfile.pass_as", "is required"},
      {R"({"mode": "pass", "pass_as": "x-sendfile"})", "sendfile.pass_as", "must be"},
      {R"({"mode": "pass", "pass_as": "X-Sendfile", "dir": []})", "sendfile.dir", "unknown key"},
  };
  for (const auto& b : bad) {
    CAPTURE(b.section);
    gw::ProjectConfig p;
    auto err = load(tree, b.section, p);
    REQUIRE(err.has_value());
    CHECK(err->where == file + ": " + b.where);
    CHECK(err->why.find(b.why_part) != std::string::npos);
  }
}
