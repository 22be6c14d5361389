#include "dispatch/index_template.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "protocols/cgi_params.h"
#include "protocols/path.h"

namespace gw {

namespace {

using Piece = IndexTemplate::Piece;
using Value = IndexTemplate::Value;

constexpr size_t kQuoteMax = 40;  // bytes of a bad tag quoted in an error

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool is_identifier(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0)) return false;
  }
  return true;
}

// A tag's inside for an error message: control bytes as \xNN, cut short.
std::string quote(std::string_view s) {
  return quote_for_log(s, kQuoteMax);
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    size_t start = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  std::optional<IndexTemplateError> run(std::vector<Piece>& out) {
    if (text_.size() > kIndexTemplateMaxBytes) {
      return IndexTemplateError{0,
                                "larger than " + std::to_string(kIndexTemplateMaxBytes) + " bytes"};
    }
    size_t pos = 0;
    while (pos < text_.size()) {
      size_t open = next_tag(pos);
      add_text(text_.substr(pos, open - pos));
      if (open == text_.size()) break;
      line_ += count_lines(pos, open);
      bool is_value = text_[open + 1] == '{';
      std::string_view closer = is_value ? "}}" : "%}";
      size_t close = text_.find(closer, open + 2);
      if (close == std::string_view::npos) {
        return error(std::string("'") + (is_value ? "{{" : "{%") + "' is not closed by '" +
                     std::string(closer) + "'");
      }
      std::string_view inside = trim(text_.substr(open + 2, close - open - 2));
      auto err = is_value ? value_tag(inside) : block_tag(inside);
      if (err) return err;
      line_ += count_lines(open, close);
      pos = close + 2;
    }
    if (loop_) {
      return IndexTemplateError{loop_line_, "'{% for %}' is not closed by '{% endfor %}'"};
    }
    out = std::move(pieces_);
    return std::nullopt;
  }

 private:
  // The offset of the next "{{" or "{%" at or after `from`, or the end.
  size_t next_tag(size_t from) const {
    for (size_t i = from; i + 1 < text_.size(); ++i) {
      if (text_[i] == '{' && (text_[i + 1] == '{' || text_[i + 1] == '%')) return i;
    }
    return text_.size();
  }

  size_t count_lines(size_t from, size_t to) const {
    size_t n = 0;
    for (size_t i = from; i < to; ++i) n += text_[i] == '\n';
    return n;
  }

  std::vector<Piece>& target() { return loop_ ? pieces_.back().body : pieces_; }

  void add_text(std::string_view s) {
    if (s.empty()) return;
    auto& into = target();
    if (!into.empty() && into.back().kind == Piece::Kind::Text) {
      into.back().text.append(s);
      return;
    }
    Piece p;
    p.text = std::string(s);
    into.push_back(std::move(p));
  }

  void add_value(Value v) {
    Piece p;
    p.kind = Piece::Kind::Value;
    p.value = v;
    target().push_back(std::move(p));
  }

  IndexTemplateError error(std::string why) const { return IndexTemplateError{line_, why}; }

  std::optional<IndexTemplateError> value_tag(std::string_view inside) {
    size_t dot = inside.find('.');
    if (dot == std::string_view::npos) {
      if (inside == "script_name") {
        add_value(Value::ScriptName);
      } else if (inside == "count") {
        add_value(Value::Count);
      } else if (loop_ && inside == loop_var_) {
        return error("{{ " + loop_var_ + " }} needs a field: name, href or description");
      } else {
        return error("unknown value " + quote(inside) +
                     " (known: script_name, count, and in a for loop the project's name, "
                     "href and description)");
      }
      return std::nullopt;
    }
    std::string_view head = inside.substr(0, dot);
    std::string_view field = inside.substr(dot + 1);
    if (!loop_ || head != loop_var_) {
      return error("unknown value " + quote(inside) +
                   (loop_ ? " (the loop variable is '" + loop_var_ + "')"
                          : std::string(" outside a for loop")));
    }
    if (field == "name") {
      add_value(Value::Name);
    } else if (field == "href") {
      add_value(Value::Href);
    } else if (field == "description") {
      add_value(Value::Description);
    } else {
      return error("unknown field " + quote(field) + " (known: name, href, description)");
    }
    return std::nullopt;
  }

  std::optional<IndexTemplateError> block_tag(std::string_view inside) {
    std::vector<std::string_view> w = words(inside);
    if (!w.empty() && w[0] == "for") {
      if (loop_) return error("'{% for %}' inside another for loop");
      if (w.size() != 4 || w[2] != "in" || w[3] != "projects" || !is_identifier(w[1])) {
        return error("expected '{% for NAME in projects %}', got " + quote(inside));
      }
      Piece p;
      p.kind = Piece::Kind::Loop;
      pieces_.push_back(std::move(p));
      loop_ = true;
      loop_var_ = std::string(w[1]);
      loop_line_ = line_;
      return std::nullopt;
    }
    if (w.size() == 1 && w[0] == "endfor") {
      if (!loop_) return error("'{% endfor %}' without a for loop");
      loop_ = false;
      return std::nullopt;
    }
    return error("unknown tag " + quote(inside) + " (known: 'for NAME in projects' and 'endfor')");
  }

  std::string_view text_;
  std::vector<Piece> pieces_;
  size_t line_ = 1;
  bool loop_ = false;
  std::string loop_var_;
  size_t loop_line_ = 0;
};

void render_piece(const Piece& p, const ProjectSummary* project, const std::string& base,
                  size_t count, std::string& out) {
  switch (p.kind) {
    case Piece::Kind::Text:
      out += p.text;
      return;
    case Piece::Kind::Loop:
      return;  // handled by the caller
    case Piece::Kind::Value:
      break;
  }
  switch (p.value) {
    case Value::ScriptName:
      out += html_escape(base);
      return;
    case Value::Count:
      out += std::to_string(count);
      return;
    case Value::Name:
      if (project) out += html_escape(project->name);
      return;
    case Value::Href:
      if (project) out += html_escape(project_link(base, project->name));
      return;
    case Value::Description:
      if (project) out += html_escape(project->description);
      return;
  }
}

std::string errno_text(int e) {
  return std::strerror(e);
}

}  // namespace

std::string IndexTemplateError::message() const {
  if (line == 0) return why;
  return "line " + std::to_string(line) + ": " + why;
}

std::optional<IndexTemplateError> IndexTemplate::parse(std::string_view text, IndexTemplate& out) {
  std::vector<Piece> pieces;
  if (auto err = Parser(text).run(pieces)) return err;
  out.pieces_ = std::move(pieces);
  return std::nullopt;
}

std::string IndexTemplate::render(const std::vector<ProjectSummary>& projects,
                                  std::string_view script_name) const {
  const std::string base = percent_encode_path(script_name);
  std::string out;
  for (const Piece& p : pieces_) {
    if (p.kind != Piece::Kind::Loop) {
      render_piece(p, nullptr, base, projects.size(), out);
      continue;
    }
    for (const ProjectSummary& project : projects) {
      for (const Piece& q : p.body) render_piece(q, &project, base, projects.size(), out);
    }
  }
  return out;
}

std::optional<std::string> load_index_template(const std::string& path, IndexTemplate& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return path + ": cannot open: " + errno_text(errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return path + ": not a regular file";
  }
  // One byte more than allowed tells a file at the limit from a larger one,
  // whatever fstat said (the file may be growing).
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return path + ": cannot read: " + errno_text(e);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kIndexTemplateMaxBytes) break;
  }
  ::close(fd);
  if (auto err = IndexTemplate::parse(text, out)) return path + ": " + err->message();
  return std::nullopt;
}

}  // namespace gw
