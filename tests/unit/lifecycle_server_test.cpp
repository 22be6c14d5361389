// A Server on a real loop with real sockets: a reload keeps the very socket
// of an unchanged address (a connection waiting in its backlog is served),
// opens new ones, closes removed ones while their connections finish on the
// old settings, and changes nothing when a new socket cannot be opened; a
// graceful stop closes idle connections at once, lets a request in flight
// finish with its whole response, refuses new connections, and cuts what is
// left when the timeout runs out.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "gateway/config.h"
#include "gateway/lifecycle.h"
#include "gateway/listener.h"
#include "gateway/server.h"
#include "gateway/startup.h"
#include "tests/support/loopback_client.h"
#include "tests/support/server_startup.h"
#include "tests/support/test_loop.h"

using gw::ListenerConfig;
using gw::Server;
using gw::ServerConfig;
using gw::test::loopback_listener;
using gw::test::startup_for;
using gw::test::TestLoop;

namespace {

using Client = gw::test::LoopbackClient;
using gw::test::free_port;
using gw::test::ProjectsDir;

std::string get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n";
}

// A response's echoed "script_name" (the echo backend's JSON).
std::string script_name_of(const std::string& response) {
  const std::string key = "\"script_name\": \"";
  size_t at = response.find(key);
  if (at == std::string::npos) return "<none>";
  at += key.size();
  return response.substr(at, response.find('"', at) - at);
}

}  // namespace

TEST_CASE("lifecycle: a reload keeps, opens and closes listening sockets") {
  TestLoop loop;
  ProjectsDir dir("lifecycle-test");
  dir.echo("alpha");
  const uint16_t kept = free_port(), removed = free_port(), added = free_port();
  gw::Startup first = startup_for(dir, {loopback_listener(kept), loopback_listener(removed)});
  Server server(loop.get(), first.config, first.projects);
  REQUIRE_FALSE(server.start().has_value());
  const gw::Listener* kept_listener = &server.listener(0);

  // A keep-alive connection on the listener about to go, with a request
  // whose body is still on its way when the reload happens.
  Client old_conn(removed);
  REQUIRE(old_conn.connected());
  old_conn.send(get("/alpha/one"));
  REQUIRE(loop.run_until([&] { return old_conn.has_response(); }));
  CHECK(script_name_of(old_conn.take_response()) == "/alpha");
  old_conn.send("POST /alpha/two HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab");
  REQUIRE(loop.run_until([&] { return server.requests_in_flight() == 1; }));

  // Connected before the reload, accepted after it: only the very same
  // socket can serve it (a socket closed and bound again would reset it).
  Client queued(kept);
  REQUIRE(queued.connected());
  queued.send(get("/m/alpha/q"));

  ListenerConfig kept_changed = loopback_listener(kept);
  kept_changed.base_path = "/m";
  gw::ListenerPlan lplan;
  gw::ReloadPlan pplan;
  dir.echo("beta");
  auto err =
      server.reload(startup_for(dir, {kept_changed, loopback_listener(added)}), &pplan, &lplan);
  REQUIRE_FALSE(err.has_value());
  CHECK(lplan.changed == std::vector<std::string>{"http:127.0.0.1:" + std::to_string(kept)});
  CHECK(lplan.opened == std::vector<std::string>{"http:127.0.0.1:" + std::to_string(added)});
  CHECK(lplan.removed == std::vector<std::string>{"http:127.0.0.1:" + std::to_string(removed)});
  CHECK(pplan.added == std::vector<std::string>{"beta"});
  REQUIRE(server.listener_count() == 2);
  CHECK(&server.listener(0) == kept_listener);
  CHECK(server.listener(0).config().base_path == std::optional<std::string>("/m"));

  REQUIRE(loop.run_until([&] { return queued.has_response(); }));
  std::string r = queued.take_response();
  CHECK(r.starts_with("HTTP/1.1 200 "));
  CHECK(script_name_of(r) == "/m/alpha");  // accepted after: the new base_path

  Client fresh(added);
  REQUIRE(fresh.connected());
  fresh.send(get("/beta/x"));
  REQUIRE(loop.run_until([&] { return fresh.has_response(); }));
  CHECK(script_name_of(fresh.take_response()) == "/beta");

  Client refused(removed);
  CHECK_FALSE(refused.connected());
  CHECK(refused.connect_errno() == ECONNREFUSED);

  // The connection of the closed listener finishes its request, on the
  // settings it was accepted with (no base_path), then carries on.
  old_conn.send("cd");
  REQUIRE(loop.run_until([&] { return old_conn.has_response(); }));
  r = old_conn.take_response();
  CHECK(r.starts_with("HTTP/1.1 200 "));
  CHECK(r.find("\"body_length\": 4,") != std::string::npos);
  old_conn.send(get("/beta/three"));
  REQUIRE(loop.run_until([&] { return old_conn.has_response(); }));
  CHECK(script_name_of(old_conn.take_response()) == "/beta");
  server.stop();
  loop.run_until([&] { return server.connection_count() == 0; });
}

TEST_CASE("lifecycle: a reload that cannot open a socket changes nothing") {
  TestLoop loop;
  ProjectsDir dir("lifecycle-test");
  dir.echo("alpha");
  const uint16_t port = free_port(), busy = free_port();
  gw::Startup first = startup_for(dir, {loopback_listener(port)});
  Server server(loop.get(), first.config, first.projects);
  REQUIRE_FALSE(server.start().has_value());

  // Another process's socket on the port the new configuration names.
  int other = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(other, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(busy);
  REQUIRE(bind(other, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(other, 4) == 0);

  ListenerConfig changed = loopback_listener(port);
  changed.base_path = "/m";
  dir.echo("beta");
  auto err = server.reload(startup_for(dir, {changed, loopback_listener(busy)}));
  close(other);
  REQUIRE(err.has_value());
  CHECK(*err ==
        "http:127.0.0.1:" + std::to_string(busy) + ": bind: EADDRINUSE: Address already in use");
  REQUIRE(server.listener_count() == 1);
  CHECK_FALSE(server.listener(0).config().base_path.has_value());
  CHECK(server.project_count() == 1);

  Client c(port);
  REQUIRE(c.connected());
  c.send(get("/alpha/x"));
  REQUIRE(loop.run_until([&] { return c.has_response(); }));
  CHECK(script_name_of(c.take_response()) == "/alpha");
  server.stop();
  loop.run_until([&] { return server.connection_count() == 0; });
}

TEST_CASE("lifecycle: a graceful stop lets the request in flight finish") {
  TestLoop loop;
  ProjectsDir dir("lifecycle-test");
  dir.echo("alpha");
  const uint16_t port = free_port();
  gw::Startup first = startup_for(dir, {loopback_listener(port)});
  Server server(loop.get(), first.config, first.projects);
  REQUIRE_FALSE(server.start().has_value());

  Client idle(port), busy(port);
  REQUIRE(idle.connected());
  REQUIRE(busy.connected());
  idle.send(get("/alpha/idle"));
  REQUIRE(loop.run_until([&] { return idle.has_response(); }));
  idle.take_response();
  busy.send("POST /alpha/busy HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nabc");
  REQUIRE(loop.run_until([&] { return server.requests_in_flight() == 1; }));

  server.stop_gracefully(600'000);
  CHECK(server.stopping());
  CHECK(server.draining());
  // The idle keep-alive connection is closed at once, with nothing sent.
  REQUIRE(loop.run_until([&] { return idle.poll(); }));
  CHECK(idle.received().empty());
  // New connections are refused.
  Client late(port);
  CHECK_FALSE(late.connected());
  CHECK(late.connect_errno() == ECONNREFUSED);
  // The busy one is still open and its request still in flight.
  CHECK_FALSE(busy.poll());
  CHECK(server.draining());
  CHECK(server.requests_in_flight() == 1);
  // A reload is refused while stopping.
  CHECK(server.reload(startup_for(dir, {loopback_listener(port)})).has_value());

  busy.send("def");
  REQUIRE(loop.run_until([&] { return busy.has_response(); }));
  std::string r = busy.take_response();
  CHECK(r.starts_with("HTTP/1.1 200 "));
  CHECK(r.find("\"body_length\": 6,") != std::string::npos);
  // ... and then the connection closes and the drain is over.
  REQUIRE(loop.run_until([&] { return busy.poll(); }));
  CHECK(busy.received().empty());
  REQUIRE(loop.run_until([&] { return !server.draining(); }));
  CHECK(server.connection_count() == 0);
}

TEST_CASE("lifecycle: a graceful stop cuts what is left after the timeout") {
  TestLoop loop;
  ProjectsDir dir("lifecycle-test");
  dir.echo("alpha");
  const uint16_t port = free_port();
  gw::Startup first = startup_for(dir, {loopback_listener(port)});
  Server server(loop.get(), first.config, first.projects);
  REQUIRE_FALSE(server.start().has_value());

  Client stuck(port);
  REQUIRE(stuck.connected());
  stuck.send("POST /alpha/stuck HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nabc");
  REQUIRE(loop.run_until([&] { return server.requests_in_flight() == 1; }));
  server.stop_gracefully(20);
  CHECK(server.draining());
  REQUIRE(loop.run_until([&] { return stuck.poll(); }));
  CHECK(stuck.received().empty());  // cut: no response
  CHECK_FALSE(server.draining());
  REQUIRE(loop.run_until([&] { return server.connection_count() == 0; }));
}

TEST_CASE("lifecycle: a graceful stop with nothing in flight ends at once") {
  TestLoop loop;
  ProjectsDir dir("lifecycle-test");
  dir.echo("alpha");
  gw::Startup first = startup_for(dir, {loopback_listener(free_port())});
  Server server(loop.get(), first.config, first.projects);
  REQUIRE_FALSE(server.start().has_value());
  server.stop_gracefully(600'000);
  CHECK(server.stopping());
  CHECK_FALSE(server.draining());
  // A second request to stop, graceful or not, changes nothing.
  server.stop_gracefully(1);
  server.stop();
  CHECK_FALSE(server.draining());
}

namespace {

const char* no_env(const char*) {
  return nullptr;
}

}  // namespace

TEST_CASE("lifecycle: a reload reads the same arguments again, all or nothing") {
  TestLoop loop;
  ProjectsDir dir("lifecycle-test");
  dir.echo("alpha");
  const uint16_t port = free_port();
  const std::string listener =
      R"({"protocol": "http", "host": "127.0.0.1", "port": )" + std::to_string(port);
  const std::string file =
      dir.write("gatewayd.json", R"({"listeners": [)" + listener + R"(}], "env_parent_dir": ")" +
                                     dir.path() + R"("})");
  const std::vector<std::string> args = {"--config", file};
  gw::Startup first;
  REQUIRE_FALSE(gw::load_startup(args, no_env, first).has_value());
  Server server(loop.get(), first.config, first.projects);
  REQUIRE_FALSE(server.start().has_value());
  gw::Lifecycle lifecycle(server, nullptr, args, no_env, first.config);

  // Broken: the reload says what a start would say, and applies nothing.
  dir.write("gatewayd.json", R"({"listeners": [)" + listener + R"(, "base_path": 7}]})");
  dir.echo("beta");
  gw::Startup would_start;
  auto start_error = gw::load_startup(args, no_env, would_start);
  REQUIRE(start_error.has_value());
  auto err = lifecycle.reload();
  REQUIRE(err.has_value());
  CHECK(*err == start_error->message());
  CHECK(server.project_count() == 1);

  // Repaired, with a restart-only setting changed: the rest applies.
  dir.write("gatewayd.json", R"({"listeners": [)" + listener +
                                 R"(, "base_path": "/m"}], "pidfile": "/nonexistent/gw.pid", )" +
                                 R"("env_parent_dir": ")" + dir.path() + R"("})");
  CHECK_FALSE(lifecycle.reload().has_value());
  CHECK(server.project_count() == 2);
  REQUIRE(server.listener_count() == 1);
  CHECK(server.listener(0).config().base_path == std::optional<std::string>("/m"));
  CHECK(server.config().pidfile.empty());

  lifecycle.stop_gracefully();
  CHECK(server.stopping());
  CHECK(lifecycle.reload().has_value());  // not while stopping
}
