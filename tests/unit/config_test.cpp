// The JSON loaders (--config file, project.json), project discovery and the
// final checks. Every error is compared whole: the file, the field, why.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gateway/config.h"
#include "tests/support/temp_dir.h"

namespace {

using gw::ConfigError;
using gw::ProjectConfig;
using gw::Protocol;
using gw::ServerConfig;
using gw::test::TempDir;

std::optional<ConfigError> load_text(const TempDir& dir, const std::string& json,
                                     ServerConfig& config) {
  return gw::load_config_file(dir.write("gatewayd.json", json), config);
}

void check_config_error(const std::string& json, const std::string& field, const std::string& why) {
  CAPTURE(json);
  TempDir dir;
  ServerConfig config;
  auto err = load_text(dir, json, config);
  REQUIRE(err.has_value());
  CHECK(err->where == dir / "gatewayd.json" + (field.empty() ? "" : ": " + field));
  CHECK(err->why == why);
}

// A project directory `name` under `dir` with this project.json.
std::string make_project(const TempDir& dir, const std::string& name, const std::string& json) {
  dir.write(name + "/project.json", json);
  return dir / name;
}

void check_project_error(const std::string& json, const std::string& field,
                         const std::string& why) {
  CAPTURE(json);
  TempDir dir;
  std::string proj = make_project(dir, "proj", json);
  ProjectConfig p;
  auto err = gw::load_project(proj, p);
  REQUIRE(err.has_value());
  CHECK(err->where == proj + "/project.json: " + field);
  CHECK(err->why == why);
}

const char* kTopKeys =
    "unknown key (expected one of: listeners, projects, env_parent_dir, single_env, base_path, "
    "umask, pidfile, user, group, error_log, daemonize, limits, workers, graceful_timeout_ms, "
    "log_level, access_log, access_log_format, slow_request_ms, slow_log)";

}  // namespace

// --- the config file --------------------------------------------------------

TEST_CASE("config file: every field") {
  TempDir dir;
  ServerConfig c;
  auto err = load_text(dir, R"({
    // comments are allowed
    "listeners": [
      {"protocol": "fcgi", "host": "127.0.0.1", "port": 9000, "name": "nginx",
       "max_connections": 64},
      {"protocol": "fcgi", "unix_socket": "/run/gatewayd/fcgi.sock", "socket_mode": "0660",
       "socket_owner": "www-data", "socket_group": "www-data", "base_path": "/trac/"},
      {"protocol": "http"}
    ],
    "projects": ["/srv/a", "/srv/b"],
    "single_env": false,
    "base_path": "/trac",
    "umask": "027", "pidfile": "/run/g.pid", "user": "trac", "group": "trac",
    "error_log": "/var/log/g.log", "daemonize": true,
    "limits": {"header_bytes": 32768, "header_count": 100, "name_bytes": 512,
               "value_bytes": 8192, "request_line_bytes": 4096,
               "streams_per_connection": 8, "max_connections": 100,
               "max_body_bytes": 1048576, "output_high_water": 65536,
               "header_timeout_ms": 5000, "body_timeout_ms": 0, "keepalive_timeout_ms": 30000,
               "request_timeout_ms": 600000}
  })",
                       c);
  REQUIRE_FALSE(err.has_value());
  REQUIRE(c.listeners.size() == 3);
  CHECK(c.listeners[0].protocol == Protocol::FastCgi);
  CHECK(c.listeners[0].host == "127.0.0.1");
  CHECK(c.listeners[0].port == 9000);
  CHECK(c.listeners[0].name == "nginx");
  CHECK(c.listeners[0].max_connections == std::optional<size_t>(64));
  CHECK_FALSE(c.listeners[1].max_connections.has_value());  // only limits.max_connections
  CHECK(c.listeners[1].unix_path == "/run/gatewayd/fcgi.sock");
  CHECK(c.listeners[1].socket_mode == std::optional<uint32_t>(0660));
  CHECK(c.listeners[1].socket_owner == "www-data");
  CHECK(c.listeners[1].socket_group == "www-data");
  CHECK(c.listeners[1].base_path == std::optional<std::string>("/trac"));
  CHECK(c.listeners[1].port == 0);
  CHECK(c.listeners[2].protocol == Protocol::Http);
  CHECK(c.listeners[2].host == "");
  CHECK(c.listeners[2].port == 80);
  CHECK(c.project_dirs == std::vector<std::string>{"/srv/a", "/srv/b"});
  CHECK(c.env_parent_dir.empty());
  CHECK_FALSE(c.single_env);
  CHECK(c.base_path == std::optional<std::string>("/trac"));
  CHECK(c.umask == 027);
  CHECK(c.pidfile == "/run/g.pid");
  CHECK(c.user == "trac");
  CHECK(c.group == "trac");
  CHECK(c.error_log == "/var/log/g.log");
  CHECK(c.daemonize);
  CHECK(c.limits.header_bytes == 32768);
  CHECK(c.limits.header_count == 100);
  CHECK(c.limits.name_bytes == 512);
  CHECK(c.limits.value_bytes == 8192);
  CHECK(c.limits.request_line_bytes == 4096);
  CHECK(c.limits.streams_per_connection == 8);
  CHECK(c.limits.max_connections == 100);
  CHECK(c.limits.max_body_bytes == 1048576);
  CHECK(c.limits.output_high_water == 65536);
  CHECK(c.limits.header_timeout_ms == 5000);
  CHECK(c.limits.body_timeout_ms == 0);
  CHECK(c.limits.keepalive_timeout_ms == 30000);
  CHECK(c.limits.request_timeout_ms == 600000);
  CHECK(c.limits.input_buffer_bytes == gw::Limits{}.input_buffer_bytes);
  CHECK_FALSE(gw::validate(c).has_value());
}

TEST_CASE("config file: one process, every protocol") {
  TempDir dir;
  ServerConfig c;
  auto err = load_text(dir, R"({
    "listeners": [
      {"protocol": "fcgi", "unix_socket": "/run/gatewayd/fcgi.sock"},
      {"protocol": "scgi", "port": 4000},
      {"protocol": "ajp", "host": "0.0.0.0", "secret": "s3cr3t", "packet_size": 65536,
       "allowed_attributes": ["X_TRACE"]},
      {"protocol": "ajp", "host": "::", "port": 8010, "insecure": true},
      {"protocol": "http", "port": 8000},
      {"protocol": "https", "port": 8443, "certfile": "tls/server.pem", "keyfile": "/k.pem"}
    ],
    "projects": ["/srv/a"]
  })",
                       c);
  REQUIRE_FALSE(err.has_value());
  REQUIRE(c.listeners.size() == 6);
  CHECK(c.listeners[1].protocol == Protocol::Scgi);
  CHECK(c.listeners[1].host == "127.0.0.1");
  const auto& ajp = c.listeners[2];
  CHECK(ajp.protocol == Protocol::Ajp13);
  CHECK(ajp.port == 8009);
  CHECK(ajp.ajp_secret == std::optional<std::string>("s3cr3t"));
  CHECK(ajp.ajp_packet_size == 65536);
  CHECK(ajp.ajp_allowed_attributes == std::vector<std::string>{"X_TRACE"});
  CHECK(c.listeners[3].ajp_insecure);
  CHECK(c.listeners[3].ajp_packet_size == 8192);
  const auto& tls = c.listeners[5];
  CHECK(tls.protocol == Protocol::Http);
  CHECK(tls.tls);
  CHECK(tls.cert_file == dir / "tls/server.pem");  // relative to the file
  CHECK(tls.key_file == "/k.pem");
  CHECK_FALSE(gw::validate(c).has_value());
}

TEST_CASE("config file: defaults and relative paths") {
  TempDir dir;
  ServerConfig c;
  REQUIRE_FALSE(load_text(dir, R"({"listeners": [{"protocol": "fcgi"},
      {"protocol": "fcgi", "unix_socket": "run/g.sock"}],
      "env_parent_dir": "projects", "pidfile": "g.pid", "error_log": "/abs.log"})",
                          c)
                    .has_value());
  REQUIRE(c.listeners.size() == 2);
  // FastCGI on loopback unless told otherwise.
  CHECK(c.listeners[0].host == "127.0.0.1");
  CHECK(c.listeners[0].port == 8000);
  CHECK_FALSE(c.listeners[0].base_path.has_value());
  CHECK(c.listeners[1].unix_path == dir / "run/g.sock");
  CHECK(c.env_parent_dir == dir / "projects");
  CHECK(c.pidfile == dir / "g.pid");
  CHECK(c.error_log == "/abs.log");
  CHECK(c.umask == 022);
  CHECK(c.limits.header_bytes == gw::Limits{}.header_bytes);
}

TEST_CASE("config file: unknown keys") {
  check_config_error(R"({"frobnicate": 1})", "frobnicate", kTopKeys);
  check_config_error(R"({"listeners": [{"protocol": "http"}, {"protocol": "http", "hots": "x"}]})",
                     "listeners[1].hots",
                     "unknown key (expected one of: protocol, host, port, unix_socket, "
                     "socket_mode, socket_owner, socket_group, base_path, name, certfile, keyfile, "
                     "secret, insecure, allowed_attributes, packet_size, access_log, "
                     "max_connections)");
  check_config_error(R"({"limits": {"header_byte": 1}})", "limits.header_byte",
                     "unknown key (expected one of: header_bytes, header_count, name_bytes, "
                     "value_bytes, request_line_bytes, streams_per_connection, max_connections, "
                     "max_body_bytes, output_high_water, header_timeout_ms, body_timeout_ms, "
                     "keepalive_timeout_ms, request_timeout_ms)");
}

TEST_CASE("config file: wrong types") {
  check_config_error(R"({"daemonize": "yes"})", "daemonize", "must be true or false");
  check_config_error(R"({"single_env": 1})", "single_env", "must be true or false");
  check_config_error(R"({"pidfile": 5})", "pidfile", "must be a string");
  check_config_error(R"({"user": ""})", "user", "must not be empty");
  check_config_error(R"({"umask": 18})", "umask", "must be an octal string such as \"022\"");
  check_config_error(R"({"umask": "099"})", "umask", "'099' is not an octal mode (000-777)");
  check_config_error(R"({"listeners": {"protocol": "http"}})", "listeners",
                     "must be an array of listener objects");
  check_config_error(R"({"listeners": ["http"]})", "listeners[0]", "must be an object");
  check_config_error(R"({"projects": "/srv/a"})", "projects", "must be an array of directories");
  check_config_error(R"({"projects": ["/srv/a", 3]})", "projects[1]", "must be a non-empty string");
  check_config_error(R"({"projects": [""]})", "projects[0]", "must be a non-empty string");
  check_config_error(R"({"limits": []})", "limits", "must be an object");
  check_config_error(R"({"limits": {"header_bytes": -1}})", "limits.header_bytes",
                     "must be an integer 256-1073741824");
  check_config_error(R"({"limits": {"header_count": 1.5}})", "limits.header_count",
                     "must be an integer 1-1000000");
  check_config_error(R"({"limits": {"streams_per_connection": 65536}})",
                     "limits.streams_per_connection", "must be an integer 1-65535");
  check_config_error(R"({"limits": {"header_timeout_ms": 86400001}})", "limits.header_timeout_ms",
                     "must be an integer 0-86400000");
  check_config_error(R"({"limits": {"max_body_bytes": "1M"}})", "limits.max_body_bytes",
                     "must be a non-negative integer");
  check_config_error(R"({"base_path": "/a/../b"})", "base_path",
                     "'/a/../b' must not contain '.' or '..' segments");
}

TEST_CASE("config file: listener errors") {
  const std::string port_why = "must be an integer 1-65535";
  check_config_error(R"({"listeners": [{"protocol": "http", "port": 80},
                                       {"protocol": "http", "port": 70000}]})",
                     "listeners[1].port", port_why);
  check_config_error(R"({"listeners": [{"protocol": "http", "port": 0}]})", "listeners[0].port",
                     port_why);
  check_config_error(R"({"listeners": [{"protocol": "http", "port": "80"}]})", "listeners[0].port",
                     port_why);
  check_config_error(R"({"listeners": [{"protocol": "http", "port": 80.0}]})", "listeners[0].port",
                     port_why);
  check_config_error(R"({"listeners": [{"port": 80}]})", "listeners[0].protocol",
                     "is required (http, https, fcgi, scgi, ajp or status)");
  check_config_error(R"({"listeners": [{"protocol": "spdy"}]})", "listeners[0].protocol",
                     "'spdy' is not one of http, https, fcgi, scgi, ajp or status");
  check_config_error(R"({"listeners": [{"protocol": "ajp", "packet_size": 4096}]})",
                     "listeners[0].packet_size", "must be an integer 8192-65536");
  const std::string conns_why = "must be an integer 1-10000000";
  check_config_error(R"({"listeners": [{"protocol": "http", "max_connections": 0}]})",
                     "listeners[0].max_connections", conns_why);
  check_config_error(R"({"listeners": [{"protocol": "http", "max_connections": 10000001}]})",
                     "listeners[0].max_connections", conns_why);
  check_config_error(R"({"listeners": [{"protocol": "http", "max_connections": "3"}]})",
                     "listeners[0].max_connections", conns_why);
  check_config_error(R"({"listeners": [{"protocol": "http", "max_connections": -3}]})",
                     "listeners[0].max_connections", conns_why);
  check_config_error(R"({"listeners": [{"protocol": "http", "max_connections": null}]})",
                     "listeners[0].max_connections", conns_why);
  check_config_error(R"({"listeners": [{"protocol": "ajp", "secret": ""}]})", "listeners[0].secret",
                     "must not be empty");
  check_config_error(R"({"listeners": [{"protocol": "ajp", "insecure": "yes"}]})",
                     "listeners[0].insecure", "must be true or false");
  check_config_error(R"({"listeners": [{"protocol": "ajp", "allowed_attributes": "A"}]})",
                     "listeners[0].allowed_attributes", "must be an array of names");
  check_config_error(R"({"listeners": [{"protocol": "ajp", "allowed_attributes": [""]}]})",
                     "listeners[0].allowed_attributes", "must hold non-empty strings");
  check_config_error(R"({"listeners": [{"protocol": "fcgi", "unix_socket": "/s", "port": 1}]})",
                     "listeners[0].port", "cannot be combined with unix_socket");
  check_config_error(R"({"listeners": [{"protocol": "fcgi", "socket_mode": "0660"}]})",
                     "listeners[0].socket_mode", "needs unix_socket");
  check_config_error(
      R"({"listeners": [{"protocol": "fcgi", "unix_socket": "/s", "socket_mode": 660}]})",
      "listeners[0].socket_mode", "must be an octal string such as \"0660\"");
  std::string long_path = "/" + std::string(120, 'x');
  check_config_error(
      R"({"listeners": [{"protocol": "fcgi", "unix_socket": ")" + long_path + R"("}]})",
      "listeners[0].unix_socket",
      "'" + long_path + "' is 121 bytes long; a unix socket path may have at most 107");
}

TEST_CASE("config file: project source errors") {
  check_config_error(R"({"projects": ["/a"], "env_parent_dir": "/p"})", "env_parent_dir",
                     "cannot be combined with projects");
}

TEST_CASE("config file: unreadable and malformed files") {
  TempDir dir;
  ServerConfig c;
  auto err = gw::load_config_file(dir / "missing.json", c);
  REQUIRE(err.has_value());
  CHECK(err->where == dir / "missing.json");
  CHECK(err->why == "cannot read: No such file or directory");

  err = gw::load_config_file(dir.path(), c);
  REQUIRE(err.has_value());
  CHECK(err->why == "cannot read: Is a directory");

  check_config_error(R"([1, 2])", "", "must hold a JSON object");
  check_config_error(R"({"user": "a", "user": "b"})", "", "duplicate key \"user\"");
  check_config_error(R"({"limits": {"header_count": 1, "header_count": 2}})", "",
                     "duplicate key \"header_count\"");
  check_config_error("{\"user\": \"a\",}", "",
                     "invalid JSON: parse error at line 1, column 14: syntax error while parsing "
                     "object key - unexpected '}'; expected string literal");
  check_config_error("", "",
                     "invalid JSON: parse error at line 1, column 1: syntax error while parsing "
                     "value - unexpected end of input; expected '[', '{', or a literal");
}

TEST_CASE("config file: same key in different objects is not a duplicate") {
  TempDir dir;
  ServerConfig c;
  CHECK_FALSE(load_text(dir, R"({"listeners": [{"protocol": "http", "port": 81},
                                               {"protocol": "http", "port": 82}]})",
                        c)
                  .has_value());
  CHECK(c.listeners.size() == 2);
}

TEST_CASE("config file: the command line wins") {
  TempDir dir;
  const std::string file = R"({"listeners": [{"protocol": "fcgi", "port": 9000}],
      "projects": ["/file/a"], "single_env": true, "base_path": "/file", "umask": "077",
      "pidfile": "/file.pid", "user": "fileuser", "group": "filegroup",
      "error_log": "/file.log", "daemonize": true, "limits": {"header_count": 50}})";
  SUBCASE("values set on the command line stay") {
    ServerConfig c;
    gw::ListenerConfig cli_listener;
    cli_listener.port = 8000;
    c.listeners.push_back(cli_listener);
    c.project_dirs = {"/cli/a", "/cli/b"};
    c.base_path = "/cli";
    c.umask = 027;
    c.pidfile = "/cli.pid";
    c.user = "cliuser";
    c.group = "cligroup";
    c.error_log = "/cli.log";
    REQUIRE_FALSE(load_text(dir, file, c).has_value());
    REQUIRE(c.listeners.size() == 2);  // the file's are added after the command line's
    CHECK(c.listeners[0].port == 8000);
    CHECK(c.listeners[1].port == 9000);
    CHECK(c.project_dirs == std::vector<std::string>{"/cli/a", "/cli/b"});
    CHECK_FALSE(c.single_env);  // belongs to the file's projects, which did not apply
    CHECK(c.base_path == std::optional<std::string>("/cli"));
    CHECK(c.umask == 027);
    CHECK(c.pidfile == "/cli.pid");
    CHECK(c.user == "cliuser");
    CHECK(c.group == "cligroup");
    CHECK(c.error_log == "/cli.log");
    CHECK(c.daemonize);
    CHECK(c.limits.header_count == 50);
  }
  SUBCASE("values left at their defaults come from the file") {
    ServerConfig c;
    REQUIRE_FALSE(load_text(dir, file, c).has_value());
    CHECK(c.project_dirs == std::vector<std::string>{"/file/a"});
    CHECK(c.single_env);
    CHECK(c.base_path == std::optional<std::string>("/file"));
    CHECK(c.umask == 077);
    CHECK(c.pidfile == "/file.pid");
    CHECK(c.user == "fileuser");
  }
  SUBCASE("the file's projects replace those from TRAC_ENV") {
    ServerConfig c;
    c.project_dirs = {"/env/proj"};
    c.single_env = true;
    c.projects_from_env = true;
    REQUIRE_FALSE(load_text(dir, R"({"env_parent_dir": "/file/parent"})", c).has_value());
    CHECK(c.project_dirs.empty());
    CHECK(c.env_parent_dir == "/file/parent");
    CHECK_FALSE(c.single_env);
    CHECK_FALSE(c.projects_from_env);
  }
  SUBCASE("a -e parent directory is kept") {
    ServerConfig c;
    c.env_parent_dir = "/cli/parent";
    REQUIRE_FALSE(load_text(dir, R"({"projects": ["/file/a"]})", c).has_value());
    CHECK(c.env_parent_dir == "/cli/parent");
    CHECK(c.project_dirs.empty());
  }
  SUBCASE("a failed load leaves the configuration untouched") {
    ServerConfig c;
    c.pidfile = "/cli.pid";
    REQUIRE(load_text(dir, R"({"user": "u", "daemonize": 1})", c).has_value());
    CHECK(c.user.empty());
    CHECK(c.pidfile == "/cli.pid");
  }
}

// --- project.json -----------------------------------------------------------

TEST_CASE("project: static backend") {
  TempDir dir;
  std::string proj =
      make_project(dir, "wiki", R"({"description": "The wiki", "backend": {"type": "static"}})");
  dir.mkdir("wiki/htdocs");
  SUBCASE("defaults") {
    ProjectConfig p;
    REQUIRE_FALSE(gw::load_project(proj, p).has_value());
    CHECK(p.name == "wiki");
    CHECK(p.dir == proj);
    CHECK(p.description == "The wiki");
    CHECK(p.backend.type == "static");
    CHECK(p.backend.root == proj + "/htdocs");
    CHECK(p.backend.index == std::vector<std::string>{"index.html"});
  }
  SUBCASE("trailing slashes and relative segments in the directory") {
    ProjectConfig p;
    REQUIRE_FALSE(gw::load_project(proj + "//", p).has_value());
    CHECK(p.name == "wiki");
    CHECK(p.dir == proj);
    REQUIRE_FALSE(gw::load_project(proj + "/.", p).has_value());
    CHECK(p.name == "wiki");
    CHECK(p.dir == proj);
  }
  SUBCASE("root and index") {
    dir.mkdir("wiki/public/site");
    dir.write("wiki/project.json", R"({"backend": {"type": "static", "root": "public/site",
                                       "index": ["index.htm", "default.html"]}})");
    ProjectConfig p;
    REQUIRE_FALSE(gw::load_project(proj, p).has_value());
    CHECK(p.description.empty());
    CHECK(p.backend.root == proj + "/public/site");
    CHECK(p.backend.index == std::vector<std::string>{"index.htm", "default.html"});
  }
  SUBCASE("an absolute root") {
    std::string elsewhere = dir.mkdir("elsewhere");
    dir.write("wiki/project.json",
              R"({"backend": {"type": "static", "root": ")" + elsewhere + R"(", "index": []}})");
    ProjectConfig p;
    REQUIRE_FALSE(gw::load_project(proj, p).has_value());
    CHECK(p.backend.root == elsewhere);
    CHECK(p.backend.index.empty());
  }
}

TEST_CASE("project: static backend errors") {
  TempDir dir;
  std::string proj = make_project(dir, "p", R"({"backend": {"type": "static"}})");
  ProjectConfig p;
  auto err = gw::load_project(proj, p);
  REQUIRE(err.has_value());
  CHECK(err->where == proj + "/project.json: backend.root");
  CHECK(err->why == "cannot use '" + proj + "/htdocs': No such file or directory");

  dir.write("p/htdocs", "a file");
  err = gw::load_project(proj, p);
  REQUIRE(err.has_value());
  CHECK(err->where == proj + "/project.json: backend.root");
  CHECK(err->why == "'" + proj + "/htdocs' is not a directory");

  dir.mkdir("p/www");
  dir.write("p/project.json",
            R"({"backend": {"type": "static", "root": "www", "index": ["a/b"]}})");
  err = gw::load_project(proj, p);
  REQUIRE(err.has_value());
  CHECK(err->where == proj + "/project.json: backend.index[0]");
  CHECK(err->why == "must be a file name (no '/')");

  for (const char* index : {R"("x")", R"([".."])", R"([""])", R"([1])"}) {
    CAPTURE(index);
    dir.write(
        "p/project.json",
        std::string(R"({"backend": {"type": "static", "root": "www", "index": )") + index + "}}");
    err = gw::load_project(proj, p);
    REQUIRE(err.has_value());
    CHECK(err->where.rfind(proj + "/project.json: backend.index", 0) == 0);
  }
  check_project_error(R"({"backend": {"type": "static", "roots": "www"}})", "backend.roots",
                      "unknown key (expected one of: type, root, index)");
  check_project_error(R"({"backend": {"type": "static", "root": ""}})", "backend.root",
                      "must not be empty");
}

TEST_CASE("project: echo backend") {
  TempDir dir;
  std::string proj = make_project(dir, "echo", R"({"backend": {"type": "echo"}})");
  ProjectConfig p;
  REQUIRE_FALSE(gw::load_project(proj, p).has_value());
  CHECK(p.name == "echo");
  CHECK(p.backend.type == "echo");
  check_project_error(R"({"backend": {"type": "echo", "root": "x"}})", "backend.root",
                      "unknown key (expected one of: type)");
}

TEST_CASE("project: http backend") {
  for (const char* upstream :
       {"127.0.0.1:8080", "app.internal:80", "[::1]:8080", "unix:/run/app.sock"}) {
    CAPTURE(upstream);
    TempDir dir;
    std::string proj = make_project(
        dir, "app",
        std::string(R"({"backend": {"type": "http", "upstream": ")") + upstream + R"("}})");
    ProjectConfig p;
    REQUIRE_FALSE(gw::load_project(proj, p).has_value());
    CHECK(p.backend.type == "http");
    CHECK(p.backend.upstream == upstream);
    CHECK(p.backend.connect_timeout_ms == 5000);
    CHECK(p.backend.timeout_ms == 60000);
    CHECK(p.backend.keepalive == 16);
  }
  TempDir dir;
  std::string proj = make_project(dir, "app", R"({"backend": {"type": "http",
      "upstream": "127.0.0.1:8080", "connect_timeout_ms": 250, "timeout_ms": 30000,
      "keepalive": 0}})");
  ProjectConfig p;
  REQUIRE_FALSE(gw::load_project(proj, p).has_value());
  CHECK(p.backend.connect_timeout_ms == 250);
  CHECK(p.backend.timeout_ms == 30000);
  CHECK(p.backend.keepalive == 0);
}

TEST_CASE("project: fastcgi backend") {
  TempDir dir;
  std::string proj = make_project(dir, "php", R"({"backend": {"type": "fastcgi",
      "upstream": "unix:/run/php/php8.2-fpm.sock", "keepalive": 4, "max_conns": 8,
      "document_root": "www", "script_filename": "/srv/app/index.php",
      "params": {"APP_ENV": "prod", "TRAC_ENV": "/srv/trac"}}})");
  ProjectConfig p;
  REQUIRE_FALSE(gw::load_project(proj, p).has_value());
  CHECK(p.backend.type == "fastcgi");
  CHECK(p.backend.upstream == "unix:/run/php/php8.2-fpm.sock");
  CHECK(p.backend.keepalive == 4);
  CHECK(p.backend.max_conns == 8);
  CHECK(p.backend.document_root == p.dir + "/www");
  CHECK(p.backend.script_filename == "/srv/app/index.php");
  REQUIRE(p.backend.params.size() == 2);
  CHECK(p.backend.params[0].name == "APP_ENV");
  CHECK(p.backend.params[1].value == "/srv/trac");
  check_project_error(R"({"backend": {"type": "fastcgi"}})", "backend.upstream", "is required");
  check_project_error(R"({"backend": {"type": "fastcgi", "upstream": "a:1", "params": []}})",
                      "backend.params", "must be an object of \"NAME\": \"value\" strings");
  check_project_error(R"({"backend": {"type": "fastcgi", "upstream": "a:1", "params": {"A": 1}}})",
                      "backend.params.A", "must be a string");
  check_project_error(
      R"({"backend": {"type": "fastcgi", "upstream": "a:1", "params": {"A=B": "x"}}})",
      "backend.params", "'A=B' is not a variable name");
}

TEST_CASE("project: scgi and cgi backends") {
  TempDir dir;
  std::string proj = make_project(dir, "trac", R"({"backend": {"type": "scgi",
      "upstream": "127.0.0.1:4000", "timeout_ms": 1000, "params": {"X": "y"}}})");
  ProjectConfig p;
  REQUIRE_FALSE(gw::load_project(proj, p).has_value());
  CHECK(p.backend.type == "scgi");
  CHECK(p.backend.timeout_ms == 1000);
  CHECK(p.backend.params.size() == 1);
  check_project_error(R"({"backend": {"type": "scgi", "upstream": "a:1", "keepalive": 1}})",
                      "backend.keepalive",
                      "unknown key (expected one of: type, upstream, connect_timeout_ms, "
                      "timeout_ms, params)");

  std::string cgi = make_project(dir, "cgi", R"({"backend": {"type": "cgi",
      "script": "/bin/sh", "timeout_ms": 5000, "env": {"LC_TIME": "C"}}})");
  REQUIRE_FALSE(gw::load_project(cgi, p).has_value());
  CHECK(p.backend.type == "cgi");
  CHECK(p.backend.script == "/bin/sh");
  CHECK(p.backend.timeout_ms == 5000);
  CHECK(p.backend.max_processes == 64);
  REQUIRE(p.backend.env.size() == 1);
  CHECK(p.backend.env[0].name == "LC_TIME");
  check_project_error(R"({"backend": {"type": "cgi"}})", "backend.script", "is required");
  TempDir other;
  std::string missing = make_project(other, "x", R"({"backend": {"type": "cgi",
      "script": "app.cgi"}})");
  auto err = gw::load_project(missing, p);
  REQUIRE(err.has_value());
  CHECK(err->why == "cannot run '" + other / "x/app.cgi" + "': No such file or directory");
}

TEST_CASE("project: http backend errors") {
  const std::string forms = "must be \"host:port\", \"[v6addr]:port\" or \"unix:/path\"";
  check_project_error(R"({"backend": {"type": "http"}})", "backend.upstream", "is required");
  check_project_error(R"({"backend": {"type": "http", "upstream": 8080}})", "backend.upstream",
                      "must be a string");
  for (const char* bad : {"localhost", ":80", "[::1]", "[]:80", "[::1]80"}) {
    CAPTURE(bad);
    check_project_error(
        std::string(R"({"backend": {"type": "http", "upstream": ")") + bad + R"("}})",
        "backend.upstream", forms);
  }
  check_project_error(R"({"backend": {"type": "http", "upstream": "::1:80"}})", "backend.upstream",
                      "an IPv6 address must be in brackets: \"[v6addr]:port\"");
  check_project_error(R"({"backend": {"type": "http", "upstream": "host:0"}})", "backend.upstream",
                      "'0' is not a port number (1-65535)");
  check_project_error(R"({"backend": {"type": "http", "upstream": "host:"}})", "backend.upstream",
                      "'' is not a port number (1-65535)");
  check_project_error(R"({"backend": {"type": "http", "upstream": "unix:run/a.sock"}})",
                      "backend.upstream", "unix: needs an absolute path");
  check_project_error(R"({"backend": {"type": "http", "upstream": "a:1", "timeout_ms": 0}})",
                      "backend.timeout_ms", "must be an integer 1-86400000");
  check_project_error(
      R"({"backend": {"type": "http", "upstream": "a:1", "connect_timeout_ms": "5s"}})",
      "backend.connect_timeout_ms", "must be an integer 1-600000");
  check_project_error(R"({"backend": {"type": "http", "upstream": "a:1", "keepalive": -1}})",
                      "backend.keepalive", "must be an integer 0-65535");
  check_project_error(R"({"backend": {"type": "http", "upstream": "a:1", "root": "x"}})",
                      "backend.root",
                      "unknown key (expected one of: type, upstream, connect_timeout_ms, "
                      "timeout_ms, keepalive)");
}

TEST_CASE("project: structure errors") {
  const std::string types = "static, echo, http, fastcgi, scgi, cgi";
  check_project_error(R"({"backend": {"type": "wsgi"}})", "backend.type",
                      "must be one of " + types);
  check_project_error(R"({"backend": {"type": 3}})", "backend.type", "must be one of " + types);
  check_project_error(R"({"backend": {}})", "backend.type", "is required (one of " + types + ")");
  check_project_error(R"({"description": "x"})", "backend", "is required");
  check_project_error(R"({"backend": "echo"})", "backend", "must be an object");
  check_project_error(
      R"({"backend": {"type": "echo"}, "name": "x"})", "name",
      "unknown key (expected one of: description, backend, spawn, auth, static, sendfile, "
      "access_log, buffer_body)");
  check_project_error(R"({"backend": {"type": "echo"}, "description": 1})", "description",
                      "must be a string");
}

TEST_CASE("project: unreadable project.json") {
  TempDir dir;
  std::string proj = dir.mkdir("empty");
  ProjectConfig p;
  auto err = gw::load_project(proj, p);
  REQUIRE(err.has_value());
  CHECK(err->where == proj + "/project.json");
  CHECK(err->why == "cannot read: No such file or directory");

  err = gw::load_project(proj + "/", p);
  REQUIRE(err.has_value());
  CHECK(err->where == proj + "/project.json");

  dir.write("empty/project.json", "{\"backend\": ");
  err = gw::load_project(proj, p);
  REQUIRE(err.has_value());
  CHECK(err->where == proj + "/project.json");
  CHECK(err->why.rfind("invalid JSON: parse error at line 1, column 13", 0) == 0);
}

// --- project discovery ------------------------------------------------------

TEST_CASE("projects: a parent directory") {
  TempDir dir;
  const std::string echo = R"({"backend": {"type": "echo"}})";
  make_project(dir, "zeta", echo);
  make_project(dir, "alpha", echo);
  make_project(dir, "Beta", echo);
  make_project(dir, ".hidden", echo);  // skipped: hidden
  dir.mkdir("plain");                  // skipped: no project.json
  dir.write("file.txt", "x");          // skipped: not a directory
  REQUIRE(::symlink((dir / "alpha").c_str(), (dir / "linked").c_str()) ==
          0);  // followed, as tracd's isdir
  ServerConfig c;
  c.env_parent_dir = dir.path() + "/";
  std::vector<ProjectConfig> projects;
  REQUIRE_FALSE(gw::load_projects(c, projects).has_value());
  std::vector<std::string> names;
  for (const auto& p : projects) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{"Beta", "alpha", "linked", "zeta"});
  CHECK(projects[0].dir == dir / "Beta");
  CHECK(projects[2].dir == dir / "alpha");  // canonical
}

TEST_CASE("projects: a broken project in a parent directory is reported") {
  TempDir dir;
  make_project(dir, "good", R"({"backend": {"type": "echo"}})");
  make_project(dir, "broken", R"({"backend": {"type": "echo", "extra": 1}})");
  ServerConfig c;
  c.env_parent_dir = dir.path();
  std::vector<ProjectConfig> projects;
  auto err = gw::load_projects(c, projects);
  REQUIRE(err.has_value());
  CHECK(err->where == dir / "broken/project.json: backend.extra");
  CHECK(err->why == "unknown key (expected one of: type)");
  CHECK(projects.empty());

  dir.write("broken/project.json", "not json");
  err = gw::load_projects(c, projects);
  REQUIRE(err.has_value());
  CHECK(err->where == dir / "broken/project.json");
}

TEST_CASE("projects: a missing parent directory") {
  TempDir dir;
  ServerConfig c;
  c.env_parent_dir = dir / "nope";
  std::vector<ProjectConfig> projects;
  auto err = gw::load_projects(c, projects);
  REQUIRE(err.has_value());
  CHECK(err->where == dir / "nope");
  CHECK(err->why == "cannot list: No such file or directory");
}

TEST_CASE("projects: an empty parent directory serves no project") {
  TempDir dir;
  ServerConfig c;
  c.env_parent_dir = dir.path();
  std::vector<ProjectConfig> projects = {ProjectConfig{}};
  REQUIRE_FALSE(gw::load_projects(c, projects).has_value());
  CHECK(projects.empty());
}

TEST_CASE("projects: explicit directories") {
  TempDir dir;
  const std::string echo = R"({"backend": {"type": "echo"}})";
  std::string b = make_project(dir, "b", echo);
  std::string a = make_project(dir, "a", echo);
  std::string other_a = make_project(dir, "other/a", echo);
  ServerConfig c;
  std::vector<ProjectConfig> projects;
  SUBCASE("kept in the order given") {
    c.project_dirs = {b, a + "/"};
    REQUIRE_FALSE(gw::load_projects(c, projects).has_value());
    REQUIRE(projects.size() == 2);
    CHECK(projects[0].name == "b");
    CHECK(projects[1].name == "a");
    CHECK(projects[1].dir == a);
  }
  SUBCASE("two projects with the same name") {
    c.project_dirs = {a, b, other_a};
    auto err = gw::load_projects(c, projects);
    REQUIRE(err.has_value());
    CHECK(err->where == other_a);
    CHECK(err->why == "project name \"a\" is already used by " + a);
  }
  SUBCASE("a missing directory") {
    c.project_dirs = {a, dir / "missing"};
    auto err = gw::load_projects(c, projects);
    REQUIRE(err.has_value());
    CHECK(err->where == dir / "missing");
    CHECK(err->why == "cannot use project directory: No such file or directory");
  }
  SUBCASE("a file instead of a directory") {
    c.project_dirs = {dir.write("f", "x")};
    auto err = gw::load_projects(c, projects);
    REQUIRE(err.has_value());
    CHECK(err->where == dir / "f");
    CHECK(err->why == "is not a directory");
  }
  SUBCASE("a directory without project.json") {
    c.project_dirs = {dir.mkdir("bare")};
    auto err = gw::load_projects(c, projects);
    REQUIRE(err.has_value());
    CHECK(err->where == dir / "bare/project.json");
    CHECK(err->why == "cannot read: No such file or directory");
  }
}

// --- validate ---------------------------------------------------------------

TEST_CASE("validate: a complete configuration") {
  ServerConfig c;
  c.project_dirs = {"/srv/a"};
  CHECK_FALSE(gw::validate(c).has_value());  // listeners may be empty: main fills them
  gw::ListenerConfig tcp;
  tcp.protocol = Protocol::FastCgi;
  tcp.host = "127.0.0.1";
  tcp.port = 9000;
  gw::ListenerConfig unix_listener;
  unix_listener.unix_path = "/run/g.sock";
  unix_listener.socket_mode = 0660;
  gw::ListenerConfig inherited;
  inherited.inherited_fd0 = true;
  c.listeners = {tcp, unix_listener, inherited};
  c.single_env = true;
  c.base_path = "";
  CHECK_FALSE(gw::validate(c).has_value());
}

TEST_CASE("validate: errors") {
  auto check = [](const ServerConfig& c, const std::string& where, const std::string& why) {
    auto err = gw::validate(c);
    REQUIRE(err.has_value());
    CHECK(err->where == where);
    CHECK(err->why == why);
  };
  ServerConfig base;
  base.project_dirs = {"/srv/a"};
  {
    ServerConfig c;
    check(c, "projects",
          "no project: give a project directory, -e DIR, or set TRAC_ENV / TRAC_ENV_PARENT_DIR");
    c.project_dirs = {"/a"};
    c.env_parent_dir = "/p";
    check(c, "projects", "give project directories or a parent directory, not both");
    c.env_parent_dir.clear();
    c.project_dirs = {"/a", "/b"};
    c.single_env = true;
    check(c, "single_env", "needs exactly one project directory, not 2");
    c.project_dirs = {""};
    check(c, "projects", "a project directory name is empty");
  }
  {
    ServerConfig c = base;
    c.single_env = true;
    c.project_dirs.clear();
    c.env_parent_dir = "/p";
    check(c, "single_env", "needs exactly one project directory, not 0");
  }
  gw::ListenerConfig l;
  l.protocol = Protocol::Http;
  {
    ServerConfig c = base;
    c.listeners = {l};
    check(c, "listener http:*:0", "port must be 1-65535");
    c.listeners[0].port = 80;
    c.listeners[0].tls = true;
    check(c, "listener https:*:80", "https needs a certificate file and a key file");
    c.listeners[0].cert_file = "/c";
    c.listeners[0].key_file = "/k";
    CHECK_FALSE(gw::validate(c).has_value());
    c.listeners[0].protocol = Protocol::Scgi;
    check(c, "listener https:*:80", "TLS is only for http (https)");
    c.listeners[0].tls = false;
    check(c, "listener scgi:*:80", "a certificate or key file needs protocol https");
    c.listeners[0].cert_file.clear();
    c.listeners[0].key_file.clear();
    c.listeners[0].ajp_secret = "s";
    check(c, "listener scgi:*:80",
          "AJP settings (secret, insecure, allowed attributes, packet size) need protocol ajp");
    c.listeners[0].protocol = Protocol::Ajp13;
    c.listeners[0].name = "ajp-front";
    CHECK_FALSE(gw::validate(c).has_value());
    c.listeners[0].ajp_secret.reset();
    check(c, "listener ajp-front",
          "an AJP listener reachable from other machines needs a secret (--ajp-secret or "
          "\"secret\"), or must be declared insecure (--ajp-insecure or \"insecure\": true)");
    c.listeners[0].ajp_insecure = true;
    CHECK_FALSE(gw::validate(c).has_value());
    c.listeners[0].ajp_packet_size = 100000;
    check(c, "listener ajp-front", "AJP packet size must be 8192-65536");
  }
  {
    ServerConfig c = base;
    gw::ListenerConfig u = l;
    u.unix_path = "/" + std::string(107, 'x');
    c.listeners = {u};
    check(c, "listener http:unix:" + u.unix_path,
          "'" + u.unix_path + "' is 108 bytes long; a unix socket path may have at most 107");
    c.listeners[0].unix_path = "/s";
    c.listeners[0].port = 80;
    check(c, "listener http:unix:/s", "give one of host/port, a unix socket or the inherited fd 0");
    c.listeners[0].port = 0;
    c.listeners[0].socket_mode = 01000;
    check(c, "listener http:unix:/s", "socket mode above 0777");
    c.listeners[0].socket_mode.reset();
    c.listeners[0].max_connections = 0;
    check(c, "listener http:unix:/s", "max_connections must be at least 1");
    c.listeners[0].max_connections = 1;
    CHECK_FALSE(gw::validate(c).has_value());
  }
  {
    ServerConfig c = base;
    gw::ListenerConfig t = l;
    t.host = "::1";
    t.port = 80;
    t.socket_owner = "www-data";
    c.listeners = {t};
    check(c, "listener http:[::1]:80", "socket mode, owner and group need a unix socket");
    c.listeners[0].socket_owner.clear();
    c.listeners.push_back(c.listeners[0]);
    check(c, "listener http:[::1]:80", "the same address is configured twice");
    c.listeners.pop_back();
    c.listeners[0].base_path = "/trac/";
    check(c, "listener http:[::1]:80", "base path '/trac/' is not normalised");
  }
  {
    ServerConfig c = base;
    c.base_path = "trac";
    check(c, "base_path", "'trac' is not normalised");
    c.base_path = "/trac";
    c.umask = 01000;
    check(c, "umask", "must be at most 0777");
    c.umask = 022;
    c.limits.input_buffer_bytes = 65797;
    check(c, "limits.input_buffer_bytes", "must be at least 65798");
    c.limits = gw::Limits{};
    c.limits.header_count = 0;
    check(c, "limits.header_count", "must be at least 1");
  }
}
