#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "dispatch/router.h"

using gw::Route;
using gw::route_request;
using gw::RouteKind;

namespace {

const std::vector<std::string> kNames = {"other", "app", "my proj"};
const std::optional<std::string> kNoBase;

gw::Request make_request(std::string script_name, std::string path_info, std::string path = "") {
  gw::Request r;
  r.method = "GET";
  r.script_name = std::move(script_name);
  r.path_info = std::move(path_info);
  r.path = std::move(path);
  r.target = r.path;
  return r;
}

Route parent(std::string script_name, std::string path_info,
             const std::optional<std::string>& base = std::nullopt, std::string path = "") {
  return route_request(make_request(std::move(script_name), std::move(path_info), std::move(path)),
                       kNames, false, base);
}

void expect_project(const Route& r, size_t project, std::string_view script_name,
                    std::string_view path_info) {
  CAPTURE(r.why);
  REQUIRE(r.kind == RouteKind::Project);
  CHECK(r.project == project);
  CHECK(r.script_name == script_name);
  CHECK(r.path_info == path_info);
  CHECK(r.why.empty());
}

void expect_kind(const Route& r, RouteKind kind, std::string_view why_part) {
  CAPTURE(r.why);
  CHECK(r.kind == kind);
  CHECK(r.why.find(why_part) != std::string::npos);
}

}  // namespace

TEST_CASE("router: single mode keeps script_name and path_info") {
  auto r = route_request(make_request("/trac", "/wiki/Start"), {}, true, kNoBase);
  expect_project(r, 0, "/trac", "/wiki/Start");
  // No routing: a first segment that names nothing is still project 0's.
  expect_project(route_request(make_request("", "/nope/x"), kNames, true, kNoBase), 0, "",
                 "/nope/x");
  expect_project(route_request(make_request("", ""), {}, true, kNoBase), 0, "", "");
  expect_project(route_request(make_request("", "/"), {}, true, kNoBase), 0, "", "/");
}

TEST_CASE("router: single mode with a base path") {
  auto r = route_request(make_request("/wrong", "/split", "/trac/wiki/Start"), {}, true,
                         std::string("/trac"));
  expect_project(r, 0, "/trac", "/wiki/Start");
  expect_kind(route_request(make_request("", "", "/other/x"), {}, true, std::string("/trac")),
              RouteKind::NotFound, "outside the base path \"/trac\"");
}

TEST_CASE("router: parent directory routes on the first segment") {
  expect_project(parent("", "/app/wiki/Start"), 1, "/app", "/wiki/Start");
  expect_project(parent("/trac", "/other/ticket/1"), 0, "/trac/other", "/ticket/1");
  // Ends at the name: path_info "" as Trac does; a trailing slash stays.
  expect_project(parent("", "/app"), 1, "/app", "");
  expect_project(parent("", "/app/"), 1, "/app", "/");
  expect_project(parent("/trac", "/app/"), 1, "/trac/app", "/");
  // Names are decoded values: "my%20proj" arrives as "my proj".
  expect_project(parent("", "/my proj/x"), 2, "/my proj", "/x");
  // Dot-files below a project are the backend's business.
  expect_project(parent("", "/app/.well-known/x"), 1, "/app", "/.well-known/x");
  expect_project(parent("", "/app/a.b/..c/c.."), 1, "/app", "/a.b/..c/c..");
}

TEST_CASE("router: the project index") {
  auto r = parent("", "");
  CHECK(r.kind == RouteKind::Index);
  CHECK(r.script_name == "");
  r = parent("", "/");
  CHECK(r.kind == RouteKind::Index);
  CHECK(r.path_info == "/");
  r = parent("/trac", "");
  CHECK(r.kind == RouteKind::Index);
  CHECK(r.script_name == "/trac");
  r = route_request(make_request("", "", "/trac"), kNames, false, std::string("/trac"));
  CHECK(r.kind == RouteKind::Index);
  CHECK(r.script_name == "/trac");
  CHECK(r.path_info == "");
  // With no projects at all, still an index (an empty one).
  CHECK(route_request(make_request("", "/"), {}, false, kNoBase).kind == RouteKind::Index);
}

TEST_CASE("router: unknown projects are not found") {
  expect_kind(parent("", "/nope/x"), RouteKind::NotFound, "no project named \"nope\"");
  // Exact, case-sensitive match; no prefixes.
  expect_kind(parent("", "/App/x"), RouteKind::NotFound, "\"App\"");
  expect_kind(parent("", "/ap"), RouteKind::NotFound, "\"ap\"");
  expect_kind(parent("", "/apps/x"), RouteKind::NotFound, "\"apps\"");
  expect_kind(parent("", "/my"), RouteKind::NotFound, "\"my\"");
  expect_kind(route_request(make_request("", "/app"), {}, false, kNoBase), RouteKind::NotFound,
              "\"app\"");
  // A decoded "%0A" cannot forge a log line.
  expect_kind(parent("", "/a\nb"), RouteKind::NotFound, "no project named \"a\\x0ab\"");
}

TEST_CASE("router: base path") {
  const std::string base = "/trac";
  SUBCASE("overrides the front end's split") {
    expect_project(parent("/trac/app/x", "", base, "/trac/app/x"), 1, "/trac/app", "/x");
    expect_project(parent("", "/trac/app/x", base, "/trac/app/x"), 1, "/trac/app", "/x");
  }
  SUBCASE("matches whole segments only") {
    expect_kind(parent("", "", base, "/tracker/app"), RouteKind::NotFound,
                "path \"/tracker/app\" is outside the base path \"/trac\"");
    expect_kind(parent("", "", base, "/"), RouteKind::NotFound, "outside");
    expect_kind(parent("", "", base, "/TRAC/app"), RouteKind::NotFound, "outside");
  }
  SUBCASE("surrounding slashes are ignored; root spellings") {
    expect_project(parent("", "", std::string("trac/"), "/trac/app/x"), 1, "/trac/app", "/x");
    expect_project(parent("", "", std::string("/trac/"), "/trac/app"), 1, "/trac/app", "");
    expect_project(parent("/app", "/x", std::string("/"), "/app/x"), 1, "/app", "/x");
    expect_project(parent("/app", "/x", std::string(""), "/app/x"), 1, "/app", "/x");
    expect_project(parent("", "", std::string("/a/b"), "/a/b/app/"), 1, "/a/b/app", "/");
  }
  SUBCASE("without a request path, script_name + path_info is matched") {
    expect_project(parent("/trac", "/app/x", base), 1, "/trac/app", "/x");
    expect_project(parent("/trac/app", "/x", base), 1, "/trac/app", "/x");
    expect_kind(parent("/other", "/app", base), RouteKind::NotFound, "outside");
  }
  SUBCASE("the rest is still checked") {
    expect_kind(parent("", "", base, "/trac/../etc/passwd"), RouteKind::BadRequest,
                "PATH_INFO not normalised: \"/../etc/passwd\"");
    expect_kind(parent("", "", base, "/trac//app"), RouteKind::BadRequest, "PATH_INFO");
    expect_kind(parent("", "", std::string("/a/../b"), "/a/../b/app"), RouteKind::BadRequest,
                "SCRIPT_NAME not normalised");
  }
}

TEST_CASE("router: traversal and odd paths are refused") {
  const char* bad_path_info[] = {
      "/..",         "/../etc/passwd", "/app/../other", "/app/./x",     "/app/.", "/app/..",
      "/.",          "//app",          "/app//x",       "/app/x//",     "app/x",  "app",
      "/app\\..\\x", "/app/a\\b",      "/..\\app",      "/app/x/../..", "/./app",
  };
  for (const char* p : bad_path_info) {
    CAPTURE(p);
    expect_kind(parent("", p), RouteKind::BadRequest, "PATH_INFO not normalised");
    // Single mode checks too: backends may join path_info below a directory.
    expect_kind(route_request(make_request("", p), {}, true, kNoBase), RouteKind::BadRequest,
                "PATH_INFO");
  }
  // "%2F" is already decoded to '/': "/app%2F..%2Fother" arrives as this.
  expect_kind(parent("", "/app/../other"), RouteKind::BadRequest, "PATH_INFO");
  // A raw NUL (FastCGI params are binary-safe).
  expect_kind(parent("", std::string("/app/a\0b", 8)), RouteKind::BadRequest,
              "PATH_INFO not normalised: \"/app/a\\x00b\"");
  // Hidden names are never projects, even if a directory has one.
  const std::vector<std::string> hidden = {".git", "app"};
  expect_kind(route_request(make_request("", "/.git/config"), hidden, false, kNoBase),
              RouteKind::BadRequest, "hidden project name \".git\"");
  expect_kind(parent("", "/.app"), RouteKind::BadRequest, "hidden");
  expect_kind(parent("", "/...."), RouteKind::BadRequest, "hidden");
}

TEST_CASE("router: script_name must be normalised") {
  const char* bad_script_name[] = {"/", "/trac/", "trac", "//trac", "/a/../b", "/a/./b", "/a\\b"};
  for (const char* s : bad_script_name) {
    CAPTURE(s);
    expect_kind(parent(s, "/app"), RouteKind::BadRequest, "SCRIPT_NAME not normalised");
  }
  // A hidden mount prefix is the front end's choice.
  expect_project(parent("/.mount", "/app"), 1, "/.mount/app", "");
}

// What each web server sends for GET /app/sub/path (fronts-observed.md),
// after protocols/cgi_params normalisation, all end at the same place.
TEST_CASE("router: every front end's split routes the same way") {
  struct Front {
    const char* front;
    const char* script_name;
    const char* path_info;
  };
  SUBCASE("mounted at /, trusted split") {
    const Front fronts[] = {
        {"nginx fcgi stock (SCRIPT_NAME = URI moved to PATH_INFO)", "", "/app/sub/path"},
        {"nginx scgi (from REQUEST_URI)", "", "/app/sub/path"},
        {"mod_fcgid Alias /", "", "/app/sub/path"},
        {"h2o", "", "/app/sub/path"},
        {"caddy", "", "/app/sub/path"},
        {"AJP (fixed \"\")", "", "/app/sub/path"},
    };
    for (const auto& f : fronts) {
      CAPTURE(f.front);
      expect_project(parent(f.script_name, f.path_info), 1, "/app", "/sub/path");
    }
  }
  SUBCASE("mounted at /, --base-path / fixes every split") {
    const Front fronts[] = {
        {"nginx fcgi stock", "/app/sub/path", ""},
        {"lighttpd root mount (SCRIPT_NAME /app!)", "/app", "/sub/path"},
        {"lighttpd fix-root-scriptname", "", "/app/sub/path"},
        {"apache mod_proxy_fcgi/scgi", "/app/sub/path", ""},
        {"mod_fcgid", "", "/app/sub/path"},
        {"h2o", "", "/app/sub/path"},
    };
    for (const auto& f : fronts) {
      CAPTURE(f.front);
      expect_project(parent(f.script_name, f.path_info, std::string("/"), "/app/sub/path"), 1,
                     "/app", "/sub/path");
    }
  }
  SUBCASE("mounted at /proj") {
    const Front split_right[] = {
        {"nginx fastcgi_split_path_info", "/proj", "/app/sub/path"},
        {"lighttpd prefix /proj", "/proj", "/app/sub/path"},
        {"mod_fcgid Alias /proj", "/proj", "/app/sub/path"},
        {"caddy split /proj", "/proj", "/app/sub/path"},
    };
    for (const auto& f : split_right) {
      CAPTURE(f.front);
      expect_project(parent(f.script_name, f.path_info), 1, "/proj/app", "/sub/path");
    }
    const Front split_wrong[] = {
        {"apache mod_proxy_fcgi/scgi", "/proj/app/sub/path", ""},
        {"h2o /proj mapping", "", "/proj/app/sub/path"},
        {"AJP", "", "/proj/app/sub/path"},
    };
    for (const auto& f : split_wrong) {
      CAPTURE(f.front);
      expect_project(parent(f.script_name, f.path_info, std::string("/proj"), "/proj/app/sub/path"),
                     1, "/proj/app", "/sub/path");
    }
  }
}

TEST_CASE("router: html_escape") {
  CHECK(gw::html_escape("<script>alert(\"x&y\")</script>'") ==
        "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;");
  CHECK(gw::html_escape("plain caf\xc3\xa9") == "plain caf\xc3\xa9");
  CHECK(gw::html_escape("") == "");
}

TEST_CASE("router: project index page") {
  const std::string head =
      "<!DOCTYPE html>\n"
      "<html lang=\"en\">\n"
      "<head>\n"
      "<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>Available Projects</title>\n"
      "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em}"
      "li{margin:.5em 0}.description{color:#555}</style>\n"
      "</head>\n"
      "<body>\n"
      "<h1>Available Projects</h1>\n";
  const std::string tail = "</body>\n</html>\n";
  SUBCASE("byte-exact listing, in the given order") {
    std::vector<gw::ProjectSummary> projects = {{"zeta", "Last letter"}, {"alpha", ""}};
    CHECK(gw::render_project_index(projects, "/trac") ==
          head +
              "<ul>\n"
              "<li><a href=\"/trac/zeta/\">zeta</a> <span class=\"description\">Last "
              "letter</span></li>\n"
              "<li><a href=\"/trac/alpha/\">alpha</a></li>\n"
              "</ul>\n" +
              tail);
  }
  SUBCASE("no projects") {
    CHECK(gw::render_project_index({}, "") == head + "<p>No projects are available.</p>\n" + tail);
  }
  SUBCASE("names and descriptions are escaped, hrefs encoded") {
    std::vector<gw::ProjectSummary> projects = {
        {"a&b \"q\"", "<script>alert('x')</script>"},
        {"x/y", "<b>"},
    };
    std::string page = gw::render_project_index(projects, "/my mount");
    CHECK(page.find("<script>") == std::string::npos);
    CHECK(page.find("<b>") == std::string::npos);
    CHECK(page == head +
                      "<ul>\n"
                      "<li><a href=\"/my%20mount/a%26b%20%22q%22/\">a&amp;b &quot;q&quot;</a> "
                      "<span class=\"description\">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
                      "</span></li>\n"
                      "<li><a href=\"/my%20mount/x%2Fy/\">x/y</a> <span "
                      "class=\"description\">&lt;b&gt;</span></li>\n"
                      "</ul>\n" +
                      tail);
  }
}
