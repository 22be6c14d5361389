#include "dispatch/router.h"

#include <utility>

#include "protocols/path.h"

namespace gw {

namespace {

constexpr size_t kLogMax = 200;  // bytes of a request path echoed into `why`

// Request bytes for the error log: control bytes, '"' and '\' as \xNN, cut
// at kLogMax, so a decoded "%0A" cannot start a forged log line.
std::string printable(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < kLogMax; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out += s.size() > kLogMax ? "\"..." : "\"";
  return out;
}

Route refuse(RouteKind kind, std::string why) {
  Route r;
  r.kind = kind;
  r.why = std::move(why);
  return r;
}

// --base-path as tracd takes it: surrounding slashes ignored, "" is the root.
std::string mount_prefix(std::string_view base) {
  while (base.starts_with('/')) base.remove_prefix(1);
  while (base.ends_with('/')) base.remove_suffix(1);
  return base.empty() ? std::string() : "/" + std::string(base);
}

// `path` is `prefix` or lies below it at a segment boundary: "/trac" holds
// "/trac" and "/trac/x", not "/tracker".
bool is_below(std::string_view path, std::string_view prefix) {
  return path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

// "" or "/seg/seg": every segment non-empty and neither "." nor "..", no NUL
// or backslash anywhere (a backslash is a separator to some backends and
// file systems). A final '/' ("/a/", "/") only when `trailing_slash`.
bool is_clean_path(std::string_view p, bool trailing_slash) {
  if (p.empty()) return true;
  if (p.front() != '/') return false;
  if (p.find('\0') != std::string_view::npos || p.find('\\') != std::string_view::npos) {
    return false;
  }
  size_t i = 1;
  for (;;) {
    size_t slash = p.find('/', i);
    std::string_view seg = p.substr(i, slash == std::string_view::npos ? p.size() - i : slash - i);
    if (seg == "." || seg == "..") return false;
    if (slash == std::string_view::npos) return !seg.empty() || trailing_slash;
    if (seg.empty()) return false;
    i = slash + 1;
  }
}

// Splits "/name/rest" into "name" and "/rest" ("" when nothing follows).
std::pair<std::string_view, std::string_view> first_segment(std::string_view path_info) {
  std::string_view below_root = path_info.substr(1);
  size_t slash = below_root.find('/');
  if (slash == std::string_view::npos) return {below_root, std::string_view()};
  return {below_root.substr(0, slash), below_root.substr(slash)};
}

Route route_parent_dir(std::string script_name, std::string_view path_info,
                       const std::vector<std::string>& names) {
  if (path_info.empty() || path_info == "/") {
    Route r;
    r.kind = RouteKind::Index;
    r.script_name = std::move(script_name);
    r.path_info = std::string(path_info);
    return r;
  }
  auto [name, rest] = first_segment(path_info);
  if (name.starts_with('.')) {
    return refuse(RouteKind::BadRequest, "hidden project name " + printable(name));
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] != name) continue;
    Route r;
    r.kind = RouteKind::Project;
    r.project = i;
    r.script_name = script_name + "/" + std::string(name);
    r.path_info = std::string(rest);
    return r;
  }
  return refuse(RouteKind::NotFound, "no project named " + printable(name));
}

}  // namespace

Route route_request(const Request& req, const std::vector<std::string>& names, bool single,
                    const std::optional<std::string>& base_path) {
  std::string script_name;
  std::string path_info;
  if (base_path) {
    std::string prefix = mount_prefix(*base_path);
    std::string path = req.path.empty() ? req.script_name + req.path_info : req.path;
    if (!is_below(path, prefix)) {
      return refuse(RouteKind::NotFound,
                    "path " + printable(path) + " is outside the base path " + printable(prefix));
    }
    script_name = prefix;
    path_info = path.substr(prefix.size());
  } else {
    script_name = req.script_name;
    path_info = req.path_info;
  }
  if (!is_clean_path(script_name, false)) {
    return refuse(RouteKind::BadRequest, "SCRIPT_NAME not normalised: " + printable(script_name));
  }
  if (!is_clean_path(path_info, true)) {
    return refuse(RouteKind::BadRequest, "PATH_INFO not normalised: " + printable(path_info));
  }
  if (!single) return route_parent_dir(std::move(script_name), path_info, names);
  Route r;
  r.kind = RouteKind::Project;
  r.project = 0;
  r.script_name = std::move(script_name);
  r.path_info = std::move(path_info);
  return r;
}

std::string project_link(std::string_view encoded_base, std::string_view name) {
  // The name is one segment: a '/' in it is encoded too.
  std::string out(encoded_base);
  out.push_back('/');
  for (char c : percent_encode_path(name)) {
    if (c == '/') {
      out += "%2F";
    } else {
      out.push_back(c);
    }
  }
  out.push_back('/');
  return out;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string render_project_index(const std::vector<ProjectSummary>& projects,
                                 std::string_view script_name) {
  std::string page =
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
  if (projects.empty()) {
    page += "<p>No projects are available.</p>\n";
  } else {
    std::string base = percent_encode_path(script_name);
    page += "<ul>\n";
    for (const auto& p : projects) {
      std::string href = project_link(base, p.name);
      page += "<li><a href=\"" + html_escape(href) + "\">" + html_escape(p.name) + "</a>";
      if (!p.description.empty()) {
        page += " <span class=\"description\">" + html_escape(p.description) + "</span>";
      }
      page += "</li>\n";
    }
    page += "</ul>\n";
  }
  page += "</body>\n</html>\n";
  return page;
}

}  // namespace gw
