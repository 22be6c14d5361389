// The tracd-compatible command line: every flag in each of its spellings,
// the defaults per protocol, the environment fallbacks and the exact error
// messages a user sees.
#include <doctest/doctest.h>

#include <filesystem>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "gateway/config.h"

namespace {

using gw::auth_from_command_line;
using gw::AuthOptions;
using gw::CliResult;
using gw::ConfigError;
using gw::Protocol;

std::map<std::string, std::string> g_env;

const char* fake_env(const char* name) {
  auto it = g_env.find(name);
  return it == g_env.end() ? nullptr : it->second.c_str();
}

std::optional<ConfigError> parse(std::vector<std::string> args, CliResult& out) {
  std::vector<const char*> argv = {"gatewayd"};
  for (const auto& a : args) argv.push_back(a.c_str());
  return gw::parse_cli(static_cast<int>(argv.size()), argv.data(), fake_env, out);
}

CliResult parse_ok(std::vector<std::string> args) {
  CliResult out;
  auto err = parse(std::move(args), out);
  if (err) FAIL_CHECK(err->message());
  return out;
}

ConfigError parse_error(std::vector<std::string> args) {
  CliResult out;
  auto err = parse(std::move(args), out);
  REQUIRE(err.has_value());
  return *err;
}

void check_error(std::vector<std::string> args, const std::string& where, const std::string& why) {
  CAPTURE(where);
  ConfigError e = parse_error(std::move(args));
  CHECK(e.where == where);
  CHECK(e.why == why);
}

}  // namespace

TEST_CASE("cli: tracd http line with a parent directory") {
  g_env.clear();
  CliResult r = parse_ok({"--protocol=http", "--port", "8000", "-e", "/srv/trac"});
  CHECK(r.action == CliResult::Action::Run);
  CHECK(r.protocol_given);
  CHECK(r.config.env_parent_dir == "/srv/trac");
  CHECK(r.config.project_dirs.empty());
  CHECK_FALSE(r.config.single_env);
  CHECK_FALSE(r.config.projects_from_env);
  REQUIRE(r.config.listeners.size() == 1);
  const auto& l = r.config.listeners[0];
  CHECK(l.protocol == Protocol::Http);
  CHECK(l.host == "");
  CHECK(l.port == 8000);
  CHECK(l.unix_path.empty());
  CHECK_FALSE(l.inherited_fd0);
}

TEST_CASE("cli: tracd fcgi line on a unix socket with a single env") {
  g_env.clear();
  CliResult r = parse_ok({"-s", "--protocol=fcgi", "--unix-socket", "/tmp/x.sock", "/path/proj"});
  CHECK(r.config.single_env);
  CHECK(r.config.project_dirs == std::vector<std::string>{"/path/proj"});
  REQUIRE(r.config.listeners.size() == 1);
  const auto& l = r.config.listeners[0];
  CHECK(l.protocol == Protocol::FastCgi);
  CHECK(l.unix_path == "/tmp/x.sock");
  CHECK(l.host == "");
  CHECK(l.port == 0);
  CHECK_FALSE(l.socket_mode.has_value());
}

TEST_CASE("cli: tracd daemon line with long options and a trailing slash") {
  g_env.clear();
  CliResult r = parse_ok({"--single-env", "--daemonize", "--protocol=http", "--hostname=localhost",
                          "--port=4433", "/path/to/project/"});
  CHECK(r.config.single_env);
  CHECK(r.config.daemonize);
  CHECK(r.config.project_dirs == std::vector<std::string>{"/path/to/project/"});
  REQUIRE(r.config.listeners.size() == 1);
  CHECK(r.config.listeners[0].protocol == Protocol::Http);
  CHECK(r.config.listeners[0].host == "localhost");
  CHECK(r.config.listeners[0].port == 4433);
}

TEST_CASE("cli: defaults per protocol") {
  g_env.clear();
  struct Case {
    std::vector<std::string> args;
    Protocol protocol;
    std::string host;
    uint16_t port;
  };
  const Case cases[] = {
      {{"--protocol=http"}, Protocol::Http, "", 80},
      // FastCGI stays on loopback unless a host is asked for.
      {{"--protocol=fcgi"}, Protocol::FastCgi, "127.0.0.1", 8000},
      {{"--protocol=fcgi", "-b", "0.0.0.0"}, Protocol::FastCgi, "0.0.0.0", 8000},
      {{"--protocol=fcgi", "-p", "9000"}, Protocol::FastCgi, "127.0.0.1", 9000},
      {{"-p", "8080"}, Protocol::Http, "", 8080},
      {{"-b", "::1"}, Protocol::Http, "::1", 80},
      {{"--hostname="}, Protocol::Http, "", 80},
      {{"--protocol=scgi"}, Protocol::Scgi, "127.0.0.1", 4000},
      {{"--protocol=ajp"}, Protocol::Ajp13, "127.0.0.1", 8009},
      {{"--protocol=https", "--certfile=/c", "--keyfile=/k"}, Protocol::Http, "", 443},
  };
  for (const auto& c : cases) {
    auto args = c.args;
    args.push_back("/p");
    CliResult r = parse_ok(args);
    REQUIRE(r.config.listeners.size() == 1);
    CHECK(r.config.listeners[0].protocol == c.protocol);
    CHECK(r.config.listeners[0].host == c.host);
    CHECK(r.config.listeners[0].port == c.port);
  }
  CHECK(gw::default_port(Protocol::Scgi) == 4000);
  CHECK(gw::default_port(Protocol::Ajp13) == 8009);
}

TEST_CASE("cli: no address flag leaves the listeners to main") {
  g_env.clear();
  CliResult r = parse_ok({"/srv/proj"});
  CHECK(r.config.listeners.empty());
  CHECK_FALSE(r.protocol_given);
  CHECK(r.config.project_dirs == std::vector<std::string>{"/srv/proj"});
  CHECK_FALSE(r.config.single_env);
}

TEST_CASE("cli: value options in every spelling") {
  g_env.clear();
  struct Case {
    std::string short_name, long_name, value;
  };
  const Case cases[] = {
      {"-p", "--port", "8123"},
      {"-b", "--hostname", "h.example"},
      {"-e", "--env-parent-dir", "/srv/parent"},
      {"", "--unix-socket", "/run/g.sock"},
      {"", "--base-path", "/trac"},
      {"", "--umask", "027"},
      {"", "--pidfile", "/run/g.pid"},
      {"", "--user", "www-data"},
      {"", "--group", "www-data"},
      {"", "--error-log", "/var/log/g.log"},
      {"", "--config", "/etc/g.json"},
  };
  auto check = [](const std::string& name, const std::string& value, const CliResult& r) {
    const auto& c = r.config;
    if (name == "--port") CHECK(c.listeners.at(0).port == 8123);
    if (name == "--hostname") CHECK(c.listeners.at(0).host == value);
    if (name == "--env-parent-dir") CHECK(c.env_parent_dir == value);
    if (name == "--unix-socket") CHECK(c.listeners.at(0).unix_path == value);
    if (name == "--base-path") CHECK(c.base_path == std::optional<std::string>("/trac"));
    if (name == "--umask") CHECK(c.umask == 027);
    if (name == "--pidfile") CHECK(c.pidfile == value);
    if (name == "--user") CHECK(c.user == value);
    if (name == "--group") CHECK(c.group == value);
    if (name == "--error-log") CHECK(c.error_log == value);
    if (name == "--config") CHECK(r.config_file == value);
  };
  for (const auto& c : cases) {
    CAPTURE(c.long_name);
    // -e is itself the project source; the others need one.
    std::vector<std::string> tail;
    if (c.long_name != "--env-parent-dir") tail = {"/p"};
    std::vector<std::vector<std::string>> spellings = {{c.long_name, c.value},
                                                       {c.long_name + "=" + c.value}};
    if (!c.short_name.empty()) {
      spellings.push_back({c.short_name, c.value});
      spellings.push_back({c.short_name + c.value});
    }
    for (auto args : spellings) {
      CAPTURE(args[0]);
      args.insert(args.end(), tail.begin(), tail.end());
      check(c.long_name, c.value, parse_ok(args));
    }
  }
}

TEST_CASE("cli: socket options go to the unix listener") {
  g_env.clear();
  CliResult r = parse_ok({"--protocol", "fcgi", "--unix-socket=/run/g.sock", "--socket-mode",
                          "0660", "--socket-owner=www-data", "--socket-group", "web", "/p"});
  REQUIRE(r.config.listeners.size() == 1);
  const auto& l = r.config.listeners[0];
  CHECK(l.protocol == Protocol::FastCgi);
  CHECK(l.unix_path == "/run/g.sock");
  CHECK(l.socket_mode == std::optional<uint32_t>(0660));
  CHECK(l.socket_owner == "www-data");
  CHECK(l.socket_group == "web");
}

TEST_CASE("cli: flag options in every spelling") {
  g_env.clear();
  CHECK(parse_ok({"-s", "/p"}).config.single_env);
  CHECK(parse_ok({"--single-env", "/p"}).config.single_env);
  CHECK(parse_ok({"-d", "/p"}).config.daemonize);
  CHECK(parse_ok({"--daemonize", "/p"}).config.daemonize);
  CHECK(parse_ok({"-t", "/p"}).config.check_only);
  CHECK(parse_ok({"--check-config", "/p"}).config.check_only);
  CHECK_FALSE(parse_ok({"/p"}).config.check_only);
  // Accepted for tracd compatibility and without effect.
  for (const char* flag : {"-q", "--unquote", "--http10", "--http11"}) {
    CAPTURE(flag);
    CliResult r = parse_ok({flag, "/p"});
    CHECK(r.config.project_dirs == std::vector<std::string>{"/p"});
    CHECK(r.config.listeners.empty());
  }
}

TEST_CASE("cli: optparse conventions") {
  g_env.clear();
  SUBCASE("clustered short flags") {
    CliResult r = parse_ok({"-sdq", "/p"});
    CHECK(r.config.single_env);
    CHECK(r.config.daemonize);
  }
  SUBCASE("a value option ends a cluster") {
    CliResult r = parse_ok({"-sp8001", "/p"});
    CHECK(r.config.single_env);
    CHECK(r.config.listeners.at(0).port == 8001);
  }
  SUBCASE("unambiguous prefixes of long options") {
    CliResult r = parse_ok({"--daemon", "--proto=fcgi", "/p"});
    CHECK(r.config.daemonize);
    CHECK(r.config.listeners.at(0).protocol == Protocol::FastCgi);
  }
  SUBCASE("an ambiguous prefix") {
    check_error({"--http1", "/p"}, "--http1", "ambiguous option (could be --http10, --http11)");
  }
  SUBCASE("-- ends the options, - alone is positional") {
    CliResult r = parse_ok({"--", "-odd", "-"});
    CHECK(r.config.project_dirs == std::vector<std::string>{"-odd", "-"});
  }
  SUBCASE("the last of a repeated option wins") {
    CHECK(parse_ok({"-p", "1", "-p", "2", "/p"}).config.listeners.at(0).port == 2);
  }
  SUBCASE("a value starting with '-' is given with '='") {
    CHECK(parse_ok({"--user=-x", "/p"}).config.user == "-x");
  }
}

TEST_CASE("cli: protocol names") {
  g_env.clear();
  const std::string names = "is not one of http, https, fcgi, scgi, ajp";
  check_error({"--protocol=gopher", "/p"}, "--protocol", "'gopher' " + names);
  check_error({"--protocol=HTTP", "/p"}, "--protocol", "'HTTP' " + names);
  CHECK(parse_ok({"--protocol=scgi", "/p"}).config.listeners.at(0).protocol == Protocol::Scgi);
  CHECK(parse_ok({"--protocol", "ajp", "/p"}).config.listeners.at(0).protocol == Protocol::Ajp13);
}

TEST_CASE("cli: the Cherokee SCGI source line from the deployment guide") {
  g_env.clear();
  CliResult r = parse_ok({"--single-env", "--daemonize", "--protocol=scgi", "--hostname=localhost",
                          "--port=4433", "/path/to/project/"});
  CHECK(r.config.single_env);
  CHECK(r.config.daemonize);
  REQUIRE(r.config.listeners.size() == 1);
  CHECK(r.config.listeners[0].protocol == Protocol::Scgi);
  CHECK(r.config.listeners[0].host == "localhost");
  CHECK(r.config.listeners[0].port == 4433);
  CHECK_FALSE(gw::validate(r.config).has_value());
}

TEST_CASE("cli: https") {
  g_env.clear();
  CliResult r = parse_ok({"--protocol=https", "--certfile", "/c.pem", "--keyfile=/k.pem", "/p"});
  REQUIRE(r.config.listeners.size() == 1);
  const auto& l = r.config.listeners[0];
  CHECK(l.protocol == Protocol::Http);
  CHECK(l.tls);
  CHECK(l.cert_file == "/c.pem");
  CHECK(l.key_file == "/k.pem");
  CHECK(l.host == "");
  CHECK(l.port == 443);
  CHECK(gw::listener_protocol_name(l) == "https");
  check_error({"--protocol=https", "--keyfile=/k", "/p"}, "--protocol=https", "needs --certfile");
  check_error({"--protocol=https", "--certfile=/c", "/p"}, "--protocol=https", "needs --keyfile");
  check_error({"--certfile=/c", "--keyfile=/k", "/p"}, "--certfile", "needs --protocol=https");
  check_error({"--protocol=http", "--keyfile=/k", "/p"}, "--keyfile", "needs --protocol=https");
}

TEST_CASE("cli: ajp options") {
  g_env.clear();
  CliResult r = parse_ok({"--protocol=ajp", "--ajp-secret", "s3", "--ajp-allow-attribute=A",
                          "--ajp-allow-attribute", "B", "--ajp-packet-size=65536", "/p"});
  REQUIRE(r.config.listeners.size() == 1);
  const auto& l = r.config.listeners[0];
  CHECK(l.protocol == Protocol::Ajp13);
  CHECK(l.host == "127.0.0.1");  // loopback unless told otherwise
  CHECK(l.port == 8009);
  CHECK(l.ajp_secret == std::optional<std::string>("s3"));
  CHECK(l.ajp_allowed_attributes == std::vector<std::string>{"A", "B"});
  CHECK(l.ajp_packet_size == 65536);
  CHECK_FALSE(l.ajp_insecure);
  CHECK(parse_ok({"--protocol=ajp", "/p"}).config.listeners.at(0).ajp_packet_size == 8192);
  CHECK(parse_ok({"--protocol=ajp", "--ajp-insecure", "/p"}).config.listeners.at(0).ajp_insecure);
  check_error({"--protocol=ajp", "--ajp-packet-size=8191", "/p"}, "--ajp-packet-size",
              "'8191' is not an AJP packet size (8192-65536)");
  check_error({"--protocol=ajp", "--ajp-packet-size=65537", "/p"}, "--ajp-packet-size",
              "'65537' is not an AJP packet size (8192-65536)");
  check_error({"--ajp-secret=x", "/p"}, "--ajp-secret", "needs --protocol=ajp");
  check_error({"--protocol=fcgi", "--ajp-insecure", "/p"}, "--ajp-insecure",
              "needs --protocol=ajp");
}

TEST_CASE("cli: an AJP port open to other machines needs a secret") {
  g_env.clear();
  const std::string why =
      "an AJP listener reachable from other machines needs a secret (--ajp-secret or "
      "\"secret\"), or must be declared insecure (--ajp-insecure or \"insecure\": true)";
  for (const char* host : {"--hostname=0.0.0.0", "--hostname=", "-b::", "-b192.0.2.1"}) {
    CAPTURE(host);
    CliResult r = parse_ok({"--protocol=ajp", host, "/p"});
    auto err = gw::validate(r.config);
    REQUIRE(err.has_value());
    CHECK(err->why == why);
    CHECK_FALSE(gw::validate(parse_ok({"--protocol=ajp", host, "--ajp-secret=s", "/p"}).config));
    CHECK_FALSE(gw::validate(parse_ok({"--protocol=ajp", host, "--ajp-insecure", "/p"}).config));
  }
  for (const char* host : {"-b127.0.0.1", "-blocalhost", "-b::1", "-b127.1.2.3"}) {
    CAPTURE(host);
    CHECK_FALSE(gw::validate(parse_ok({"--protocol=ajp", host, "/p"}).config).has_value());
  }
}

TEST_CASE("cli: port values") {
  g_env.clear();
  for (const char* bad : {"abc", "0", "65536", "99999", "+80", "-1", "8o", "123456", " 80"}) {
    CAPTURE(bad);
    check_error({std::string("--port=") + bad, "/p"}, "--port",
                std::string("'") + bad + "' is not a port number (1-65535)");
  }
  check_error({"-pabc", "/p"}, "-p", "'abc' is not a port number (1-65535)");
  CHECK(parse_ok({"-p", "1", "/p"}).config.listeners.at(0).port == 1);
  CHECK(parse_ok({"-p", "65535", "/p"}).config.listeners.at(0).port == 65535);
  CHECK(parse_ok({"-p", "00080", "/p"}).config.listeners.at(0).port == 80);
}

TEST_CASE("cli: unknown options and missing values") {
  g_env.clear();
  check_error({"--frobnicate", "/p"}, "--frobnicate", "unknown option (see --help)");
  check_error({"--frobnicate=1", "/p"}, "--frobnicate", "unknown option (see --help)");
  check_error({"-x", "/p"}, "-x", "unknown option (see --help)");
  check_error({"-sx", "/p"}, "-x", "unknown option (see --help)");
  check_error({"/p", "--port"}, "--port", "needs a value");
  check_error({"/p", "-p"}, "-p", "needs a value");
  check_error({"--pidfile", "--daemonize", "/p"}, "--pidfile", "needs a value");
  check_error({"-e", "-s"}, "-e", "needs a value");
  check_error({"--pidfile=", "/p"}, "--pidfile", "needs a value");
  check_error({"--daemonize=yes", "/p"}, "--daemonize", "takes no value");
  check_error({"--auth", "*,/etc/htdigest", "/p"}, "--auth",
              "'*,/etc/htdigest' is not PROJECT,FILE,REALM");
  check_error({"--basic-auth", "p,,realm", "/p"}, "--basic-auth",
              "'p,,realm' is not PROJECT,FILE,REALM (none may be empty)");
  check_error({"--auth-scope", "all", "/p"}, "--auth-scope", "'all' is not one of login, project");
  check_error({"-r", "/p"}, "-r", "is a tracd option gatewayd does not support yet");
}

TEST_CASE("cli: --auth and --basic-auth as tracd takes them") {
  g_env.clear();
  CliResult r = parse_ok({"--auth", "*,/etc/trac.htdigest,Trac, the realm", "--basic-auth",
                          "proj,/etc/htpasswd,Proj", "--auth-scope=project", "-e", "/srv"});
  const auto& auth = r.config.auth;
  REQUIRE(auth.size() == 2);
  CHECK(auth[0].project == "*");
  CHECK(auth[0].options.scheme == AuthOptions::Scheme::Digest);
  CHECK(auth[0].options.file == "/etc/trac.htdigest");
  CHECK(auth[0].options.realm == "Trac, the realm");
  CHECK(auth[0].options.scope == AuthOptions::Scope::Project);
  CHECK(auth[1].project == "proj");
  CHECK(auth[1].options.scheme == AuthOptions::Scheme::Basic);
  CHECK(auth[1].options.realm == "Proj");
  // The project's own spec wins over "*"; others get "*".
  CHECK(auth_from_command_line(auth, "proj")->scheme == AuthOptions::Scheme::Basic);
  CHECK(auth_from_command_line(auth, "other")->scheme == AuthOptions::Scheme::Digest);
  CHECK_FALSE(auth_from_command_line({}, "other").has_value());
  // A relative file is taken from the working directory, as tracd does.
  CliResult rel = parse_ok({"--basic-auth", "p,users.htpasswd,R", "/p"});
  CHECK(rel.config.auth.at(0).options.file ==
        (std::filesystem::current_path() / "users.htpasswd").string());
  CHECK(rel.config.auth.at(0).options.scope == AuthOptions::Scope::Login);
}

TEST_CASE("cli: --index-template and TRAC_ENV_INDEX_TEMPLATE") {
  g_env.clear();
  g_env["TRAC_ENV_INDEX_TEMPLATE"] = "/etc/index.html";
  CHECK(parse_ok({"-e", "/srv"}).config.index_template == "/etc/index.html");
  CHECK(parse_ok({"--index-template", "/x.html", "-e", "/srv"}).config.index_template == "/x.html");
  g_env.clear();
}

TEST_CASE("cli: project source conflicts") {
  g_env.clear();
  check_error({"-s", "/a", "/b"}, "-s", "serves exactly one project, but 2 were given");
  check_error({"/a", "--single-env", "/b", "/c"}, "--single-env",
              "serves exactly one project, but 3 were given");
  check_error({"-s", "-e", "/srv"}, "-s", "cannot be combined with -e/--env-parent-dir");
  check_error({"-e", "/srv", "--single-env"}, "--single-env",
              "cannot be combined with -e/--env-parent-dir");
  check_error({"-e", "/srv", "/a"}, "-e", "cannot be combined with project directories");
}

TEST_CASE("cli: listener conflicts") {
  g_env.clear();
  check_error({"--unix-socket=/s", "-p", "80", "/p"}, "-p",
              "cannot be combined with --unix-socket");
  check_error({"--unix-socket=/s", "--hostname=h", "/p"}, "--hostname",
              "cannot be combined with --unix-socket");
  check_error({"--socket-mode=0660", "/p"}, "--socket-mode", "needs --unix-socket");
  check_error({"--protocol=fcgi", "--socket-group=web", "/p"}, "--socket-group",
              "needs --unix-socket");
  check_error({"--socket-mode=0860", "--unix-socket=/s", "/p"}, "--socket-mode",
              "'0860' is not an octal mode (000-777)");
  std::string too_long = "/" + std::string(107, 's');
  check_error({"--unix-socket", too_long, "/p"}, "--unix-socket",
              "'" + too_long + "' is 108 bytes long; a unix socket path may have at most 107");
  std::string longest = "/" + std::string(106, 's');
  CHECK(parse_ok({"--unix-socket", longest, "/p"}).config.listeners.at(0).unix_path == longest);
}

TEST_CASE("cli: umask values") {
  g_env.clear();
  CHECK(parse_ok({"/p"}).config.umask == 022);
  CHECK(parse_ok({"--umask=077", "/p"}).config.umask == 077);
  CHECK(parse_ok({"--umask=0o27", "/p"}).config.umask == 027);
  CHECK(parse_ok({"--umask=0", "/p"}).config.umask == 0);
  CHECK(parse_ok({"--umask=0777", "/p"}).config.umask == 0777);
  check_error({"--umask=8", "/p"}, "--umask", "'8' is not an octal mode (000-777)");
  check_error({"--umask=1000", "/p"}, "--umask", "'1000' is not an octal mode (000-777)");
  check_error({"--umask=0o", "/p"}, "--umask", "'0o' is not an octal mode (000-777)");
  check_error({"--umask=22x", "/p"}, "--umask", "'22x' is not an octal mode (000-777)");
}

TEST_CASE("cli: base path normalisation") {
  g_env.clear();
  struct Case {
    std::string given, stored;
  };
  const Case cases[] = {
      {"/trac", "/trac"}, {"/trac/", "/trac"},  {"trac", "/trac"}, {"//a//b//", "/a/b"}, {"/", ""},
      {"", ""},           {"/a.b/c", "/a.b/c"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.given);
    CHECK(parse_ok({"--base-path=" + c.given, "/p"}).config.base_path ==
          std::optional<std::string>(c.stored));
  }
  CHECK_FALSE(parse_ok({"/p"}).config.base_path.has_value());
  check_error({"--base-path=/a/../b", "/p"}, "--base-path",
              "'/a/../b' must not contain '.' or '..' segments");
  check_error({"--base-path=/./b", "/p"}, "--base-path",
              "'/./b' must not contain '.' or '..' segments");
  check_error({"--base-path=/a?b", "/p"}, "--base-path",
              "'/a?b' must be a plain URL path (no control characters, '?' or '#')");
}

TEST_CASE("cli: TRAC_ENV and TRAC_ENV_PARENT_DIR") {
  g_env.clear();
  SUBCASE("TRAC_ENV serves one project") {
    g_env["TRAC_ENV"] = "/srv/trac/proj";
    CliResult r = parse_ok({});
    CHECK(r.config.project_dirs == std::vector<std::string>{"/srv/trac/proj"});
    CHECK(r.config.single_env);
    CHECK(r.config.projects_from_env);
    CHECK(r.config.env_parent_dir.empty());
  }
  SUBCASE("TRAC_ENV_PARENT_DIR serves a parent directory") {
    g_env["TRAC_ENV_PARENT_DIR"] = "/srv/trac";
    CliResult r = parse_ok({"--protocol=fcgi"});
    CHECK(r.config.env_parent_dir == "/srv/trac");
    CHECK(r.config.project_dirs.empty());
    CHECK_FALSE(r.config.single_env);
    CHECK(r.config.projects_from_env);
  }
  SUBCASE("TRAC_ENV wins over TRAC_ENV_PARENT_DIR") {
    g_env["TRAC_ENV"] = "/srv/trac/proj";
    g_env["TRAC_ENV_PARENT_DIR"] = "/srv/trac";
    CliResult r = parse_ok({});
    CHECK(r.config.project_dirs == std::vector<std::string>{"/srv/trac/proj"});
    CHECK(r.config.env_parent_dir.empty());
  }
  SUBCASE("the command line wins over the environment") {
    g_env["TRAC_ENV"] = "/srv/trac/proj";
    CliResult r = parse_ok({"/other"});
    CHECK(r.config.project_dirs == std::vector<std::string>{"/other"});
    CHECK_FALSE(r.config.single_env);
    CHECK_FALSE(r.config.projects_from_env);
    CHECK(parse_ok({"-e", "/parent"}).config.project_dirs.empty());
  }
  SUBCASE("empty variables count as unset") {
    g_env["TRAC_ENV"] = "";
    g_env["TRAC_ENV_PARENT_DIR"] = "/srv/trac";
    CHECK(parse_ok({}).config.env_parent_dir == "/srv/trac");
  }
  SUBCASE("-s with TRAC_ENV_PARENT_DIR") {
    g_env["TRAC_ENV_PARENT_DIR"] = "/srv/trac";
    check_error({"-s"}, "-s", "cannot be combined with TRAC_ENV_PARENT_DIR");
  }
  SUBCASE("no project at all") {
    check_error({"-p", "80"}, "command line",
                "no project: give a project directory, -e DIR, or set TRAC_ENV / "
                "TRAC_ENV_PARENT_DIR");
    check_error({"-s"}, "command line",
                "no project: give a project directory, -e DIR, or set TRAC_ENV / "
                "TRAC_ENV_PARENT_DIR");
  }
  SUBCASE("a config file may name the projects") {
    CliResult r = parse_ok({"--config", "/etc/g.json"});
    CHECK(r.config.project_dirs.empty());
    CHECK(r.config.env_parent_dir.empty());
    CHECK(r.config_file == "/etc/g.json");
  }
  g_env.clear();
}

TEST_CASE("cli: a null env lookup means no environment") {
  const char* argv[] = {"gatewayd", "-s", "/p"};
  CliResult r;
  CHECK_FALSE(gw::parse_cli(3, argv, nullptr, r).has_value());
  const char* bare[] = {"gatewayd"};
  auto err = gw::parse_cli(1, bare, nullptr, r);
  REQUIRE(err.has_value());
  CHECK(err->where == "command line");
}

TEST_CASE("cli: help and version stop parsing") {
  g_env.clear();
  CHECK(parse_ok({"--help"}).action == CliResult::Action::Help);
  CHECK(parse_ok({"-h"}).action == CliResult::Action::Help);
  CHECK(parse_ok({"-sh"}).action == CliResult::Action::Help);
  CHECK(parse_ok({"--version"}).action == CliResult::Action::Version);
  // Whatever follows is not looked at; what came before still counts.
  CHECK(parse_ok({"--help", "--frobnicate"}).action == CliResult::Action::Help);
  check_error({"--port=x", "--help"}, "--port", "'x' is not a port number (1-65535)");
}

TEST_CASE("cli: parse_cli starts from a clean result") {
  g_env.clear();
  CliResult r;
  REQUIRE_FALSE(parse({"-s", "-d", "-p", "81", "/a"}, r).has_value());
  REQUIRE_FALSE(parse({"/b"}, r).has_value());
  CHECK(r.config.project_dirs == std::vector<std::string>{"/b"});
  CHECK_FALSE(r.config.single_env);
  CHECK_FALSE(r.config.daemonize);
  CHECK(r.config.listeners.empty());
}

TEST_CASE("cli: help text lists every option and variable") {
  const std::string help = gw::help_text();
  CHECK(help.rfind("Usage: gatewayd [options] [projenv] ...\n", 0) == 0);
  for (const char* item : {"--version",
                           "-h, --help",
                           "--protocol=PROTOCOL",
                           "-p PORT, --port=PORT",
                           "-b HOST, --hostname=HOST",
                           "--unix-socket=PATH",
                           "--socket-mode=MODE",
                           "--socket-owner=USER",
                           "--socket-group=GROUP",
                           "-e PARENTDIR, --env-parent-dir=PARENTDIR",
                           "-s, --single-env",
                           "--base-path=BASE_PATH",
                           "-q, --unquote",
                           "--http10",
                           "--http11",
                           "-d, --daemonize",
                           "--pidfile=PIDFILE",
                           "--umask=MASK",
                           "--group=GROUP",
                           "--user=USER",
                           "--error-log=FILE",
                           "--config=FILE",
                           "-t, --check-config",
                           "TRAC_ENV ",
                           "TRAC_ENV_PARENT_DIR",
                           "FCGI_WEB_SERVER_ADDRS",
                           "changes nothing"}) {
    CAPTURE(item);
    CHECK(help.find(item) != std::string::npos);
  }
  // optparse layout: no line wider than 80 columns.
  size_t start = 0;
  while (start < help.size()) {
    size_t end = help.find('\n', start);
    CHECK(end - start <= 80);
    start = end + 1;
  }
}

TEST_CASE("cli: unix socket path bound") {
  CHECK(gw::check_unix_path("/run/g.sock") == std::nullopt);
  CHECK(gw::check_unix_path(std::string(107, 'a')) == std::nullopt);
  CHECK(gw::check_unix_path(std::string(108, 'a')).has_value());
  CHECK(gw::check_unix_path("") == std::optional<std::string>("needs a value"));
}
