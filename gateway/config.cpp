// The JSON loaders: the --config file and each project's project.json. This
// is the only file that includes nlohmann/json. Both formats are strict: an
// unknown key, a duplicate key or a value of the wrong type is an error that
// names the file and the field, because a silently ignored typo in a
// gateway's configuration tends to become an exposed port or a wrong root.
// No exception leaves this file: JSON and filesystem errors become
// ConfigError values.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "gateway/config.h"

namespace gw {

namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

// Configuration files are small; the bound keeps a wrong path (a log, a
// device) from being read into memory whole.
constexpr size_t kMaxJsonFileBytes = 1024 * 1024;

std::string errno_text(int err) {
  return std::strerror(err);
}

// Reads a whole small file; returns why it cannot.
std::optional<std::string> read_small_file(const std::string& path, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "cannot read: " + errno_text(errno);
  out.clear();
  char buf[16 * 1024];
  std::optional<std::string> why;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) why = "cannot read: " + errno_text(errno);
    if (n <= 0) break;
    if (out.size() + static_cast<size_t>(n) > kMaxJsonFileBytes) {
      why = "is larger than 1 MiB";
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return why;
}

// Parses JSON (comments allowed: configuration deserves them) and rejects
// duplicate keys, which nlohmann would silently resolve to the last one.
std::optional<std::string> parse_json(const std::string& text, Json& out) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  auto callback = [&](int, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) open_objects.emplace_back();
    if (event == Json::parse_event_t::object_end && !open_objects.empty()) open_objects.pop_back();
    if (event == Json::parse_event_t::key && !open_objects.empty() && parsed.is_string()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  try {
    out = Json::parse(text, callback, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const Json::exception& e) {
    std::string what = e.what();  // "[json.exception.parse_error.101] parse error at ..."
    size_t tag_end = what.find("] ");
    if (tag_end != std::string::npos) what.erase(0, tag_end + 2);
    return "invalid JSON: " + what;
  }
  if (!duplicate.empty()) return "duplicate key \"" + duplicate + "\"";
  return std::nullopt;
}

std::optional<std::string> load_json_file(const std::string& path, Json& out) {
  std::string text;
  if (auto why = read_small_file(path, text)) return why;
  if (auto why = parse_json(text, out)) return why;
  if (!out.is_object()) return std::string("must hold a JSON object");
  return std::nullopt;
}

std::string strip_trailing_slashes(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return std::string(path);
}

// A path from a file, relative to the file's directory.
std::string resolve_from(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return base_dir + "/" + path;
}

// One JSON object being read. Errors name "FILE: path.key".
class Obj {
 public:
  Obj(const Json& json, std::string file, std::string path)
      : json_(json), file_(std::move(file)), path_(std::move(path)) {}

  std::string where(std::string_view key) const {
    return file_ + ": " + (path_.empty() ? std::string(key) : path_ + "." + std::string(key));
  }
  ConfigError error(std::string_view key, std::string why) const {
    return ConfigError{where(key), std::move(why)};
  }
  const Json* find(std::string_view key) const {
    auto it = json_.find(key);
    return it == json_.end() ? nullptr : &*it;
  }
  const std::string& file() const { return file_; }
  std::string child_path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  std::optional<ConfigError> only(std::initializer_list<std::string_view> allowed) const {
    for (const auto& [key, value] : json_.items()) {
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      std::string list;
      for (auto name : allowed) list += (list.empty() ? "" : ", ") + std::string(name);
      return error(key, "unknown key (expected one of: " + list + ")");
    }
    return std::nullopt;
  }

  std::optional<ConfigError> get_string(std::string_view key, std::string& out,
                                        bool allow_empty = false) const {
    const Json* j = find(key);
    if (!j) return std::nullopt;
    if (!j->is_string()) return error(key, "must be a string");
    const auto& s = j->get_ref<const std::string&>();
    if (s.empty() && !allow_empty) return error(key, "must not be empty");
    out = s;
    return std::nullopt;
  }

  std::optional<ConfigError> get_opt_string(std::string_view key,
                                            std::optional<std::string>& out) const {
    if (!find(key)) return std::nullopt;
    std::string s;
    if (auto e = get_string(key, s)) return e;
    out = s;
    return std::nullopt;
  }

  std::optional<ConfigError> get_bool(std::string_view key, std::optional<bool>& out) const {
    const Json* j = find(key);
    if (!j) return std::nullopt;
    if (!j->is_boolean()) return error(key, "must be true or false");
    out = j->get<bool>();
    return std::nullopt;
  }

  // An integer in [min, max]; floats, strings and negatives are rejected.
  std::optional<ConfigError> get_uint(std::string_view key, uint64_t min, uint64_t max,
                                      uint64_t& out) const {
    const Json* j = find(key);
    if (!j) return std::nullopt;
    bool ok = j->is_number_unsigned();
    uint64_t value = ok ? j->get<uint64_t>() : 0;
    if (!ok || value < min || value > max) {
      if (max == std::numeric_limits<uint64_t>::max() && min == 0) {
        return error(key, "must be a non-negative integer");
      }
      return error(key, "must be an integer " + std::to_string(min) + "-" + std::to_string(max));
    }
    out = value;
    return std::nullopt;
  }

  // An octal mode written as a string: JSON has no octal numbers, and a
  // decimal 660 would silently mean something else.
  std::optional<ConfigError> get_mode(std::string_view key, std::optional<uint32_t>& out,
                                      std::string_view example) const {
    const Json* j = find(key);
    if (!j) return std::nullopt;
    if (!j->is_string()) {
      return error(key, "must be an octal string such as \"" + std::string(example) + "\"");
    }
    uint32_t mode = 0;
    if (auto why = parse_octal_mode(j->get_ref<const std::string&>(), mode))
      return error(key, *why);
    out = mode;
    return std::nullopt;
  }

 private:
  const Json& json_;  // borrowed: the parsed document outlives every Obj
  std::string file_;
  std::string path_;
};

std::optional<ConfigError> as_object(const Json& j, const std::string& file,
                                     const std::string& path) {
  if (j.is_object()) return std::nullopt;
  return ConfigError{file + ": " + path, "must be an object"};
}

// --- the config file ------------------------------------------------------

// What a config file says; optional fields were absent.
struct FileConfig {
  std::vector<ListenerConfig> listeners;
  std::optional<std::vector<std::string>> projects;
  std::optional<std::string> env_parent_dir;
  std::optional<bool> single_env;
  std::optional<std::string> base_path;
  std::optional<uint32_t> umask;
  std::optional<std::string> pidfile, user, group, error_log;
  std::optional<bool> daemonize;
  Limits limits;
};

std::optional<ConfigError> read_base_path(const Obj& o, std::optional<std::string>& out) {
  std::string text;
  if (!o.find("base_path")) return std::nullopt;
  if (auto e = o.get_string("base_path", text, /*allow_empty=*/true)) return e;
  std::string path;
  if (auto why = normalize_base_path(text, path)) return o.error("base_path", *why);
  out = path;
  return std::nullopt;
}

std::optional<ConfigError> read_unix_listener(const Obj& o, const std::string& base_dir,
                                              ListenerConfig& l) {
  for (const char* key : {"host", "port"}) {
    if (o.find(key)) return o.error(key, "cannot be combined with unix_socket");
  }
  if (auto e = o.get_string("unix_socket", l.unix_path)) return e;
  l.unix_path = resolve_from(base_dir, l.unix_path);
  if (auto why = check_unix_path(l.unix_path)) return o.error("unix_socket", *why);
  if (auto e = o.get_mode("socket_mode", l.socket_mode, "0660")) return e;
  if (auto e = o.get_string("socket_owner", l.socket_owner)) return e;
  return o.get_string("socket_group", l.socket_group);
}

// "certfile"/"keyfile" (https) and the AJP keys. Whether they suit the
// protocol is checked by validate(), which sees command-line listeners too.
std::optional<ConfigError> read_protocol_options(const Obj& o, const std::string& base_dir,
                                                 ListenerConfig& l) {
  if (auto e = o.get_string("certfile", l.cert_file)) return e;
  if (auto e = o.get_string("keyfile", l.key_file)) return e;
  if (!l.cert_file.empty()) l.cert_file = resolve_from(base_dir, l.cert_file);
  if (!l.key_file.empty()) l.key_file = resolve_from(base_dir, l.key_file);
  if (auto e = o.get_opt_string("secret", l.ajp_secret)) return e;
  std::optional<bool> insecure;
  if (auto e = o.get_bool("insecure", insecure)) return e;
  l.ajp_insecure = insecure.value_or(false);
  uint64_t packet_size = l.ajp_packet_size;
  if (auto e = o.get_uint("packet_size", 8192, 65536, packet_size)) return e;
  l.ajp_packet_size = static_cast<size_t>(packet_size);
  if (const Json* list = o.find("allowed_attributes")) {
    if (!list->is_array()) return o.error("allowed_attributes", "must be an array of names");
    for (const Json& item : *list) {
      if (!item.is_string() || item.get_ref<const std::string&>().empty()) {
        return o.error("allowed_attributes", "must hold non-empty strings");
      }
      l.ajp_allowed_attributes.push_back(item.get<std::string>());
    }
  }
  return std::nullopt;
}

std::optional<ConfigError> read_listener(const Obj& o, const std::string& base_dir,
                                         ListenerConfig& l) {
  if (auto e = o.only({"protocol", "host", "port", "unix_socket", "socket_mode", "socket_owner",
                       "socket_group", "base_path", "name", "certfile", "keyfile", "secret",
                       "insecure", "allowed_attributes", "packet_size"})) {
    return e;
  }
  std::string protocol;
  if (!o.find("protocol")) {
    return o.error("protocol", "is required (http, https, fcgi, scgi or ajp)");
  }
  if (auto e = o.get_string("protocol", protocol)) return e;
  if (auto why = parse_protocol(protocol, l.protocol, l.tls)) return o.error("protocol", *why);
  if (auto e = read_protocol_options(o, base_dir, l)) return e;
  if (o.find("unix_socket")) {
    if (auto e = read_unix_listener(o, base_dir, l)) return e;
  } else {
    for (const char* key : {"socket_mode", "socket_owner", "socket_group"}) {
      if (o.find(key)) return o.error(key, "needs unix_socket");
    }
    l.host = default_host(l.protocol);
    if (auto e = o.get_string("host", l.host, /*allow_empty=*/true)) return e;
    uint64_t port = default_port(l.protocol, l.tls);
    if (auto e = o.get_uint("port", 1, 65535, port)) return e;
    l.port = static_cast<uint16_t>(port);
  }
  if (auto e = read_base_path(o, l.base_path)) return e;
  return o.get_string("name", l.name);
}

std::optional<ConfigError> read_listeners(const Obj& top, const std::string& base_dir,
                                          FileConfig& fc) {
  const Json* list = top.find("listeners");
  if (!list) return std::nullopt;
  if (!list->is_array()) return top.error("listeners", "must be an array of listener objects");
  for (size_t i = 0; i < list->size(); ++i) {
    std::string path = "listeners[" + std::to_string(i) + "]";
    if (auto e = as_object((*list)[i], top.file(), path)) return e;
    ListenerConfig l;
    if (auto e = read_listener(Obj((*list)[i], top.file(), path), base_dir, l)) return e;
    fc.listeners.push_back(std::move(l));
  }
  return std::nullopt;
}

std::optional<ConfigError> read_projects(const Obj& top, const std::string& base_dir,
                                         FileConfig& fc) {
  if (const Json* list = top.find("projects")) {
    if (!list->is_array()) return top.error("projects", "must be an array of directories");
    fc.projects.emplace();
    for (size_t i = 0; i < list->size(); ++i) {
      const Json& item = (*list)[i];
      if (!item.is_string() || item.get_ref<const std::string&>().empty()) {
        return top.error("projects[" + std::to_string(i) + "]", "must be a non-empty string");
      }
      fc.projects->push_back(resolve_from(base_dir, item.get<std::string>()));
    }
  }
  if (auto e = top.get_opt_string("env_parent_dir", fc.env_parent_dir)) return e;
  if (fc.projects && fc.env_parent_dir) {
    return top.error("env_parent_dir", "cannot be combined with projects");
  }
  if (fc.env_parent_dir) fc.env_parent_dir = resolve_from(base_dir, *fc.env_parent_dir);
  return top.get_bool("single_env", fc.single_env);
}

struct LimitField {
  std::string_view key;
  uint64_t min, max;
};

std::optional<ConfigError> read_limits(const Obj& top, Limits& limits) {
  const Json* j = top.find("limits");
  if (!j) return std::nullopt;
  if (auto e = as_object(*j, top.file(), "limits")) return e;
  Obj o(*j, top.file(), "limits");
  if (auto e = o.only({"header_bytes", "header_count", "name_bytes", "value_bytes",
                       "request_line_bytes", "streams_per_connection", "max_connections",
                       "max_body_bytes", "output_high_water"})) {
    return e;
  }
  constexpr uint64_t kGiB = uint64_t{1} << 30;
  // Upper bounds catch typos (an extra zero digit) long before memory does.
  const std::pair<LimitField, size_t*> sizes[] = {
      {{"header_bytes", 256, kGiB}, &limits.header_bytes},
      {{"header_count", 1, 1000000}, &limits.header_count},
      {{"name_bytes", 1, kGiB}, &limits.name_bytes},
      {{"value_bytes", 1, kGiB}, &limits.value_bytes},
      {{"request_line_bytes", 16, kGiB}, &limits.request_line_bytes},
      // FastCGI request ids are 16 bits.
      {{"streams_per_connection", 1, 65535}, &limits.streams_per_connection},
      {{"max_connections", 1, 10000000}, &limits.max_connections},
      {{"output_high_water", 1024, kGiB}, &limits.output_high_water},
  };
  for (const auto& [field, target] : sizes) {
    uint64_t value = *target;
    if (auto e = o.get_uint(field.key, field.min, field.max, value)) return e;
    *target = static_cast<size_t>(value);
  }
  return o.get_uint("max_body_bytes", 0, std::numeric_limits<uint64_t>::max(),
                    limits.max_body_bytes);
}

std::optional<ConfigError> read_config(const Obj& top, const std::string& base_dir,
                                       FileConfig& fc) {
  if (auto e =
          top.only({"listeners", "projects", "env_parent_dir", "single_env", "base_path", "umask",
                    "pidfile", "user", "group", "error_log", "daemonize", "limits"})) {
    return e;
  }
  if (auto e = read_listeners(top, base_dir, fc)) return e;
  if (auto e = read_projects(top, base_dir, fc)) return e;
  if (auto e = read_base_path(top, fc.base_path)) return e;
  if (auto e = top.get_mode("umask", fc.umask, "022")) return e;
  if (auto e = top.get_opt_string("pidfile", fc.pidfile)) return e;
  if (auto e = top.get_opt_string("user", fc.user)) return e;
  if (auto e = top.get_opt_string("group", fc.group)) return e;
  if (auto e = top.get_opt_string("error_log", fc.error_log)) return e;
  if (auto e = top.get_bool("daemonize", fc.daemonize)) return e;
  if (fc.pidfile) fc.pidfile = resolve_from(base_dir, *fc.pidfile);
  if (fc.error_log) fc.error_log = resolve_from(base_dir, *fc.error_log);
  return read_limits(top, fc.limits);
}

// The command line wins; see load_config_file in config.h.
void merge(FileConfig& fc, ServerConfig& c) {
  for (auto& l : fc.listeners) c.listeners.push_back(std::move(l));
  const bool file_source = fc.projects || fc.env_parent_dir;
  const bool cli_source = !c.project_dirs.empty() || !c.env_parent_dir.empty();
  if (file_source && (!cli_source || c.projects_from_env)) {
    const bool cli_single = c.single_env && !c.projects_from_env;  // -s, not TRAC_ENV
    c.project_dirs = fc.projects.value_or(std::vector<std::string>{});
    c.env_parent_dir = fc.env_parent_dir.value_or("");
    c.single_env = cli_single || fc.single_env.value_or(false);
    c.projects_from_env = false;
  } else if (!file_source && fc.single_env.value_or(false)) {
    c.single_env = true;
  }
  if (fc.base_path && !c.base_path) c.base_path = fc.base_path;
  if (fc.umask && c.umask == ServerConfig{}.umask) c.umask = *fc.umask;
  if (fc.daemonize.value_or(false)) c.daemonize = true;
  const std::pair<std::optional<std::string>*, std::string*> strings[] = {
      {&fc.pidfile, &c.pidfile},
      {&fc.user, &c.user},
      {&fc.group, &c.group},
      {&fc.error_log, &c.error_log}};
  for (const auto& [from, to] : strings) {
    if (*from && to->empty()) *to = **from;
  }
  c.limits = fc.limits;
}

// --- project.json ---------------------------------------------------------

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

std::optional<ConfigError> read_http_backend(const Obj& o, BackendConfig& b) {
  if (auto e = o.only({"type", "upstream", "connect_timeout_ms", "timeout_ms", "keepalive"})) {
    return e;
  }
  if (!o.find("upstream")) return o.error("upstream", "is required");
  if (auto e = o.get_string("upstream", b.upstream)) return e;
  if (auto why = check_upstream(b.upstream)) return o.error("upstream", *why);
  uint64_t connect = b.connect_timeout_ms, timeout = b.timeout_ms, keepalive = b.keepalive;
  if (auto e = o.get_uint("connect_timeout_ms", 1, 600000, connect)) return e;
  if (auto e = o.get_uint("timeout_ms", 1, 86400000, timeout)) return e;
  if (auto e = o.get_uint("keepalive", 0, 65535, keepalive)) return e;
  b.connect_timeout_ms = static_cast<uint32_t>(connect);
  b.timeout_ms = static_cast<uint32_t>(timeout);
  b.keepalive = static_cast<uint32_t>(keepalive);
  return std::nullopt;
}

std::optional<ConfigError> read_backend(const Obj& top, const std::string& dir, BackendConfig& b) {
  const Json* j = top.find("backend");
  if (!j) return top.error("backend", "is required");
  if (auto e = as_object(*j, top.file(), "backend")) return e;
  Obj o(*j, top.file(), "backend");
  if (!o.find("type")) return o.error("type", "is required (static, echo or http)");
  const Json* type = o.find("type");
  if (!type->is_string()) return o.error("type", "must be one of static, echo, http");
  b.type = type->get<std::string>();
  if (b.type == "static") return read_static_backend(o, dir, b);
  if (b.type == "http") return read_http_backend(o, b);
  if (b.type == "echo") return o.only({"type"});
  return o.error("type", "must be one of static, echo, http");
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
  if (auto e = top.only({"description", "backend"})) return e;
  if (auto e = top.get_string("description", p.description, /*allow_empty=*/true)) return e;
  if (auto e = read_backend(top, p.dir, p.backend)) return e;
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

std::optional<ConfigError> load_config_file(const std::string& path, ServerConfig& config) {
  try {
    Json json;
    if (auto why = load_json_file(path, json)) return ConfigError{path, *why};
    std::error_code ec;
    fs::path abs = fs::absolute(path, ec);
    if (ec) return ConfigError{path, "cannot resolve: " + ec.message()};
    FileConfig fc;
    fc.limits = config.limits;
    if (auto e = read_config(Obj(json, path, ""), abs.parent_path().string(), fc)) return e;
    merge(fc, config);
    return std::nullopt;
  } catch (const std::exception& e) {
    return ConfigError{path, e.what()};
  }
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
