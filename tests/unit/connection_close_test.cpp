// How a connection closes after its last answer, on a real loop with real
// sockets. A peer that has said it sends nothing more (an SCGI front end, a
// FastCGI request without FCGI_KEEP_CONN, an HTTP "Connection: close") and
// whose request was read whole gets a plain close. A peer that may still be
// sending (a request body cut short by an error answer) gets a lingering
// close: its further bytes are read and dropped, so that no reset can
// destroy the answer on its way.
//
// What tells the two apart from the client's side, without a clock: after
// the server's FIN, the client sends a byte. A socket already closed answers
// it with a reset (the kernel's, at once on loopback); a lingering one reads
// it and stays silent. A graceful stop tells an HTTP client, whose request
// is in flight, that the connection closes after the answer.
#include <doctest/doctest.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config.h"
#include "gateway/server.h"
#include "gateway/startup.h"
#include "protocols/fastcgi_wire.h"
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

// An SCGI request, built by hand.
std::string scgi_request(std::string_view body = {}) {
  std::string block;
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"CONTENT_LENGTH", std::to_string(body.size())},
           {"SCGI", "1"},
           {"REQUEST_METHOD", "POST"},
           {"REQUEST_URI", "/echo/x"}}) {
    block += name;
    block.push_back('\0');
    block += value;
    block.push_back('\0');
  }
  return std::to_string(block.size()) + ":" + block + "," + std::string(body);
}

// One FastCGI responder request on id 1, with its empty STDIN.
std::string fcgi_request(bool keep_conn) {
  namespace f = gw::fcgi;
  std::string out;
  const char begin[8] = {0, static_cast<char>(f::FCGI_RESPONDER), keep_conn ? char{1} : char{0}};
  f::append_record(out, f::FCGI_BEGIN_REQUEST, 1, std::string_view(begin, sizeof begin));
  std::string params;
  f::append_pair(params, "REQUEST_METHOD", "GET");
  f::append_pair(params, "REQUEST_URI", "/echo/x");
  f::append_pair(params, "SCRIPT_NAME", "/echo/x");
  f::append_record(out, f::FCGI_PARAMS, 1, params);
  f::append_record(out, f::FCGI_PARAMS, 1, {});
  f::append_record(out, f::FCGI_STDIN, 1, {});
  return out;
}

// Runs the loop until the server has answered `client` and sent its FIN.
void answered_and_closed(TestLoop& loop, Client& client) {
  REQUIRE(loop.run_until([&] { return client.poll(); }));
  CHECK_FALSE(client.received().empty());
}

// After the server's FIN: sends a byte and runs the loop until the server
// has had the chance to read it, then sends another. True when the first
// one was answered with a reset (the second send fails: EPIPE).
bool byte_after_close_is_reset(TestLoop& loop, Client& client) {
  REQUIRE(::send(client.fd(), "x", 1, MSG_NOSIGNAL) == 1);
  loop.run_for(50);
  ssize_t n = ::send(client.fd(), "y", 1, MSG_NOSIGNAL);
  return n < 0 && (errno == EPIPE || errno == ECONNRESET);
}

// A running Server with one listener of `protocol` and an echo project;
// stopped (every connection gone) at the end of the test.
struct Running {
  explicit Running(gw::Protocol protocol, uint64_t max_body_bytes = 0) {
    startup = startup_for(dir, {loopback_listener(port, protocol)});
    startup.config.limits.max_body_bytes = max_body_bytes;
    server = std::make_unique<Server>(loop.get(), startup.config, startup.projects);
    REQUIRE_FALSE(server->start().has_value());
  }
  ~Running() {
    server->stop();
    loop.run_until([&] { return server->connection_count() == 0; });
  }

  TestLoop loop;
  ProjectsDir dir{"connection-close-test", {"echo"}};
  uint16_t port = free_port();
  gw::Startup startup;
  std::unique_ptr<Server> server;
};

}  // namespace

TEST_CASE("connection close: an SCGI request read whole gets a plain close") {
  Running f(gw::Protocol::Scgi);
  Client client(f.port);
  client.send(scgi_request("a body"));
  answered_and_closed(f.loop, client);
  CHECK(client.received().starts_with("Status: 200"));
  CHECK(byte_after_close_is_reset(f.loop, client));
}

TEST_CASE("connection close: FastCGI without FCGI_KEEP_CONN gets a plain close") {
  Running f(gw::Protocol::FastCgi);
  Client client(f.port);
  client.send(fcgi_request(/*keep_conn=*/false));
  answered_and_closed(f.loop, client);
  CHECK(byte_after_close_is_reset(f.loop, client));
}

TEST_CASE("connection close: HTTP Connection: close gets a plain close") {
  Running f(gw::Protocol::Http);
  Client client(f.port);
  client.send("GET /echo/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  answered_and_closed(f.loop, client);
  CHECK(client.received().starts_with("HTTP/1.1 200 "));
  CHECK(byte_after_close_is_reset(f.loop, client));
}

TEST_CASE("connection close: a body cut short by an error answer gets a lingering close") {
  Running f(gw::Protocol::Scgi, /*max_body_bytes=*/4);
  Client client(f.port);
  // The head announces 1000 bytes; only the first ones come. 413 at once.
  client.send(scgi_request(std::string(1000, 'b')).substr(0, 80));
  answered_and_closed(f.loop, client);
  CHECK(client.received().starts_with("Status: 413"));
  CHECK_FALSE(byte_after_close_is_reset(f.loop, client));
}

TEST_CASE("connection close: a graceful stop answers the HTTP request in flight with a close") {
  Running f(gw::Protocol::Http);
  Client client(f.port);
  // A kept-alive request whose body is still on its way when the stop comes.
  client.send("POST /echo/x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nab");
  REQUIRE(f.loop.run_until([&] { return f.server->connection_count() == 1; }));
  f.loop.run_for(50);
  f.server->stop_gracefully(5000);
  client.send("cde");
  answered_and_closed(f.loop, client);
  CHECK(client.received().starts_with("HTTP/1.1 200 "));
  CHECK(client.received().find("\r\nConnection: close\r\n") != std::string::npos);
  CHECK(client.received().find("\"body_length\": 5") != std::string::npos);
}
