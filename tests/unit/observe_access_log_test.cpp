// Access logs: the format parser, line rendering (every directive, the
// escaping), the buffered reopenable file, and which file a request goes to.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <time.h>

#include <filesystem>
#include <optional>
#include <string>

#include "gateway/access_log_format.h"
#include "gateway/access_logs.h"
#include "gateway/log_file.h"
#include "tests/support/temp_dir.h"

namespace {

using gw::AccessLogFormat;
using gw::RequestRecord;
using gw::test::TempDir;

// Sets TZ for the test's life: %t is in local time, as Apache writes it.
class ScopedTz {
 public:
  explicit ScopedTz(const char* tz) {
    if (const char* old = getenv("TZ")) old_ = old;
    setenv("TZ", tz, 1);
    tzset();
  }
  ~ScopedTz() {
    if (old_) {
      setenv("TZ", old_->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }

 private:
  std::optional<std::string> old_;
};

constexpr uint64_t kMs = 1'000'000;

gw::ListenerConfig http_listener() {
  gw::ListenerConfig l;
  l.protocol = gw::Protocol::Http;
  l.host = "127.0.0.1";
  l.port = 8080;
  l.name = "front";
  return l;
}

// 2026-11-27 03:04:05 UTC; backend 2 ms after the head, its head 3.5 ms
// later, the end 12.345678 ms after the start.
RequestRecord sample(const gw::ListenerConfig* listener) {
  RequestRecord r;
  r.listener = listener;
  r.project = "trac";
  r.backend = "fastcgi";
  r.remote_addr = "10.0.0.7";
  r.remote_user = "alice";
  r.method = "GET";
  r.target = "/trac/wiki?page=1";
  r.server_protocol = "HTTP/1.1";
  r.referer = "http://example.org/";
  r.user_agent = "curl/7.88";
  r.status = 200;
  r.bytes_in = 17;
  r.bytes_out = 1234;
  r.start_ns = 1000 * kMs;
  r.backend_start_ns = 1002 * kMs;
  r.first_byte_ns = 1005 * kMs + 500'000;
  r.end_ns = 1000 * kMs + 12'345'678;
  r.started_at.tv_sec = 1795748645;
  return r;
}

std::string render(std::string_view format, const RequestRecord& r) {
  AccessLogFormat f;
  std::string error;
  REQUIRE_MESSAGE(AccessLogFormat::parse(format, f, error), error);
  std::string out;
  f.render(r, out);
  return out;
}

std::string parse_error(std::string_view format) {
  AccessLogFormat f;
  std::string error;
  CHECK_FALSE(AccessLogFormat::parse(format, f, error));
  return error;
}

}  // namespace

TEST_CASE("observe access log: the default format is Combined plus gatewayd's fields") {
  ScopedTz tz("UTC0");
  gw::ListenerConfig l = http_listener();
  RequestRecord r = sample(&l);
  const std::string expected =
      "10.0.0.7 - alice [27/Nov/2026:03:04:05 +0000] \"GET /trac/wiki?page=1 HTTP/1.1\" 200 1234 "
      "\"http://example.org/\" \"curl/7.88\" trac http fastcgi 10.345 12.345\n";
  CHECK(render("", r) == expected);
  std::string out;
  AccessLogFormat().render(r, out);
  CHECK(out == expected);
}

TEST_CASE("observe access log: every directive") {
  ScopedTz tz("UTC0");
  gw::ListenerConfig l = http_listener();
  RequestRecord r = sample(&l);
  CHECK(render("%h|%a|%l|%u|%t|%r|%m|%U|%q|%H|%s|%>s|%<s|%b|%B|%I|%O|%D|%T|%%", r) ==
        "10.0.0.7|10.0.0.7|-|alice|[27/Nov/2026:03:04:05 +0000]|GET /trac/wiki?page=1 HTTP/1.1|"
        "GET|/trac/wiki|?page=1|HTTP/1.1|200|200|200|1234|1234|17|1234|12345|0|%\n");
  CHECK(render("%{Referer}i|%{referer}i|%{User-Agent}i|%{user-agent}i", r) ==
        "http://example.org/|http://example.org/|curl/7.88|curl/7.88\n");
  CHECK(render("%{project}g|%{protocol}g|%{listener}g|%{backend}g|%{backend_ms}g|"
               "%{first_byte_ms}g|%{total_ms}g|%{aborted}g",
               r) == "trac|http|front|fastcgi|10.345|3.500|12.345|0\n");
  r.aborted = true;
  CHECK(render("%{aborted}g", r) == "1\n");
  CHECK(render("plain text, no directive", r) == "plain text, no directive\n");
  CHECK(render("", r).starts_with("10.0.0.7 "));
}

TEST_CASE("observe access log: %T counts whole seconds, %D microseconds") {
  ScopedTz tz("UTC0");
  gw::ListenerConfig l = http_listener();
  RequestRecord r = sample(&l);
  r.end_ns = r.start_ns + 2'999'999'999;
  CHECK(render("%T %D %{total_ms}g", r) == "2 2999999 2999.999\n");
}

TEST_CASE("observe access log: %t in local time with its offset") {
  gw::ListenerConfig l = http_listener();
  RequestRecord r = sample(&l);
  {
    ScopedTz tz("EST5");
    CHECK(render("%t", r) == "[26/Nov/2026:22:04:05 -0500]\n");
  }
  {
    ScopedTz tz("<+0530>-5:30");
    CHECK(render("%t", r) == "[27/Nov/2026:08:34:05 +0530]\n");
  }
}

TEST_CASE("observe access log: missing values are '-'") {
  ScopedTz tz("UTC0");
  gw::ListenerConfig l = http_listener();
  RequestRecord r;
  r.listener = &l;
  r.method = "GET";
  r.target = "/";
  r.server_protocol = "HTTP/1.1";
  r.start_ns = 5 * kMs;
  r.end_ns = 6 * kMs;
  // A 404 of gatewayd's own: no project, no backend, no body counted.
  r.status = 404;
  CHECK(render("", r) ==
        "- - - [01/Jan/1970:00:00:00 +0000] \"GET / HTTP/1.1\" 404 - \"-\" \"-\" - http - - "
        "1.000\n");
  r.status = 0;  // the client left before any answer
  CHECK(render("%s %>s %B %{first_byte_ms}g %q|", r) == "- - 0 - |\n");
  r.listener = nullptr;
  CHECK(render("%{protocol}g %{listener}g", r) == "- -\n");
}

TEST_CASE("observe access log: every value is escaped as Apache does") {
  ScopedTz tz("UTC0");
  gw::ListenerConfig l = http_listener();
  RequestRecord r = sample(&l);
  r.target = "/x\"y\\z\n1.2.3.4 - - [forged] \"GET / HTTP/1.1\" 200\r\t\b\v\x01\x7f\xff";
  r.user_agent = "a\" \"b";
  r.referer = "\x1b[31m";
  r.remote_user = "eve\nbob";
  r.project = "p\"q";
  std::string line = render("", r);
  CHECK(line ==
        "10.0.0.7 - eve\\nbob [27/Nov/2026:03:04:05 +0000] \"GET "
        "/x\\\"y\\\\z\\n1.2.3.4 - - [forged] \\\"GET / HTTP/1.1\\\" 200\\r\\t\\b\\v\\x01\\x7f\\xff "
        "HTTP/1.1\" 200 1234 \"\\x1b[31m\" \"a\\\" \\\"b\" p\\\"q http fastcgi 10.345 12.345\n");
  // One line, and no raw control character or high byte in it.
  CHECK(line.find('\n') == line.size() - 1);
  for (unsigned char c : line.substr(0, line.size() - 1)) {
    CHECK((c >= 0x20 && c < 0x7f));
  }
  std::string out;
  gw::append_log_escaped(std::string_view("\0a", 2), out);
  CHECK(out == "\\x00a");
}

TEST_CASE("observe access log: format errors name the directive") {
  CHECK(parse_error("%h %") == "a lone '%' at the end (write %% for a percent sign)");
  CHECK(parse_error("%{Referer") == "'%{' without its '}'");
  CHECK(parse_error("%h %Z") == "%Z: unknown directive");
  CHECK(parse_error("%{Cookie}i") ==
        "%{Cookie}i: only the Referer and User-Agent headers are recorded");
  CHECK(parse_error("%{nope}g") ==
        "%{nope}g: unknown; %{NAME}g takes project, protocol, listener, backend, backend_ms, "
        "first_byte_ms, total_ms or aborted");
  CHECK(parse_error("%{x}e") == "%{x}e: unknown directive (%{...} goes with i or g)");
  CHECK(parse_error("%>b") == "%>b: '>' and '<' only go with s");
  CHECK(parse_error("%>") == "'%>' has no directive letter");
  CHECK(parse_error("%{x}") == "'%{x}' has no directive letter");
  // A failed parse leaves the format as it was.
  AccessLogFormat f;
  std::string error;
  REQUIRE(AccessLogFormat::parse("%s", f, error));
  CHECK_FALSE(AccessLogFormat::parse("%Z", f, error));
  gw::ListenerConfig l = http_listener();
  std::string out;
  f.render(sample(&l), out);
  CHECK(out == "200\n");
}

TEST_CASE("observe log file: buffered until flush, reopened after a rename") {
  TempDir dir("observe");
  std::string error;
  auto file = gw::LogFile::open(dir / "access.log", error);
  REQUIRE(file);
  file->append("one\n");
  file->append("two\n");
  CHECK(file->pending());
  CHECK(dir.read("access.log") == "");  // nothing written per line
  file->flush();
  CHECK_FALSE(file->pending());
  CHECK(dir.read("access.log") == "one\ntwo\n");
  // logrotate: the file is moved away, then SIGUSR1.
  std::filesystem::rename(dir / "access.log", dir / "access.log.1");
  file->append("three\n");
  CHECK(file->reopen() == "");  // flushes to the old file first
  file->append("four\n");
  file->flush();
  CHECK(dir.read("access.log.1") == "one\ntwo\nthree\n");
  CHECK(dir.read("access.log") == "four\n");
  // Appends to what is there.
  file.reset();
  file = gw::LogFile::open(dir / "access.log", error);
  REQUIRE(file);
  file->append("five\n");
  file.reset();  // the destructor flushes
  CHECK(dir.read("access.log") == "four\nfive\n");
}

TEST_CASE("observe log file: a full buffer is written at once; errors are told") {
  TempDir dir("observe");
  std::string error;
  auto file = gw::LogFile::open(dir / "big.log", error);
  REQUIRE(file);
  std::string line(1000, 'x');
  line += '\n';
  size_t n = gw::LogFile::kFlushBytes / line.size() + 1;
  for (size_t i = 0; i < n; ++i) file->append(line);
  CHECK_FALSE(file->pending());
  CHECK(dir.read("big.log").size() == n * line.size());

  CHECK_FALSE(gw::LogFile::open(dir / "no/such/dir.log", error));
  CHECK(error == dir / "no/such/dir.log" + ": No such file or directory");
  // Reopening where the directory went away keeps the old file.
  auto gone = gw::LogFile::open(dir.mkdir("sub") + "/x.log", error);
  REQUIRE(gone);
  dir.remove("sub");
  CHECK(gone->reopen() == dir / "sub/x.log" + ": No such file or directory");
  gone->append("still\n");
  gone->flush();
  CHECK(gone->take_write_error() == "");
}

TEST_CASE("observe log file: a failed write drops the buffer and counts it") {
  std::string error;
  auto file = gw::LogFile::open("/dev/full", error);
  REQUIRE(file);
  file->append("lost\n");
  file->flush();
  CHECK_FALSE(file->pending());
  CHECK(file->bytes_dropped() == 5);
  CHECK(file->take_write_error() == "/dev/full: No space left on device");
  CHECK(file->take_write_error() == "");
}

TEST_CASE("observe access logs: which file a request goes to") {
  ScopedTz tz("UTC0");
  TempDir dir("observe");
  gw::ServerConfig config;
  config.access_log = dir / "all.log";
  config.access_log_format = "%{listener}g %{project}g %U";
  gw::ListenerConfig front = http_listener();
  gw::ListenerConfig own = http_listener();
  own.name = "own";
  own.access_log = dir / "own.log";
  gw::ListenerConfig status = http_listener();
  status.name = "status";
  status.status = true;
  gw::ListenerConfig status_logged = status;
  status_logged.name = "status2";
  status_logged.access_log = dir / "status.log";
  config.listeners = {front, own, status, status_logged};
  gw::ProjectConfig a, b, c;
  a.name = "a";
  a.access_log = dir / "a.log";
  b.name = "b";
  c.name = "c";
  c.access_log = dir / "all.log";  // the same file as the server's: one line, not two
  gw::AccessLogs logs;
  REQUIRE(logs.configure(config, {a, b, c}) == "");
  CHECK(logs.open_files() == 4);

  auto req = [&](const gw::ListenerConfig& l, const char* project, const char* path) {
    RequestRecord r = sample(&l);
    r.project = project;
    r.target = path;
    CHECK(logs.log(r, false));  // something was buffered
  };
  req(front, "a", "/a/1");
  req(front, "b", "/b/1");
  req(front, "c", "/c/1");
  req(own, "a", "/a/2");
  req(own, "", "/");
  req(status_logged, "", "/status.json");
  RequestRecord unlogged = sample(&status);
  unlogged.project = "";
  CHECK_FALSE(logs.log(unlogged, false));  // a status listener stays out of the server's log
  CHECK(dir.read("all.log") == "");
  logs.flush();
  CHECK(dir.read("all.log") == "front a /a/1\nfront b /b/1\nfront c /c/1\n");
  CHECK(dir.read("own.log") == "own a /a/2\nown - /\n");
  CHECK(dir.read("a.log") == "front a /a/1\nown a /a/2\n");
  CHECK(dir.read("status.log") == "status2 - /status.json\n");
}

TEST_CASE("observe access logs: slow requests, reconfigure all or nothing, reopen") {
  ScopedTz tz("UTC0");
  TempDir dir("observe");
  gw::ServerConfig config;
  config.access_log = dir / "all.log";
  config.access_log_format = "%U %{total_ms}g";
  config.slow_request_ms = 10;
  config.slow_log = dir / "slow.log";
  gw::ListenerConfig front = http_listener();
  config.listeners = {front};
  gw::AccessLogs logs;
  REQUIRE(logs.configure(config, {}) == "");

  RequestRecord fast = sample(&front);
  fast.end_ns = fast.start_ns + 10 * kMs;  // at the threshold: not over it
  CHECK_FALSE(logs.is_slow(fast));
  RequestRecord slow = sample(&front);
  CHECK(logs.is_slow(slow));
  CHECK(gw::AccessLogs::slow_line(slow) ==
        "slow request: project trac, GET /trac/wiki?page=1, status 200, total 12.345 ms, backend "
        "first byte 3.500 ms, backend end 10.345 ms, listener front");
  slow.target = "/evil\n2026-01-01T00:00:00Z [error] forged";
  logs.log(fast, false);
  logs.log(slow, true);
  logs.flush();
  CHECK(dir.read("all.log") ==
        "/trac/wiki 10.000\n/evil\\n2026-01-01T00:00:00Z [error] forged 12.345\n");
  std::string slow_text = dir.read("slow.log");
  REQUIRE(slow_text.size() > 21);
  CHECK(slow_text[4] == '-');  // "2026-11-27T03:04:05Z slow request: ..."
  CHECK(slow_text[19] == 'Z');
  CHECK(slow_text.substr(20) ==
        " slow request: project trac, GET /evil\\n2026-01-01T00:00:00Z [error] forged, status 200, "
        "total 12.345 ms, backend first byte 3.500 ms, backend end 10.345 ms, listener front\n");

  // A bad format, or a file that cannot be opened: the running settings stay.
  gw::ServerConfig bad = config;
  bad.access_log_format = "%Z";
  CHECK(logs.configure(bad, {}) == "--access-log-format: %Z: unknown directive");
  bad = config;
  bad.access_log = dir / "missing/dir.log";
  CHECK(logs.configure(bad, {}) == dir / "missing/dir.log" + ": No such file or directory");
  logs.log(fast, false);
  logs.flush();
  CHECK(dir.read("all.log").ends_with("\n/trac/wiki 10.000\n"));

  // A new path and format; the old file is closed, lines go to the new one.
  gw::ServerConfig next = config;
  next.access_log = dir / "next.log";
  next.access_log_format = "%s";
  next.slow_request_ms = 0;
  REQUIRE(logs.configure(next, {}) == "");
  CHECK(logs.open_files() == 2);
  CHECK_FALSE(logs.is_slow(slow));
  logs.log(fast, false);
  logs.flush();
  CHECK(dir.read("next.log") == "200\n");

  std::filesystem::rename(dir / "next.log", dir / "next.log.1");
  logs.log(fast, false);
  CHECK(logs.reopen().empty());
  logs.log(fast, false);
  logs.flush();
  CHECK(dir.read("next.log.1") == "200\n200\n");
  CHECK(dir.read("next.log") == "200\n");
}
