// Socket activation and readiness without libsystemd: LISTEN_* parsing,
// matching passed sockets to listeners (on real sockets), and notification
// datagrams received on a real socket.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "gateway/socket_activation.h"
#include "gateway/startup.h"
#include "gateway/systemd.h"
#include "tests/support/temp_dir.h"

namespace gw {
namespace {

using systemd::PassedSocket;

const char* no_env(const char*) {
  return nullptr;
}

// An owned descriptor, closed at the end of the test.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) { REQUIRE(fd >= 0); }
  ~Fd() { ::close(fd); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

// A TCP socket on 127.0.0.1 (or `any`: 0.0.0.0), bound to a free port;
// listening unless told otherwise.
int tcp_socket(bool listening = true, bool any = false) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(any ? INADDR_ANY : INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  if (listening) REQUIRE(listen(fd, 8) == 0);
  return fd;
}

uint16_t port_of(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  return ntohs(a.sin_port);
}

// A unix datagram socket bound at `address` ("/path" or "@abstract").
int dgram_socket(const std::string& address) {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, address.data(), address.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
  if (address[0] == '@') {
    sun.sun_path[0] = '\0';
  } else {
    len += 1;
  }
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&sun), len) == 0);
  return fd;
}

std::string receive(int fd) {
  char buf[512];
  ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  REQUIRE(n >= 0);
  return std::string(buf, static_cast<size_t>(n));
}

// A project directory (echo backend) and a Startup loaded with `args`
// followed by it.
struct Loaded {
  test::TempDir dir{"systemd"};
  Startup startup;
  std::optional<ConfigError> load(std::vector<std::string> args) {
    dir.write("p/project.json", R"({"backend": {"type": "echo"}})");
    args.push_back(dir / "p");
    auto err = load_startup(args, no_env, startup);
    REQUIRE_FALSE(err);
    return err;
  }
};

}  // namespace

TEST_CASE("systemd: LISTEN_* variables") {
  std::vector<PassedSocket> out;
  const pid_t self = 4242;

  SUBCASE("none set, or set for another process: no sockets, no error") {
    CHECK_FALSE(systemd::parse_listen_env(nullptr, nullptr, nullptr, self, out));
    CHECK(out.empty());
    CHECK_FALSE(systemd::parse_listen_env("4243", "2", "a:b", self, out));
    CHECK(out.empty());
  }
  SUBCASE("counted from fd 3, named in order; 'unknown' is unnamed") {
    REQUIRE_FALSE(systemd::parse_listen_env("4242", "3", "fcgi:unknown:scgi", self, out));
    CHECK(out == std::vector<PassedSocket>{{3, "fcgi"}, {4, ""}, {5, "scgi"}});
  }
  SUBCASE("no LISTEN_FDNAMES: unnamed") {
    REQUIRE_FALSE(systemd::parse_listen_env("4242", "2", nullptr, self, out));
    CHECK(out == std::vector<PassedSocket>{{3, ""}, {4, ""}});
  }
  SUBCASE("empty names between colons stay empty") {
    REQUIRE_FALSE(systemd::parse_listen_env("4242", "2", ":http", self, out));
    CHECK(out == std::vector<PassedSocket>{{3, ""}, {4, "http"}});
  }
  SUBCASE("zero sockets") {
    REQUIRE_FALSE(systemd::parse_listen_env("4242", "0", "", self, out));
    CHECK(out.empty());
  }
  SUBCASE("malformed") {
    auto err = systemd::parse_listen_env("42x", "1", nullptr, self, out);
    REQUIRE(err);
    CHECK(*err == "LISTEN_PID '42x' is not a process id");
    err = systemd::parse_listen_env("4242", "-1", nullptr, self, out);
    REQUIRE(err);
    CHECK(*err == "LISTEN_FDS '-1' is not a count of descriptors");
    err = systemd::parse_listen_env("4242", "", nullptr, self, out);
    REQUIRE(err);
    err = systemd::parse_listen_env("4242", "10001", nullptr, self, out);
    REQUIRE(err);
    err = systemd::parse_listen_env("4242", "2", "fcgi", self, out);
    REQUIRE(err);
    CHECK(*err == "LISTEN_FDNAMES names 1 sockets but LISTEN_FDS is 2");
    err = systemd::parse_listen_env("4242", "1", "a:b", self, out);
    REQUIRE(err);
    CHECK(*err == "LISTEN_FDNAMES names 2 sockets but LISTEN_FDS is 1");
    CHECK(out.empty());
  }
}

TEST_CASE("systemd: notify sends one datagram to a path or an abstract socket") {
  test::TempDir dir("notify");
  const std::string path = dir / "notify.sock";
  Fd by_path(dgram_socket(path));
  REQUIRE_FALSE(systemd::notify_address(path, "READY=1\nMAINPID=77"));
  CHECK(receive(by_path.fd) == "READY=1\nMAINPID=77");

  const std::string abstract = "@gw-notify-test-" + std::to_string(getpid());
  Fd by_name(dgram_socket(abstract));
  REQUIRE_FALSE(systemd::notify_address(abstract, "STOPPING=1"));
  CHECK(receive(by_name.fd) == "STOPPING=1");

  auto err = systemd::notify_address("relative/path", "READY=1");
  REQUIRE(err);
  CHECK(err->find("neither a path nor an abstract socket name") != std::string::npos);
  err = systemd::notify_address(dir / "nobody-listens.sock", "READY=1");
  REQUIRE(err);
  CHECK(err->find("No such file or directory") != std::string::npos);
  err = systemd::notify_address("/" + std::string(200, 'x'), "READY=1");
  REQUIRE(err);
  CHECK(err->find("too long") != std::string::npos);
}

TEST_CASE("systemd: notify to a master's pipe, one line per state") {
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
  Fd r(fds[0]), w(fds[1]);
  systemd::notify_to_fd(w.fd);
  systemd::notify("READY=1\nMAINPID=5");
  systemd::notify("STOPPING=1");
  systemd::notify_to_fd(-1);
  char buf[128];
  ssize_t n = read(r.fd, buf, sizeof buf);
  REQUIRE(n > 0);
  CHECK(std::string(buf, static_cast<size_t>(n)) == "READY=1\nMAINPID=5\nSTOPPING=1\n");
}

TEST_CASE("systemd: only listening stream sockets are served") {
  Fd listening(tcp_socket());
  CHECK_FALSE(check_listening_socket(listening.fd));
  Fd bound(tcp_socket(false));
  auto err = check_listening_socket(bound.fd);
  REQUIRE(err);
  CHECK(err->find("not a listening socket") != std::string::npos);
  CHECK(err->find("Accept=yes") != std::string::npos);
  Fd udp(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  err = check_listening_socket(udp.fd);
  REQUIRE(err);
  CHECK(err->find("not a stream socket") != std::string::npos);
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  Fd r(fds[0]), w(fds[1]);
  err = check_listening_socket(r.fd);
  REQUIRE(err);
  CHECK(*err == "not a socket");
}

TEST_CASE("systemd: a passed socket's address replaces the listener's") {
  ListenerConfig l;
  l.host = "10.0.0.1";
  l.port = 1;
  Fd tcp(tcp_socket());
  REQUIRE_FALSE(take_socket_address(tcp.fd, l));
  CHECK(l.host == "127.0.0.1");
  CHECK(l.port == port_of(tcp.fd));

  test::TempDir dir("addr");
  const std::string path = dir / "s.sock";
  Fd unix_sock(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(bind(unix_sock.fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0);
  l.socket_mode = 0660;
  l.socket_owner = "www-data";
  REQUIRE_FALSE(take_socket_address(unix_sock.fd, l));
  CHECK(l.unix_path == path);
  CHECK(l.host.empty());
  CHECK(l.port == 0);
  CHECK_FALSE(l.socket_mode);
  CHECK(l.socket_owner.empty());

  const std::string abstract = "@gw-addr-test-" + std::to_string(getpid());
  Fd named(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un an{};
  an.sun_family = AF_UNIX;
  std::memcpy(an.sun_path + 1, abstract.data() + 1, abstract.size() - 1);
  REQUIRE(bind(named.fd, reinterpret_cast<sockaddr*>(&an),
               static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + abstract.size())) == 0);
  REQUIRE_FALSE(take_socket_address(named.fd, l));
  CHECK(l.unix_path == abstract);
}

TEST_CASE("systemd: sockets named after protocols replace the default listener") {
  Loaded t;
  t.load({});
  REQUIRE(t.startup.config.listeners.size() == 1);  // HTTP on port 80, chosen by default
  Fd a(tcp_socket()), b(tcp_socket());
  REQUIRE_FALSE(match_passed_sockets({{a.fd, "fcgi"}, {b.fd, "scgi"}}, t.startup));
  const auto& ls = t.startup.config.listeners;
  REQUIRE(ls.size() == 2);
  CHECK(ls[0].protocol == Protocol::FastCgi);
  CHECK(ls[0].name == "fcgi");
  CHECK(ls[0].inherited_fd == a.fd);
  CHECK(ls[0].host == "127.0.0.1");
  CHECK(ls[0].port == port_of(a.fd));
  CHECK(ls[1].protocol == Protocol::Scgi);
  CHECK(ls[1].inherited_fd == b.fd);
  CHECK(ls[1].port == port_of(b.fd));
}

TEST_CASE("systemd: no sockets passed leaves the configuration alone") {
  Loaded t;
  t.load({"--protocol=scgi"});
  const auto before = t.startup.config.listeners;
  REQUIRE_FALSE(match_passed_sockets({}, t.startup));
  CHECK(t.startup.config.listeners == before);
}

TEST_CASE("systemd: a socket named like a configured listener gets its settings") {
  Loaded t;
  Fd fcgi_port(tcp_socket(false));  // a port nothing listens on, for the bound listener
  const uint16_t own_port = port_of(fcgi_port.fd);
  const std::string conf =
      t.dir.write("gatewayd.json", R"({"listeners": [
        {"protocol": "http", "port": 1, "name": "front", "base_path": "/apps"},
        {"protocol": "fcgi", "host": "127.0.0.1", "port": )" +
                                       std::to_string(own_port) + R"(, "name": "back"}]})");
  t.load({"--config", conf});
  Fd front1(tcp_socket()), front2(tcp_socket());
  REQUIRE_FALSE(match_passed_sockets({{front1.fd, "front"}, {front2.fd, "front"}}, t.startup));
  const auto& ls = t.startup.config.listeners;
  REQUIRE(ls.size() == 3);
  CHECK(ls[0].name == "front");
  CHECK(ls[0].inherited_fd == front1.fd);
  CHECK(ls[0].port == port_of(front1.fd));
  CHECK(ls[0].base_path == std::optional<std::string>("/apps"));
  // Not passed: binds its own address as usual.
  CHECK(ls[1].name == "back");
  CHECK(ls[1].inherited_fd == -1);
  CHECK(ls[1].port == own_port);
  // A second socket of the same name: a copy of the listener's settings.
  CHECK(ls[2].name == "front");
  CHECK(ls[2].inherited_fd == front2.fd);
  CHECK(ls[2].base_path == std::optional<std::string>("/apps"));
}

TEST_CASE("systemd: the only socket, unnamed, served with --protocol") {
  Loaded t;
  t.load({"--protocol=scgi", "--base-path=/x"});
  Fd s(tcp_socket());
  SUBCASE("unnamed") {
    REQUIRE_FALSE(match_passed_sockets({{s.fd, ""}}, t.startup));
  }
  SUBCASE("systemd's default name, the unit's") {
    REQUIRE_FALSE(match_passed_sockets({{s.fd, "gatewayd.socket"}}, t.startup));
  }
  const auto& ls = t.startup.config.listeners;
  REQUIRE(ls.size() == 1);
  CHECK(ls[0].protocol == Protocol::Scgi);
  CHECK(ls[0].inherited_fd == s.fd);
  CHECK(ls[0].port == port_of(s.fd));
}

TEST_CASE("systemd: a protocol-named socket takes --protocol's options") {
  Loaded t;
  t.load({"--protocol=ajp", "--ajp-secret", "s3cret"});
  Fd s(tcp_socket(true, /*any=*/true));
  REQUIRE_FALSE(match_passed_sockets({{s.fd, "ajp"}}, t.startup));
  const auto& ls = t.startup.config.listeners;
  REQUIRE(ls.size() == 1);
  CHECK(ls[0].protocol == Protocol::Ajp13);
  CHECK(ls[0].ajp_secret == std::optional<std::string>("s3cret"));
  CHECK(ls[0].host == "0.0.0.0");
}

TEST_CASE("systemd: an AJP socket open to other machines needs a secret") {
  Loaded t;
  t.load({});
  Fd s(tcp_socket(true, /*any=*/true));
  auto err = match_passed_sockets({{s.fd, "ajp"}}, t.startup);
  REQUIRE(err);
  CHECK(err->message().find("needs a secret") != std::string::npos);
}

TEST_CASE("systemd: a socket named status is a status listener") {
  Loaded t;
  t.load({"--protocol=fcgi", "-p", "1"});
  Fd s(tcp_socket());
  REQUIRE_FALSE(match_passed_sockets({{s.fd, "status"}}, t.startup));
  const auto& ls = t.startup.config.listeners;
  REQUIRE(ls.size() == 2);  // the command line's own address still binds
  CHECK(ls[0].protocol == Protocol::FastCgi);
  CHECK(ls[0].inherited_fd == -1);
  CHECK(ls[1].status);
  CHECK(ls[1].inherited_fd == s.fd);
}

TEST_CASE("systemd: sockets that cannot be matched say what to do") {
  Loaded t;
  Fd s(tcp_socket()), other(tcp_socket());
  SUBCASE("unnamed, no --protocol") {
    t.load({});
    auto err = match_passed_sockets({{s.fd, ""}}, t.startup);
    REQUIRE(err);
    CHECK(err->where == "systemd unnamed socket (fd " + std::to_string(s.fd) + ")");
    CHECK(err->why.find("FileDescriptorName=") != std::string::npos);
  }
  SUBCASE("unnamed, --protocol, but not the only socket") {
    t.load({"--protocol=fcgi"});
    auto err = match_passed_sockets({{s.fd, ""}, {other.fd, "scgi"}}, t.startup);
    REQUIRE(err);
    CHECK(err->where == "systemd unnamed socket (fd " + std::to_string(s.fd) + ")");
  }
  SUBCASE("a name that is neither a listener nor a protocol") {
    t.load({});
    auto err = match_passed_sockets({{s.fd, "web"}}, t.startup);
    REQUIRE(err);
    CHECK(err->where == "systemd socket 'web' (fd " + std::to_string(s.fd) + ")");
    CHECK(err->why.find("no listener is named 'web'") != std::string::npos);
  }
  SUBCASE("not listening") {
    t.load({});
    Fd bound(tcp_socket(false));
    auto err = match_passed_sockets({{bound.fd, "fcgi"}}, t.startup);
    REQUIRE(err);
    CHECK(err->where == "systemd socket 'fcgi' (fd " + std::to_string(bound.fd) + ")");
    CHECK(err->why.find("not a listening socket") != std::string::npos);
  }
}

}  // namespace gw
