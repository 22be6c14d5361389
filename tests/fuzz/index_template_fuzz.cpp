// Fuzz target for the index template (IndexTemplate::parse and render).
// Input: the template text. Invariants: an error names a line that exists
// (line 0 only for the size bound); text without "{{" or "{%" parses and
// renders to itself; parsing is deterministic; a parsed template renders
// with no project and with projects whose names and descriptions hold HTML
// metacharacters next to a marker byte, and a marker from a value never
// appears next to an unescaped metacharacter; the output stays within a
// bound proportional to the input and the project count.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "dispatch/index_template.h"
#include "dispatch/router.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

constexpr char kMark = '\x02';

// Every marker byte the values brought in must sit between escaped
// characters: "<\x02" or "\x02\"" would mean a value was copied raw.
void check_escaped(const std::string& out) {
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] != kMark) continue;
    if (i > 0) check(out[i - 1] != '<' && out[i - 1] != '&');
    if (i + 1 < out.size()) {
      char next = out[i + 1];
      check(next != '>' && next != '"' && next != '\'');
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  gw::IndexTemplate t;
  auto err = gw::IndexTemplate::parse(text, t);
  const bool has_tags =
      text.find("{{") != std::string_view::npos || text.find("{%") != std::string_view::npos;
  if (err) {
    size_t lines = 1;
    for (char c : text) lines += c == '\n';
    if (size > gw::kIndexTemplateMaxBytes) {
      check(err->line == 0);
    } else {
      check(has_tags);
      check(err->line >= 1 && err->line <= lines);
    }
    check(!err->why.empty());
    return 0;
  }

  gw::IndexTemplate again;
  check(!gw::IndexTemplate::parse(text, again).has_value());
  check(again == t);

  const std::vector<gw::ProjectSummary> projects = {
      {std::string("a<") + kMark + ">", std::string("d&") + kMark + "\"'"},
      {std::string("b/") + kMark + "'", ""},
      {"plain", std::string(">") + kMark + "<"},
  };
  std::string none = t.render({}, "");
  std::string some = t.render(projects, std::string("/m <") + kMark + ">");
  if (!has_tags) {
    check(none == text);
    check(some == text);
  }
  if (text.find(kMark) == std::string_view::npos) check_escaped(some);
  // Each tag is at least 9 bytes ("{{count}}") and renders to at most a
  // few dozen; the loop body repeats once per project.
  check(some.size() <= (size + 1) * (projects.size() + 1) * 8);
  check(none.size() <= size + 1);
  return 0;
}
