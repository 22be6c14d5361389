// The index template language: what each tag renders (byte-exact), that
// every value is escaped and every other byte passes through, the errors
// with their line numbers, the size bound, and reading a template file.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dispatch/index_template.h"
#include "dispatch/router.h"

using gw::IndexTemplate;
using gw::IndexTemplateError;
using gw::ProjectSummary;

namespace {

const std::vector<ProjectSummary> kProjects = {
    {"zeta", "Last letter"},
    {"a&b \"q\"", "<script>alert('x')</script>"},
    {"x/y", ""},
};

std::string render(std::string_view text, const std::vector<ProjectSummary>& projects,
                   std::string_view script_name) {
  IndexTemplate t;
  auto err = IndexTemplate::parse(text, t);
  CAPTURE(text);
  if (err) FAIL("parse failed: " << err->message());
  return t.render(projects, script_name);
}

IndexTemplateError parse_error(std::string_view text) {
  IndexTemplate t;
  auto err = IndexTemplate::parse(text, t);
  CAPTURE(text);
  REQUIRE(err.has_value());
  return *err;
}

// The hrefs of render_project_index's page, in order.
std::vector<std::string> builtin_hrefs(const std::vector<ProjectSummary>& projects,
                                       std::string_view script_name) {
  std::string page = gw::render_project_index(projects, script_name);
  std::vector<std::string> out;
  size_t at = 0;
  const std::string marker = "<li><a href=\"";
  while ((at = page.find(marker, at)) != std::string::npos) {
    at += marker.size();
    size_t end = page.find('"', at);
    out.push_back(page.substr(at, end - at));
  }
  return out;
}

}  // namespace

TEST_CASE("index_template: text without tags passes through byte for byte") {
  for (std::string text : {std::string(""), std::string("plain"),
                           std::string("{ } }} %} {# comment #} ${x} <?php ?> {x{ %{"),
                           std::string("a\0b\r\n\xff{", 8), std::string("ends with {")}) {
    CHECK(render(text, kProjects, "/trac") == text);
    CHECK(render(text, {}, "") == text);
  }
}

TEST_CASE("index_template: values outside the loop") {
  CHECK(render("<p>{{ count }} at [{{ script_name }}]</p>", kProjects, "/trac") ==
        "<p>3 at [/trac]</p>");
  CHECK(render("{{count}}|{{script_name}}", {}, "") == "0|");
  // Spaces, tabs and newlines inside the braces are all the same.
  CHECK(render("{{\tcount \n}}", kProjects, "") == "3");
  // script_name is percent-encoded for use in a URL, then HTML-escaped.
  CHECK(render("{{ script_name }}", kProjects, "/my mount/a&b") == "/my%20mount/a%26b");
}

TEST_CASE("index_template: the loop renders each project in order") {
  const std::string text =
      "<ul>\n"
      "{% for project in projects %}<li><a href=\"{{ project.href }}\">{{ project.name }}</a> "
      "{{ project.description }}</li>\n"
      "{% endfor %}</ul>\n";
  SUBCASE("at a prefix, values escaped") {
    CHECK(render(text, kProjects, "/trac") ==
          "<ul>\n"
          "<li><a href=\"/trac/zeta/\">zeta</a> Last letter</li>\n"
          "<li><a href=\"/trac/a%26b%20%22q%22/\">a&amp;b &quot;q&quot;</a> "
          "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</li>\n"
          "<li><a href=\"/trac/x%2Fy/\">x/y</a> </li>\n"
          "</ul>\n");
  }
  SUBCASE("at the root") {
    CHECK(render("{% for p in projects %}{{ p.href }};{% endfor %}", kProjects, "") ==
          "/zeta/;/a%26b%20%22q%22/;/x%2Fy/;");
  }
  SUBCASE("no projects: the body never renders") {
    CHECK(render(text, {}, "/trac") == "<ul>\n</ul>\n");
  }
  SUBCASE("globals inside the loop, two loops") {
    CHECK(render("{% for p in projects %}{{ count }}{{ script_name }}{% endfor %}-"
                 "{%for q in projects%}{{q.name}}{%endfor%}",
                 {{"a", ""}, {"b", ""}}, "/s") == "2/s2/s-ab");
  }
}

TEST_CASE("index_template: hrefs are the built-in index page's links") {
  for (std::string_view script_name : {"", "/trac", "/my mount/x", "/%41&<"}) {
    CAPTURE(script_name);
    std::string out =
        render("{% for p in projects %}{{ p.href }}\n{% endfor %}", kProjects, script_name);
    std::vector<std::string> hrefs;
    size_t start = 0;
    for (size_t nl; (nl = out.find('\n', start)) != std::string::npos; start = nl + 1) {
      hrefs.push_back(out.substr(start, nl - start));
    }
    CHECK(hrefs == builtin_hrefs(kProjects, script_name));
  }
}

TEST_CASE("index_template: errors name their line") {
  struct Case {
    std::string text;
    size_t line;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"{{ nope }}", 1,
       "unknown value 'nope' (known: script_name, count, and in a for loop the project's "
       "name, href and description)"},
      {"a\nb\n{{ project.name }}", 3, "unknown value 'project.name' outside a for loop"},
      {"{% for p in projects %}\n{{ project.name }}{% endfor %}", 2,
       "unknown value 'project.name' (the loop variable is 'p')"},
      {"{% for p in projects %}{{ p.url }}{% endfor %}", 1,
       "unknown field 'url' (known: name, href, description)"},
      {"{% for p in projects %}{{ p }}{% endfor %}", 1,
       "{{ p }} needs a field: name, href or description"},
      {"x\n\n{{ count", 3, "'{{' is not closed by '}}'"},
      {"x\n{% for p in projects", 2, "'{%' is not closed by '%}'"},
      {"\n{% for p in projects %}\n\n", 2, "'{% for %}' is not closed by '{% endfor %}'"},
      {"{% endfor %}", 1, "'{% endfor %}' without a for loop"},
      {"{% for p in projects %}\n{% for q in projects %}{% endfor %}{% endfor %}", 2,
       "'{% for %}' inside another for loop"},
      {"{% for p in things %}{% endfor %}", 1,
       "expected '{% for NAME in projects %}', got 'for p in things'"},
      {"{% for 1p in projects %}{% endfor %}", 1,
       "expected '{% for NAME in projects %}', got 'for 1p in projects'"},
      {"{% for p in projects extra %}{% endfor %}", 1,
       "expected '{% for NAME in projects %}', got 'for p in projects extra'"},
      {"{% if x %}{% endif %}", 1,
       "unknown tag 'if x' (known: 'for NAME in projects' and 'endfor')"},
      {"{% %}", 1, "unknown tag '' (known: 'for NAME in projects' and 'endfor')"},
      {"{{ count|e }}", 1,
       "unknown value 'count|e' (known: script_name, count, and in a for loop the project's "
       "name, href and description)"},
      // A tag spanning lines is reported at its first line; lines after it count on.
      {"{{ count\n}}\n{{ x }}", 3,
       "unknown value 'x' (known: script_name, count, and in a for loop the project's name, "
       "href and description)"},
      // Control bytes of a bad tag are quoted escaped, and long ones cut.
      {"{{ a\x1b[2J }}", 1,
       "unknown value 'a\\x1b[2J' (known: script_name, count, and in a for loop the "
       "project's name, href and description)"},
      {"{% " + std::string(60, 'z') + " %}", 1,
       "unknown tag '" + std::string(40, 'z') +
           "'... (known: 'for NAME in projects' and 'endfor')"},
  };
  for (const auto& c : cases) {
    IndexTemplateError e = parse_error(c.text);
    CHECK(e.line == c.line);
    CHECK(e.why == c.why);
    CHECK(e.message() == "line " + std::to_string(c.line) + ": " + c.why);
  }
}

TEST_CASE("index_template: a failed parse leaves the target unchanged") {
  IndexTemplate t;
  REQUIRE_FALSE(IndexTemplate::parse("before {{ count }}", t).has_value());
  IndexTemplate copy = t;
  CHECK(IndexTemplate::parse("{{ broken", t).has_value());
  CHECK(t == copy);
  CHECK(t.render({}, "") == "before 0");
}

TEST_CASE("index_template: size bound") {
  std::string at_limit(gw::kIndexTemplateMaxBytes, 'x');
  IndexTemplate t;
  CHECK_FALSE(IndexTemplate::parse(at_limit, t).has_value());
  CHECK(t.render({}, "") == at_limit);
  IndexTemplateError e = parse_error(at_limit + "x");
  CHECK(e.line == 0);
  CHECK(e.message() == "larger than " + std::to_string(gw::kIndexTemplateMaxBytes) + " bytes");
}

TEST_CASE("index_template: load_index_template reads a file") {
  char dir_tmpl[] = "/tmp/gw-index-template-test-XXXXXX";
  REQUIRE(::mkdtemp(dir_tmpl) != nullptr);
  const std::string dir = dir_tmpl;
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name, std::ios::binary) << text;
    return dir + "/" + name;
  };
  IndexTemplate t;
  SUBCASE("good") {
    std::string path = write("good.html", "{% for p in projects %}[{{ p.name }}]{% endfor %}");
    REQUIRE_FALSE(gw::load_index_template(path, t).has_value());
    CHECK(t.render({{"a", ""}, {"<b>", ""}}, "") == "[a][&lt;b&gt;]");
  }
  SUBCASE("parse error: path and line") {
    std::string path = write("bad.html", "ok\n{% endfor %}");
    auto err = gw::load_index_template(path, t);
    REQUIRE(err.has_value());
    CHECK(*err == path + ": line 2: '{% endfor %}' without a for loop");
  }
  SUBCASE("missing") {
    auto err = gw::load_index_template(dir + "/missing.html", t);
    REQUIRE(err.has_value());
    CHECK(*err == dir + "/missing.html: cannot open: No such file or directory");
  }
  SUBCASE("a directory") {
    auto err = gw::load_index_template(dir, t);
    REQUIRE(err.has_value());
    CHECK(*err == dir + ": not a regular file");
  }
  SUBCASE("too large") {
    std::string path = write("big.html", std::string(gw::kIndexTemplateMaxBytes + 1, 'x'));
    auto err = gw::load_index_template(path, t);
    REQUIRE(err.has_value());
    CHECK(*err == path + ": larger than " + std::to_string(gw::kIndexTemplateMaxBytes) + " bytes");
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}
