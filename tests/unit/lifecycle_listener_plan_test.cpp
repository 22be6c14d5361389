// The reload plan for listening sockets: which running socket each new
// listener keeps (unchanged settings first, then the same address), which
// are opened and which are closed, and the words the log uses.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "gateway/config.h"
#include "gateway/lifecycle.h"
#include "gateway/listener_plan.h"

using gw::ListenerConfig;
using gw::ListenerPlan;
using gw::Protocol;

namespace {

using Names = std::vector<std::string>;
using Sources = std::vector<std::optional<size_t>>;
using Indices = std::vector<size_t>;

ListenerConfig tcp(Protocol protocol, std::string host, uint16_t port) {
  ListenerConfig l;
  l.protocol = protocol;
  l.host = std::move(host);
  l.port = port;
  return l;
}

ListenerConfig unix_socket(Protocol protocol, std::string path) {
  ListenerConfig l;
  l.protocol = protocol;
  l.unix_path = std::move(path);
  return l;
}

}  // namespace

TEST_CASE("lifecycle: same_socket is the address, not the settings") {
  ListenerConfig a = tcp(Protocol::FastCgi, "127.0.0.1", 9000);
  ListenerConfig b = a;
  b.protocol = Protocol::Scgi;
  b.base_path = "/apps";
  b.name = "renamed";
  CHECK(gw::same_socket(a, b));
  CHECK_FALSE(gw::same_socket(a, tcp(Protocol::FastCgi, "127.0.0.1", 9001)));
  CHECK_FALSE(gw::same_socket(a, tcp(Protocol::FastCgi, "", 9000)));  // "" is every interface
  CHECK_FALSE(gw::same_socket(a, tcp(Protocol::FastCgi, "::1", 9000)));

  ListenerConfig u = unix_socket(Protocol::FastCgi, "/run/gw.sock");
  ListenerConfig u2 = u;
  u2.socket_mode = 0660;
  CHECK(gw::same_socket(u, u2));
  CHECK_FALSE(gw::same_socket(u, unix_socket(Protocol::FastCgi, "/run/other.sock")));
  CHECK_FALSE(gw::same_socket(u, a));

  ListenerConfig fd0;
  fd0.inherited_fd0 = true;
  ListenerConfig fd0b = fd0;
  fd0b.protocol = Protocol::FastCgi;
  CHECK(gw::same_socket(fd0, fd0b));
  CHECK_FALSE(gw::same_socket(fd0, ListenerConfig{}));

  // A passed socket is its descriptor, whatever address the file names.
  ListenerConfig passed = a;
  passed.inherited_fd = 3;
  ListenerConfig passed_again = tcp(Protocol::Scgi, "", 0);
  passed_again.inherited_fd = 3;
  ListenerConfig other_fd = a;
  other_fd.inherited_fd = 4;
  CHECK(gw::same_socket(passed, passed_again));
  CHECK_FALSE(gw::same_socket(passed, other_fd));
  CHECK_FALSE(gw::same_socket(passed, a));
}

TEST_CASE("lifecycle: plan_listeners") {
  const ListenerConfig fcgi = tcp(Protocol::FastCgi, "127.0.0.1", 9000);
  const ListenerConfig http = tcp(Protocol::Http, "", 8080);
  const ListenerConfig sock = unix_socket(Protocol::Scgi, "/run/gw.sock");
  const std::vector<ListenerConfig> running = {fcgi, http, sock};

  SUBCASE("nothing changed: every socket is kept in place") {
    ListenerPlan p = gw::plan_listeners(running, running);
    CHECK(p.source == Sources{0, 1, 2});
    CHECK(p.closed.empty());
    CHECK(p.kept == Names{"fcgi:127.0.0.1:9000", "http:*:8080", "scgi:unix:/run/gw.sock"});
    CHECK(p.summary() ==
          "kept fcgi:127.0.0.1:9000, http:*:8080, scgi:unix:/run/gw.sock; changed none; "
          "opened none; closed none");
  }
  SUBCASE("reordered: each keeps its own socket") {
    ListenerPlan p = gw::plan_listeners(running, {sock, fcgi, http});
    CHECK(p.source == Sources{2, 0, 1});
    CHECK(p.closed.empty());
    CHECK(p.changed.empty());
  }
  SUBCASE("changed settings at the same address keep the socket") {
    ListenerConfig moved = fcgi;
    moved.base_path = "/apps";
    ListenerPlan p = gw::plan_listeners(running, {moved, http, sock});
    CHECK(p.source == Sources{0, 1, 2});
    CHECK(p.changed == Names{"fcgi:127.0.0.1:9000"});
    CHECK(p.kept == Names{"http:*:8080", "scgi:unix:/run/gw.sock"});
    CHECK(p.opened.empty());
    CHECK(p.closed.empty());
  }
  SUBCASE("added, removed and changed at once") {
    ListenerConfig http2 = http;
    http2.name = "public";
    ListenerConfig extra = tcp(Protocol::Ajp13, "127.0.0.1", 8009);
    ListenerPlan p = gw::plan_listeners(running, {extra, http2});
    CHECK(p.source == Sources{std::nullopt, 1});
    CHECK(p.opened == Names{"ajp:127.0.0.1:8009"});
    CHECK(p.changed == Names{"public"});
    CHECK(p.kept.empty());
    CHECK(p.closed == Indices{0, 2});
    CHECK(p.removed == Names{"fcgi:127.0.0.1:9000", "scgi:unix:/run/gw.sock"});
    CHECK(p.summary() ==
          "kept none; changed public; opened ajp:127.0.0.1:8009; "
          "closed fcgi:127.0.0.1:9000, scgi:unix:/run/gw.sock");
  }
  SUBCASE("an unchanged listener wins its socket over a changed one") {
    // Two new listeners at one address: the unchanged one keeps the socket
    // even though the changed one comes first; the other needs a new one
    // (whose bind will fail: the reload is then refused as a whole).
    ListenerConfig changed = fcgi;
    changed.protocol = Protocol::Scgi;
    ListenerPlan p = gw::plan_listeners({fcgi}, {changed, fcgi});
    CHECK(p.source == Sources{std::nullopt, 0});
    CHECK(p.kept == Names{"fcgi:127.0.0.1:9000"});
    CHECK(p.opened == Names{"scgi:127.0.0.1:9000"});
  }
  SUBCASE("each running socket is kept once") {
    ListenerPlan p = gw::plan_listeners({fcgi}, {fcgi, fcgi});
    CHECK(p.source == Sources{0, std::nullopt});
  }
  SUBCASE("from none, and to none") {
    ListenerPlan up = gw::plan_listeners({}, running);
    CHECK(up.source == Sources{std::nullopt, std::nullopt, std::nullopt});
    CHECK(up.opened.size() == 3);
    ListenerPlan down = gw::plan_listeners(running, {});
    CHECK(down.source.empty());
    CHECK(down.closed == Indices{0, 1, 2});
    CHECK(down.summary() ==
          "kept none; changed none; opened none; closed fcgi:127.0.0.1:9000, http:*:8080, "
          "scgi:unix:/run/gw.sock");
  }
}

TEST_CASE("lifecycle: restart-only settings are named, the rest are not") {
  gw::ServerConfig running;
  gw::ServerConfig next = running;
  next.base_path = "/elsewhere";
  next.limits.max_connections = 7;
  next.log_level = "debug";
  next.error_log = "/var/log/gw.log";
  next.graceful_timeout_ms = 5;
  CHECK(gw::restart_only_changes(running, next).empty());

  next.user = "www-data";
  next.workers = 4;
  next.umask = 007;
  next.pidfile = "/run/gw.pid";
  next.daemonize = true;
  next.group = "web";
  CHECK(gw::restart_only_changes(running, next) ==
        Names{"user: needs a restart (running: '', new: 'www-data')",
              "group: needs a restart (running: '', new: 'web')",
              "daemonize: needs a restart (running: no, new: yes)",
              "pidfile: needs a restart (running: '', new: '/run/gw.pid')",
              "workers: needs a restart (running: 1, new: 4)",
              "umask: needs a restart for the sockets already open (running: 022, new: 007); "
              "sockets opened by this reload use the new one"});
}
