// project.json "spawn": the app processes gatewayd starts for the project's
// backend (gateway/spawn/spawn_options.h). Checked here as far as it can be
// before anything runs: the program exists and is executable, placeholders
// fit the listen mode, the user and group can be applied.
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "gateway/config_project_parts.h"
#include "gateway/spawn/placeholders.h"

namespace gw {

namespace {

using config_json::errno_text;
using config_json::Json;
using config_json::Obj;
using config_json::resolve_from;

bool valid_env_name(std::string_view name) {
  return !name.empty() && name.find('=') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

// A name or a numeric id: the id it stands for, or nullopt.
std::optional<uint32_t> numeric_id(const std::string& text) {
  if (text.empty() || text.size() > 10 || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  uint64_t v = std::stoull(text);
  if (v > 0xfffffffeULL) return std::nullopt;
  return static_cast<uint32_t>(v);
}

std::optional<ConfigError> read_command(const Obj& o, const std::string& dir, SpawnOptions& s) {
  const Json* j = o.find("command");
  if (!j) return o.error("command", "is required (an array: the program and its arguments)");
  if (!j->is_array() || j->empty()) {
    return o.error("command", "must be a non-empty array of strings");
  }
  for (size_t i = 0; i < j->size(); ++i) {
    const Json& arg = (*j)[i];
    std::string key = "command[" + std::to_string(i) + "]";
    if (!arg.is_string()) return o.error(key, "must be a string");
    const std::string& text = arg.get_ref<const std::string&>();
    if (text.find('\0') != std::string::npos) return o.error(key, "must not hold a NUL byte");
    s.command.push_back(text);
  }
  std::string& program = s.command[0];
  if (program.empty()) return o.error("command[0]", "must not be empty");
  if (program.find('{') != std::string::npos) {
    return o.error("command[0]", "the program path cannot hold placeholders");
  }
  program = resolve_from(dir, program);
  struct stat st {};
  if (::stat(program.c_str(), &st) != 0) {
    return o.error("command[0]", "cannot use '" + program + "': " + errno_text(errno));
  }
  if (!S_ISREG(st.st_mode)) return o.error("command[0]", "'" + program + "' is not a file");
  if (::access(program.c_str(), X_OK) != 0) {
    return o.error("command[0]", "cannot run '" + program + "': " + errno_text(errno));
  }
  return std::nullopt;
}

std::optional<ConfigError> read_env(const Obj& o, SpawnOptions& s) {
  if (const Json* j = o.find("env")) {
    if (!j->is_object()) return o.error("env", "must be an object of \"NAME\": \"value\" strings");
    for (const auto& [name, value] : j->items()) {
      if (!valid_env_name(name)) return o.error("env", "'" + name + "' is not a variable name");
      if (!value.is_string()) return o.error("env." + name, "must be a string");
      const std::string& text = value.get_ref<const std::string&>();
      if (text.find('\0') != std::string::npos) {
        return o.error("env." + name, "must not hold a NUL byte");
      }
      s.env.push_back(Header{name, text});
    }
  }
  if (const Json* j = o.find("pass_env")) {
    if (!j->is_array()) return o.error("pass_env", "must be an array of variable names");
    for (size_t i = 0; i < j->size(); ++i) {
      const Json& name = (*j)[i];
      std::string key = "pass_env[" + std::to_string(i) + "]";
      if (!name.is_string() || !valid_env_name(name.get_ref<const std::string&>())) {
        return o.error(key, "must be a variable name");
      }
      s.pass_env.push_back(name.get<std::string>());
    }
  }
  return std::nullopt;
}

// Placeholders must name what the listen mode provides, and an app that
// binds its own address must be told it somewhere.
std::optional<ConfigError> check_placeholders(const Obj& o, const SpawnOptions& s) {
  auto mentioned = [&](std::string_view name) {
    for (const auto& arg : s.command) {
      if (has_placeholder(arg, name)) return true;
    }
    for (const auto& e : s.env) {
      if (has_placeholder(e.value, name)) return true;
    }
    return false;
  };
  using L = SpawnOptions::Listen;
  if (mentioned("port") && s.listen != L::Port) {
    return o.error("command", "{port} needs \"listen\": \"port\"");
  }
  if (mentioned("socket") && s.listen != L::Unix) {
    return o.error("command", "{socket} needs \"listen\": \"unix\"");
  }
  if (s.listen == L::Port && !mentioned("port")) {
    return o.error("listen", "\"port\": the command or env must pass {port} to the app");
  }
  if (s.listen == L::Unix && !mentioned("socket")) {
    return o.error("listen", "\"unix\": the command or env must pass {socket} to the app");
  }
  return std::nullopt;
}

// "user" and "group" need root to take effect; without it they are only
// accepted when they name who gatewayd already is (a project.json that
// also runs under an unprivileged gatewayd), never silently ignored.
std::optional<ConfigError> read_credentials(const Obj& o, SpawnOptions& s) {
  if (auto e = o.get_string("user", s.user)) return e;
  if (auto e = o.get_string("group", s.group)) return e;
  const bool root = ::geteuid() == 0;
  if (!s.user.empty()) {
    const struct passwd* pw = ::getpwnam(s.user.c_str());
    std::optional<uint32_t> id = pw ? std::optional<uint32_t>(pw->pw_uid) : numeric_id(s.user);
    if (!id) return o.error("user", "no such user: " + s.user);
    if (!root && *id != ::geteuid()) {
      return o.error("user", "gatewayd must run as root to start the app as " + s.user);
    }
  }
  if (!s.group.empty()) {
    const struct group* gr = ::getgrnam(s.group.c_str());
    std::optional<uint32_t> id = gr ? std::optional<uint32_t>(gr->gr_gid) : numeric_id(s.group);
    if (!id) return o.error("group", "no such group: " + s.group);
    if (!root && *id != ::getegid()) {
      return o.error("group", "gatewayd must run as root to start the app in group " + s.group);
    }
  }
  return std::nullopt;
}

std::optional<ConfigError> read_numbers(const Obj& o, SpawnOptions& s) {
  struct Field {
    const char* key;
    uint64_t min, max;
    uint32_t* out;
  };
  const Field fields[] = {
      {"processes", 1, 1024, &s.processes},
      {"idle_timeout_ms", 0, 86400000, &s.idle_timeout_ms},
      {"start_timeout_ms", 1, 600000, &s.start_timeout_ms},
      {"stop_timeout_ms", 0, 600000, &s.stop_timeout_ms},
      {"backoff_initial_ms", 1, 3600000, &s.backoff_initial_ms},
      {"backoff_max_ms", 1, 86400000, &s.backoff_max_ms},
      {"give_up_after", 0, 1000000, &s.give_up_after},
  };
  for (const Field& f : fields) {
    uint64_t value = *f.out;
    if (auto e = o.get_uint(f.key, f.min, f.max, value)) return e;
    *f.out = static_cast<uint32_t>(value);
  }
  if (auto e = o.get_uint("max_requests", 0, uint64_t{1} << 62, s.max_requests)) return e;
  if (s.backoff_max_ms < s.backoff_initial_ms) {
    return o.error("backoff_max_ms", "must not be below backoff_initial_ms");
  }
  return std::nullopt;
}

std::optional<ConfigError> read_spawn_object(const Obj& o, const std::string& dir,
                                             SpawnOptions& s) {
  if (auto e =
          o.only({"command", "listen", "processes", "env", "pass_env", "cwd", "user", "group",
                  "max_requests", "start", "idle_timeout_ms", "start_timeout_ms", "stop_timeout_ms",
                  "backoff_initial_ms", "backoff_max_ms", "give_up_after"})) {
    return e;
  }
  if (auto e = read_command(o, dir, s)) return e;
  std::string listen = "fd0";
  if (auto e = o.get_string("listen", listen)) return e;
  if (listen == "fd0") {
    s.listen = SpawnOptions::Listen::Fd0;
  } else if (listen == "unix") {
    s.listen = SpawnOptions::Listen::Unix;
  } else if (listen == "port") {
    s.listen = SpawnOptions::Listen::Port;
  } else {
    return o.error("listen", "must be \"fd0\", \"unix\" or \"port\"");
  }
  if (auto e = read_env(o, s)) return e;
  if (auto e = check_placeholders(o, s)) return e;
  s.cwd = dir;
  if (auto e = o.get_string("cwd", s.cwd)) return e;
  s.cwd = resolve_from(dir, s.cwd);
  struct stat st {};
  if (::stat(s.cwd.c_str(), &st) != 0) {
    return o.error("cwd", "cannot use '" + s.cwd + "': " + errno_text(errno));
  }
  if (!S_ISDIR(st.st_mode)) return o.error("cwd", "'" + s.cwd + "' is not a directory");
  if (auto e = read_credentials(o, s)) return e;
  std::string start = "always";
  if (auto e = o.get_string("start", start)) return e;
  if (start != "always" && start != "on_demand") {
    return o.error("start", "must be \"always\" or \"on_demand\"");
  }
  s.on_demand = start == "on_demand";
  if (auto e = read_numbers(o, s)) return e;
  if (s.idle_timeout_ms > 0 && !s.on_demand) {
    return o.error("idle_timeout_ms", "needs \"start\": \"on_demand\"");
  }
  return std::nullopt;
}

}  // namespace

std::optional<ConfigError> read_spawn(const config_json::Obj& top, const std::string& dir,
                                      const BackendConfig& backend,
                                      std::optional<SpawnOptions>& out) {
  const Json* j = top.find("spawn");
  if (!j) return std::nullopt;
  if (auto e = config_json::as_object(*j, top.file(), "spawn")) return e;
  if (backend.type != "fastcgi" && backend.type != "scgi" && backend.type != "http") {
    return top.error("spawn", "needs a backend of type http, fastcgi or scgi");
  }
  Obj o(*j, top.file(), "spawn");
  SpawnOptions s;
  if (auto e = read_spawn_object(o, dir, s)) return e;
  out = std::move(s);
  return std::nullopt;
}

}  // namespace gw
