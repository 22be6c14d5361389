// Static mounts (dispatch/backends/static_mounts.h) in front of a fake app
// backend, and project.json's "static" section (gateway/config_files.cpp).
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "dispatch/backends/static_mounts.h"
#include "gateway/config.h"
#include "tests/support/recording_sink.h"

namespace {

namespace fs = std::filesystem;
using gw::Request;
using Sink = gw::test::RecordingSink;

// A temporary tree:
//   <base>/proj/project.json      (written by the config tests)
//   <base>/proj/htdocs/common/style.css  "body{}"
//   <base>/proj/htdocs/common/index.html "<p>common</p>"
//   <base>/proj/htdocs/common/sub/a.txt  "a"
//   <base>/proj/htdocs/site/logo.txt     "site logo"
//   <base>/proj/htdocs/chrome.txt        "chrome"
//   <base>/secret.txt                    outside every mount
class Tree {
 public:
  Tree() {
    char tmpl[] = "/tmp/gw-mounts-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    base = tmpl;
    proj = base + "/proj";
    fs::create_directories(proj + "/htdocs/common/sub");
    fs::create_directories(proj + "/htdocs/site");
    write("proj/htdocs/common/style.css", "body{}");
    write("proj/htdocs/common/index.html", "<p>common</p>");
    write("proj/htdocs/common/sub/a.txt", "a");
    write("proj/htdocs/site/logo.txt", "site logo");
    write("proj/htdocs/chrome.txt", "chrome");
    write("secret.txt", "secret");
  }
  ~Tree() {
    std::error_code ec;
    fs::remove_all(base, ec);
  }
  void write(const std::string& rel, const std::string& content) const {
    std::ofstream(base + "/" + rel, std::ios::binary) << content;
  }
  std::string common() const { return proj + "/htdocs/common"; }
  std::string site() const { return proj + "/htdocs/site"; }

  std::string base;
  std::string proj;
};

// The app: records what reached it and answers "app".
class FakeApp : public gw::Backend {
 public:
  struct Seen {
    std::string script_name;
    std::string path_info;
  };
  std::vector<Seen>* seen;
  bool* shut_down;

  FakeApp(std::vector<Seen>* s, bool* down) : seen(s), shut_down(down) {}

  class Answer : public gw::Exchange {
   public:
    void send_body(std::string_view) override {}
    void finish_body() override {}
    void cancel() override {}
  };

  std::unique_ptr<gw::Exchange> start(const Request& r, gw::ResponseSink& sink) override {
    seen->push_back({r.script_name, r.path_info});
    gw::ResponseHead head;
    head.headers = {{"Content-Type", "text/plain"}, {"Content-Length", "3"}};
    sink.on_head(std::move(head));
    sink.on_body("app");
    sink.on_end();
    return std::make_unique<Answer>();
  }
  std::string_view kind() const override { return "fake-app"; }
  void shutdown() override { *shut_down = true; }
};

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

struct Mounted {
  std::vector<FakeApp::Seen> seen;
  bool shut_down = false;
  std::unique_ptr<gw::Backend> backend;

  explicit Mounted(const std::vector<gw::StaticMount>& mounts) {
    backend = gw::wrap_static_mounts(std::make_unique<FakeApp>(&seen, &shut_down), mounts);
  }

  // Serves `r`, expecting a complete answer.
  void fetch(const Request& r, Sink& sink) {
    auto ex = backend->start(r, sink);
    CHECK(sink.ended);
  }
};

}  // namespace

TEST_CASE("static mounts: a file below a mount is served from its directory") {
  Tree tree;
  Mounted m({{"/chrome/common", tree.common()}});
  Sink sink;
  m.fetch(get("/chrome/common/style.css"), sink);
  CHECK(sink.status() == 200);
  CHECK(sink.body() == "body{}");
  CHECK(sink.header("Content-Type") == "text/css; charset=utf-8");
  CHECK(sink.header("Content-Length") == "6");
  CHECK(m.seen.empty());

  Sink nested;
  m.fetch(get("/chrome/common/sub/a.txt"), nested);
  CHECK(nested.body() == "a");
  CHECK(m.seen.empty());
}

TEST_CASE("static mounts: everything else goes to the app unchanged") {
  Tree tree;
  Mounted m({{"/chrome/common", tree.common()}});
  for (std::string path : {"/chrome/commonx", "/chrome/commonx/style.css", "/chrome", "/", "",
                           "/wiki/chrome/common/style.css"}) {
    CAPTURE(path);
    m.seen.clear();
    Sink sink;
    m.fetch(get(path), sink);
    CHECK(sink.body() == "app");
    REQUIRE(m.seen.size() == 1);
    CHECK(m.seen[0].script_name == "/proj");
    CHECK(m.seen[0].path_info == path);
  }
}

TEST_CASE("static mounts: the prefix itself and its directories") {
  Tree tree;
  Mounted m({{"/chrome/common", tree.common()}});
  Sink exact;  // the mount's own directory: its index file
  m.fetch(get("/chrome/common"), exact);
  CHECK(exact.status() == 200);
  CHECK(exact.body() == "<p>common</p>");

  Sink slash;
  m.fetch(get("/chrome/common/"), slash);
  CHECK(slash.body() == "<p>common</p>");

  // The redirect names the full path: SCRIPT_NAME grew by the prefix.
  Sink dir;
  m.fetch(get("/chrome/common/sub"), dir);
  CHECK(dir.status() == 301);
  CHECK(dir.header("Location") == "/proj/chrome/common/sub/");
  CHECK(m.seen.empty());
}

TEST_CASE("static mounts: the longest prefix wins") {
  Tree tree;
  // Given shortest first: the order in the list must not matter.
  Mounted m({{"/chrome", tree.proj + "/htdocs"}, {"/chrome/site", tree.site()}});
  Sink deep;
  m.fetch(get("/chrome/site/logo.txt"), deep);
  CHECK(deep.body() == "site logo");
  Sink shallow;
  m.fetch(get("/chrome/chrome.txt"), shallow);
  CHECK(shallow.body() == "chrome");
  // A sibling of the longer prefix belongs to the shorter mount.
  Sink via_short;
  m.fetch(get("/chrome/site2"), via_short);
  CHECK(via_short.status() == 404);
  CHECK(m.seen.empty());
}

TEST_CASE("static mounts: a missing file is the mount's 404, not the app's") {
  Tree tree;
  Mounted m({{"/chrome/common", tree.common()}});
  Sink sink;
  m.fetch(get("/chrome/common/missing.css"), sink);
  CHECK(sink.status() == 404);
  CHECK(sink.body() == "404 Not Found\n");
  CHECK(m.seen.empty());
}

TEST_CASE("static mounts: nothing outside the directory") {
  Tree tree;
  Mounted m({{"/chrome/common", tree.common()}});
  SUBCASE("dot-dot climbing above the mount") {
    Sink sink;
    m.fetch(get("/chrome/common/../../../../secret.txt"), sink);
    CHECK(sink.status() == 404);
    CHECK(sink.body().find("secret") == std::string::npos);
  }
  SUBCASE("a symlink leading out") {
    REQUIRE(::symlink((tree.base + "/secret.txt").c_str(), (tree.common() + "/link").c_str()) == 0);
    Sink sink;
    m.fetch(get("/chrome/common/link"), sink);
    CHECK(sink.status() == 404);
    REQUIRE(sink.logs.size() == 1);
    CHECK(sink.logs[0].find("leads outside the root") != std::string::npos);
  }
  CHECK(m.seen.empty());
}

TEST_CASE("static mounts: methods and bodies as the static backend") {
  Tree tree;
  Mounted m({{"/chrome/common", tree.common()}});
  Sink post;
  auto ex = m.backend->start(get("/chrome/common/style.css", "POST"), post);
  ex->send_body("ignored");
  ex->finish_body();
  CHECK(post.status() == 405);
  CHECK(post.header("Allow") == "GET, HEAD");
  Sink head;
  m.fetch(get("/chrome/common/style.css", "HEAD"), head);
  CHECK(head.status() == 200);
  CHECK(head.header("Content-Length") == "6");
  CHECK(head.body().empty());
  CHECK(m.seen.empty());
}

TEST_CASE("static mounts: kind and shutdown are the app's; no mounts, no wrapper") {
  Tree tree;
  Mounted m({{"/chrome/common", tree.common()}});
  CHECK(m.backend->kind() == "fake-app");
  m.backend->shutdown();
  CHECK(m.shut_down);

  std::vector<FakeApp::Seen> seen;
  bool down = false;
  auto app = std::make_unique<FakeApp>(&seen, &down);
  gw::Backend* raw = app.get();
  CHECK(gw::wrap_static_mounts(std::move(app), {}).get() == raw);
}

// --- project.json "static" ---------------------------------------------------

namespace {

std::optional<gw::ConfigError> load(const Tree& tree, const std::string& json,
                                    gw::ProjectConfig& p) {
  tree.write("proj/project.json", json);
  return gw::load_project(tree.proj, p);
}

std::string with_static(const std::string& section) {
  return R"({"backend": {"type": "echo"}, "static": )" + section + "}";
}

}  // namespace

TEST_CASE("static mounts config: prefixes normalised, directories canonical") {
  Tree tree;
  gw::ProjectConfig p;
  fs::create_directories(tree.proj + "/links");
  REQUIRE(::symlink("../htdocs/site", (tree.proj + "/links/site").c_str()) == 0);
  auto err = load(tree,
                  with_static(R"({"/chrome/common/": "htdocs/common", "/site": "links/site",
                                  "/abs": ")" +
                              tree.common() + R"("})"),
                  p);
  REQUIRE_FALSE(err.has_value());
  const std::string common = fs::canonical(tree.common()).string();
  const std::string site = fs::canonical(tree.site()).string();
  // nlohmann's object keeps keys sorted.
  std::vector<gw::StaticMount> expected = {
      {"/abs", common}, {"/chrome/common", common}, {"/site", site}};
  CHECK(p.mounts == expected);

  gw::ProjectConfig none;
  REQUIRE_FALSE(load(tree, R"({"backend": {"type": "echo"}})", none).has_value());
  CHECK(none.mounts.empty());
}

TEST_CASE("static mounts config: bad sections are refused with the key named") {
  Tree tree;
  const std::string file = tree.proj + "/project.json";
  struct Bad {
    std::string section;
    std::string where;
    std::string why_part;
  };
  std::vector<Bad> bad = {
      {R"(["htdocs"])", "static", "must be an object"},
      {R"({"chrome": "htdocs"})", "static.chrome", "must start with '/'"},
      {R"({"/": "htdocs"})", "static./", "must not be \"/\""},
      {R"({"///": "htdocs"})", "static.///", "must not be \"/\""},
      {R"({"/a/../b": "htdocs"})", "static./a/../b", "segments"},
      {R"({"/a/./b": "htdocs"})", "static./a/./b", "segments"},
      {R"({"/a//b": "htdocs"})", "static./a//b", "segments"},
      {R"({"/a\\b": "htdocs"})", "static./a\\b", "backslash"},
      {R"({"/a": ""})", "static./a", "non-empty string"},
      {R"({"/a": 3})", "static./a", "non-empty string"},
      {R"({"/a": "nothing-here"})", "static./a", "No such file"},
      {R"({"/a": "htdocs/chrome.txt"})", "static./a", "is not a directory"},
      {R"({"/a": "htdocs", "/a/": "htdocs/site"})", "static./a/", "repeats the prefix /a"},
  };
  for (const auto& b : bad) {
    CAPTURE(b.section);
    gw::ProjectConfig p;
    auto err = load(tree, with_static(b.section), p);
    REQUIRE(err.has_value());
    CHECK(err->where == file + ": " + b.where);
    CHECK(err->why.find(b.why_part) != std::string::npos);
  }
}
