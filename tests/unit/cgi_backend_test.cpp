// The `cgi` backend against a real libuv loop, running small /bin/sh scripts
// that each test writes into a temporary directory of its own. Every wait is
// bounded: the loop runs against a deadline.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>
#include "tests/support/recording_sink.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "dispatch/backends/cgi_backend.h"
#include "gateway/io/timer.h"
#include "tests/support/test_loop.h"

namespace {

using gw::CgiBackend;
using gw::CgiBackendOptions;
using gw::Header;
using gw::Request;
using Clock = std::chrono::steady_clock;
using FakeSink = gw::test::RecordingSink;

using Loop = gw::test::TestLoop;

// A temporary directory for one test's scripts and the files they write.
class ScriptDir {
 public:
  ScriptDir() {
    char name[] = "/tmp/gw-cgi-test-XXXXXX";
    REQUIRE(mkdtemp(name) != nullptr);
    path_ = name;
  }
  ~ScriptDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

  // Writes a /bin/sh script; "@DIR@" in `body` becomes the directory.
  std::string script(const std::string& name, std::string body, mode_t mode = 0755) const {
    for (size_t at; (at = body.find("@DIR@")) != std::string::npos;) body.replace(at, 5, path_);
    std::string p = file(name);
    std::ofstream(p) << "#!/bin/sh\n" << body;
    REQUIRE(chmod(p.c_str(), mode) == 0);
    return p;
  }

  std::string read(const std::string& name) const {
    std::ifstream f(file(name));
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

  // The pid a script wrote to `name`, waiting for the file; 0 when none came.
  int pid(Loop& loop, const std::string& name) const {
    int pid = 0;
    loop.run_until([&] {
      std::string text = read(name);
      if (text.empty() || text.back() != '\n') return false;
      pid = std::atoi(text.c_str());
      return true;
    });
    return pid;
  }

 private:
  std::string path_;
};

// True when `pid` is gone, or a zombie: dead, waiting for a parent we do
// not control (an orphan's reaper) to collect it.
bool process_gone(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  if (!f) return true;
  std::string stat;
  std::getline(f, stat);
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

Request make_request(std::string method, std::string target,
                     std::optional<uint64_t> content_length = 0) {
  Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.path = r.target.substr(0, r.target.find('?'));
  r.path_info = r.path;
  if (r.target.find('?') != std::string::npos) r.query = r.target.substr(r.target.find('?') + 1);
  r.server_protocol = "HTTP/1.1";
  r.headers = {{"Host", "example.org"}};
  r.content_length = content_length;
  r.remote_addr = "192.0.2.7";
  r.server_name = "example.org";
  r.server_port = 80;
  return r;
}

// A request with every variable-bearing field set, and hostile headers.
Request full_request() {
  Request r;
  r.method = "POST";
  r.target = "/cgi/app/x%20y?y=1&z";
  r.path = "/cgi/app/x y";
  r.query = "y=1&z";
  r.script_name = "/cgi";
  r.path_info = "/app/x y";
  r.server_protocol = "HTTP/1.1";
  r.headers = {{"Host", "example.org"}, {"Content-Type", "text/plain"},
               {"Content-Length", "3"}, {"Proxy", "http://evil.example/"},
               {"X_Odd", "dropped"},    {"X-Trace", "t1"}};
  r.content_length = 3;
  r.remote_addr = "192.0.2.7";
  r.remote_port = 5555;
  r.server_name = "example.org";
  r.server_port = 443;
  r.remote_user = "alice";
  r.auth_type = "Basic";
  r.https = true;
  return r;
}

CgiBackendOptions options_for(const std::string& script, uint32_t timeout_ms = 5000) {
  CgiBackendOptions o;
  o.script = script;
  o.timeout_ms = timeout_ms;
  return o;
}

void fetch(Loop& loop, CgiBackend& backend, FakeSink& sink, const Request& req,
           std::string_view body = "") {
  auto ex = backend.start(req, sink);
  if (!body.empty()) ex->send_body(body);
  ex->finish_body();
  REQUIRE(loop.run_until([&] { return sink.finished(); }));
}

// Waits until every process of the backend was reaped and every pending
// SIGKILL sent: the loop must be empty when the test ends.
void settle(Loop& loop, CgiBackend& backend) {
  CHECK(loop.run_until([&] { return backend.live_processes() == 0; }, 5000));
}

std::string pattern(size_t size) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 65536) % 26);
  return s;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream s(text);
  for (std::string line; std::getline(s, line);) out.push_back(line);
  return out;
}

const char kHead[] = "printf 'Content-Type: text/plain\\r\\n\\r\\n'\n";

}  // namespace

TEST_CASE("cgi backend: CONTENT_LENGTH only with a body, whatever the front end said") {
  auto has_length = [](const std::vector<std::string>& env) {
    for (const auto& e : env) {
      if (e.starts_with("CONTENT_LENGTH=")) return e;
    }
    return std::string("<absent>");
  };
  CgiBackendOptions o = options_for("/srv/cgi/app.cgi");
  // An SCGI front end sends CONTENT_LENGTH=0 with every GET; an HTTP or
  // FastCGI one may send nothing: the script sees no CONTENT_LENGTH either way.
  CHECK(has_length(gw::cgi_environment(make_request("GET", "/x", 0), o, "")) == "<absent>");
  CHECK(has_length(gw::cgi_environment(make_request("GET", "/x", std::nullopt), o, "")) ==
        "<absent>");
  CHECK(has_length(gw::cgi_environment(make_request("POST", "/x", 0), o, "")) == "<absent>");
  CHECK(has_length(gw::cgi_environment(make_request("POST", "/x", 1), o, "")) ==
        "CONTENT_LENGTH=1");
}

TEST_CASE("cgi backend: the environment, in order") {
  CgiBackendOptions o;
  o.script = "/srv/cgi/app.cgi";
  o.document_root = "/srv/www";
  o.env = {{"TRAC_ENV", "/srv/trac"}, {"SERVER_SOFTWARE", "custom/1"},
           {"CONTENT_LENGTH", "999"}, {"BAD=NAME", "x"},
           {"", "no name"},           {"NUL_VALUE", std::string("a\0b", 3)}};
  std::vector<std::string> want = {
      "CONTENT_LENGTH=3",
      "CONTENT_TYPE=text/plain",
      "DOCUMENT_ROOT=/srv/www",
      "GATEWAY_INTERFACE=CGI/1.1",
      "HTTPS=on",
      "PATH_INFO=/app/x y",
      "QUERY_STRING=y=1&z",
      "REMOTE_ADDR=192.0.2.7",
      "REMOTE_PORT=5555",
      "AUTH_TYPE=Basic",
      "REMOTE_USER=alice",
      "REQUEST_METHOD=POST",
      "REQUEST_URI=/cgi/app/x%20y?y=1&z",
      "SCRIPT_FILENAME=/srv/cgi/app.cgi",
      "SCRIPT_NAME=/cgi",
      "SERVER_NAME=example.org",
      "SERVER_PORT=443",
      "SERVER_PROTOCOL=HTTP/1.1",
      "SERVER_SOFTWARE=custom/1",
      "HTTP_HOST=example.org",
      "HTTP_X_TRACE=t1",
      "TRAC_ENV=/srv/trac",
  };
  SUBCASE("PATH inherited") {
    want.push_back("PATH=/opt/bin:/usr/bin");
    CHECK(gw::cgi_environment(full_request(), o, "/opt/bin:/usr/bin") == want);
  }
  SUBCASE("PATH by default") {
    want.push_back("PATH=/usr/local/bin:/usr/bin:/bin");
    CHECK(gw::cgi_environment(full_request(), o, "") == want);
  }
  SUBCASE("PATH configured") {
    o.env.push_back({"PATH", "/only/here"});
    want.push_back("PATH=/only/here");
    CHECK(gw::cgi_environment(full_request(), o, "/opt/bin:/usr/bin") == want);
  }
}

TEST_CASE("cgi backend: the script sees exactly that environment") {
  ScriptDir dir;
  REQUIRE(setenv("GW_CGI_TEST_INHERITED", "must not leak", 1) == 0);
  std::string script = dir.script("env.cgi", std::string(kHead) + "env\n");
  Loop loop;
  {
    CgiBackendOptions o = options_for(script);
    o.env = {{"TRAC_ENV", "/srv/trac"}};
    CgiBackend backend(loop.get(), o);
    CHECK(backend.kind() == "cgi");
    CHECK(backend.setup_error().empty());
    FakeSink sink;
    fetch(loop, backend, sink, full_request(), "abc");
    CHECK(sink.ended);
    CHECK(sink.status() == 200);
    std::vector<std::string> got = lines_of(sink.body());
    const char* path = getenv("PATH");
    std::vector<std::string> want = gw::cgi_environment(full_request(), o, path ? path : "");
    want.push_back("PWD=" + dir.path());  // dash exports it; it shows the working directory
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    CHECK(got == want);
    // The facts the brief cares about, spelled out.
    auto has = [&got](const std::string& line) {
      return std::find(got.begin(), got.end(), line) != got.end();
    };
    CHECK(has("REQUEST_METHOD=POST"));
    CHECK(has("PATH_INFO=/app/x y"));
    CHECK(has("QUERY_STRING=y=1&z"));
    CHECK(has("CONTENT_LENGTH=3"));
    CHECK(has("REMOTE_USER=alice"));
    CHECK(has("HTTPS=on"));
    CHECK(has("SCRIPT_FILENAME=" + script));
    CHECK(has("TRAC_ENV=/srv/trac"));
    for (const std::string& line : got) {
      CHECK(line.rfind("HTTP_PROXY=", 0) != 0);
      CHECK(line.rfind("GW_CGI_TEST_INHERITED=", 0) != 0);
    }
    settle(loop, backend);
  }
  unsetenv("GW_CGI_TEST_INHERITED");
}

TEST_CASE("cgi backend: working_dir") {
  ScriptDir dir;
  std::string script = dir.script("pwd.cgi", std::string(kHead) + "pwd\n");
  Loop loop;
  CgiBackendOptions o = options_for(script);
  o.working_dir = "/";
  CgiBackend backend(loop.get(), o);
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.ended);
  CHECK(sink.body() == "/\n");
  settle(loop, backend);
}

TEST_CASE("cgi backend: an answer written before the body is read waits for the whole body") {
  // The script answers first and reads its stdin after, as many do; a front
  // end that stops sending the body once a head came (nginx) would leave it
  // waiting, so the head goes only once the body came whole.
  constexpr size_t kSize = 1 << 20;
  const std::string payload = pattern(kSize);
  ScriptDir dir;
  std::string script = dir.script("early.cgi", std::string(kHead) +
                                                   "echo early\n"
                                                   "wc -c | tr -d ' '\n");
  Loop loop;
  CgiBackend backend(loop.get(), options_for(script));
  FakeSink sink;
  auto ex = backend.start(make_request("POST", "/early", kSize), sink);
  ex->send_body(std::string_view(payload).substr(0, kSize / 2));
  loop.run_for(300);
  CHECK(!sink.head);
  CHECK(sink.body().empty());
  ex->send_body(std::string_view(payload).substr(kSize / 2));
  loop.run_for(50);
  CHECK(!sink.head);
  ex->finish_body();
  REQUIRE(loop.run_until([&] { return sink.finished(); }));
  CHECK(sink.ended);
  REQUIRE(sink.head);
  CHECK(sink.head->status == 200);
  CHECK(sink.body() == "early\n" + std::to_string(kSize) + "\n");
  settle(loop, backend);
}

TEST_CASE("cgi backend: a POST body through cat, with backpressure both ways") {
  constexpr size_t kSize = 3 << 20;
  const std::string payload = pattern(kSize);
  ScriptDir dir;
  std::string script = dir.script(
      "cat.cgi", "printf 'Content-Type: application/octet-stream\\r\\n\\r\\n'\nexec cat\n");
  Loop loop;
  CgiBackend backend(loop.get(), options_for(script));
  FakeSink sink;
  sink.congest_after_each_piece = true;
  auto ex = backend.start(make_request("POST", "/cat", kSize), sink);
  constexpr size_t kPiece = 64 * 1024;
  size_t sent = 0;
  auto send_some = [&] {
    while (sent < kSize && !ex->body_congested()) {
      ex->send_body(std::string_view(payload).substr(sent, kPiece));
      sent += kPiece;
    }
  };
  // The response is not taken: cat blocks on its stdout, then stops reading
  // its stdin, and the body backs up to the bound.
  bool stuck = false;
  for (int i = 0; i < 250 && !stuck; ++i) {
    send_some();
    loop.run_for(20);
    stuck = ex->body_congested();
  }
  REQUIRE(stuck);
  CHECK(sent < kSize);
  CHECK(sink.body().size() < kSize);
  int resumes = 0;
  bool finished_body = false;
  REQUIRE(loop.run_until([&] {
    send_some();
    if (sent == kSize && !finished_body) {
      finished_body = true;
      ex->finish_body();
    }
    if (sink.congested_now) {
      sink.congested_now = false;
      ++resumes;
      ex->resume_response();
    }
    return sink.finished();
  }));
  CHECK(sink.ended);
  CHECK(sink.drained > 0);
  CHECK(resumes > 1);
  CHECK(sink.header("Content-Type") == "application/octet-stream");
  CHECK(sink.body().size() == kSize);
  CHECK(sink.body() == payload);
  settle(loop, backend);
}

TEST_CASE("cgi backend: the Status header sets the status") {
  ScriptDir dir;
  std::string script = dir.script("status.cgi",
                                  "printf 'Status: 404 Not Found\\r\\nContent-Type: "
                                  "text/plain\\r\\nX-Script: yes\\r\\n\\r\\nnope'"
                                  "\n");
  Loop loop;
  CgiBackend backend(loop.get(), options_for(script));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.ended);
  REQUIRE(sink.head);
  CHECK(sink.head->status == 404);
  CHECK(sink.head->reason == "Not Found");
  CHECK(sink.header("X-Script") == "yes");
  CHECK(sink.header("Status") == "<absent>");
  CHECK(sink.body() == "nope");
  CHECK(sink.logs.empty());
  settle(loop, backend);
}

TEST_CASE("cgi backend: a local redirect goes to the client as a 302") {
  ScriptDir dir;
  std::string script = dir.script("redirect.cgi", "printf 'Location: /elsewhere?a=1\\n\\n'\n");
  Loop loop;
  CgiBackend backend(loop.get(), options_for(script));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.ended);
  CHECK(sink.status() == 302);
  CHECK(sink.header("Location") == "/elsewhere?a=1");
  settle(loop, backend);
}

TEST_CASE("cgi backend: stderr lines are logged, escaped and bounded") {
  ScriptDir dir;
  std::string script = dir.script("stderr.cgi",
                                  "echo \"pid $$\" >&2\n"
                                  "echo 'first line' >&2\n"
                                  "printf 'bad\\001byte\\r\\n' >&2\n"
                                  "printf '%2000s\\n' x >&2\n"
                                  "printf '\\n' >&2\n"
                                  "printf 'no newline at the end' >&2\n" +
                                      std::string(kHead) + "printf ok\n");
  Loop loop;
  CgiBackend backend(loop.get(), options_for(script));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.ended);
  CHECK(sink.body() == "ok");
  // The script's $$ is the pid gatewayd started: the prefix names it.
  REQUIRE_FALSE(sink.logs.empty());
  std::string first = sink.logs[0];
  std::string head = "cgi " + script + " [pid ";
  REQUIRE(first.substr(0, head.size()) == head);
  std::string pid = first.substr(head.size(), first.find(']') - head.size());
  std::string prefix = head + pid + "]: stderr: ";
  // Raw text: the error log escapes control bytes in every line it writes.
  std::vector<std::string> want = {
      prefix + "pid " + pid,
      prefix + "first line",
      prefix + "bad\001byte",
      prefix + std::string(1024, ' ') + " [cut at 1024 bytes]",
      prefix + "no newline at the end",
  };
  CHECK(sink.logs == want);
  settle(loop, backend);
}

TEST_CASE("cgi backend: a flood on stderr is logged up to its bound") {
  ScriptDir dir;
  std::string script = dir.script("flood.cgi",
                                  "i=0\n"
                                  "while [ $i -lt 2000 ]; do\n"
                                  "  echo \"line $i padding padding padding padding padding\" >&2\n"
                                  "  i=$((i+1))\n"
                                  "done\n" +
                                      std::string(kHead) + "printf ok\n");
  Loop loop;
  CgiBackend backend(loop.get(), options_for(script));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.ended);
  REQUIRE(sink.logs.size() > 2);
  std::string prefix = sink.logs[0].substr(0, sink.logs[0].find(": stderr: ") + 10);
  CHECK(prefix.find("cgi " + script + " [pid ") == 0);
  CHECK(sink.logs.back() == prefix + "over 65536 bytes; the rest is not logged");
  size_t logged = 0;
  for (size_t i = 0; i + 1 < sink.logs.size(); ++i) {
    CHECK(sink.logs[i] ==
          prefix + "line " + std::to_string(i) + " padding padding padding padding padding");
    logged += sink.logs[i].size() - prefix.size();
  }
  CHECK(logged >= 65536);
  CHECK(logged < 65536 + 100);
  settle(loop, backend);
}

TEST_CASE("cgi backend: a script sleeping past the timeout: 504, its group ended") {
  ScriptDir dir;
  std::string script = dir.script("slow.cgi",
                                  "echo $$ > @DIR@/pid\n"
                                  "sleep 30 &\n"
                                  "echo $! > @DIR@/gpid\n"
                                  "sleep 30\n");
  Loop loop;
  CgiBackend backend(loop.get(), options_for(script, 300));
  FakeSink sink;
  auto start = Clock::now();
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(Clock::now() - start < std::chrono::milliseconds(2000));
  CHECK(sink.error_status == 504);
  CHECK_FALSE(sink.head);
  CHECK(sink.why == "cgi " + script +
                        ": no response within 300 ms "
                        "(project.json backend.timeout_ms)");
  int pid = dir.pid(loop, "pid");
  int gpid = dir.pid(loop, "gpid");
  REQUIRE(pid > 1);
  REQUIRE(gpid > 1);
  CHECK(loop.run_until([&] { return process_gone(pid) && process_gone(gpid); }, 3000));
  settle(loop, backend);
}

TEST_CASE("cgi backend: the timeout after the head cuts the response") {
  ScriptDir dir;
  std::string script = dir.script("half.cgi", std::string(kHead) + "printf partial\nsleep 30\n");
  Loop loop;
  CgiBackend backend(loop.get(), options_for(script, 300));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  REQUIRE(sink.head);
  CHECK(sink.body() == "partial");
  CHECK(sink.error_status == 504);
  CHECK(sink.why == "cgi " + script +
                        ": response not complete within 300 ms (project.json backend.timeout_ms)");
  settle(loop, backend);
}

TEST_CASE("cgi backend: a group that ignores SIGTERM gets SIGKILL") {
  ScriptDir dir;
  // An ignored signal stays ignored across fork and exec: sleep ignores it too.
  std::string script = dir.script("stubborn.cgi",
                                  "trap '' TERM\n"
                                  "echo $$ > @DIR@/pid\n"
                                  "sleep 30 &\n"
                                  "echo $! > @DIR@/gpid\n"
                                  "sleep 30\n");
  Loop loop;
  CgiBackend backend(loop.get(), options_for(script, 200));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.error_status == 504);
  int pid = dir.pid(loop, "pid");
  int gpid = dir.pid(loop, "gpid");
  REQUIRE(pid > 1);
  REQUIRE(gpid > 1);
  loop.run_for(1000);
  CHECK_FALSE(process_gone(pid));
  CHECK_FALSE(process_gone(gpid));
  CHECK(backend.live_processes() == 1);
  CHECK(loop.run_until([&] { return process_gone(pid) && process_gone(gpid); }, 3000));
  settle(loop, backend);
}

TEST_CASE("cgi backend: a grandchild holding stdout does not hold the response") {
  ScriptDir dir;
  std::string script = dir.script("daemon.cgi", std::string(kHead) +
                                                    "printf body\n"
                                                    "sleep 30 &\n"
                                                    "echo $! > @DIR@/gpid\n"
                                                    "exit 0\n");
  Loop loop;
  CgiBackendOptions o = options_for(script);
  o.exit_grace_ms = 200;
  CgiBackend backend(loop.get(), o);
  FakeSink sink;
  auto start = Clock::now();
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(Clock::now() - start < std::chrono::milliseconds(1500));
  CHECK(sink.ended);
  CHECK(sink.body() == "body");
  std::vector<std::string> want = {
      "cgi " + script +
      ": stdout and stderr still open 200 ms after it exited (held by a process it started); "
      "closed"};
  CHECK(sink.logs == want);
  int gpid = dir.pid(loop, "gpid");
  REQUIRE(gpid > 1);
  CHECK(loop.run_until([&] { return process_gone(gpid); }, 3000));
  settle(loop, backend);
}

TEST_CASE("cgi backend: something left running after a normal end is ended") {
  ScriptDir dir;
  std::string script = dir.script("leftover.cgi", std::string(kHead) +
                                                      "printf done\n"
                                                      "sleep 30 >/dev/null 2>&1 &\n"
                                                      "echo $! > @DIR@/gpid\n");
  Loop loop;
  CgiBackend backend(loop.get(), options_for(script));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.ended);
  CHECK(sink.body() == "done");
  CHECK(sink.logs.empty());
  int gpid = dir.pid(loop, "gpid");
  REQUIRE(gpid > 1);
  CHECK(loop.run_until([&] { return process_gone(gpid); }, 3000));
  settle(loop, backend);
}

TEST_CASE("cgi backend: cancel ends the process group") {
  ScriptDir dir;
  std::string script = dir.script("wait.cgi",
                                  "echo $$ > @DIR@/pid\n"
                                  "sleep 30 &\n"
                                  "echo $! > @DIR@/gpid\n" +
                                      std::string(kHead) + "printf started\nwait\n");
  Loop loop;
  CgiBackend backend(loop.get(), options_for(script, 1000));
  FakeSink sink;
  auto ex = backend.start(make_request("GET", "/"), sink);
  ex->finish_body();
  REQUIRE(loop.run_until([&] { return sink.body() == "started"; }));
  int pid = dir.pid(loop, "pid");
  int gpid = dir.pid(loop, "gpid");
  REQUIRE(pid > 1);
  REQUIRE(gpid > 1);
  CHECK_FALSE(process_gone(pid));
  ex->cancel();
  sink.cancelled = true;  // the sink now fails on any further call
  CHECK(loop.run_until([&] { return process_gone(pid) && process_gone(gpid); }, 3000));
  loop.run_for(1200);  // past the timeout: still nothing for the sink
  ex.reset();
  settle(loop, backend);
}

TEST_CASE("cgi backend: a script that cannot start gives 500 naming it") {
  ScriptDir dir;
  Loop loop;
  CgiBackendOptions o;
  std::string reason;
  SUBCASE("not executable") {
    o.script = dir.script("plain.cgi", std::string(kHead), 0644);
    reason = "EACCES: permission denied";
  }
  SUBCASE("missing") {
    o.script = dir.file("missing.cgi");
    reason = "ENOENT: no such file or directory";
  }
  SUBCASE("a missing working directory") {
    o.script = dir.script("ok.cgi", std::string(kHead));
    o.working_dir = dir.file("nowhere");
    reason = "ENOENT: no such file or directory";
  }
  CgiBackend backend(loop.get(), o);
  FakeSink sink;
  auto ex = backend.start(make_request("GET", "/"), sink);
  CHECK(sink.error_status == 500);
  std::string wd = o.working_dir.empty() ? dir.path() : o.working_dir;
  CHECK(sink.why ==
        "cgi " + o.script + ": cannot start it (working directory " + wd + "): " + reason);
  ex->finish_body();
  settle(loop, backend);
}

TEST_CASE("cgi backend: a relative script path is a setup error") {
  Loop loop;
  CgiBackend backend(loop.get(), options_for("bin/app.cgi"));
  CHECK(backend.setup_error() == "cgi script \"bin/app.cgi\": not an absolute path");
  FakeSink sink;
  auto ex = backend.start(make_request("GET", "/"), sink);
  CHECK(sink.error_status == 500);
  CHECK(sink.why == backend.setup_error());
  ex->send_body("x");
  ex->finish_body();
}

TEST_CASE("cgi backend: a script that fails before its head gives 502") {
  ScriptDir dir;
  Loop loop;
  std::string script;
  std::string why;
  std::vector<std::string> logs;
  SUBCASE("exit status 3") {
    script = dir.script("fail.cgi", "echo oops >&2\nexit 3\n");
    why = ": exited with status 3 before a complete response head";
    logs = {"oops"};
  }
  SUBCASE("no output") {
    script = dir.script("silent.cgi", "exit 0\n");
    why = ": exited with status 0 before a complete response head";
  }
  SUBCASE("half a head") {
    script = dir.script("half.cgi", "printf 'Content-Type: text/pl'\n");
    why = ": exited with status 0 before a complete response head";
  }
  SUBCASE("killed") {
    script = dir.script("killed.cgi", "kill -9 $$\n");
    why = ": killed by signal 9 before a complete response head";
  }
  CgiBackend backend(loop.get(), options_for(script));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.error_status == 502);
  CHECK_FALSE(sink.head);
  CHECK(sink.why == "cgi " + script + why);
  // Each stderr line, after "cgi SCRIPT [pid N]: stderr: ".
  std::vector<std::string> lines;
  for (const std::string& l : sink.logs) {
    CHECK(l.find("cgi " + script + " [pid ") == 0);
    size_t at = l.find("]: stderr: ");
    if (at != std::string::npos) lines.push_back(l.substr(at + 11));
  }
  CHECK(lines == logs);
  settle(loop, backend);
}

TEST_CASE("cgi backend: a malformed head gives 502") {
  ScriptDir dir;
  std::string script = dir.script(
      "bad.cgi", "echo $$ > @DIR@/pid\nprintf 'Status: 20x\\r\\n\\r\\nbody'\nsleep 30\n");
  Loop loop;
  CgiBackend backend(loop.get(), options_for(script));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  CHECK(sink.error_status == 502);
  CHECK(sink.why.find("cgi " + script + ": malformed response head: ") == 0);
  int pid = dir.pid(loop, "pid");
  REQUIRE(pid > 1);
  CHECK(loop.run_until([&] { return process_gone(pid); }, 3000));
  settle(loop, backend);
}

TEST_CASE("cgi backend: after the head, a signal cuts the response, an exit status is logged") {
  ScriptDir dir;
  Loop loop;
  std::string script;
  SUBCASE("killed") {
    script = dir.script("die.cgi", std::string(kHead) + "printf partial\nkill -9 $$\n");
  }
  SUBCASE("exit status 2") {
    script = dir.script("exit2.cgi", std::string(kHead) + "printf partial\nexit 2\n");
  }
  CgiBackend backend(loop.get(), options_for(script));
  FakeSink sink;
  fetch(loop, backend, sink, make_request("GET", "/"));
  REQUIRE(sink.head);
  CHECK(sink.body() == "partial");
  if (script.find("die.cgi") != std::string::npos) {
    CHECK(sink.error_status == 502);
    CHECK(sink.why == "cgi " + script + ": killed by signal 9 in the middle of its response");
  } else {
    CHECK(sink.ended);
    std::vector<std::string> want = {"cgi " + script +
                                     ": exited with status 2 after its response head"};
    CHECK(sink.logs == want);
  }
  settle(loop, backend);
}

TEST_CASE("cgi backend: a body of unknown length is held and sent with CONTENT_LENGTH") {
  ScriptDir dir;
  std::string script = dir.script(
      "len.cgi", std::string(kHead) + "echo \"CONTENT_LENGTH=${CONTENT_LENGTH-unset}\"\ncat\n");
  Loop loop;
  CgiBackendOptions o = options_for(script);
  o.max_buffered_body = 8;
  CgiBackend backend(loop.get(), o);
  SUBCASE("with a body") {
    FakeSink sink;
    auto ex = backend.start(make_request("POST", "/", std::nullopt), sink);
    ex->send_body("abc");
    ex->send_body("defgh");
    CHECK_FALSE(ex->body_congested());
    loop.run_for(50);
    CHECK(backend.live_processes() == 0);  // nothing runs before the length is known
    ex->finish_body();
    REQUIRE(loop.run_until([&] { return sink.finished(); }));
    CHECK(sink.ended);
    CHECK(sink.body() == "CONTENT_LENGTH=8\nabcdefgh");
  }
  SUBCASE("empty: no CONTENT_LENGTH") {
    FakeSink sink;
    fetch(loop, backend, sink, make_request("GET", "/", std::nullopt));
    CHECK(sink.ended);
    CHECK(sink.body() == "CONTENT_LENGTH=unset\n");
  }
  SUBCASE("over the bound: 411") {
    FakeSink sink;
    auto ex = backend.start(make_request("POST", "/", std::nullopt), sink);
    ex->send_body("abcde");
    ex->send_body("fghi");
    CHECK(sink.error_status == 411);
    CHECK(sink.why ==
          "request body of unknown length over 8 bytes: a CGI script needs the length "
          "first");
    ex->finish_body();
    CHECK(backend.live_processes() == 0);
  }
  settle(loop, backend);
}

TEST_CASE("cgi backend: a script that does not read its body") {
  constexpr size_t kSize = 1 << 20;
  const std::string payload = pattern(kSize);
  ScriptDir dir;
  std::string script = dir.script("noread.cgi", std::string(kHead) + "printf ignored\n");
  Loop loop;
  CgiBackend backend(loop.get(), options_for(script));
  FakeSink sink;
  auto ex = backend.start(make_request("POST", "/", kSize), sink);
  size_t sent = 0;
  bool finished_body = false;
  REQUIRE(loop.run_until([&] {
    while (sent < kSize && !ex->body_congested()) {
      ex->send_body(std::string_view(payload).substr(sent, 64 * 1024));
      sent += 64 * 1024;
    }
    if (sent == kSize && !finished_body) {
      finished_body = true;
      ex->finish_body();
    }
    return finished_body && sink.finished();
  }));
  CHECK(sink.ended);
  CHECK(sink.body() == "ignored");
  CHECK(sink.logs.empty());
  settle(loop, backend);
}

TEST_CASE("cgi backend: more than max_processes at once gives 503") {
  ScriptDir dir;
  std::string script = dir.script("cat.cgi", std::string(kHead) + "exec cat\n");
  Loop loop;
  CgiBackendOptions o = options_for(script);
  o.max_processes = 1;
  CgiBackend backend(loop.get(), o);
  FakeSink first, second, third;
  auto ex1 = backend.start(make_request("POST", "/", 5), first);
  auto ex2 = backend.start(make_request("GET", "/"), second);
  CHECK(second.error_status == 503);
  CHECK(second.why == "cgi " + script +
                          ": 1 processes running already "
                          "(project.json backend.max_processes)");
  ex1->send_body("hello");
  ex1->finish_body();
  REQUIRE(loop.run_until([&] { return first.finished(); }));
  CHECK(first.ended);
  CHECK(first.body() == "hello");
  fetch(loop, backend, third, make_request("POST", "/", 2), "ok");
  CHECK(third.ended);
  CHECK(third.body() == "ok");
  settle(loop, backend);
}

TEST_CASE("cgi backend: shutdown ends every process group and refuses more") {
  ScriptDir dir;
  std::string script = dir.script("long.cgi", "echo $$ > @DIR@/pid\nsleep 30\n");
  Loop loop;
  CgiBackend backend(loop.get(), options_for(script));
  FakeSink sink;
  auto ex = backend.start(make_request("GET", "/"), sink);
  ex->finish_body();
  int pid = dir.pid(loop, "pid");
  REQUIRE(pid > 1);
  backend.shutdown();
  REQUIRE(loop.run_until([&] { return sink.finished(); }));
  CHECK(sink.error_status == 502);
  CHECK(sink.why == "cgi " + script + ": killed by signal 15 before a complete response head");
  CHECK(loop.run_until([&] { return process_gone(pid); }, 3000));
  FakeSink late;
  auto ex2 = backend.start(make_request("GET", "/"), late);
  CHECK(late.error_status == 503);
  settle(loop, backend);
}
