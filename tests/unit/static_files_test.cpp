#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tests/support/recording_sink.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "dispatch/backends/mime.h"
#include "dispatch/backends/static_files.h"

namespace {

namespace fs = std::filesystem;
using gw::Request;
using gw::ResponseHead;
using gw::static_files::RangeResult;
using FakeSink = gw::test::RecordingSink;

// A fixture tree in a fresh temporary directory, removed afterwards:
//   <base>/root/hello.txt         "Hello, world!\n" (14 bytes), mtime fixed
//   <base>/root/empty.bin         0 bytes
//   <base>/root/sub/index.html    "<p>sub</p>"
//   <base>/root/noindex/          empty directory
//   <base>/root/my dir/a.css      "a{}"
//   <base>/root/.hidden           "h"
//   <base>/secret.txt             outside the root
class Tree {
 public:
  Tree() {
    char tmpl[] = "/tmp/gw-static-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    base = tmpl;
    root = base + "/root";
    fs::create_directories(root + "/sub");
    fs::create_directories(root + "/noindex");
    fs::create_directories(root + "/my dir");
    write("root/hello.txt", "Hello, world!\n");
    write("root/empty.bin", "");
    write("root/sub/index.html", "<p>sub</p>");
    write("root/my dir/a.css", "a{}");
    write("root/.hidden", "h");
    write("secret.txt", "secret");
    set_mtime("root/hello.txt", kMtime, kMtimeNs);
  }
  ~Tree() {
    std::error_code ec;
    fs::remove_all(base, ec);
  }

  void write(const std::string& rel, const std::string& content) const {
    std::ofstream(base + "/" + rel, std::ios::binary) << content;
  }
  void set_mtime(const std::string& rel, time_t sec, long nsec) const {
    struct timespec times[2] = {{sec, nsec}, {sec, nsec}};
    REQUIRE(::utimensat(AT_FDCWD, (base + "/" + rel).c_str(), times, 0) == 0);
  }
  void symlink(const std::string& target, const std::string& rel) const {
    REQUIRE(::symlink(target.c_str(), (base + "/" + rel).c_str()) == 0);
  }

  // Sun, 06 Nov 1994 08:49:37 GMT, plus nanoseconds for the ETag.
  static constexpr time_t kMtime = 784111777;
  static constexpr long kMtimeNs = 123456789;
  std::string base;
  std::string root;
};

// hello.txt: hex(784111777123456789) "-" hex(14)
const std::string kHelloEtag = "\"ae1b981c3a4d715-e\"";
const std::string kHelloDate = "Sun, 06 Nov 1994 08:49:37 GMT";

Request get(std::string path_info, std::string method = "GET") {
  Request r;
  r.method = std::move(method);
  r.script_name = "/proj";
  r.path_info = std::move(path_info);
  r.path = r.script_name + r.path_info;
  r.target = r.path;
  r.server_protocol = "HTTP/1.1";
  return r;
}

struct Run {
  FakeSink sink;
  std::unique_ptr<gw::Exchange> exchange;
};

void serve(const Tree& tree, const Request& r, Run& run,
           std::vector<std::string> index = {"index.html"}) {
  gw::StaticBackend backend(tree.root, std::move(index));
  run.exchange = backend.start(r, run.sink);
}

// Serves `r` and expects a complete response.
FakeSink& fetch(const Tree& tree, const Request& r, Run& run,
                std::vector<std::string> index = {"index.html"}) {
  serve(tree, r, run, std::move(index));
  CHECK(run.sink.ended);
  return run.sink;
}

Request with(Request r, std::string name, std::string value) {
  r.headers.push_back({std::move(name), std::move(value)});
  return r;
}

}  // namespace

TEST_CASE("static: GET a file with validators") {
  Tree tree;
  Run run;
  auto& s = fetch(tree, get("/hello.txt"), run);
  REQUIRE(s.head.has_value());
  CHECK(s.status() == 200);
  std::vector<gw::Header> expected = {
      {"Content-Type", "text/plain; charset=utf-8"},
      {"Content-Length", "14"},
      {"Accept-Ranges", "bytes"},
      {"ETag", kHelloEtag},
      {"Last-Modified", kHelloDate},
  };
  REQUIRE(s.head->headers.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    CHECK(s.head->headers[i].name == expected[i].name);
    CHECK(s.head->headers[i].value == expected[i].value);
  }
  CHECK(s.body() == "Hello, world!\n");
  CHECK(s.logs.empty());
}

TEST_CASE("static: HEAD has the GET head and no body") {
  Tree tree;
  Run run;
  auto& s = fetch(tree, get("/hello.txt", "HEAD"), run);
  CHECK(s.status() == 200);
  CHECK(s.header("Content-Length") == "14");
  CHECK(s.header("ETag") == kHelloEtag);
  CHECK(s.pieces.empty());
}

TEST_CASE("static: a zero-byte file") {
  Tree tree;
  Run run;
  auto& s = fetch(tree, get("/empty.bin"), run);
  CHECK(s.status() == 200);
  CHECK(s.header("Content-Length") == "0");
  CHECK(s.header("Content-Type") == "application/octet-stream");
  CHECK(s.pieces.empty());
}

TEST_CASE("static: hidden names are served like others") {
  Tree tree;
  Run run;
  CHECK(fetch(tree, get("/.hidden"), run).body() == "h");
}

TEST_CASE("static: missing files and bad paths are 404") {
  Tree tree;
  for (const std::string& path :
       std::vector<std::string>{"/nope.txt", "/sub/nope", "/hello.txt/", "/hello.txt/x",
                                std::string("/hello.txt\0.png", 15), "relative", "/.."}) {
    CAPTURE(path);
    Run run;
    auto& s = fetch(tree, get(path), run);
    CHECK(s.status() == 404);
    CHECK(s.header("Content-Type") == "text/plain; charset=utf-8");
    CHECK(s.body() == "404 Not Found\n");
    CHECK(s.header("Content-Length") == "14");
  }
  Run head_run;
  auto& h = fetch(tree, get("/nope", "HEAD"), head_run);
  CHECK(h.status() == 404);
  CHECK(h.pieces.empty());
}

TEST_CASE("static: methods other than GET and HEAD are 405") {
  Tree tree;
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "get"}) {
    Run run;
    auto& s = fetch(tree, get("/hello.txt", method), run);
    CHECK(s.status() == 405);
    CHECK(s.header("Allow") == "GET, HEAD");
    CHECK(s.body() == "405 Method Not Allowed\n");
  }
}

TEST_CASE("static: request bodies are ignored") {
  Tree tree;
  Run run;
  serve(tree, get("/hello.txt"), run);
  run.exchange->send_body("ignored");
  run.exchange->finish_body();
  CHECK(run.sink.body() == "Hello, world!\n");
}

TEST_CASE("static: a directory without a slash is redirected") {
  Tree tree;
  SUBCASE("plain") {
    Run run;
    auto& s = fetch(tree, get("/sub"), run);
    CHECK(s.status() == 301);
    CHECK(s.header("Location") == "/proj/sub/");
  }
  SUBCASE("query kept, names encoded") {
    Run run;
    Request r = get("/my dir");
    r.query = "a=1&b=%20";
    auto& s = fetch(tree, r, run);
    CHECK(s.status() == 301);
    CHECK(s.header("Location") == "/proj/my%20dir/?a=1&b=%20");
  }
  SUBCASE("control bytes in the query are escaped") {
    Run run;
    Request r = get("/sub");
    r.query = "a\r\nSet-Cookie: x";
    CHECK(fetch(tree, r, run).header("Location") == "/proj/sub/?a%0D%0ASet-Cookie:%20x");
  }
  SUBCASE("no prefix, and never a scheme-relative URL") {
    Run run;
    Request r = get("//sub");
    r.script_name = "/";
    CHECK(fetch(tree, r, run).header("Location") == "/sub/");
  }
}

TEST_CASE("static: a directory with a slash serves its index file") {
  Tree tree;
  SUBCASE("index.html") {
    Run run;
    auto& s = fetch(tree, get("/sub/"), run);
    CHECK(s.status() == 200);
    CHECK(s.header("Content-Type") == "text/html; charset=utf-8");
    CHECK(s.body() == "<p>sub</p>");
  }
  SUBCASE("first existing name wins") {
    tree.write("root/sub/index.htm", "htm");
    Run run;
    CHECK(fetch(tree, get("/sub/"), run, {"missing.html", "index.htm", "index.html"}).body() ==
          "htm");
  }
  SUBCASE("the root, as \"\" and \"/\"") {
    tree.write("root/index.html", "top");
    Run a, b;
    CHECK(fetch(tree, get(""), a).body() == "top");
    CHECK(fetch(tree, get("/"), b).body() == "top");
  }
  SUBCASE("no index: 404, never a listing") {
    Run a, b;
    CHECK(fetch(tree, get("/noindex/"), a).status() == 404);
    CHECK(fetch(tree, get("/"), b).status() == 404);
  }
  SUBCASE("an index that is a directory is skipped") {
    fs::create_directories(tree.root + "/noindex/index.html");
    Run run;
    CHECK(fetch(tree, get("/noindex/"), run).status() == 404);
  }
}

TEST_CASE("static: If-None-Match") {
  Tree tree;
  Request base = get("/hello.txt");
  for (const std::string& value : std::vector<std::string>{
           kHelloEtag, "W/" + kHelloEtag, "\"x\", " + kHelloEtag, "\"a,b\",W/" + kHelloEtag, "*"}) {
    CAPTURE(value);
    Run run;
    auto& s = fetch(tree, with(base, "If-None-Match", value), run);
    CHECK(s.status() == 304);
    CHECK(s.header("ETag") == kHelloEtag);
    CHECK(s.header("Last-Modified") == kHelloDate);
    CHECK(s.header("Content-Length") == "<absent>");
    CHECK(s.pieces.empty());
  }
  for (const std::string& value :
       std::vector<std::string>{"\"x\"", "\"ae1b981c3a4d715-f\"", "ae1b981c3a4d715-e", "\"x", ""}) {
    CAPTURE(value);
    Run run;
    CHECK(fetch(tree, with(base, "If-None-Match", value), run).status() == 200);
  }
  SUBCASE("repeated header lines form one list") {
    Run run;
    Request r = with(with(base, "If-None-Match", "\"x\""), "if-none-match", kHelloEtag);
    CHECK(fetch(tree, r, run).status() == 304);
  }
  SUBCASE("a non-matching If-None-Match overrides If-Modified-Since") {
    Run run;
    Request r = with(with(base, "If-None-Match", "\"x\""), "If-Modified-Since",
                     "Fri, 01 Jan 2100 00:00:00 GMT");
    CHECK(fetch(tree, r, run).status() == 200);
  }
}

TEST_CASE("static: If-Modified-Since") {
  Tree tree;
  Request base = get("/hello.txt");
  auto status_for = [&](const std::string& value) {
    Run run;
    return fetch(tree, with(base, "If-Modified-Since", value), run).status();
  };
  CHECK(status_for(kHelloDate) == 304);
  CHECK(status_for("Sun, 06 Nov 1994 08:49:38 GMT") == 304);
  CHECK(status_for("Sun, 06 Nov 1994 08:49:36 GMT") == 200);
  CHECK(status_for("Sunday, 06-Nov-94 08:49:37 GMT") == 200);  // obsolete form: ignored
  CHECK(status_for("garbage") == 200);
  Run head_run;
  auto& h = fetch(tree, with(get("/hello.txt", "HEAD"), "If-Modified-Since", kHelloDate), head_run);
  CHECK(h.status() == 304);
}

TEST_CASE("static: Range") {
  Tree tree;  // hello.txt: "Hello, world!\n", 14 bytes
  struct Case {
    const char* range;
    int status;
    const char* content_range;
    const char* body;
  };
  const Case cases[] = {
      {"bytes=0-4", 206, "bytes 0-4/14", "Hello"},
      {"bytes=7-11", 206, "bytes 7-11/14", "world"},
      {"bytes=7-", 206, "bytes 7-13/14", "world!\n"},
      {"bytes=-2", 206, "bytes 12-13/14", "!\n"},
      {"bytes=-100", 206, "bytes 0-13/14", "Hello, world!\n"},
      {"bytes=10-999", 206, "bytes 10-13/14", "ld!\n"},
      {"BYTES = 0-0", 206, "bytes 0-0/14", "H"},
      {"bytes=13-13", 206, "bytes 13-13/14", "\n"},
      {"bytes=14-", 416, "bytes */14", "416 Range Not Satisfiable\n"},
      {"bytes=99999999999999999999999-", 416, "bytes */14", "416 Range Not Satisfiable\n"},
      {"bytes=-0", 416, "bytes */14", "416 Range Not Satisfiable\n"},
      {"bytes=0-1,3-4", 200, "<absent>", "Hello, world!\n"},
      {"bytes=5-2", 200, "<absent>", "Hello, world!\n"},
      {"bytes=x-2", 200, "<absent>", "Hello, world!\n"},
      {"bytes=", 200, "<absent>", "Hello, world!\n"},
      {"items=0-1", 200, "<absent>", "Hello, world!\n"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.range);
    Run run;
    auto& s = fetch(tree, with(get("/hello.txt"), "Range", c.range), run);
    CHECK(s.status() == c.status);
    CHECK(s.header("Content-Range") == c.content_range);
    CHECK(s.body() == c.body);
    CHECK(s.header("Content-Length") == std::to_string(s.body().size()));
  }
  SUBCASE("a zero-byte file satisfies no range") {
    Run run;
    auto& s = fetch(tree, with(get("/empty.bin"), "Range", "bytes=0-"), run);
    CHECK(s.status() == 416);
    CHECK(s.header("Content-Range") == "bytes */0");
  }
  SUBCASE("HEAD ignores Range") {
    Run run;
    auto& s = fetch(tree, with(get("/hello.txt", "HEAD"), "Range", "bytes=0-4"), run);
    CHECK(s.status() == 200);
    CHECK(s.header("Content-Length") == "14");
  }
  SUBCASE("a matching If-None-Match wins over Range") {
    Run run;
    Request r = with(with(get("/hello.txt"), "Range", "bytes=0-4"), "If-None-Match", kHelloEtag);
    CHECK(fetch(tree, r, run).status() == 304);
  }
}

TEST_CASE("static: If-Range") {
  Tree tree;
  Request ranged = with(get("/hello.txt"), "Range", "bytes=0-4");
  auto status_for = [&](const std::string& if_range) {
    Run run;
    auto& s = fetch(tree, with(ranged, "If-Range", if_range), run);
    CHECK(s.body() == (s.status() == 206 ? "Hello" : "Hello, world!\n"));
    return s.status();
  };
  CHECK(status_for(kHelloEtag) == 206);
  CHECK(status_for(" " + kHelloEtag + " ") == 206);
  CHECK(status_for("\"other\"") == 200);
  CHECK(status_for("W/" + kHelloEtag) == 200);  // weak tags never satisfy If-Range
  CHECK(status_for(kHelloDate) == 206);
  CHECK(status_for("Sun, 06 Nov 1994 08:49:38 GMT") == 200);
  CHECK(status_for("not a date") == 200);
}

TEST_CASE("static: traversal never leaves the root") {
  Tree tree;
  for (const std::string& path :
       std::vector<std::string>{"/../secret.txt", "/sub/../../secret.txt", "/./../secret.txt",
                                "/sub/../../root/../secret.txt", "/../root/hello.txt"}) {
    CAPTURE(path);
    Run run;
    auto& s = fetch(tree, get(path), run);
    CHECK(s.status() == 404);
    CHECK(s.body().find("secret") == std::string::npos);
  }
  SUBCASE("dot segments that stay inside are resolved") {
    Run run;
    CHECK(fetch(tree, get("/sub/.././hello.txt"), run).body() == "Hello, world!\n");
  }
}

TEST_CASE("static: symlinks out of the root are not followed") {
  Tree tree;
  tree.symlink("/etc/passwd", "root/passwd");
  tree.symlink(tree.base + "/secret.txt", "root/secret.txt");
  tree.symlink("../secret.txt", "root/relative-secret.txt");
  tree.symlink(tree.base, "root/up");  // a directory outside
  tree.symlink("/etc", "root/etc");
  for (const char* path : {"/passwd", "/secret.txt", "/relative-secret.txt", "/up/secret.txt",
                           "/etc/passwd", "/up/", "/etc/"}) {
    CAPTURE(path);
    Run run;
    auto& s = fetch(tree, get(path), run, {"secret.txt", "passwd"});
    CHECK(s.status() == 404);
    CHECK(s.body() == "404 Not Found\n");
  }
  Run run;
  auto& s = fetch(tree, get("/passwd"), run);
  REQUIRE(s.logs.size() == 1);
  CHECK(s.logs[0].find("outside the root") != std::string::npos);

  SUBCASE("an index file that links out is skipped") {
    tree.symlink("/etc/passwd", "root/noindex/index.html");
    tree.write("root/noindex/index.txt", "fallback");
    Run a, b;
    auto& only = fetch(tree, get("/noindex/"), a);
    CHECK(only.status() == 404);
    CHECK(only.logs.size() == 1);
    CHECK(fetch(tree, get("/noindex/"), b, {"index.html", "index.txt"}).body() == "fallback");
  }
}

TEST_CASE("static: symlinks inside the root are followed") {
  Tree tree;
  tree.symlink("sub", "root/linked-dir");
  tree.symlink(tree.root + "/hello.txt", "root/greeting.txt");
  SUBCASE("a linked directory") {
    Run a, b, c;
    CHECK(fetch(tree, get("/linked-dir/index.html"), a).body() == "<p>sub</p>");
    CHECK(fetch(tree, get("/linked-dir/"), b).body() == "<p>sub</p>");
    CHECK(fetch(tree, get("/linked-dir"), c).header("Location") == "/proj/linked-dir/");
  }
  SUBCASE("a linked file, typed by the name asked for") {
    Run run;
    auto& s = fetch(tree, get("/greeting.txt"), run);
    CHECK(s.body() == "Hello, world!\n");
    CHECK(s.header("ETag") == kHelloEtag);
  }
  SUBCASE("a root that is itself a symlink") {
    tree.symlink(tree.root, "current");
    gw::StaticBackend backend(tree.base + "/current", {"index.html"});
    FakeSink sink;
    auto ex = backend.start(get("/hello.txt"), sink);
    CHECK(sink.body() == "Hello, world!\n");
  }
}

TEST_CASE("static: only regular files are opened") {
  Tree tree;
  REQUIRE(::mkfifo((tree.root + "/fifo").c_str(), 0600) == 0);
  Run run;
  CHECK(fetch(tree, get("/fifo"), run).status() == 404);  // and it did not hang
}

TEST_CASE("static: unreadable file is 403") {
  if (::geteuid() == 0) {
    MESSAGE("skipped: root can read every file");
    return;
  }
  Tree tree;
  tree.write("root/locked.txt", "x");
  fs::permissions(tree.root + "/locked.txt", fs::perms::none);
  Run run;
  CHECK(fetch(tree, get("/locked.txt"), run).status() == 403);
}

TEST_CASE("static: a missing root is a 500") {
  gw::StaticBackend backend("/nonexistent/gw-static-root", {"index.html"});
  FakeSink sink;
  auto ex = backend.start(get("/x"), sink);
  CHECK_FALSE(sink.head.has_value());
  CHECK(sink.error_status == 500);
}

namespace {

std::string big_content(size_t size) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

}  // namespace

TEST_CASE("static: the body pauses while the sink is congested") {
  Tree tree;
  const std::string content = big_content(200 * 1024 + 5);  // 4 pieces
  tree.write("root/big.bin", content);
  Run run;
  run.sink.congest_after_each_piece = true;
  serve(tree, get("/big.bin"), run);
  auto& s = run.sink;
  CHECK(s.header("Content-Length") == std::to_string(content.size()));
  REQUIRE(s.pieces.size() == 1);
  CHECK(s.pieces[0].size() == 64 * 1024);
  run.exchange->resume_response();  // still congested: nothing
  CHECK(s.pieces.size() == 1);
  while (!s.ended && s.pieces.size() < 10) {
    s.congested_now = false;
    run.exchange->resume_response();
  }
  CHECK(s.ended);
  CHECK(s.pieces.size() == 4);
  CHECK(s.pieces[3].size() == 8 * 1024 + 5);
  CHECK(s.body() == content);
}

TEST_CASE("static: congested before the head, the whole body waits") {
  Tree tree;
  Run run;
  run.sink.congested_now = true;
  serve(tree, get("/hello.txt"), run);
  CHECK(run.sink.head.has_value());
  CHECK(run.sink.pieces.empty());
  run.sink.congested_now = false;
  run.exchange->resume_response();
  CHECK(run.sink.ended);
  CHECK(run.sink.body() == "Hello, world!\n");
}

TEST_CASE("static: a range of a large file, across pieces") {
  Tree tree;
  const std::string content = big_content(300 * 1024);
  tree.write("root/big.bin", content);
  Run run;
  auto& s = fetch(tree, with(get("/big.bin"), "Range", "bytes=1000-140000"), run);
  CHECK(s.status() == 206);
  CHECK(s.header("Content-Range") == "bytes 1000-140000/307200");
  CHECK(s.pieces.size() == 3);
  CHECK(s.body() == content.substr(1000, 139001));
}

TEST_CASE("static: nothing reaches the sink after cancel") {
  Tree tree;
  tree.write("root/big.bin", big_content(200 * 1024));
  Run run;
  run.sink.congest_after_each_piece = true;
  serve(tree, get("/big.bin"), run);
  REQUIRE(run.sink.pieces.size() == 1);
  run.exchange->cancel();
  run.sink.congested_now = false;
  run.exchange->resume_response();
  CHECK(run.sink.pieces.size() == 1);
  CHECK_FALSE(run.sink.finished());
}

TEST_CASE("static: a file that shrinks mid-body is an error") {
  Tree tree;
  tree.write("root/big.bin", big_content(200 * 1024));
  Run run;
  run.sink.congest_after_each_piece = true;
  serve(tree, get("/big.bin"), run);
  REQUIRE(run.sink.pieces.size() == 1);
  fs::resize_file(tree.root + "/big.bin", 1000);
  run.sink.congested_now = false;
  run.exchange->resume_response();
  CHECK(run.sink.error_status == 500);
  CHECK_FALSE(run.sink.ended);
  run.sink.congested_now = false;
  run.exchange->resume_response();  // no calls after the error (checked by the sink)
}

TEST_CASE("static: HTTP dates") {
  using gw::static_files::format_http_date;
  using gw::static_files::parse_http_date;
  CHECK(format_http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(format_http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(format_http_date(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT");
  CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == std::optional<time_t>(784111777));
  CHECK(parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT") == std::optional<time_t>(951782400));
  CHECK(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT") == std::optional<time_t>(0));
  for (const char* bad : {"", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 08:49:37 GMT ",
                          "Sun 06 Nov 1994 08:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT",
                          "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Noo 1994 08:49:37 GMT",
                          "Sun, 00 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:49:37 GMT",
                          "Sun, 06 Nov 1994 08:60:37 GMT", "Sun, 06 Nov 1994 08:49:3x GMT",
                          "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_http_date(bad).has_value());
  }
}

TEST_CASE("static: parse_range") {
  using gw::static_files::parse_range;
  using Kind = RangeResult::Kind;
  auto single = [](const RangeResult& r, uint64_t first, uint64_t last) {
    return r.kind == Kind::Single && r.first == first && r.last == last;
  };
  CHECK(single(parse_range("bytes=0-0", 10), 0, 0));
  CHECK(single(parse_range("bytes=2-", 10), 2, 9));
  CHECK(single(parse_range("bytes=-3", 10), 7, 9));
  CHECK(single(parse_range("bytes=-10", 10), 0, 9));
  CHECK(single(parse_range("bytes=5-18446744073709551615", 10), 5, 9));
  CHECK(single(parse_range("bytes=5-99999999999999999999999", 10), 5, 9));
  CHECK(single(parse_range("bytes=, 1-2 ,", 10), 1, 2));  // empty list elements
  CHECK(parse_range("bytes=10-", 10).kind == Kind::Unsatisfiable);
  CHECK(parse_range("bytes=-0", 10).kind == Kind::Unsatisfiable);
  CHECK(parse_range("bytes=-5", 0).kind == Kind::Unsatisfiable);
  CHECK(parse_range("bytes=0-", 0).kind == Kind::Unsatisfiable);
  for (const char* ignored :
       {"bytes=0-1,2-3", "bytes=3-2", "bytes=a-", "bytes=-", "bytes=1", "bytes=1--2",
        "bytes= 1 - 2", "bytes", "=0-1", "bits=0-1", "", "bytes=+1-2", "bytes=,"}) {
    CAPTURE(ignored);
    CHECK(parse_range(ignored, 10).kind == Kind::Ignore);
  }
}

TEST_CASE("static: etag_list_matches") {
  using gw::static_files::etag_list_matches;
  CHECK(etag_list_matches("\"a\"", "\"a\""));
  CHECK(etag_list_matches("W/\"a\"", "\"a\""));
  CHECK(etag_list_matches("\"a\"", "W/\"a\""));
  CHECK(etag_list_matches("\"x\" , \t\"a\"", "\"a\""));
  CHECK(etag_list_matches("*", "\"a\""));
  CHECK_FALSE(etag_list_matches("\"A\"", "\"a\""));
  CHECK_FALSE(etag_list_matches("a", "\"a\""));
  CHECK_FALSE(etag_list_matches("\"a", "\"a\""));
  CHECK_FALSE(etag_list_matches("", "\"a\""));
  CHECK_FALSE(etag_list_matches("\"x\" junk \"a\"", "\"a\""));
}

TEST_CASE("mime: types by extension") {
  using gw::mime_type_for;
  CHECK(mime_type_for("index.html") == "text/html; charset=utf-8");
  CHECK(mime_type_for("/a/b/STYLE.CSS") == "text/css; charset=utf-8");
  CHECK(mime_type_for("app.js") == "text/javascript; charset=utf-8");
  CHECK(mime_type_for("mod.mjs") == "text/javascript; charset=utf-8");
  CHECK(mime_type_for("data.json") == "application/json");
  CHECK(mime_type_for("notes.txt") == "text/plain; charset=utf-8");
  CHECK(mime_type_for("feed.xml") == "text/xml; charset=utf-8");
  CHECK(mime_type_for("table.csv") == "text/csv; charset=utf-8");
  CHECK(mime_type_for("README.md") == "text/markdown; charset=utf-8");
  CHECK(mime_type_for("logo.svg") == "image/svg+xml");
  CHECK(mime_type_for("a.png") == "image/png");
  CHECK(mime_type_for("a.jpg") == "image/jpeg");
  CHECK(mime_type_for("a.JPEG") == "image/jpeg");
  CHECK(mime_type_for("a.gif") == "image/gif");
  CHECK(mime_type_for("a.webp") == "image/webp");
  CHECK(mime_type_for("favicon.ico") == "image/vnd.microsoft.icon");
  CHECK(mime_type_for("f.woff") == "font/woff");
  CHECK(mime_type_for("f.woff2") == "font/woff2");
  CHECK(mime_type_for("f.ttf") == "font/ttf");
  CHECK(mime_type_for("doc.pdf") == "application/pdf");
  CHECK(mime_type_for("m.wasm") == "application/wasm");
  CHECK(mime_type_for("v.mp4") == "video/mp4");
  CHECK(mime_type_for("v.webm") == "video/webm");
  CHECK(mime_type_for("s.mp3") == "audio/mpeg");
  CHECK(mime_type_for("a.zip") == "application/zip");
  CHECK(mime_type_for("a.tar.gz") == "application/gzip");
  CHECK(mime_type_for("a.tar") == "application/x-tar");
  // The safe default: a download.
  CHECK(mime_type_for("Makefile") == "application/octet-stream");
  CHECK(mime_type_for(".profile") == "application/octet-stream");
  CHECK(mime_type_for("/dir.html/file") == "application/octet-stream");
  CHECK(mime_type_for("trailing.") == "application/octet-stream");
  CHECK(mime_type_for("x.exe") == "application/octet-stream");
  CHECK(mime_type_for("") == "application/octet-stream");
}
