// The options of running gatewayd in production (workers, the graceful
// stop, logs, the status listener), from the command line and from a config
// file, with the command line winning.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gateway/config.h"
#include "tests/support/temp_dir.h"

namespace {

using gw::CliResult;
using gw::ConfigError;
using gw::ServerConfig;
using gw::test::TempDir;

const char* no_env(const char*) {
  return nullptr;
}

std::optional<ConfigError> parse(std::vector<std::string> args, CliResult& out) {
  std::vector<const char*> argv = {"gatewayd", "-e", "/srv"};
  for (const auto& a : args) argv.push_back(a.c_str());
  return gw::parse_cli(static_cast<int>(argv.size()), argv.data(), no_env, out);
}

std::string parse_error(std::vector<std::string> args) {
  CliResult out;
  auto err = parse(std::move(args), out);
  return err ? err->message() : "(accepted)";
}

}  // namespace

TEST_CASE("operations: defaults") {
  ServerConfig c;
  CHECK(c.workers == 1);
  CHECK(c.graceful_timeout_ms == 30'000);
  CHECK(c.log_level == "info");
  CHECK(c.access_log.empty());
  CHECK(c.slow_request_ms == 0);
}

TEST_CASE("operations: command-line flags") {
  CliResult out;
  REQUIRE_FALSE(
      parse({"--workers", "4", "--graceful-timeout=5", "--log-level", "debug", "--access-log",
             "/var/log/gw/access.log", "--access-log-format", "%h %s", "--slow-request-ms", "250",
             "--slow-log", "/var/log/gw/slow.log", "--protocol=fcgi", "--status-listen", "9180"},
            out));
  const ServerConfig& c = out.config;
  CHECK(c.workers == 4);
  CHECK(c.graceful_timeout_ms == 5000);
  CHECK(c.log_level == "debug");
  CHECK(c.access_log == "/var/log/gw/access.log");
  CHECK(c.access_log_format == "%h %s");
  CHECK(c.slow_request_ms == 250);
  CHECK(c.slow_log == "/var/log/gw/slow.log");
  // The serving listener comes first; the status listener never replaces it.
  REQUIRE(c.listeners.size() == 2);
  CHECK_FALSE(c.listeners[0].status);
  CHECK(c.listeners[0].protocol == gw::Protocol::FastCgi);
  CHECK(c.listeners[1].status);
  CHECK(c.listeners[1].protocol == gw::Protocol::Http);
  CHECK(c.listeners[1].host == "127.0.0.1");
  CHECK(c.listeners[1].port == 9180);
}

TEST_CASE("operations: --status-listen forms") {
  for (const auto& [text, host, port, path] :
       std::vector<std::tuple<std::string, std::string, int, std::string>>{
           {"9180", "127.0.0.1", 9180, ""},
           {"0.0.0.0:80", "0.0.0.0", 80, ""},
           {"[::1]:9180", "::1", 9180, ""},
           {"unix:/run/gw/status.sock", "", 0, "/run/gw/status.sock"},
           {"/run/gw/status.sock", "", 0, "/run/gw/status.sock"}}) {
    CAPTURE(text);
    gw::ListenerConfig l;
    REQUIRE_FALSE(gw::parse_status_listen(text, l));
    CHECK(l.status);
    CHECK(l.host == host);
    CHECK(l.port == port);
    CHECK(l.unix_path == path);
  }
  CliResult out;
  // Alone, it leaves the serving listener to main (fd 0 or port 80).
  REQUIRE_FALSE(parse({"--status-listen", "9180"}, out));
  REQUIRE(out.config.listeners.size() == 1);
  CHECK(out.config.listeners[0].status);
}

TEST_CASE("operations: bad values name the flag") {
  CHECK(parse_error({"--workers", "0"}) == "--workers: '0' is not a whole number from 1 to 256");
  CHECK(parse_error({"--workers", "4x"}) == "--workers: '4x' is not a whole number from 1 to 256");
  CHECK(parse_error({"--graceful-timeout=-1"}) ==
        "--graceful-timeout: '-1' is not a whole number from 0 to 86400");
  CHECK(parse_error({"--log-level", "loud"}) ==
        "--log-level: 'loud' is not one of debug, info, warn, error");
  CHECK(parse_error({"--status-listen", "host:port"}) ==
        "--status-listen: 'host:port' is not PORT, HOST:PORT, [V6]:PORT or unix:/PATH");
  CHECK(parse_error({"--status-listen", "99999"}) ==
        "--status-listen: '99999' is not a port number (1-65535)");
  CHECK(parse_error({"--slow-request-ms"}) == "--slow-request-ms: needs a value");
}

TEST_CASE("operations: config file keys, the command line winning") {
  TempDir dir;
  const std::string file = dir.write("gatewayd.json", R"({
    "workers": 3, "graceful_timeout_ms": 1500, "log_level": "warn",
    "access_log": "logs/access.log", "access_log_format": "%h", "slow_request_ms": 900,
    "slow_log": "logs/slow.log",
    "listeners": [{"protocol": "status", "port": 9180},
                  {"protocol": "fcgi", "port": 8000, "access_log": "logs/fcgi.log"}]})");
  ServerConfig c;
  REQUIRE_FALSE(gw::load_config_file(file, c));
  CHECK(c.config_file == file);
  CHECK(c.workers == 3);
  CHECK(c.graceful_timeout_ms == 1500);
  CHECK(c.log_level == "warn");
  CHECK(c.access_log == dir / "logs/access.log");
  CHECK(c.access_log_format == "%h");
  CHECK(c.slow_request_ms == 900);
  CHECK(c.slow_log == dir / "logs/slow.log");
  REQUIRE(c.listeners.size() == 2);
  CHECK(c.listeners[0].status);
  CHECK(c.listeners[0].host == "127.0.0.1");
  CHECK(c.listeners[1].access_log == dir / "logs/fcgi.log");

  ServerConfig cli;
  cli.workers = 2;
  cli.log_level = "error";
  cli.access_log = "/cli/access.log";
  REQUIRE_FALSE(gw::load_config_file(file, cli));
  CHECK(cli.workers == 2);
  CHECK(cli.log_level == "error");
  CHECK(cli.access_log == "/cli/access.log");
  CHECK(cli.graceful_timeout_ms == 1500);
}

TEST_CASE("operations: config file errors") {
  TempDir dir;
  auto error_of = [&](const std::string& json) {
    ServerConfig c;
    auto err = gw::load_config_file(dir.write("gatewayd.json", json), c);
    return err ? err->message() : "(accepted)";
  };
  const std::string file = dir / "gatewayd.json";
  CHECK(error_of(R"({"workers": 0})") == file + ": workers: must be an integer 1-256");
  CHECK(error_of(R"({"log_level": "chatty"})") ==
        file + ": log_level: 'chatty' is not one of debug, info, warn, error");
  CHECK(error_of(R"({"listeners": [{"protocol": "status", "unix_socket": "s", "port": 1}]})") ==
        file + ": listeners[0].port: cannot be combined with unix_socket");
}

TEST_CASE("operations: project.json access_log") {
  TempDir dir;
  dir.write("p/project.json", R"({"backend": {"type": "echo"}, "access_log": "access.log"})");
  gw::ProjectConfig p;
  REQUIRE_FALSE(gw::load_project(dir / "p", p));
  CHECK(p.access_log == dir / "p/access.log");
}
