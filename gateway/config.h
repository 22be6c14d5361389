// Plain configuration structs, and the loaders that fill them from the
// command line, a JSON config file (--config) and project.json files. This
// (with config.cpp and cli.cpp) is the only code that parses JSON
// configuration; everything else sees these structs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dispatch/auth/auth_options.h"
#include "dispatch/backends/body_buffer.h"
#include "dispatch/backends/mount_options.h"
#include "gateway/spawn/spawn_options.h"
#include "protocols/limits.h"
#include "protocols/request.h"

namespace gw {

// One listening socket and the protocol spoken on it.
struct ListenerConfig {
  Protocol protocol = Protocol::Http;
  // Exactly one of: TCP (host may be "" for all interfaces, "::" for IPv6),
  // a unix socket path, or the listening socket inherited on fd 0.
  std::string host;
  uint16_t port = 0;
  std::string unix_path;
  bool inherited_fd0 = false;
  // Unix socket access: mode (e.g. 0660), owner and group names or numeric ids.
  std::optional<uint32_t> socket_mode;
  std::string socket_owner;
  std::string socket_group;
  // Mount prefix the web server puts in front of gatewayd ("--base-path").
  // Unset: trust SCRIPT_NAME/PATH_INFO as the front end splits them.
  std::optional<std::string> base_path;
  std::string name;  // for logs; defaults to "proto:address"
  // HTTPS: the http protocol over TLS, with a PEM certificate chain and key.
  bool tls = false;
  std::string cert_file;
  std::string key_file;
  // AJP13, secure by default (the Ghostcat lesson): a listener on an address
  // other than loopback needs a secret unless ajp_insecure says otherwise.
  std::optional<std::string> ajp_secret;
  bool ajp_insecure = false;
  // req_attribute names accepted beyond AJP_REMOTE_PORT, AJP_LOCAL_ADDR,
  // AJP_SSL_PROTOCOL and JK_LB_ACTIVATION; any other gets 403.
  std::vector<std::string> ajp_allowed_attributes;
  // Must equal the web server's mod_jk max_packet_size / mod_proxy_ajp
  // ProxyIOBufferSize: 8192 (the AJP default) up to 65536.
  size_t ajp_packet_size = 8192;
  // A status listener ("--status-listen", protocol "status" in a config
  // file): HTTP serving the status page, JSON and Prometheus text, never
  // routed to a project.
  bool status = false;
  // This listener's access log ("" = the server's access_log).
  std::string access_log;
  // Connections open at once on this listener ("max_connections" in a
  // listener object); unset: only the server-wide limits.max_connections.
  // Past it a new connection is closed at once, as past the server-wide one.
  std::optional<size_t> max_connections;
  // A socket handed over already listening (systemd socket activation,
  // matched by name; a worker's copy of the master's socket); -1 = bind.
  // Set at start, never read from a file.
  int inherited_fd = -1;

  bool operator==(const ListenerConfig&) const = default;
};

// How a project's backend is configured in project.json ("backend": {...}).
struct BackendConfig {
  std::string type;  // "static", "echo", "http", "fastcgi", "scgi", "cgi"
  // static
  std::string root;  // absolute, resolved against the project dir
  std::vector<std::string> index = {"index.html"};
  // http, fastcgi, scgi
  std::string upstream;  // "host:port", "[v6]:port" or "unix:/path"
  uint32_t connect_timeout_ms = 5000;
  uint32_t timeout_ms = 60000;  // between two reads from the upstream; cgi: whole request
  uint32_t keepalive = 16;      // idle upstream connections kept (http, fastcgi)
  // fastcgi
  uint32_t max_conns = 0;       // 0: as the app says (FCGI_GET_VALUES)
  std::string document_root;    // DOCUMENT_ROOT (absolute)
  std::string script_filename;  // SCRIPT_FILENAME (absolute), e.g. a front controller
  // fastcgi, scgi: extra CGI variables sent with every request
  std::vector<Header> params;
  // cgi
  std::string script;       // the program (absolute, resolved against the project dir)
  std::vector<Header> env;  // its extra environment (everything else but PATH is cleared)
  uint32_t max_processes = 64;

  bool operator==(const BackendConfig&) const = default;
};

struct ProjectConfig {
  std::string name;         // directory basename (the URL segment)
  std::string dir;          // absolute project directory
  std::string description;  // project.json "description"
  BackendConfig backend;
  // The app processes gatewayd starts for the backend ("spawn"); the
  // backend's upstream is then each instance's address.
  std::optional<SpawnOptions> spawn;
  // Authentication: "auth" in project.json, else --auth/--basic-auth.
  std::optional<AuthOptions> auth;
  std::vector<StaticMount> mounts;  // "static": served before the backend
  SendfileOptions sendfile;         // "sendfile": X-Sendfile / X-Accel-Redirect
  std::string access_log;           // "access_log": this project's own (absolute)
  // "buffer_body": read the whole request body before the app sees it.
  std::optional<BodyBufferOptions> buffer_body;

  // Two loads of an unchanged project.json compare equal: a reload keeps
  // such a project running untouched.
  bool operator==(const ProjectConfig&) const = default;
};

// --basic-auth / --auth PROJECT,FILE,REALM ("*" for every project).
struct AuthSpec {
  std::string project;
  AuthOptions options;
};

struct ServerConfig {
  std::vector<ListenerConfig> listeners;
  // Projects: either single (--single-env / TRAC_ENV) or a list (explicit
  // project directories, or the subdirectories of env_parent_dir).
  bool single_env = false;
  std::vector<std::string> project_dirs;  // as given (positional args / TRAC_ENV)
  std::string env_parent_dir;             // -e / TRAC_ENV_PARENT_DIR
  // The project source above came from TRAC_ENV / TRAC_ENV_PARENT_DIR, not
  // from the command line: a config file's "projects" replace it.
  bool projects_from_env = false;
  std::optional<std::string> base_path;  // --base-path for every listener
  std::vector<AuthSpec> auth;            // --basic-auth / --auth, in the order given
  std::string index_template;            // --index-template / TRAC_ENV_INDEX_TEMPLATE
  uint32_t umask = 022;
  bool daemonize = false;
  std::string pidfile;
  std::string user, group;
  std::string error_log;  // empty: stderr
  Limits limits;
  bool check_only = false;  // --check-config
  // The --config file (absolute), read again on SIGHUP.
  std::string config_file;

  // Operations (README "Running gatewayd in production").
  uint32_t workers = 1;                   // --workers: processes under a master (1: none)
  uint32_t graceful_timeout_ms = 30'000;  // --graceful-timeout: SIGQUIT/SIGTERM wait this long
  std::string log_level = "info";         // --log-level: debug, info, warn, error
  std::string access_log;                 // --access-log: every listener's ("" none)
  std::string access_log_format;          // --access-log-format ("" = combined + extras)
  uint32_t slow_request_ms = 0;           // --slow-request-ms: 0 = no slow-request log
  std::string slow_log;                   // --slow-log: "" = the error log
};

// A configuration error: where (a flag, "file: field") and why.
struct ConfigError {
  std::string where;
  std::string why;
  std::string message() const { return where + ": " + why; }
};

// What the command line asked for.
struct CliResult {
  enum class Action { Run, Help, Version } action = Action::Run;
  ServerConfig config;
  std::string config_file;  // --config FILE, merged by load_config_file
  bool protocol_given = false;
  // --port, --hostname or --unix-socket was given. Without one, a listening
  // socket inherited on fd 0 wins over the default TCP address of --protocol
  // (a web server may spawn "gatewayd --protocol=fcgi" with its socket on fd 0).
  bool address_given = false;
};

// Parses argv (tracd-compatible; see README). `env` supplies TRAC_ENV and
// TRAC_ENV_PARENT_DIR (getenv in production, a map in tests).
using EnvLookup = const char* (*)(const char*);
std::optional<ConfigError> parse_cli(int argc, const char* const* argv, EnvLookup env,
                                     CliResult& out);

// Merges a JSON config file into `config` (listeners, limits, logs, ...).
// The command line wins, so main calls parse_cli first and this second:
//  * "listeners" are added after the command line's listeners;
//  * "projects" / "env_parent_dir" (with "single_env") apply only when the
//    command line named no project, or when its projects came from the
//    TRAC_ENV* variables (the environment ranks below the file);
//  * every other scalar applies where `config` still holds its default
//    (base_path unset, umask 022, empty pidfile/user/group/error_log);
//    "daemonize" and "single_env" can only switch on. So "--umask 022"
//    cannot override a file's "umask": the two are indistinguishable here.
//  * "limits" always apply (the command line has no limit flags).
// Relative paths in the file are resolved against the file's directory.
// The file is strict: unknown keys, duplicate keys and wrong types fail.
std::optional<ConfigError> load_config_file(const std::string& path, ServerConfig& config);

// Reads DIR/project.json into a ProjectConfig.
std::optional<ConfigError> load_project(const std::string& dir, ProjectConfig& out);

// Resolves the project set of `config`: the explicit directories or every
// subdirectory of env_parent_dir holding a project.json (skipping hidden
// ones), each loaded with load_project. Names must be unique.
std::optional<ConfigError> load_projects(const ServerConfig& config,
                                         std::vector<ProjectConfig>& out);

// The command line's auth for `project`: its own --auth/--basic-auth, else
// the "*" one, else none. project.json's "auth" wins over both.
std::optional<AuthOptions> auth_from_command_line(const std::vector<AuthSpec>& specs,
                                                  const std::string& project);

// Final checks after everything is merged (a listener exists, ports valid,
// single_env has exactly one project, ...).
std::optional<ConfigError> validate(const ServerConfig& config);

// The --help text (tracd style: usage, every option, the environment).
std::string help_text();

// Value parsers shared by the command line and the config file. Each returns
// nullopt on success or the reason the value is rejected.
//  * protocol: "http", "https" (http with tls set), "fcgi", "scgi", "ajp".
std::optional<std::string> parse_protocol(std::string_view name, Protocol& out, bool& tls);
//  * AJP packet size: 8192-65536.
std::optional<std::string> parse_ajp_packet_size(std::string_view text, size_t& out);
//  * --auth / --basic-auth value: PROJECT,FILE,REALM; FILE made absolute
//    against the working directory. The scheme in `out` is left as it is.
std::optional<std::string> parse_auth_spec(std::string_view text, AuthSpec& out);
// "https" for a TLS http listener, else protocol_name().
std::string_view listener_protocol_name(const ListenerConfig& l);
// Whether a TCP host only reaches this machine ("127.x", "::1", "localhost").
bool is_loopback_host(std::string_view host);
//  * a whole number from min to max (--workers, --graceful-timeout, ...).
std::optional<std::string> parse_count(std::string_view text, uint32_t min, uint32_t max,
                                       uint32_t& out);
//  * --log-level: debug, info, warn or error.
std::optional<std::string> check_log_level(std::string_view name);
//  * --status-listen: "PORT" (on 127.0.0.1), "HOST:PORT", "[V6]:PORT" or
//    "unix:/PATH"; `out` becomes a status listener.
std::optional<std::string> parse_status_listen(std::string_view text, ListenerConfig& out);
// --workers at most (a master watching more than this is a configuration slip).
inline constexpr uint32_t kMaxWorkers = 256;
//  * port: decimal digits only, 1-65535.
std::optional<std::string> parse_port(std::string_view text, uint16_t& out);
//  * octal mode / umask: "022", "0660", "0o22"; at most 0777.
std::optional<std::string> parse_octal_mode(std::string_view text, uint32_t& out);
//  * URL mount prefix: "/trac", "trac/", "//trac//" all become "/trac"; "/"
//    becomes "" (mounted at the root). "." and ".." segments are rejected.
std::optional<std::string> normalize_base_path(std::string_view text, std::string& out);

// Default bind address: "" (all interfaces) for http as in tracd, but
// 127.0.0.1 for the gateway protocols, whose peers are trusted to set
// REMOTE_USER, HTTPS and the like: such a port must never be exposed by
// accident.
std::string default_host(Protocol p);

// Why a unix socket path cannot be used (empty, or too long for
// sockaddr_un: 107 bytes plus the NUL on Linux), or nullopt.
std::optional<std::string> check_unix_path(std::string_view path);

}  // namespace gw
