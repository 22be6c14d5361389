// The --config file: listeners, projects, limits and daemon settings, merged
// into the command line's ServerConfig. Strict: an unknown key, a duplicate
// key or a value of the wrong type is an error that names the file and the
// field, because a silently ignored typo in a gateway's configuration tends
// to become an exposed port or a wrong root. No exception leaves this file.
#include <filesystem>
#include <limits>

#include "gateway/config.h"
#include "gateway/config_json.h"

namespace gw {

namespace {

using config_json::as_object;
using config_json::Json;
using config_json::load_json_file;
using config_json::Obj;
using config_json::resolve_from;
namespace fs = std::filesystem;

// limits.max_connections and a listener's max_connections at most.
constexpr uint64_t kMaxConnections = 10'000'000;

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
  std::optional<uint64_t> workers, graceful_timeout_ms, slow_request_ms;
  std::optional<std::string> log_level, access_log, access_log_format, slow_log;
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
  if (auto e =
          o.only({"protocol", "host", "port", "unix_socket", "socket_mode", "socket_owner",
                  "socket_group", "base_path", "name", "certfile", "keyfile", "secret", "insecure",
                  "allowed_attributes", "packet_size", "access_log", "max_connections"})) {
    return e;
  }
  std::string protocol;
  if (!o.find("protocol")) {
    return o.error("protocol", "is required (http, https, fcgi, scgi, ajp or status)");
  }
  if (auto e = o.get_string("protocol", protocol)) return e;
  if (protocol == "status") {
    // The status page: HTTP on loopback unless a host says otherwise.
    l.protocol = Protocol::Http;
    l.status = true;
  } else if (auto why = parse_protocol(protocol, l.protocol, l.tls)) {
    return o.error("protocol", *why + " or status");
  }
  if (auto e = o.get_string("access_log", l.access_log)) return e;
  if (!l.access_log.empty()) l.access_log = resolve_from(base_dir, l.access_log);
  if (auto e = read_protocol_options(o, base_dir, l)) return e;
  if (o.find("max_connections")) {
    uint64_t max = 0;
    if (auto e = o.get_uint("max_connections", 1, kMaxConnections, max)) return e;
    l.max_connections = static_cast<size_t>(max);
  }
  if (o.find("unix_socket")) {
    if (auto e = read_unix_listener(o, base_dir, l)) return e;
  } else {
    for (const char* key : {"socket_mode", "socket_owner", "socket_group"}) {
      if (o.find(key)) return o.error(key, "needs unix_socket");
    }
    l.host = l.status ? "127.0.0.1" : default_host(l.protocol);
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
                       "max_body_bytes", "output_high_water", "header_timeout_ms",
                       "body_timeout_ms", "keepalive_timeout_ms", "request_timeout_ms"})) {
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
      {{"max_connections", 1, kMaxConnections}, &limits.max_connections},
      {{"output_high_water", 1024, kGiB}, &limits.output_high_water},
  };
  for (const auto& [field, target] : sizes) {
    uint64_t value = *target;
    if (auto e = o.get_uint(field.key, field.min, field.max, value)) return e;
    *target = static_cast<size_t>(value);
  }
  // Timeouts: up to a day; 0 switches one off.
  const std::pair<std::string_view, uint64_t*> timeouts[] = {
      {"header_timeout_ms", &limits.header_timeout_ms},
      {"body_timeout_ms", &limits.body_timeout_ms},
      {"keepalive_timeout_ms", &limits.keepalive_timeout_ms},
      {"request_timeout_ms", &limits.request_timeout_ms},
  };
  for (const auto& [key, target] : timeouts) {
    if (auto e = o.get_uint(key, 0, 86'400'000, *target)) return e;
  }
  return o.get_uint("max_body_bytes", 0, std::numeric_limits<uint64_t>::max(),
                    limits.max_body_bytes);
}

// Workers, the graceful stop, logs: the keys of README "Running gatewayd in production".
std::optional<ConfigError> read_operations(const Obj& top, const std::string& base_dir,
                                           FileConfig& fc) {
  const std::pair<LimitField, std::optional<uint64_t>*> counts[] = {
      {{"workers", 1, kMaxWorkers}, &fc.workers},
      {{"graceful_timeout_ms", 0, 86'400'000}, &fc.graceful_timeout_ms},
      {{"slow_request_ms", 0, 86'400'000}, &fc.slow_request_ms},
  };
  for (const auto& [field, target] : counts) {
    if (!top.find(field.key)) continue;
    uint64_t value = 0;
    if (auto e = top.get_uint(field.key, field.min, field.max, value)) return e;
    *target = value;
  }
  if (auto e = top.get_opt_string("log_level", fc.log_level)) return e;
  if (fc.log_level) {
    if (auto why = check_log_level(*fc.log_level)) return top.error("log_level", *why);
  }
  if (auto e = top.get_opt_string("access_log", fc.access_log)) return e;
  if (auto e = top.get_opt_string("access_log_format", fc.access_log_format)) return e;
  if (auto e = top.get_opt_string("slow_log", fc.slow_log)) return e;
  if (fc.access_log) fc.access_log = resolve_from(base_dir, *fc.access_log);
  if (fc.slow_log) fc.slow_log = resolve_from(base_dir, *fc.slow_log);
  return std::nullopt;
}

std::optional<ConfigError> read_config(const Obj& top, const std::string& base_dir,
                                       FileConfig& fc) {
  if (auto e = top.only({"listeners", "projects", "env_parent_dir", "single_env", "base_path",
                         "umask", "pidfile", "user", "group", "error_log", "daemonize", "limits",
                         "workers", "graceful_timeout_ms", "log_level", "access_log",
                         "access_log_format", "slow_request_ms", "slow_log"})) {
    return e;
  }
  if (auto e = read_operations(top, base_dir, fc)) return e;
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
      {&fc.pidfile, &c.pidfile},       {&fc.user, &c.user},
      {&fc.group, &c.group},           {&fc.error_log, &c.error_log},
      {&fc.access_log, &c.access_log}, {&fc.access_log_format, &c.access_log_format},
      {&fc.slow_log, &c.slow_log}};
  for (const auto& [from, to] : strings) {
    if (*from && to->empty()) *to = **from;
  }
  const ServerConfig defaults;
  if (fc.log_level && c.log_level == defaults.log_level) c.log_level = *fc.log_level;
  const std::pair<std::optional<uint64_t>*, uint32_t ServerConfig::*> counts[] = {
      {&fc.workers, &ServerConfig::workers},
      {&fc.graceful_timeout_ms, &ServerConfig::graceful_timeout_ms},
      {&fc.slow_request_ms, &ServerConfig::slow_request_ms}};
  for (const auto& [from, member] : counts) {
    if (*from && c.*member == defaults.*member) c.*member = static_cast<uint32_t>(**from);
  }
  c.limits = fc.limits;
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
    config.config_file = abs.string();
    return std::nullopt;
  } catch (const std::exception& e) {
    return ConfigError{path, e.what()};
  }
}

}  // namespace gw
