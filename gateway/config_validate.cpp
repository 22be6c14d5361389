// Final checks of a merged configuration (validate() in config.h): what no
// single flag or key can see alone, such as two listeners on one address or
// an AJP port open to other machines without a secret.
#include <set>
#include <string>

#include "gateway/config.h"

namespace gw {

namespace {

std::string describe(const ListenerConfig& l) {
  if (!l.name.empty()) return "listener " + l.name;
  std::string s = "listener " + std::string(listener_protocol_name(l)) + ":";
  if (l.inherited_fd0) return s + "fd0";
  if (!l.unix_path.empty()) return s + "unix:" + l.unix_path;
  std::string host = l.host.empty() ? "*" : l.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return s + host + ":" + std::to_string(l.port);
}

// HTTPS and AJP settings: each only where its protocol is, and an AJP port
// that other machines can reach only with a secret (or said to be insecure).
std::optional<ConfigError> validate_protocol_options(const ListenerConfig& l,
                                                     const std::string& where) {
  if (l.tls) {
    if (l.protocol != Protocol::Http) return ConfigError{where, "TLS is only for http (https)"};
    if (l.cert_file.empty() || l.key_file.empty()) {
      return ConfigError{where, "https needs a certificate file and a key file"};
    }
  } else if (!l.cert_file.empty() || !l.key_file.empty()) {
    return ConfigError{where, "a certificate or key file needs protocol https"};
  }
  if (l.protocol != Protocol::Ajp13) {
    if (l.ajp_secret || l.ajp_insecure || !l.ajp_allowed_attributes.empty() ||
        l.ajp_packet_size != 8192) {
      return ConfigError{where,
                         "AJP settings (secret, insecure, allowed attributes, packet "
                         "size) need protocol ajp"};
    }
    return std::nullopt;
  }
  if (l.ajp_packet_size < 8192 || l.ajp_packet_size > 65536) {
    return ConfigError{where, "AJP packet size must be 8192-65536"};
  }
  if (l.ajp_secret && l.ajp_secret->empty()) return ConfigError{where, "AJP secret is empty"};
  const bool local = !l.unix_path.empty() || (!l.inherited_fd0 && is_loopback_host(l.host));
  if (!local && !l.ajp_secret && !l.ajp_insecure) {
    return ConfigError{where,
                       "an AJP listener reachable from other machines needs a secret "
                       "(--ajp-secret or \"secret\"), or must be declared insecure "
                       "(--ajp-insecure or \"insecure\": true)"};
  }
  return std::nullopt;
}

std::optional<ConfigError> validate_listener(const ListenerConfig& l) {
  const std::string where = describe(l);
  if (auto e = validate_protocol_options(l, where)) return e;
  const bool is_unix = !l.unix_path.empty();
  const bool is_tcp = !l.host.empty() || l.port != 0;
  if (int{is_unix} + int{l.inherited_fd0} + int{is_tcp} > 1) {
    return ConfigError{where, "give one of host/port, a unix socket or the inherited fd 0"};
  }
  if (is_unix) {
    if (auto why = check_unix_path(l.unix_path)) return ConfigError{where, *why};
  } else {
    if (l.socket_mode || !l.socket_owner.empty() || !l.socket_group.empty()) {
      return ConfigError{where, "socket mode, owner and group need a unix socket"};
    }
    if (!l.inherited_fd0 && l.port == 0) return ConfigError{where, "port must be 1-65535"};
  }
  if (l.socket_mode && *l.socket_mode > 0777) return ConfigError{where, "socket mode above 0777"};
  if (l.max_connections && *l.max_connections == 0) {
    return ConfigError{where, "max_connections must be at least 1"};
  }
  std::string normal;
  if (l.base_path && (normalize_base_path(*l.base_path, normal) || normal != *l.base_path)) {
    return ConfigError{where, "base path '" + *l.base_path + "' is not normalised"};
  }
  return std::nullopt;
}

std::optional<ConfigError> validate_listeners(const ServerConfig& c) {
  std::set<std::string> addresses;
  for (const auto& l : c.listeners) {
    if (auto e = validate_listener(l)) return e;
    std::string key = !l.unix_path.empty() ? "unix:" + l.unix_path
                      : l.inherited_fd0    ? "fd0"
                                           : l.host + "\n" + std::to_string(l.port);
    if (!addresses.insert(key).second) {
      return ConfigError{describe(l), "the same address is configured twice"};
    }
  }
  return std::nullopt;
}

std::optional<ConfigError> validate_projects(const ServerConfig& c) {
  if (c.project_dirs.empty() && c.env_parent_dir.empty()) {
    return ConfigError{"projects",
                       "no project: give a project directory, -e DIR, or set TRAC_ENV / "
                       "TRAC_ENV_PARENT_DIR"};
  }
  if (!c.project_dirs.empty() && !c.env_parent_dir.empty()) {
    return ConfigError{"projects", "give project directories or a parent directory, not both"};
  }
  for (const auto& dir : c.project_dirs) {
    if (dir.empty()) return ConfigError{"projects", "a project directory name is empty"};
  }
  if (c.single_env && c.project_dirs.size() != 1) {
    return ConfigError{"single_env", "needs exactly one project directory, not " +
                                         std::to_string(c.project_dirs.size())};
  }
  return std::nullopt;
}

std::optional<ConfigError> validate_limits(const Limits& l) {
  // A codec waits for a whole FastCGI record (header, 65535 bytes, padding).
  constexpr size_t kLargestRecord = 8 + 65535 + 255;
  if (l.input_buffer_bytes < kLargestRecord) {
    return ConfigError{"limits.input_buffer_bytes",
                       "must be at least " + std::to_string(kLargestRecord)};
  }
  const std::pair<const char*, size_t> nonzero[] = {
      {"limits.header_bytes", l.header_bytes},
      {"limits.header_count", l.header_count},
      {"limits.name_bytes", l.name_bytes},
      {"limits.value_bytes", l.value_bytes},
      {"limits.request_line_bytes", l.request_line_bytes},
      {"limits.streams_per_connection", l.streams_per_connection},
      {"limits.max_connections", l.max_connections},
      {"limits.output_high_water", l.output_high_water},
  };
  for (const auto& [name, value] : nonzero) {
    if (value == 0) return ConfigError{name, "must be at least 1"};
  }
  return std::nullopt;
}

}  // namespace

std::optional<ConfigError> validate(const ServerConfig& config) {
  try {
    if (auto e = validate_projects(config)) return e;
    if (auto e = validate_listeners(config)) return e;
    std::string normal;
    if (config.base_path &&
        (normalize_base_path(*config.base_path, normal) || normal != *config.base_path)) {
      return ConfigError{"base_path", "'" + *config.base_path + "' is not normalised"};
    }
    if (config.umask > 0777) return ConfigError{"umask", "must be at most 0777"};
    return validate_limits(config.limits);
  } catch (const std::exception& e) {
    return ConfigError{"configuration", e.what()};
  }
}

}  // namespace gw
