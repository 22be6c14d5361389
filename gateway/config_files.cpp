// project.json "static" (mounts served before the backend) and "sendfile"
// (what to do with X-Sendfile / X-Accel-Redirect answers).
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>

#include "gateway/config_project_parts.h"
#include "protocols/path.h"

namespace gw {

namespace {

using config_json::errno_text;
using config_json::Json;
using config_json::Obj;
using config_json::resolve_from;
namespace fs = std::filesystem;

// A URL prefix as written ("/chrome/common", "/chrome/common/") to its
// normal form, or why it is refused. Segments "." and ".." and empty ones
// are refused rather than resolved: a prefix is matched against clean
// paths, and one that only matches after rewriting is a mistake.
std::optional<std::string> normal_prefix(std::string_view p, std::string& out) {
  if (!p.starts_with('/')) return std::string("must start with '/'");
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  if (p == "/") return std::string("must not be \"/\" (that would hide the whole project)");
  if (p.find('\0') != std::string_view::npos || p.find('\\') != std::string_view::npos) {
    return std::string("must not hold a NUL or a backslash");
  }
  size_t i = 1;
  while (i <= p.size()) {
    size_t slash = p.find('/', i);
    if (slash == std::string_view::npos) slash = p.size();
    std::string_view seg = p.substr(i, slash - i);
    if (seg.empty() || seg == "." || seg == "..") {
      return std::string("must not have empty, \".\" or \"..\" segments");
    }
    i = slash + 1;
  }
  out = std::string(p);
  return std::nullopt;
}

// A directory from project.json: resolved against the project directory,
// then made canonical; it must exist.
std::optional<std::string> existing_dir(const std::string& project_dir, const std::string& given,
                                        std::string& out) {
  std::string path = resolve_from(project_dir, given);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "cannot use '" + path + "': " + errno_text(errno);
  if (!S_ISDIR(st.st_mode)) return "'" + path + "' is not a directory";
  std::error_code ec;
  fs::path canonical = fs::canonical(path, ec);
  if (ec) return "cannot resolve '" + path + "': " + ec.message();
  out = canonical.string();
  return std::nullopt;
}

// A directory only named to a front end (pass mode), which may read a file
// system we cannot see: absolute and normalised, never looked at.
std::optional<std::string> named_dir(const std::string& project_dir, const std::string& given,
                                     std::string& out) {
  auto normalized = normalize_path(resolve_from(project_dir, given));
  if (!normalized) return "'" + given + "' is not a usable directory path";
  std::string_view d = *normalized;
  while (d.size() > 1 && d.back() == '/') d.remove_suffix(1);
  out = std::string(d);
  return std::nullopt;
}

const std::string* string_value(const Json& j) {
  return j.is_string() && !j.get_ref<const std::string&>().empty()
             ? &j.get_ref<const std::string&>()
             : nullptr;
}

// {"/prefix": "dir", ...} into (prefix, dir) pairs, prefixes normalised and
// unique.
template <typename Entry>
std::optional<ConfigError> read_prefix_table(const Obj& o, std::string_view key,
                                             const std::string& project_dir, bool must_exist,
                                             std::vector<Entry>& out) {
  const Json* j = o.find(key);
  if (!j) return std::nullopt;
  if (!j->is_object()) {
    return o.error(key, "must be an object of \"/url/prefix\": \"directory\" strings");
  }
  const std::string where = std::string(key);
  for (const auto& [given_prefix, value] : j->items()) {
    const std::string entry = where + "." + given_prefix;
    Entry e;
    if (auto why = normal_prefix(given_prefix, e.prefix)) return o.error(entry, *why);
    const std::string* dir = string_value(value);
    if (!dir) return o.error(entry, "must be a directory name (a non-empty string)");
    auto why =
        must_exist ? existing_dir(project_dir, *dir, e.dir) : named_dir(project_dir, *dir, e.dir);
    if (why) return o.error(entry, *why);
    for (const auto& other : out) {
      if (other.prefix == e.prefix) return o.error(entry, "repeats the prefix " + e.prefix);
    }
    out.push_back(std::move(e));
  }
  return std::nullopt;
}

std::optional<ConfigError> read_mode(const Obj& o, SendfileOptions& out) {
  const std::string modes = "\"serve\", \"pass\" or \"off\"";
  const Json* j = o.find("mode");
  if (!j) return o.error("mode", "is required (" + modes + ")");
  const std::string* mode = string_value(*j);
  if (mode && *mode == "serve") {
    out.mode = SendfileOptions::Mode::Serve;
  } else if (mode && *mode == "pass") {
    out.mode = SendfileOptions::Mode::Pass;
  } else if (mode && *mode == "off") {
    out.mode = SendfileOptions::Mode::Off;
  } else {
    return o.error("mode", "must be " + modes);
  }
  return std::nullopt;
}

std::optional<ConfigError> read_pass_as(const Obj& o, SendfileOptions& out) {
  using Form = SendfileOptions::Form;
  const std::string forms =
      "\"X-Accel-Redirect\" (nginx), \"X-Sendfile\" (lighttpd, Apache "
      "mod_xsendfile) or \"X-LIGHTTPD-send-file\"";
  const Json* j = o.find("pass_as");
  if (!j) {
    if (out.mode == SendfileOptions::Mode::Pass) return o.error("pass_as", "is required: " + forms);
    return std::nullopt;
  }
  if (out.mode == SendfileOptions::Mode::Serve) {
    return o.error("pass_as", "is only for \"mode\": \"pass\"");
  }
  const std::string* form = string_value(*j);
  if (form && *form == "X-Accel-Redirect") {
    out.pass_as = Form::XAccelRedirect;
  } else if (form && *form == "X-Sendfile") {
    out.pass_as = Form::XSendfile;
  } else if (form && *form == "X-LIGHTTPD-send-file") {
    out.pass_as = Form::XLighttpdSendFile;
  } else {
    return o.error("pass_as", "must be " + forms);
  }
  return std::nullopt;
}

}  // namespace

std::optional<ConfigError> read_static_mounts(const Obj& top, const std::string& dir,
                                              std::vector<StaticMount>& out) {
  std::vector<StaticMount> mounts;
  if (auto e = read_prefix_table(top, "static", dir, /*must_exist=*/true, mounts)) return e;
  out = std::move(mounts);
  return std::nullopt;
}

std::optional<ConfigError> read_sendfile(const Obj& top, const std::string& dir,
                                         SendfileOptions& out) {
  const Json* j = top.find("sendfile");
  if (!j) return std::nullopt;
  if (auto e = config_json::as_object(*j, top.file(), top.child_path("sendfile"))) return e;
  Obj o(*j, top.file(), top.child_path("sendfile"));
  if (auto e = o.only({"mode", "dirs", "locations", "pass_as"})) return e;
  SendfileOptions s;
  if (auto e = read_mode(o, s)) return e;
  // Serve reads the files itself: its directories must exist here. Pass
  // (and off) only name them to the front end.
  const bool serve = s.mode == SendfileOptions::Mode::Serve;
  if (const Json* dirs = o.find("dirs")) {
    if (!dirs->is_array()) return o.error("dirs", "must be an array of directory names");
    for (size_t i = 0; i < dirs->size(); ++i) {
      const std::string key = "dirs[" + std::to_string(i) + "]";
      const std::string* given = string_value((*dirs)[i]);
      if (!given) return o.error(key, "must be a directory name (a non-empty string)");
      std::string d;
      auto why = serve ? existing_dir(dir, *given, d) : named_dir(dir, *given, d);
      if (why) return o.error(key, *why);
      s.dirs.push_back(std::move(d));
    }
  }
  if (auto e = read_prefix_table(o, "locations", dir, serve, s.locations)) return e;
  if (auto e = read_pass_as(o, s)) return e;
  if (serve && s.dirs.empty() && s.locations.empty()) {
    return o.error("dirs",
                   "is required with \"mode\": \"serve\" (or \"locations\"): "
                   "files are only served from directories named here");
  }
  out = std::move(s);
  return std::nullopt;
}

}  // namespace gw
