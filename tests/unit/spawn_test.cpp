// The pure parts of "spawn": placeholder expansion, the backoff arithmetic,
// the launcher's argv/environment encoding, and project.json's "spawn"
// section with each of its errors.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gateway/config.h"
#include "gateway/spawn/app_launcher.h"
#include "gateway/spawn/placeholders.h"
#include "tests/support/temp_dir.h"

namespace {

using gw::ProjectConfig;
using gw::SpawnOptions;
using gw::test::TempDir;

gw::PlaceholderValues sample_values() {
  gw::PlaceholderValues v;
  v.port = "4711";
  v.socket = "/run/x/0-1.sock";
  v.project = "/srv/trac/alpha";
  v.name = "alpha";
  v.instance = "3";
  return v;
}

// A project "proj" with an executable app and this "spawn" object; loaded.
struct Loaded {
  TempDir dir;
  std::string proj;
  std::optional<gw::ConfigError> error;
  ProjectConfig config;
};

void load_spawn(Loaded& l, const std::string& spawn_json,
                const std::string& backend = R"({"type": "fastcgi"})") {
  l.dir.write("proj/bin/app", "#!/bin/sh\nexit 0\n", 0755);
  l.dir.write("proj/bin/data.txt", "not a program\n", 0644);
  l.proj = l.dir.path() + "/proj";
  l.dir.write("proj/project.json",
              R"({"backend": )" + backend + R"(, "spawn": )" + spawn_json + "}");
  l.error = gw::load_project(l.proj, l.config);
}

void check_spawn_error(const std::string& spawn_json, const std::string& field,
                       const std::string& why,
                       const std::string& backend = R"({"type": "fastcgi"})") {
  CAPTURE(spawn_json);
  Loaded l;
  load_spawn(l, spawn_json, backend);
  REQUIRE(l.error.has_value());
  CHECK(l.error->where == l.proj + "/project.json: " + field);
  CHECK(l.error->why == why);
}

}  // namespace

TEST_CASE("spawn: placeholders are replaced, other braces stay") {
  const auto v = sample_values();
  CHECK(gw::expand_placeholders("--port={port}", v) == "--port=4711");
  CHECK(gw::expand_placeholders("{socket}", v) == "/run/x/0-1.sock");
  CHECK(gw::expand_placeholders("{project}/log/{name}.{instance}", v) ==
        "/srv/trac/alpha/log/alpha.3");
  CHECK(gw::expand_placeholders("{port}{port}", v) == "47114711");
  CHECK(gw::expand_placeholders("{{port}}", v) == "{4711}");
  CHECK(gw::expand_placeholders(R"({"a": {unknown}, "p": {port}})", v) ==
        R"({"a": {unknown}, "p": 4711})");
  CHECK(gw::expand_placeholders("{Port} {port", v) == "{Port} {port");
  CHECK(gw::expand_placeholders("", v) == "");
  CHECK(gw::expand_placeholders("{", v) == "{");
  // A value is not expanded again.
  gw::PlaceholderValues nested = v;
  nested.name = "{port}";
  CHECK(gw::expand_placeholders("{name}", nested) == "{port}");
  CHECK(gw::has_placeholder("a{socket}b", "socket"));
  CHECK_FALSE(gw::has_placeholder("a{sock}b", "socket"));
}

TEST_CASE("spawn: backoff doubles from the initial delay up to the maximum") {
  CHECK(gw::backoff_delay_ms(1, 250, 30000) == 250);
  CHECK(gw::backoff_delay_ms(2, 250, 30000) == 500);
  CHECK(gw::backoff_delay_ms(3, 250, 30000) == 1000);
  CHECK(gw::backoff_delay_ms(7, 250, 30000) == 16000);
  CHECK(gw::backoff_delay_ms(8, 250, 30000) == 30000);
  CHECK(gw::backoff_delay_ms(9, 250, 30000) == 30000);
  CHECK(gw::backoff_delay_ms(4000000000u, 250, 30000) == 30000);
  CHECK(gw::backoff_delay_ms(0, 250, 30000) == 250);
  // A maximum below the initial delay never shortens it.
  CHECK(gw::backoff_delay_ms(5, 1000, 10) == 1000);
  // The largest values do not overflow.
  CHECK(gw::backoff_delay_ms(64, 4294967295u, 4294967295u) == 4294967295u);
  CHECK(gw::backoff_delay_ms(40, 1, 4294967295u) == 4294967295u);
  CHECK(gw::backoff_delay_ms(33, 1, 4294967295u) == 4294967295u);
  CHECK(gw::backoff_delay_ms(32, 1, 4294967295u) == 2147483648u);
}

TEST_CASE("spawn: the launcher's argv and environment round-trip") {
  gw::LaunchSpec spec;
  spec.parent_pid = 4242;
  spec.user = "www-data";
  spec.group = "";
  spec.file = "/usr/bin/php-cgi";
  spec.argv = {"php-cgi", "-d", "x=1 2", ""};
  spec.env = {"A=1", "LD_PRELOAD=/x.so", "EMPTY=", "EQ=a=b", "NL=line1\nline2", "C=:9:"};
  auto args = gw::launcher_args("/proc/self/exe", spec);
  REQUIRE(args.size() == 10);
  CHECK(args[0] == "/proc/self/exe");
  CHECK(args[1] == gw::kLauncherFlag);
  auto env = gw::launcher_env(spec);
  REQUIRE(env.size() == 1);  // the app's environment is not the launcher's
  CHECK(env[0].rfind(std::string(gw::kEnvVariable) + "=", 0) == 0);
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  std::string encoded = env[0].substr(std::string(gw::kEnvVariable).size() + 1);
  gw::LaunchSpec back;
  std::string error;
  REQUIRE(
      gw::parse_launch(static_cast<int>(argv.size()), argv.data(), encoded.c_str(), back, error));
  CHECK(back.parent_pid == 4242);
  CHECK(back.user == "www-data");
  CHECK(back.group == "");
  CHECK(back.file == "/usr/bin/php-cgi");
  CHECK(back.argv == spec.argv);
  CHECK(back.env == spec.env);
  CHECK(gw::encode_env({"A=1", "BB=22"}) == "3:A=15:BB=22");
}

TEST_CASE("spawn: malformed launcher input is refused") {
  std::vector<std::string> out;
  CHECK(gw::decode_env("", out));
  CHECK(out.empty());
  CHECK_FALSE(gw::decode_env("3:A=", out));   // shorter than said
  CHECK_FALSE(gw::decode_env("3A=1", out));   // no colon
  CHECK_FALSE(gw::decode_env("x:A=1", out));  // no number
  CHECK_FALSE(gw::decode_env("3:ABC", out));  // no '='
  CHECK_FALSE(gw::decode_env("3:=AB", out));  // empty name
  CHECK_FALSE(gw::decode_env(":A=1", out));   // empty length
  CHECK_FALSE(gw::decode_env("99999999999999999999:A", out));
  std::string error;
  gw::LaunchSpec spec;
  const char* short_argv[] = {"gatewayd", "--app-launcher", "1", "", "", "/bin/true"};
  CHECK_FALSE(gw::parse_launch(6, short_argv, "", spec, error));
  CHECK(error == "too few arguments");
  const char* bad_pid[] = {"gatewayd", "--app-launcher", "0", "", "", "/bin/true", "true"};
  CHECK_FALSE(gw::parse_launch(7, bad_pid, "", spec, error));
  CHECK(error == "bad parent pid");
  const char* relative[] = {"gatewayd", "--app-launcher", "1", "", "", "bin/true", "true"};
  CHECK_FALSE(gw::parse_launch(7, relative, "", spec, error));
  CHECK(error == "the app path must be absolute");
  const char* good[] = {"gatewayd", "--app-launcher", "1", "", "", "/bin/true", "true"};
  CHECK_FALSE(gw::parse_launch(7, good, nullptr, spec, error));
  CHECK(error == "missing or malformed GATEWAYD_APP_ENV");
  CHECK(gw::parse_launch(7, good, "", spec, error));
  // Not asked: main goes on as gatewayd.
  const char* plain[] = {"gatewayd", "--port", "8000"};
  CHECK(gw::run_app_launcher_if_asked(3, const_cast<char**>(plain)) == -1);
}

TEST_CASE("spawn: project.json with every key") {
  Loaded l;
  load_spawn(l, R"({"command": ["bin/app", "--socket", "{socket}", "{instance}"],
    "listen": "unix", "processes": 3, "env": {"TRAC_ENV": "{project}", "X": "{name}"},
    "pass_env": ["HOME"], "cwd": "bin", "user": "root", "group": "root", "max_requests": 500,
    "start": "on_demand", "idle_timeout_ms": 60000, "start_timeout_ms": 3000,
    "stop_timeout_ms": 0, "backoff_initial_ms": 100, "backoff_max_ms": 800, "give_up_after": 0})");
  REQUIRE_FALSE(l.error.has_value());
  REQUIRE(l.config.spawn.has_value());
  const SpawnOptions& s = *l.config.spawn;
  CHECK(s.command ==
        std::vector<std::string>{l.proj + "/bin/app", "--socket", "{socket}", "{instance}"});
  CHECK(s.listen == SpawnOptions::Listen::Unix);
  CHECK(s.processes == 3);
  REQUIRE(s.env.size() == 2);
  CHECK(s.env[0].name == "TRAC_ENV");
  CHECK(s.env[0].value == "{project}");
  CHECK(s.pass_env == std::vector<std::string>{"HOME"});
  CHECK(s.cwd == l.proj + "/bin");
  CHECK(s.user == "root");
  CHECK(s.group == "root");
  CHECK(s.max_requests == 500);
  CHECK(s.on_demand);
  CHECK(s.idle_timeout_ms == 60000);
  CHECK(s.start_timeout_ms == 3000);
  CHECK(s.stop_timeout_ms == 0);
  CHECK(s.backoff_initial_ms == 100);
  CHECK(s.backoff_max_ms == 800);
  CHECK(s.give_up_after == 0);
  CHECK(l.config.backend.upstream.empty());
}

TEST_CASE("spawn: defaults") {
  Loaded l;
  load_spawn(l, R"({"command": ["/bin/sh"]})");
  REQUIRE_FALSE(l.error.has_value());
  REQUIRE(l.config.spawn.has_value());
  SpawnOptions expected;
  expected.command = {"/bin/sh"};
  expected.cwd = l.proj;
  CHECK(*l.config.spawn == expected);
  Loaded none;
  none.dir.write("p/project.json", R"({"backend": {"type": "echo"}})");
  REQUIRE_FALSE(gw::load_project(none.dir.path() + "/p", none.config).has_value());
  CHECK_FALSE(none.config.spawn.has_value());
}

TEST_CASE("spawn: project.json errors") {
  check_spawn_error(R"([])", "spawn", "must be an object");
  check_spawn_error(R"({})", "spawn.command",
                    "is required (an array: the program and its arguments)");
  check_spawn_error(R"({"command": []})", "spawn.command", "must be a non-empty array of strings");
  check_spawn_error(R"({"command": "bin/app"})", "spawn.command",
                    "must be a non-empty array of strings");
  check_spawn_error(R"({"command": ["bin/app", 3]})", "spawn.command[1]", "must be a string");
  check_spawn_error(R"({"command": [""]})", "spawn.command[0]", "must not be empty");
  check_spawn_error(R"({"command": ["{project}/bin/app"]})", "spawn.command[0]",
                    "the program path cannot hold placeholders");
  {
    Loaded l;
    load_spawn(l, R"({"command": ["bin/missing"]})");
    REQUIRE(l.error.has_value());
    CHECK(l.error->where == l.proj + "/project.json: spawn.command[0]");
    CHECK(l.error->why == "cannot use '" + l.proj + "/bin/missing': No such file or directory");
  }
  {
    Loaded l;
    load_spawn(l, R"({"command": ["bin"]})");
    REQUIRE(l.error.has_value());
    CHECK(l.error->why == "'" + l.proj + "/bin' is not a file");
  }
  {
    // No x bit at all: not even root may run it.
    Loaded l;
    load_spawn(l, R"({"command": ["bin/data.txt"]})");
    REQUIRE(l.error.has_value());
    CHECK(l.error->why == "cannot run '" + l.proj + "/bin/data.txt': Permission denied");
  }
  {
    Loaded l;
    load_spawn(l, R"({"command": ["bin/app"], "cwd": "nowhere"})");
    REQUIRE(l.error.has_value());
    CHECK(l.error->where == l.proj + "/project.json: spawn.cwd");
    CHECK(l.error->why == "cannot use '" + l.proj + "/nowhere': No such file or directory");
  }
  check_spawn_error(R"({"command": ["bin/app"], "listen": "tcp"})", "spawn.listen",
                    "must be \"fd0\", \"unix\" or \"port\"");
  check_spawn_error(R"({"command": ["bin/app"], "extra": 1})", "spawn.extra",
                    "unknown key (expected one of: command, listen, processes, env, pass_env, "
                    "cwd, user, group, max_requests, start, idle_timeout_ms, start_timeout_ms, "
                    "stop_timeout_ms, backoff_initial_ms, backoff_max_ms, give_up_after)");
  check_spawn_error(R"({"command": ["bin/app", "{port}"]})", "spawn.command",
                    "{port} needs \"listen\": \"port\"");
  check_spawn_error(R"({"command": ["bin/app"], "env": {"S": "{socket}"}, "listen": "port"})",
                    "spawn.command", "{socket} needs \"listen\": \"unix\"");
  check_spawn_error(R"({"command": ["bin/app"], "listen": "port"})", "spawn.listen",
                    "\"port\": the command or env must pass {port} to the app");
  check_spawn_error(R"({"command": ["bin/app"], "listen": "unix"})", "spawn.listen",
                    "\"unix\": the command or env must pass {socket} to the app");
  check_spawn_error(R"({"command": ["bin/app"], "env": []})", "spawn.env",
                    "must be an object of \"NAME\": \"value\" strings");
  check_spawn_error(R"({"command": ["bin/app"], "env": {"A": 1}})", "spawn.env.A",
                    "must be a string");
  check_spawn_error(R"({"command": ["bin/app"], "env": {"A=B": "1"}})", "spawn.env",
                    "'A=B' is not a variable name");
  check_spawn_error(R"({"command": ["bin/app"], "env": {"": "1"}})", "spawn.env",
                    "'' is not a variable name");
  check_spawn_error(R"({"command": ["bin/app"], "pass_env": "HOME"})", "spawn.pass_env",
                    "must be an array of variable names");
  check_spawn_error(R"({"command": ["bin/app"], "pass_env": ["A=B"]})", "spawn.pass_env[0]",
                    "must be a variable name");
  check_spawn_error(R"({"command": ["bin/app"], "processes": 0})", "spawn.processes",
                    "must be an integer 1-1024");
  check_spawn_error(R"({"command": ["bin/app"], "processes": 2.5})", "spawn.processes",
                    "must be an integer 1-1024");
  check_spawn_error(R"({"command": ["bin/app"], "start_timeout_ms": 0})", "spawn.start_timeout_ms",
                    "must be an integer 1-600000");
  check_spawn_error(R"({"command": ["bin/app"], "backoff_initial_ms": 500, "backoff_max_ms": 100})",
                    "spawn.backoff_max_ms", "must not be below backoff_initial_ms");
  check_spawn_error(R"({"command": ["bin/app"], "max_requests": -1})", "spawn.max_requests",
                    "must be an integer 0-4611686018427387904");
  check_spawn_error(R"({"command": ["bin/app"], "start": "lazy"})", "spawn.start",
                    "must be \"always\" or \"on_demand\"");
  check_spawn_error(R"({"command": ["bin/app"], "idle_timeout_ms": 1000})", "spawn.idle_timeout_ms",
                    "needs \"start\": \"on_demand\"");
  check_spawn_error(R"({"command": ["bin/app"], "user": "no-such-user-here"})", "spawn.user",
                    "no such user: no-such-user-here");
  check_spawn_error(R"({"command": ["bin/app"], "group": "no-such-group-here"})", "spawn.group",
                    "no such group: no-such-group-here");
  check_spawn_error(R"({"command": ["bin/app"]})", "spawn",
                    "needs a backend of type http, fastcgi or scgi", R"({"type": "echo"})");
  check_spawn_error(R"({"command": ["bin/app"]})", "backend.upstream",
                    "must not be set with \"spawn\": gatewayd gives each app instance its own "
                    "address",
                    R"({"type": "fastcgi", "upstream": "127.0.0.1:9000"})");
}

TEST_CASE("spawn: user and group need root unless they name gatewayd's own") {
  if (::geteuid() != 0) {
    check_spawn_error(R"({"command": ["bin/app"], "user": "root"})", "spawn.user",
                      "gatewayd must run as root to start the app as root");
    check_spawn_error(R"({"command": ["bin/app"], "group": "0"})", "spawn.group",
                      "gatewayd must run as root to start the app in group 0");
    Loaded l;
    load_spawn(l, R"({"command": ["bin/app"], "user": ")" + std::to_string(::geteuid()) + R"("})");
    CHECK_FALSE(l.error.has_value());
    return;
  }
  // As root: checked in a child that became "nobody" (65534).
  Loaded l;
  load_spawn(l, R"({"command": ["bin/app"]})");
  REQUIRE_FALSE(l.error.has_value());
  ::chmod(l.dir.path().c_str(), 0755);
  ::chmod(l.proj.c_str(), 0755);
  auto run_as_nobody = [&](const std::string& extra) {
    l.dir.write(
        "proj/project.json",
        R"({"backend": {"type": "fastcgi"}, "spawn": {"command": ["bin/app"])" + extra + "}}");
    pid_t pid = ::fork();
    if (pid == 0) {
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
      ProjectConfig p;
      auto err = gw::load_project(l.proj, p);
      if (!err) ::_exit(0);
      if (err->why.find("gatewayd must run as root") == 0) ::_exit(1);
      ::_exit(2);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  CHECK(run_as_nobody(R"(, "user": "root")") == 1);
  CHECK(run_as_nobody(R"(, "group": "root")") == 1);
  CHECK(run_as_nobody(R"(, "user": "65534", "group": "65534")") == 0);
  CHECK(run_as_nobody("") == 0);
}
