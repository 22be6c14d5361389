// project.json: a project's description and backend, and the discovery of
// projects under a parent directory. Strict like the --config file; no
// exception leaves this file.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "gateway/config.h"
#include "gateway/config_json.h"
#include "gateway/config_project_parts.h"

namespace gw {

namespace {

using config_json::as_object;
using config_json::errno_text;
using config_json::Json;
using config_json::load_json_file;
using config_json::Obj;
using config_json::resolve_from;
using config_json::strip_trailing_slashes;
namespace fs = std::filesystem;

std::optional<std::string> check_upstream(std::string_view u) {
  const std::string forms = "must be \"host:port\", \"[v6addr]:port\" or \"unix:/path\"";
  if (u.substr(0, 5) == "unix:") {
    std::string_view path = u.substr(5);
    if (path.empty() || path[0] != '/') return "unix: needs an absolute path";
    return check_unix_path(path);
  }
  std::string_view port_text;
  if (!u.empty() && u[0] == '[') {
    size_t close = u.find(']');
    if (close == std::string_view::npos || close == 1 || u.substr(close + 1, 1) != ":") {
      return forms;
    }
    port_text = u.substr(close + 2);
  } else {
    size_t colon = u.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return forms;
    if (u.substr(0, colon).find(':') != std::string_view::npos) {
      return std::string("an IPv6 address must be in brackets: \"[v6addr]:port\"");
    }
    port_text = u.substr(colon + 1);
  }
  uint16_t port = 0;
  return parse_port(port_text, port);
}

std::optional<ConfigError> read_static_backend(const Obj& o, const std::string& dir,
                                               BackendConfig& b) {
  if (auto e = o.only({"type", "root", "index"})) return e;
  std::string root = "htdocs";
  if (auto e = o.get_string("root", root)) return e;
  root = resolve_from(dir, root);
  struct stat st {};
  if (::stat(root.c_str(), &st) != 0) {
    return o.error("root", "cannot use '" + root + "': " + errno_text(errno));
  }
  if (!S_ISDIR(st.st_mode)) return o.error("root", "'" + root + "' is not a directory");
  std::error_code ec;
  fs::path canonical = fs::canonical(root, ec);
  if (ec) return o.error("root", "cannot resolve '" + root + "': " + ec.message());
  b.root = canonical.string();
  if (const Json* index = o.find("index")) {
    if (!index->is_array()) return o.error("index", "must be an array of file names");
    b.index.clear();
    for (size_t i = 0; i < index->size(); ++i) {
      const Json& name = (*index)[i];
      // Both branches must be views: a ternary of std::string and "" would
      // build a temporary string and leave `s` dangling.
      std::string_view s = name.is_string() ? std::string_view(name.get_ref<const std::string&>())
                                            : std::string_view();
      // Index names are joined to a directory: a '/' or ".." would reach
      // outside it.
      if (s.empty() || s == "." || s == ".." || s.find('/') != std::string_view::npos) {
        return o.error("index[" + std::to_string(i) + "]", "must be a file name (no '/')");
      }
      b.index.emplace_back(s);
    }
  }
  return std::nullopt;
}

// "upstream": required, unless gatewayd spawns the app ("spawn"), which
// gives every instance its own address.
std::optional<ConfigError> read_upstream_address(const Obj& o, bool spawned, BackendConfig& b) {
  if (spawned) {
    if (o.find("upstream")) {
      return o.error("upstream",
                     "must not be set with \"spawn\": gatewayd gives each app "
                     "instance its own address");
    }
    return std::nullopt;
  }
  if (!o.find("upstream")) return o.error("upstream", "is required");
  if (auto e = o.get_string("upstream", b.upstream)) return e;
  if (auto why = check_upstream(b.upstream)) return o.error("upstream", *why);
  return std::nullopt;
}

std::optional<ConfigError> read_http_backend(const Obj& o, bool spawned, BackendConfig& b) {
  if (auto e = o.only({"type", "upstream", "connect_timeout_ms", "timeout_ms", "keepalive"})) {
    return e;
  }
  if (auto e = read_upstream_address(o, spawned, b)) return e;
  uint64_t connect = b.connect_timeout_ms, timeout = b.timeout_ms, keepalive = b.keepalive;
  if (auto e = o.get_uint("connect_timeout_ms", 1, 600000, connect)) return e;
  if (auto e = o.get_uint("timeout_ms", 1, 86400000, timeout)) return e;
  if (auto e = o.get_uint("keepalive", 0, 65535, keepalive)) return e;
  b.connect_timeout_ms = static_cast<uint32_t>(connect);
  b.timeout_ms = static_cast<uint32_t>(timeout);
  b.keepalive = static_cast<uint32_t>(keepalive);
  return std::nullopt;
}

// {"NAME": "value", ...}: CGI variables or environment entries.
std::optional<ConfigError> read_variables(const Obj& o, std::string_view key,
                                          std::vector<Header>& out) {
  const Json* j = o.find(key);
  if (!j) return std::nullopt;
  if (!j->is_object()) return o.error(key, "must be an object of \"NAME\": \"value\" strings");
  for (const auto& [name, value] : j->items()) {
    if (!value.is_string()) return o.error(std::string(key) + "." + name, "must be a string");
    if (name.empty() || name.find_first_of("=\0") != std::string::npos) {
      return o.error(key, "'" + name + "' is not a variable name");
    }
    out.push_back(Header{name, value.get<std::string>()});
  }
  return std::nullopt;
}

std::optional<ConfigError> read_upstream(const Obj& o, bool spawned, BackendConfig& b) {
  if (auto e = read_upstream_address(o, spawned, b)) return e;
  uint64_t connect = b.connect_timeout_ms, timeout = b.timeout_ms;
  if (auto e = o.get_uint("connect_timeout_ms", 1, 600000, connect)) return e;
  if (auto e = o.get_uint("timeout_ms", 1, 86400000, timeout)) return e;
  b.connect_timeout_ms = static_cast<uint32_t>(connect);
  b.timeout_ms = static_cast<uint32_t>(timeout);
  return std::nullopt;
}

std::optional<ConfigError> read_fastcgi_backend(const Obj& o, const std::string& dir, bool spawned,
                                                BackendConfig& b) {
  if (auto e = o.only({"type", "upstream", "connect_timeout_ms", "timeout_ms", "keepalive",
                       "max_conns", "document_root", "script_filename", "params"})) {
    return e;
  }
  if (auto e = read_upstream(o, spawned, b)) return e;
  uint64_t keepalive = b.keepalive, max_conns = b.max_conns;
  if (auto e = o.get_uint("keepalive", 0, 65535, keepalive)) return e;
  if (auto e = o.get_uint("max_conns", 0, 65535, max_conns)) return e;
  b.keepalive = static_cast<uint32_t>(keepalive);
  b.max_conns = static_cast<uint32_t>(max_conns);
  if (auto e = o.get_string("document_root", b.document_root)) return e;
  if (auto e = o.get_string("script_filename", b.script_filename)) return e;
  if (!b.document_root.empty()) b.document_root = resolve_from(dir, b.document_root);
  if (!b.script_filename.empty()) b.script_filename = resolve_from(dir, b.script_filename);
  return read_variables(o, "params", b.params);
}

std::optional<ConfigError> read_scgi_backend(const Obj& o, bool spawned, BackendConfig& b) {
  if (auto e = o.only({"type", "upstream", "connect_timeout_ms", "timeout_ms", "params"})) {
    return e;
  }
  if (auto e = read_upstream(o, spawned, b)) return e;
  return read_variables(o, "params", b.params);
}

std::optional<ConfigError> read_cgi_backend(const Obj& o, const std::string& dir,
                                            BackendConfig& b) {
  if (auto e = o.only({"type", "script", "timeout_ms", "env", "max_processes"})) return e;
  if (!o.find("script")) return o.error("script", "is required");
  if (auto e = o.get_string("script", b.script)) return e;
  b.script = resolve_from(dir, b.script);
  if (::access(b.script.c_str(), X_OK) != 0) {
    return o.error("script", "cannot run '" + b.script + "': " + errno_text(errno));
  }
  uint64_t timeout = b.timeout_ms, max_processes = b.max_processes;
  if (auto e = o.get_uint("timeout_ms", 1, 86400000, timeout)) return e;
  if (auto e = o.get_uint("max_processes", 1, 65535, max_processes)) return e;
  b.timeout_ms = static_cast<uint32_t>(timeout);
  b.max_processes = static_cast<uint32_t>(max_processes);
  return read_variables(o, "env", b.env);
}

std::optional<ConfigError> read_backend(const Obj& top, const std::string& dir, BackendConfig& b) {
  const Json* j = top.find("backend");
  if (!j) return top.error("backend", "is required");
  if (auto e = as_object(*j, top.file(), "backend")) return e;
  Obj o(*j, top.file(), "backend");
  const std::string types = "static, echo, http, fastcgi, scgi, cgi";
  if (!o.find("type")) return o.error("type", "is required (one of " + types + ")");
  const Json* type = o.find("type");
  if (!type->is_string()) return o.error("type", "must be one of " + types);
  b.type = type->get<std::string>();
  const bool spawned = top.find("spawn") != nullptr;
  if (spawned && b.type != "http" && b.type != "fastcgi" && b.type != "scgi") {
    return top.error("spawn", "needs a backend of type http, fastcgi or scgi");
  }
  if (b.type == "static") return read_static_backend(o, dir, b);
  if (b.type == "http") return read_http_backend(o, spawned, b);
  if (b.type == "fastcgi") return read_fastcgi_backend(o, dir, spawned, b);
  if (b.type == "scgi") return read_scgi_backend(o, spawned, b);
  if (b.type == "cgi") return read_cgi_backend(o, dir, b);
  if (b.type == "echo") return o.only({"type"});
  return o.error("type", "must be one of " + types);
}

// "buffer_body": true (the defaults) or {"memory_bytes": N, "temp_dir": DIR}.
std::optional<ConfigError> read_body_buffer(const Obj& top, const std::string& dir,
                                            std::optional<BodyBufferOptions>& out) {
  const Json* j = top.find("buffer_body");
  if (!j) return std::nullopt;
  if (j->is_boolean()) {
    if (j->get<bool>()) out.emplace();
    return std::nullopt;
  }
  if (!j->is_object()) {
    return top.error("buffer_body", "must be true, false or {\"memory_bytes\", \"temp_dir\"}");
  }
  Obj o(*j, top.file(), "buffer_body");
  if (auto e = o.only({"memory_bytes", "temp_dir"})) return e;
  BodyBufferOptions options;
  uint64_t memory = options.memory_bytes;
  if (auto e = o.get_uint("memory_bytes", 0, uint64_t{1} << 30, memory)) return e;
  options.memory_bytes = static_cast<size_t>(memory);
  if (auto e = o.get_string("temp_dir", options.temp_dir)) return e;
  options.temp_dir = resolve_from(dir, options.temp_dir);
  struct stat st {};
  if (::stat(options.temp_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return o.error("temp_dir", "'" + options.temp_dir + "' is not a directory");
  }
  out = std::move(options);
  return std::nullopt;
}

std::optional<ConfigError> load_project_unguarded(const std::string& given_dir,
                                                  ProjectConfig& out) {
  const std::string dir = strip_trailing_slashes(given_dir);
  const std::string file = (dir == "/" ? "" : dir) + "/project.json";
  Json json;
  if (auto why = load_json_file(file, json)) return ConfigError{file, *why};
  std::error_code ec;
  fs::path abs = fs::canonical(dir, ec);
  if (ec) return ConfigError{dir, "cannot resolve: " + ec.message()};
  ProjectConfig p;
  p.dir = abs.string();
  p.name = fs::path(dir).filename().string();
  if (p.name.empty() || p.name == "." || p.name == "..") p.name = abs.filename().string();
  if (p.name.empty()) return ConfigError{dir, "cannot serve the root directory as a project"};
  Obj top(json, file, "");
  if (auto e = top.only({"description", "backend", "spawn", "auth", "static", "sendfile",
                         "access_log", "buffer_body"})) {
    return e;
  }
  if (auto e = top.get_string("access_log", p.access_log)) return e;
  if (!p.access_log.empty()) p.access_log = resolve_from(p.dir, p.access_log);
  if (auto e = read_body_buffer(top, p.dir, p.buffer_body)) return e;
  if (auto e = top.get_string("description", p.description, /*allow_empty=*/true)) return e;
  if (auto e = read_backend(top, p.dir, p.backend)) return e;
  if (auto e = read_spawn(top, p.dir, p.backend, p.spawn)) return e;
  if (auto e = read_auth(top, p.dir, p.auth)) return e;
  if (auto e = read_static_mounts(top, p.dir, p.mounts)) return e;
  if (auto e = read_sendfile(top, p.dir, p.sendfile)) return e;
  out = std::move(p);
  return std::nullopt;
}

// Subdirectories of `parent` holding a project.json, hidden ones skipped,
// sorted by name.
std::optional<ConfigError> list_parent_dir(const std::string& parent,
                                           std::vector<std::string>& dirs) {
  std::error_code ec;
  fs::directory_iterator it(parent, ec);
  if (ec) return ConfigError{parent, "cannot list: " + ec.message()};
  std::vector<std::string> names;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return ConfigError{parent, "cannot list: " + ec.message()};
    std::string name = it->path().filename().string();
    if (!name.empty() && name[0] != '.') names.push_back(std::move(name));
  }
  if (ec) return ConfigError{parent, "cannot list: " + ec.message()};
  std::sort(names.begin(), names.end());
  const std::string base = strip_trailing_slashes(parent);
  for (const auto& name : names) {
    std::string dir = (base == "/" ? "" : base) + "/" + name;
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    // A directory without project.json is not a project; one whose
    // project.json exists but cannot be read or parsed is an error.
    if (::stat((dir + "/project.json").c_str(), &st) != 0 && errno == ENOENT) continue;
    dirs.push_back(std::move(dir));
  }
  return std::nullopt;
}

std::optional<ConfigError> check_project_dir(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    return ConfigError{dir, "cannot use project directory: " + errno_text(errno)};
  }
  if (!S_ISDIR(st.st_mode)) return ConfigError{dir, "is not a directory"};
  return std::nullopt;
}

std::optional<ConfigError> load_projects_unguarded(const ServerConfig& config,
                                                   std::vector<ProjectConfig>& out) {
  std::vector<std::string> dirs = config.project_dirs;
  const bool explicit_dirs = !dirs.empty();
  if (!explicit_dirs && !config.env_parent_dir.empty()) {
    if (auto e = list_parent_dir(config.env_parent_dir, dirs)) return e;
  } else if (!explicit_dirs) {
    return ConfigError{"projects", "none given"};
  }
  std::vector<ProjectConfig> projects;
  std::map<std::string, std::string> dir_by_name;
  for (const auto& dir : dirs) {
    if (explicit_dirs) {
      if (auto e = check_project_dir(dir)) return e;
    }
    ProjectConfig p;
    if (auto e = load_project_unguarded(dir, p)) return e;
    if (!p.auth) p.auth = auth_from_command_line(config.auth, p.name);
    auto [it, inserted] = dir_by_name.emplace(p.name, dir);
    if (!inserted) {
      return ConfigError{dir, "project name \"" + p.name + "\" is already used by " + it->second};
    }
    projects.push_back(std::move(p));
  }
  out = std::move(projects);
  return std::nullopt;
}
}  // namespace

std::optional<AuthOptions> auth_from_command_line(const std::vector<AuthSpec>& specs,
                                                  const std::string& project) {
  const AuthSpec* any = nullptr;
  for (const AuthSpec& spec : specs) {
    if (spec.project == project) return spec.options;
    if (spec.project == "*" && !any) any = &spec;
  }
  if (any) return any->options;
  return std::nullopt;
}

std::optional<ConfigError> load_project(const std::string& dir, ProjectConfig& out) {
  try {
    return load_project_unguarded(dir, out);
  } catch (const std::exception& e) {
    return ConfigError{dir, e.what()};
  }
}

std::optional<ConfigError> load_projects(const ServerConfig& config,
                                         std::vector<ProjectConfig>& out) {
  try {
    return load_projects_unguarded(config, out);
  } catch (const std::exception& e) {
    return ConfigError{"projects", e.what()};
  }
}

}  // namespace gw
