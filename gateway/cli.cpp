// The command line, compatible with tracd's (Trac's trac/web/standalone.py)
// so that a line from an existing deployment guide keeps working:
//   gatewayd --protocol=http --port 8000 -e /srv/trac
//   gatewayd -s --protocol=fcgi --unix-socket /run/trac.sock /srv/trac/proj
// Parsing follows optparse's conventions, which tracd uses (gateway/optparse.h).
#include <sys/un.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <string_view>

#include "gateway/cli_help.h"
#include "gateway/config.h"
#include "gateway/optparse.h"

namespace gw {

namespace {

enum class Opt {
  Protocol,
  Port,
  Hostname,
  UnixSocket,
  SocketMode,
  SocketOwner,
  SocketGroup,
  SingleEnv,
  EnvParentDir,
  BasePath,
  Umask,
  Daemonize,
  Pidfile,
  User,
  Group,
  ErrorLog,
  Config,
  CheckConfig,
  Unquote,
  HttpVersion,
  CertFile,
  KeyFile,
  AjpSecret,
  AjpInsecure,
  AjpAllowAttribute,
  AjpPacketSize,
  BasicAuth,
  DigestAuth,
  AuthScope,
  IndexTemplate,
  Workers,
  GracefulTimeout,
  LogLevel,
  AccessLog,
  AccessLogFormat,
  StatusListen,
  SlowRequestMs,
  SlowLog,
  Version,
  Help,
  NotYet,  // a tracd option gatewayd does not implement yet
};

struct OptionSpec {
  Opt id;
  char short_name;  // 0: none
  std::string_view long_name;
  bool takes_value;
  bool allow_empty;  // "" is a meaningful value (--hostname= : all interfaces)
};

constexpr OptionSpec kOptions[] = {
    {Opt::Protocol, 0, "protocol", true, false},
    {Opt::Port, 'p', "port", true, false},
    {Opt::Hostname, 'b', "hostname", true, true},
    {Opt::UnixSocket, 0, "unix-socket", true, false},
    {Opt::SocketMode, 0, "socket-mode", true, false},
    {Opt::SocketOwner, 0, "socket-owner", true, false},
    {Opt::SocketGroup, 0, "socket-group", true, false},
    {Opt::SingleEnv, 's', "single-env", false, false},
    {Opt::EnvParentDir, 'e', "env-parent-dir", true, false},
    {Opt::BasePath, 0, "base-path", true, true},
    {Opt::Umask, 0, "umask", true, false},
    {Opt::Daemonize, 'd', "daemonize", false, false},
    {Opt::Pidfile, 0, "pidfile", true, false},
    {Opt::User, 0, "user", true, false},
    {Opt::Group, 0, "group", true, false},
    {Opt::ErrorLog, 0, "error-log", true, false},
    {Opt::Config, 0, "config", true, false},
    {Opt::CheckConfig, 't', "check-config", false, false},
    {Opt::Unquote, 'q', "unquote", false, false},
    {Opt::HttpVersion, 0, "http10", false, false},
    {Opt::HttpVersion, 0, "http11", false, false},
    {Opt::Version, 0, "version", false, false},
    {Opt::Help, 'h', "help", false, false},
    {Opt::DigestAuth, 'a', "auth", true, false},
    {Opt::BasicAuth, 0, "basic-auth", true, false},
    {Opt::AuthScope, 0, "auth-scope", true, false},
    {Opt::IndexTemplate, 0, "index-template", true, false},
    {Opt::NotYet, 'r', "auto-reload", false, false},
    {Opt::CertFile, 0, "certfile", true, false},
    {Opt::KeyFile, 0, "keyfile", true, false},
    {Opt::AjpSecret, 0, "ajp-secret", true, false},
    {Opt::AjpInsecure, 0, "ajp-insecure", false, false},
    {Opt::AjpAllowAttribute, 0, "ajp-allow-attribute", true, false},
    {Opt::AjpPacketSize, 0, "ajp-packet-size", true, false},
    {Opt::Workers, 0, "workers", true, false},
    {Opt::GracefulTimeout, 0, "graceful-timeout", true, false},
    {Opt::LogLevel, 0, "log-level", true, false},
    {Opt::AccessLog, 0, "access-log", true, false},
    {Opt::AccessLogFormat, 0, "access-log-format", true, false},
    {Opt::StatusListen, 0, "status-listen", true, false},
    {Opt::SlowRequestMs, 0, "slow-request-ms", true, false},
    {Opt::SlowLog, 0, "slow-log", true, false},
};

// What the options said, before the defaults and checks of finish().
struct Seen {
  std::optional<Protocol> protocol;
  bool tls = false;
  std::string cert_file, key_file;
  std::optional<std::string> ajp_secret;
  bool ajp_insecure = false;
  std::vector<std::string> ajp_allowed_attributes;
  std::optional<size_t> ajp_packet_size;
  std::optional<AuthOptions::Scope> auth_scope;
  std::optional<uint16_t> port;
  std::optional<std::string> host;
  std::string unix_path;
  std::optional<uint32_t> socket_mode;
  std::string socket_owner, socket_group;
  // The spelling each flag was given with, for error messages; "" = absent.
  std::string single_flag, env_flag, port_flag, host_flag, unix_flag;
  std::string socket_flag;  // first of --socket-mode/-owner/-group
  std::string tls_flag;     // first of --certfile/--keyfile
  std::string ajp_flag;     // first of the --ajp-* options
  // --status-listen: added after the main listener, which they never replace.
  std::vector<ListenerConfig> status_listeners;
};

class CliParser {
 public:
  CliParser(CliResult& out) : out_(out) {}

  std::optional<ConfigError> run(int argc, const char* const* argv, EnvLookup env);

 private:
  std::optional<ConfigError> apply(const OptionSpec& spec, const std::string& flag,
                                   const std::string& value);
  std::optional<ConfigError> apply_value(const OptionSpec& spec, const std::string& flag,
                                         const std::string& value);
  std::optional<ConfigError> finish(EnvLookup env);
  std::optional<ConfigError> finish_projects(EnvLookup env);
  std::optional<ConfigError> finish_listener();
  std::optional<ConfigError> finish_protocol_options(ListenerConfig& l);

  CliResult& out_;
  Seen seen_;
  bool stop_ = false;  // --help / --version: nothing else matters
};

std::optional<ConfigError> CliParser::run(int argc, const char* const* argv, EnvLookup env) {
  auto on_option = [this](const OptionSpec& spec, const std::string& flag,
                          const std::string& value) { return apply(spec, flag, value); };
  auto on_positional = [this](std::string_view arg) { out_.config.project_dirs.emplace_back(arg); };
  if (auto err = optparse::scan<ConfigError>(argc, argv, std::span<const OptionSpec>(kOptions),
                                             on_option, on_positional, stop_)) {
    return err;
  }
  if (stop_) return std::nullopt;
  return finish(env);
}

std::optional<ConfigError> CliParser::apply(const OptionSpec& spec, const std::string& flag,
                                            const std::string& value) {
  ServerConfig& c = out_.config;
  switch (spec.id) {
    case Opt::SingleEnv:
      c.single_env = true;
      seen_.single_flag = flag;
      return std::nullopt;
    case Opt::Daemonize:
      c.daemonize = true;
      return std::nullopt;
    case Opt::CheckConfig:
      c.check_only = true;
      return std::nullopt;
    case Opt::AjpInsecure:
      seen_.ajp_insecure = true;
      if (seen_.ajp_flag.empty()) seen_.ajp_flag = flag;
      return std::nullopt;
    // Paths are percent-decoded exactly once whatever the protocol, so -q
    // has nothing left to do; HTTP/1.0 clients are served as such anyway.
    case Opt::Unquote:
    case Opt::HttpVersion:
      return std::nullopt;
    case Opt::Version:
      out_.action = CliResult::Action::Version;
      stop_ = true;
      return std::nullopt;
    case Opt::Help:
      out_.action = CliResult::Action::Help;
      stop_ = true;
      return std::nullopt;
    case Opt::NotYet:
      return ConfigError{flag, "is a tracd option gatewayd does not support yet"};
    default:
      break;
  }
  if (value.empty() && !spec.allow_empty) return ConfigError{flag, "needs a value"};
  return apply_value(spec, flag, value);
}

std::optional<ConfigError> CliParser::apply_value(const OptionSpec& spec, const std::string& flag,
                                                  const std::string& value) {
  ServerConfig& c = out_.config;
  std::optional<std::string> why;
  switch (spec.id) {
    case Opt::Protocol: {
      Protocol p;
      bool tls = false;
      why = parse_protocol(value, p, tls);
      if (!why) {
        seen_.protocol = p;
        seen_.tls = tls;
      }
      out_.protocol_given = true;
      break;
    }
    case Opt::Port: {
      uint16_t port = 0;
      why = parse_port(value, port);
      seen_.port = port;
      seen_.port_flag = flag;
      break;
    }
    case Opt::Hostname:
      seen_.host = value;
      seen_.host_flag = flag;
      break;
    case Opt::UnixSocket:
      why = check_unix_path(value);
      seen_.unix_path = value;
      seen_.unix_flag = flag;
      break;
    case Opt::SocketMode: {
      uint32_t mode = 0;
      why = parse_octal_mode(value, mode);
      seen_.socket_mode = mode;
      break;
    }
    case Opt::SocketOwner:
      seen_.socket_owner = value;
      break;
    case Opt::SocketGroup:
      seen_.socket_group = value;
      break;
    case Opt::EnvParentDir:
      c.env_parent_dir = value;
      seen_.env_flag = flag;
      break;
    case Opt::BasePath: {
      std::string path;
      why = normalize_base_path(value, path);
      c.base_path = path;
      break;
    }
    case Opt::Umask:
      why = parse_octal_mode(value, c.umask);
      break;
    case Opt::Pidfile:
      c.pidfile = value;
      break;
    case Opt::User:
      c.user = value;
      break;
    case Opt::Group:
      c.group = value;
      break;
    case Opt::ErrorLog:
      c.error_log = value;
      break;
    case Opt::Config:
      out_.config_file = value;
      break;
    case Opt::CertFile:
      seen_.cert_file = value;
      if (seen_.tls_flag.empty()) seen_.tls_flag = flag;
      break;
    case Opt::KeyFile:
      seen_.key_file = value;
      if (seen_.tls_flag.empty()) seen_.tls_flag = flag;
      break;
    case Opt::AjpSecret:
      seen_.ajp_secret = value;
      break;
    case Opt::AjpAllowAttribute:
      seen_.ajp_allowed_attributes.push_back(value);
      break;
    case Opt::AjpPacketSize: {
      size_t size = 0;
      why = parse_ajp_packet_size(value, size);
      seen_.ajp_packet_size = size;
      break;
    }
    case Opt::BasicAuth:
    case Opt::DigestAuth: {
      AuthSpec spec_value;
      spec_value.options.scheme =
          spec.id == Opt::BasicAuth ? AuthOptions::Scheme::Basic : AuthOptions::Scheme::Digest;
      why = parse_auth_spec(value, spec_value);
      if (!why) c.auth.push_back(std::move(spec_value));
      break;
    }
    case Opt::AuthScope:
      if (value == "login") {
        seen_.auth_scope = AuthOptions::Scope::Login;
      } else if (value == "project") {
        seen_.auth_scope = AuthOptions::Scope::Project;
      } else {
        why = "'" + value + "' is not one of login, project";
      }
      break;
    case Opt::IndexTemplate:
      c.index_template = value;
      break;
    case Opt::Workers:
      why = parse_count(value, 1, kMaxWorkers, c.workers);
      break;
    case Opt::GracefulTimeout: {
      uint32_t seconds = 0;
      why = parse_count(value, 0, 86'400, seconds);
      c.graceful_timeout_ms = seconds * 1000;
      break;
    }
    case Opt::LogLevel:
      why = check_log_level(value);
      c.log_level = value;
      break;
    case Opt::AccessLog:
      c.access_log = value;
      break;
    case Opt::AccessLogFormat:
      c.access_log_format = value;
      break;
    case Opt::StatusListen: {
      ListenerConfig l;
      why = parse_status_listen(value, l);
      if (!why) seen_.status_listeners.push_back(std::move(l));
      break;
    }
    case Opt::SlowRequestMs:
      why = parse_count(value, 0, 86'400'000, c.slow_request_ms);
      break;
    case Opt::SlowLog:
      c.slow_log = value;
      break;
    default:
      break;
  }
  if (why) return ConfigError{flag, *why};
  if (spec.id == Opt::SocketMode || spec.id == Opt::SocketOwner || spec.id == Opt::SocketGroup) {
    if (seen_.socket_flag.empty()) seen_.socket_flag = flag;
  }
  if (spec.id == Opt::AjpSecret || spec.id == Opt::AjpAllowAttribute ||
      spec.id == Opt::AjpPacketSize) {
    if (seen_.ajp_flag.empty()) seen_.ajp_flag = flag;
  }
  return std::nullopt;
}

std::optional<ConfigError> CliParser::finish(EnvLookup env) {
  ServerConfig& c = out_.config;
  if (seen_.auth_scope) {
    for (AuthSpec& spec : c.auth) spec.options.scope = *seen_.auth_scope;
  }
  if (c.index_template.empty()) {
    const char* index_template = env ? env("TRAC_ENV_INDEX_TEMPLATE") : nullptr;
    if (index_template) c.index_template = index_template;
  }
  if (auto err = finish_projects(env)) return err;
  if (auto err = finish_listener()) return err;
  for (auto& l : seen_.status_listeners) c.listeners.push_back(std::move(l));
  return std::nullopt;
}

std::optional<ConfigError> CliParser::finish_projects(EnvLookup env) {
  ServerConfig& c = out_.config;
  const size_t given = c.project_dirs.size();
  if (!seen_.single_flag.empty() && !seen_.env_flag.empty()) {
    return ConfigError{seen_.single_flag, "cannot be combined with -e/--env-parent-dir"};
  }
  if (!seen_.env_flag.empty() && given > 0) {
    return ConfigError{seen_.env_flag, "cannot be combined with project directories"};
  }
  if (!seen_.single_flag.empty() && given > 1) {
    return ConfigError{seen_.single_flag,
                       "serves exactly one project, but " + std::to_string(given) + " were given"};
  }
  if (given > 0 || !seen_.env_flag.empty()) return std::nullopt;

  // Nothing on the command line: the variables trac.fcgi and tracd read.
  const char* trac_env = env ? env("TRAC_ENV") : nullptr;
  const char* parent = env ? env("TRAC_ENV_PARENT_DIR") : nullptr;
  if (trac_env && *trac_env) {
    c.project_dirs = {trac_env};
    c.single_env = true;  // trac.fcgi serves the one environment at the root
    c.projects_from_env = true;
  } else if (parent && *parent) {
    if (!seen_.single_flag.empty()) {
      return ConfigError{seen_.single_flag, "cannot be combined with TRAC_ENV_PARENT_DIR"};
    }
    c.env_parent_dir = parent;
    c.projects_from_env = true;
  } else if (out_.config_file.empty()) {
    return ConfigError{"command line",
                       "no project: give a project directory, -e DIR, or set TRAC_ENV / "
                       "TRAC_ENV_PARENT_DIR"};
  }
  return std::nullopt;
}

// The --certfile/--keyfile and --ajp-* options, checked against the protocol.
std::optional<ConfigError> CliParser::finish_protocol_options(ListenerConfig& l) {
  if (!seen_.tls_flag.empty() && !seen_.tls) {
    return ConfigError{seen_.tls_flag, "needs --protocol=https"};
  }
  if (seen_.tls) {
    if (seen_.cert_file.empty()) return ConfigError{"--protocol=https", "needs --certfile"};
    if (seen_.key_file.empty()) return ConfigError{"--protocol=https", "needs --keyfile"};
  }
  if (!seen_.ajp_flag.empty() && l.protocol != Protocol::Ajp13) {
    return ConfigError{seen_.ajp_flag, "needs --protocol=ajp"};
  }
  l.tls = seen_.tls;
  l.cert_file = seen_.cert_file;
  l.key_file = seen_.key_file;
  l.ajp_secret = seen_.ajp_secret;
  l.ajp_insecure = seen_.ajp_insecure;
  l.ajp_allowed_attributes = seen_.ajp_allowed_attributes;
  if (seen_.ajp_packet_size) l.ajp_packet_size = *seen_.ajp_packet_size;
  return std::nullopt;
}

std::optional<ConfigError> CliParser::finish_listener() {
  const Protocol protocol = seen_.protocol.value_or(Protocol::Http);
  out_.address_given = seen_.port || seen_.host || !seen_.unix_path.empty();
  ListenerConfig l;
  l.protocol = protocol;
  if (auto err = finish_protocol_options(l)) return err;
  if (!seen_.unix_path.empty()) {
    if (!seen_.port_flag.empty())
      return ConfigError{seen_.port_flag, "cannot be combined with --unix-socket"};
    if (!seen_.host_flag.empty())
      return ConfigError{seen_.host_flag, "cannot be combined with --unix-socket"};
    l.unix_path = seen_.unix_path;
    l.socket_mode = seen_.socket_mode;
    l.socket_owner = seen_.socket_owner;
    l.socket_group = seen_.socket_group;
    out_.config.listeners.push_back(std::move(l));
    return std::nullopt;
  }
  if (!seen_.socket_flag.empty()) return ConfigError{seen_.socket_flag, "needs --unix-socket"};
  if (!seen_.protocol && !seen_.port && !seen_.host) {
    // No address asked for: main uses a listening socket inherited on fd 0
    // (a web server spawned us), else http on port 80 as tracd does.
    return std::nullopt;
  }
  l.host = seen_.host.value_or(default_host(protocol));
  l.port = seen_.port.value_or(default_port(protocol, seen_.tls));
  out_.config.listeners.push_back(std::move(l));
  return std::nullopt;
}

}  // namespace

std::optional<ConfigError> parse_cli(int argc, const char* const* argv, EnvLookup env,
                                     CliResult& out) {
  try {
    out = CliResult{};
    CliParser parser(out);
    return parser.run(argc, argv, env);
  } catch (const std::exception& e) {  // allocation failure: nothing else throws here
    return ConfigError{"command line", e.what()};
  }
}

std::string help_text() {
  return std::string(kHelpText);
}

// --- values shared with the config file ---------------------------------

std::optional<std::string> parse_count(std::string_view text, uint32_t min, uint32_t max,
                                       uint32_t& out) {
  uint64_t value = 0;
  bool ok = !text.empty() && text.size() <= 10;
  for (char ch : text) {
    if (ch < '0' || ch > '9') ok = false;
    if (ok) value = value * 10 + static_cast<uint64_t>(ch - '0');
  }
  if (!ok || value < min || value > max) {
    return "'" + std::string(text) + "' is not a whole number from " + std::to_string(min) +
           " to " + std::to_string(max);
  }
  out = static_cast<uint32_t>(value);
  return std::nullopt;
}

std::optional<std::string> check_log_level(std::string_view name) {
  for (std::string_view known : {"debug", "info", "warn", "error"}) {
    if (name == known) return std::nullopt;
  }
  return "'" + std::string(name) + "' is not one of debug, info, warn, error";
}

std::optional<std::string> parse_status_listen(std::string_view text, ListenerConfig& out) {
  ListenerConfig l;
  l.protocol = Protocol::Http;
  l.status = true;
  if (text.starts_with("unix:") || text.starts_with('/')) {
    l.unix_path = std::string(text.starts_with("unix:") ? text.substr(5) : text);
    if (auto why = check_unix_path(l.unix_path)) return why;
  } else if (text.find(':') == std::string_view::npos) {
    // A port alone: loopback, as the status page is for the admin.
    l.host = "127.0.0.1";
    if (auto why = parse_port(text, l.port)) return why;
  } else {
    size_t colon = text.rfind(':');
    std::string_view host = text.substr(0, colon);
    if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
    l.host = std::string(host);
    if (auto why = parse_port(text.substr(colon + 1), l.port)) {
      return "'" + std::string(text) + "' is not PORT, HOST:PORT, [V6]:PORT or unix:/PATH";
    }
  }
  out = std::move(l);
  return std::nullopt;
}

std::optional<std::string> parse_auth_spec(std::string_view text, AuthSpec& out) {
  // tracd's PROJECT,FILE,REALM. The realm may hold commas; the project and
  // the file may not.
  size_t first = text.find(',');
  size_t second = first == std::string_view::npos ? first : text.find(',', first + 1);
  if (second == std::string_view::npos) {
    return "'" + std::string(text) + "' is not PROJECT,FILE,REALM";
  }
  std::string_view project = text.substr(0, first);
  std::string_view file = text.substr(first + 1, second - first - 1);
  std::string_view realm = text.substr(second + 1);
  if (project.empty() || file.empty() || realm.empty()) {
    return "'" + std::string(text) + "' is not PROJECT,FILE,REALM (none may be empty)";
  }
  out.project = std::string(project);
  out.options.file = std::string(file);
  if (!file.starts_with('/')) {
    std::error_code ec;
    std::filesystem::path cwd = std::filesystem::current_path(ec);
    if (ec) return "cannot resolve '" + std::string(file) + "': " + ec.message();
    out.options.file = (cwd / file).string();
  }
  out.options.realm = std::string(realm);
  return std::nullopt;
}

std::optional<std::string> parse_protocol(std::string_view name, Protocol& out, bool& tls) {
  // tracd's names; "https" is http over TLS.
  static constexpr std::pair<std::string_view, Protocol> kNames[] = {
      {"http", Protocol::Http}, {"https", Protocol::Http}, {"fcgi", Protocol::FastCgi},
      {"scgi", Protocol::Scgi}, {"ajp", Protocol::Ajp13},
  };
  for (const auto& [known, protocol] : kNames) {
    if (name == known) {
      out = protocol;
      tls = name == "https";
      return std::nullopt;
    }
  }
  return "'" + std::string(name) + "' is not one of http, https, fcgi, scgi, ajp";
}

std::string_view listener_protocol_name(const ListenerConfig& l) {
  return l.tls ? "https" : protocol_name(l.protocol);
}

std::optional<std::string> parse_ajp_packet_size(std::string_view text, size_t& out) {
  size_t value = 0;
  bool ok = !text.empty() && text.size() <= 5;
  for (char ch : text) {
    if (ch < '0' || ch > '9') ok = false;
    if (ok) value = value * 10 + static_cast<size_t>(ch - '0');
  }
  if (!ok || value < 8192 || value > 65536) {
    return "'" + std::string(text) + "' is not an AJP packet size (8192-65536)";
  }
  out = value;
  return std::nullopt;
}

bool is_loopback_host(std::string_view host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

std::optional<std::string> parse_port(std::string_view text, uint16_t& out) {
  uint32_t value = 0;
  bool ok = !text.empty() && text.size() <= 5;
  for (char ch : text) {
    if (ch < '0' || ch > '9') ok = false;
    if (ok) value = value * 10 + static_cast<uint32_t>(ch - '0');
  }
  if (!ok || value < 1 || value > 65535) {
    return "'" + std::string(text) + "' is not a port number (1-65535)";
  }
  out = static_cast<uint16_t>(value);
  return std::nullopt;
}

std::optional<std::string> parse_octal_mode(std::string_view text, uint32_t& out) {
  std::string_view digits = text;
  if (digits.substr(0, 2) == "0o" || digits.substr(0, 2) == "0O") digits.remove_prefix(2);
  uint32_t value = 0;
  bool ok = !digits.empty() && digits.size() <= 4;
  for (char ch : digits) {
    if (ch < '0' || ch > '7') ok = false;
    if (ok) value = value * 8 + static_cast<uint32_t>(ch - '0');
  }
  if (!ok || value > 0777) {
    return "'" + std::string(text) + "' is not an octal mode (000-777)";
  }
  out = value;
  return std::nullopt;
}

std::optional<std::string> normalize_base_path(std::string_view text, std::string& out) {
  // tracd strips the slashes around --base-path and puts one in front.
  std::string result;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = std::min(text.find('/', pos), text.size());
    std::string_view segment = text.substr(pos, end - pos);
    if (segment == "." || segment == "..") {
      return "'" + std::string(text) + "' must not contain '.' or '..' segments";
    }
    for (char ch : segment) {
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f || ch == '?' || ch == '#') {
        return "'" + std::string(text) +
               "' must be a plain URL path (no control characters, '?' or '#')";
      }
    }
    if (!segment.empty()) result += "/" + std::string(segment);
    pos = end + 1;
  }
  out = result;
  return std::nullopt;
}

std::string default_host(Protocol p) {
  // tracd binds every protocol to all interfaces. We do so only for http: a
  // FastCGI (SCGI, AJP) peer is trusted to set REMOTE_USER, HTTPS and
  // SCRIPT_NAME, so that port stays on loopback unless asked for.
  return p == Protocol::Http ? "" : "127.0.0.1";
}

std::optional<std::string> check_unix_path(std::string_view path) {
  constexpr size_t kMax = sizeof(sockaddr_un{}.sun_path) - 1;  // room for the NUL
  if (path.empty()) return std::string("needs a value");
  if (path.size() > kMax) {
    return "'" + std::string(path) + "' is " + std::to_string(path.size()) +
           " bytes long; a unix socket path may have at most " + std::to_string(kMax);
  }
  return std::nullopt;
}

}  // namespace gw
