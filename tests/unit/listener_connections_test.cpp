// Connections per listener: a Server on a real loop with real sockets. A
// listener's max_connections closes a connection past it at once while the
// other listeners still accept; the count goes down as connections close and
// survives a reload that keeps the socket (a changed bound applies to the
// connections accepted after it); FCGI_GET_VALUES advertises the smaller of
// the listener's and the server's bound.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "gateway/config.h"
#include "gateway/connection.h"
#include "gateway/listener.h"
#include "gateway/server.h"
#include "gateway/startup.h"
#include "protocols/fastcgi_wire.h"
#include "tests/support/loopback_client.h"
#include "tests/support/server_startup.h"
#include "tests/support/test_loop.h"

using gw::ListenerConfig;
using gw::Server;
using gw::test::startup_for;
using gw::test::TestLoop;

namespace {

ListenerConfig http_on(uint16_t port, std::optional<size_t> max_connections = std::nullopt) {
  ListenerConfig l = gw::test::loopback_listener(port);
  l.max_connections = max_connections;
  return l;
}

using Client = gw::test::LoopbackClient;
using gw::test::free_port;
using gw::test::ProjectsDir;

const std::string kGet = "GET /echo/x HTTP/1.1\r\nHost: t\r\n\r\n";

// Runs the loop until `client` is accepted and served, so that the server
// counts it before the test goes on.
void served(TestLoop& loop, Client& client) {
  client.clear();
  client.send(kGet);
  REQUIRE(loop.run_until([&] { return client.has_response(); }));
  CHECK(client.received().starts_with("HTTP/1.1 200 "));
}

// The FCGI_MAX_CONNS value a FastCGI codec made for `listener` answers.
std::string advertised_max_conns(const ListenerConfig& listener, const gw::Limits& limits) {
  auto codec = gw::make_server_codec(listener, limits);
  std::string query;
  gw::fcgi::append_pair(query, "FCGI_MAX_CONNS", "");
  std::string in;
  gw::fcgi::append_record(in, gw::fcgi::FCGI_GET_VALUES, 0, query);
  std::vector<gw::Event> events;
  std::string out;
  gw::FeedResult r = codec->feed(in, events, out);
  REQUIRE_FALSE(r.error);
  REQUIRE(r.consumed == in.size());
  // One GET_VALUES_RESULT record: header, then the pair "\x0e" LEN NAME VALUE.
  REQUIRE(out.size() > gw::fcgi::FCGI_HEADER_LEN + 2 + 14);
  CHECK(static_cast<uint8_t>(out[1]) == gw::fcgi::FCGI_GET_VALUES_RESULT);
  const size_t length = static_cast<uint8_t>(out[gw::fcgi::FCGI_HEADER_LEN + 1]);
  CHECK(out.substr(gw::fcgi::FCGI_HEADER_LEN + 2, 14) == "FCGI_MAX_CONNS");
  return out.substr(gw::fcgi::FCGI_HEADER_LEN + 2 + 14, length);
}

}  // namespace

TEST_CASE("listener connections: the bound of one listener leaves the others accepting") {
  TestLoop loop;
  ProjectsDir dir("listener-conns-test", {"echo"});
  const uint16_t bounded = free_port(), open = free_port();
  gw::Startup s = startup_for(dir, {http_on(bounded, 2), http_on(open)});
  Server server(loop.get(), s.config, s.projects);
  REQUIRE_FALSE(server.start().has_value());
  CHECK(server.listener(0).connection_count() == 0);

  auto a = std::make_unique<Client>(bounded);
  served(loop, *a);
  Client b(bounded);
  served(loop, b);
  CHECK(server.listener(0).connection_count() == 2);

  // Past the bound: accepted and closed at once, with nothing sent.
  Client refused(bounded);
  REQUIRE(loop.run_until([&] { return refused.poll(); }));
  CHECK(refused.received().empty());
  CHECK(server.listener(0).connection_count() == 2);
  CHECK(server.connection_count() == 2);

  // The other listener has no bound of its own.
  Client c(open), d(open), e(open);
  for (Client* x : {&c, &d, &e}) served(loop, *x);
  CHECK(server.listener(1).connection_count() == 3);
  CHECK(server.listener(0).connection_count() == 2);
  CHECK(server.connection_count() == 5);

  // One closes: the count goes down and the next is accepted.
  a.reset();
  REQUIRE(loop.run_until([&] { return server.listener(0).connection_count() == 1; }));
  Client next(bounded);
  served(loop, next);
  CHECK(server.listener(0).connection_count() == 2);
  server.stop();
  loop.run_until([&] { return server.connection_count() == 0; });
  CHECK(server.listener(0).connection_count() == 0);
  CHECK(server.listener(1).connection_count() == 0);
}

TEST_CASE("listener connections: the server-wide bound still applies under a listener's") {
  TestLoop loop;
  ProjectsDir dir("listener-conns-test", {"echo"});
  const uint16_t port = free_port();
  gw::Startup s = startup_for(dir, {http_on(port, 10)});
  s.config.limits.max_connections = 1;
  Server server(loop.get(), s.config, s.projects);
  REQUIRE_FALSE(server.start().has_value());
  Client first(port);
  served(loop, first);
  Client refused(port);
  REQUIRE(loop.run_until([&] { return refused.poll(); }));
  CHECK(refused.received().empty());
  CHECK(server.listener(0).connection_count() == 1);
  server.stop();
  loop.run_until([&] { return server.connection_count() == 0; });
}

TEST_CASE("listener connections: a reload keeps the count and applies a new bound") {
  TestLoop loop;
  ProjectsDir dir("listener-conns-test", {"echo"});
  const uint16_t port = free_port();
  gw::Startup first = startup_for(dir, {http_on(port, 1)});
  Server server(loop.get(), first.config, first.projects);
  REQUIRE_FALSE(server.start().has_value());
  Client a(port);
  served(loop, a);
  {
    Client refused(port);
    REQUIRE(loop.run_until([&] { return refused.poll(); }));
  }

  gw::ListenerPlan plan;
  REQUIRE_FALSE(server.reload(startup_for(dir, {http_on(port, 2)}), nullptr, &plan).has_value());
  CHECK(plan.changed == std::vector<std::string>{"http:127.0.0.1:" + std::to_string(port)});
  CHECK(server.listener(0).connection_count() == 1);  // the connection from before
  CHECK(server.listener(0).config().max_connections == std::optional<size_t>(2));
  Client b(port);
  served(loop, b);
  CHECK(server.listener(0).connection_count() == 2);
  Client refused(port);
  REQUIRE(loop.run_until([&] { return refused.poll(); }));
  CHECK(refused.received().empty());

  // Lowered below what is open: those stay, new ones wait for room.
  REQUIRE_FALSE(server.reload(startup_for(dir, {http_on(port, 1)})).has_value());
  served(loop, a);
  served(loop, b);
  CHECK(server.listener(0).connection_count() == 2);
  Client over(port);
  REQUIRE(loop.run_until([&] { return over.poll(); }));
  CHECK(over.received().empty());
  server.stop();
  loop.run_until([&] { return server.connection_count() == 0; });
}

TEST_CASE("listener connections: FCGI_MAX_CONNS is the smaller bound") {
  gw::Limits limits;
  limits.max_connections = 100;
  ListenerConfig l;
  l.protocol = gw::Protocol::FastCgi;
  CHECK(advertised_max_conns(l, limits) == "100");
  l.max_connections = 3;
  CHECK(advertised_max_conns(l, limits) == "3");
  l.max_connections = 1000;
  CHECK(advertised_max_conns(l, limits) == "100");
}
