// The project index page rendered from an admin's template file
// (--index-template, TRAC_ENV_INDEX_TEMPLATE).
//
// The template language reads like Jinja (and Trac's own index template),
// but only these tags mean something; every other byte is copied as is:
//   {{ script_name }}    where the projects are mounted, percent-encoded ("" at the root)
//   {{ count }}          how many projects there are
//   {% for project in projects %} ... {% endfor %}
//                        the body once per project, in the index's order; the
//                        loop variable may have any name; loops do not nest
//   {{ project.name }}   inside the loop: the project's name
//   {{ project.href }}   script_name + "/" + name + "/", percent-encoded
//   {{ project.description }}
// Spaces inside the braces are optional. Every value is HTML-escaped, so it
// is safe in text and in quoted attributes. Any other {{ ... }} or {% ... %}
// is a parse error naming its line, as is a tag left open. There is no way
// to write a literal "{{" or "{%" (no raw blocks, no comments, no filters).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dispatch/router.h"

namespace gw {

// Larger templates are refused: the file is read whole into memory and
// its loop body is copied once per project.
constexpr size_t kIndexTemplateMaxBytes = 256 * 1024;

struct IndexTemplateError {
  size_t line = 0;  // 1-based; 0 when the error is not about one line (size)
  std::string why;
  // "line N: why", or just `why` when line is 0.
  std::string message() const;
};

class IndexTemplate {
 public:
  // Parses `text` into `out` (left unchanged on error).
  static std::optional<IndexTemplateError> parse(std::string_view text, IndexTemplate& out);

  // The page for `projects` with links below `script_name` (decoded, as the
  // router gives it: "" or "/a/b").
  std::string render(const std::vector<ProjectSummary>& projects,
                     std::string_view script_name) const;

  bool operator==(const IndexTemplate&) const = default;

  // What the parser produced; public so that the comparison above and tests
  // can see it, but built only by parse().
  enum class Value { ScriptName, Count, Name, Href, Description };
  struct Piece {
    enum class Kind { Text, Value, Loop } kind = Kind::Text;
    std::string text;         // Text
    Value value{};            // Value
    std::vector<Piece> body;  // Loop: Text and Value pieces only
    bool operator==(const Piece&) const = default;
  };
  const std::vector<Piece>& pieces() const { return pieces_; }

 private:
  std::vector<Piece> pieces_;
};

// Reads and parses the template file at `path` (at most
// kIndexTemplateMaxBytes). On failure returns "PATH: why" or
// "PATH: line N: why".
std::optional<std::string> load_index_template(const std::string& path, IndexTemplate& out);

}  // namespace gw
