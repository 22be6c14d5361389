// What a kept-alive connection holds between requests, on a real loop with
// real sockets: its input and output buffers grow with a large request or
// response, and are given back once it is idle; a small request leaves them
// as they are, so that the next one allocates nothing.
#include <doctest/doctest.h>

#include <string>

#include "gateway/config.h"
#include "gateway/server.h"
#include "gateway/startup.h"
#include "tests/support/loopback_client.h"
#include "tests/support/server_startup.h"
#include "tests/support/test_loop.h"

using gw::Server;
using gw::test::free_port;
using gw::test::loopback_listener;
using gw::test::ProjectsDir;
using gw::test::startup_for;
using gw::test::TestLoop;
using Client = gw::test::LoopbackClient;

namespace {

void served(TestLoop& loop, Client& client, const std::string& request) {
  client.clear();
  client.send(request);
  REQUIRE(loop.run_until([&] { return client.has_response(); }));
  CHECK(client.received().starts_with("HTTP/1.1 200 "));
  CHECK_FALSE(client.eof());
}

}  // namespace

TEST_CASE("connection buffers: an idle connection gives back what a large request grew") {
  TestLoop loop;
  ProjectsDir dir("connection-buffers-test", {"echo"});
  const uint16_t port = free_port();
  gw::Startup s = startup_for(dir, {loopback_listener(port)});
  Server server(loop.get(), s.config, s.projects);
  REQUIRE_FALSE(server.start().has_value());
  Client client(port);

  served(loop, client, "GET /echo/x HTTP/1.1\r\nHost: t\r\n\r\n");
  const size_t small = server.connection_buffer_bytes();
  CHECK(small > 0);  // kept for the next request
  CHECK(small < 16 * 1024);

  // A head of 12 KiB and a 1 MiB body sent at once: the input buffer fills
  // up to its limit while the body streams through.
  const std::string body(1 << 20, 'b');
  const std::string head =
      "POST /echo/x HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(12 * 1024, 'h') +
      "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  client.clear();
  client.send(head);
  size_t peak = 0;
  size_t sent = 0;
  while (sent < body.size()) {
    const size_t n = std::min<size_t>(256 * 1024, body.size() - sent);
    client.send(body.substr(sent, n));
    sent += n;
    loop.run_until(
        [&] {
          peak = std::max(peak, server.connection_buffer_bytes());
          return false;
        },
        20);
  }
  REQUIRE(loop.run_until([&] {
    peak = std::max(peak, server.connection_buffer_bytes());
    return client.has_response();
  }));
  CHECK(client.received().find("\"body_length\": 1048576") != std::string::npos);
  CHECK(peak > 32 * 1024);  // it did grow
  // Idle again: back to small buffers, and still open.
  CHECK(server.connection_buffer_bytes() <= 32 * 1024);
  CHECK_FALSE(client.eof());
  served(loop, client, "GET /echo/x HTTP/1.1\r\nHost: t\r\n\r\n");
  server.stop();
  loop.run_until([&] { return server.connection_count() == 0; });
}
