// The unix-socket self-check (gateway/socket_access): who is checked, every
// directory on the way, the socket's write bit, the least-privilege fix
// named in each message. Real directories in /tmp with real owners, so most
// cases need root (as the tests run in CI); the users are Debian's www-data
// (33, group www-data) and nobody (65534, group nogroup).
#include "gateway/socket_access.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "tests/support/temp_dir.h"

namespace {

using gw::SocketClient;
using gw::SocketFile;
using gw::test::TempDir;

constexpr uid_t kWwwData = 33;
constexpr gid_t kWwwDataGroup = 33;

bool running_as_root() {
  if (geteuid() == 0) return true;
  MESSAGE("not root: chown is not possible, case skipped");
  return false;
}

// A workspace whose own directory everyone may search, so that only the
// directories a case makes can block.
struct Tree {
  TempDir tmp{"sockacc"};
  Tree() { REQUIRE(::chmod(tmp.path().c_str(), 0755) == 0); }
  std::string dir(const std::string& rel, mode_t mode, uid_t uid = 0, gid_t gid = 0) const {
    std::string p = tmp.mkdir(rel);
    REQUIRE(::chown(p.c_str(), uid, gid) == 0);
    REQUIRE(::chmod(p.c_str(), mode) == 0);
    return p;
  }
};

SocketClient client(const std::string& owner, const std::string& group = "") {
  std::string error;
  auto c = gw::socket_client(owner, group, error);
  REQUIRE(error == "");
  REQUIRE(c.has_value());
  return *c;
}

const SocketFile kWritable{0, kWwwDataGroup, 0660};

}  // namespace

TEST_CASE("socket access: who is checked") {
  SUBCASE("socket_owner: that user with all its groups") {
    SocketClient c = client("www-data", "nogroup");
    CHECK(c.label == "user www-data");
    REQUIRE(c.uid.has_value());
    CHECK(*c.uid == kWwwData);
    CHECK(c.gids == std::vector<gid_t>{kWwwDataGroup});
    CHECK(c.fix_gid == kWwwDataGroup);
  }
  SUBCASE("a numeric owner is looked up") {
    SocketClient c = client("33");
    CHECK(c.label == "user www-data");
    CHECK(c.uid == kWwwData);
  }
  SUBCASE("a numeric owner without an account") {
    SocketClient c = client("4000000");
    CHECK(c.label == "user 4000000");
    CHECK(c.uid == 4000000u);
    CHECK(c.gids.empty());
    CHECK_FALSE(c.fix_gid.has_value());
  }
  SUBCASE("only socket_group: any member of it") {
    SocketClient c = client("", "www-data");
    CHECK(c.label == "group www-data");
    CHECK_FALSE(c.uid.has_value());
    CHECK(c.gids == std::vector<gid_t>{kWwwDataGroup});
  }
  SUBCASE("neither: nothing to check") {
    std::string error = "stale";
    CHECK_FALSE(gw::socket_client("", "", error).has_value());
    CHECK(error == "");
  }
  SUBCASE("names that do not resolve") {
    std::string error;
    CHECK_FALSE(gw::socket_client("no-such-user-gw", "", error).has_value());
    CHECK(error == "socket owner 'no-such-user-gw': no such user");
    CHECK_FALSE(gw::socket_client("", "no-such-group-gw", error).has_value());
    CHECK(error == "socket group 'no-such-group-gw': no such group");
    CHECK_FALSE(gw::socket_client("12x", "", error).has_value());
    CHECK(error == "socket owner '12x': no such user");
  }
}

TEST_CASE("socket access: a 0700 parent owned by root blocks the web server's user") {
  if (!running_as_root()) return;
  Tree t;
  std::string run = t.dir("run", 0700);
  std::string sock = run + "/gw.sock";
  CHECK(gw::check_socket_access(sock, kWritable, client("nobody")) ==
        sock + ": user nobody cannot reach the socket: directory " + run +
            " (owner root, group root, mode 0700) gives user nobody no search (x) permission; "
            "fix: chgrp nogroup " +
            run + " && chmod g+x " + run);
  CHECK(gw::check_socket_access(sock, kWritable, client("www-data")) ==
        sock + ": user www-data cannot reach the socket: directory " + run +
            " (owner root, group root, mode 0700) gives user www-data no search (x) permission; "
            "fix: chgrp www-data " +
            run + " && chmod g+x " + run);
  SUBCASE("root is never blocked") {
    CHECK(gw::check_socket_access(sock, SocketFile{0, 0, 0}, client("root")) == "");
  }
}

TEST_CASE("socket access: the least-privilege fix for each directory") {
  if (!running_as_root()) return;
  Tree t;
  SUBCASE("group bits in use: search for others instead of taking the group away") {
    std::string run = t.dir("run", 0750);
    CHECK(gw::check_socket_access(run + "/s", kWritable, client("www-data")) ==
          run + "/s: user www-data cannot reach the socket: directory " + run +
              " (owner root, group root, mode 0750) gives user www-data no search (x) "
              "permission; fix: chmod o+x " +
              run);
  }
  SUBCASE("the client's group owns the directory") {
    std::string run = t.dir("run", 0740, 0, kWwwDataGroup);
    CHECK(gw::check_socket_access(run + "/s", kWritable, client("www-data")) ==
          run + "/s: user www-data cannot reach the socket: directory " + run +
              " (owner root, group www-data, mode 0740) gives user www-data no search (x) "
              "permission; fix: chmod g+x " +
              run);
  }
  SUBCASE("the client owns the directory: its own bits count, not the others'") {
    std::string run = t.dir("run", 0607, kWwwData, 0);
    CHECK(gw::check_socket_access(run + "/s", kWritable, client("www-data")) ==
          run + "/s: user www-data cannot reach the socket: directory " + run +
              " (owner www-data, group root, mode 0607) gives user www-data no search (x) "
              "permission; fix: chmod u+x " +
              run);
  }
  SUBCASE("a group client with no user: group or other bits") {
    std::string run = t.dir("run", 0700);
    CHECK(gw::check_socket_access(run + "/s", kWritable, client("", "www-data")) ==
          run + "/s: group www-data cannot reach the socket: directory " + run +
              " (owner root, group root, mode 0700) gives group www-data no search (x) "
              "permission; fix: chgrp www-data " +
              run + " && chmod g+x " + run);
  }
  SUBCASE("an id without an account has no group to hand the directory to") {
    std::string run = t.dir("run", 0700);
    CHECK(gw::check_socket_access(run + "/s", kWritable, client("4000000")) ==
          run + "/s: user 4000000 cannot reach the socket: directory " + run +
              " (owner root, group root, mode 0700) gives user 4000000 no search (x) "
              "permission; fix: chmod o+x " +
              run);
  }
  SUBCASE("search permission through the right class passes") {
    t.dir("a", 0710, 0, kWwwDataGroup);
    std::string b = t.dir("a/b", 0701);
    CHECK(gw::check_socket_access(b + "/s", kWritable, client("www-data")) == "");
  }
}

TEST_CASE("socket access: the first blocking directory from the top is named") {
  if (!running_as_root()) return;
  Tree t;
  std::string top = t.dir("top", 0700);
  std::string inner = t.dir("top/inner", 0700);
  std::string msg = gw::check_socket_access(inner + "/s", kWritable, client("www-data"));
  CHECK(msg == inner + "/s: user www-data cannot reach the socket: directory " + top +
                   " (owner root, group root, mode 0700) gives user www-data no search (x) "
                   "permission; fix: chgrp www-data " +
                   top + " && chmod g+x " + top);
  // Once the top one is fixed, the next one is named.
  REQUIRE(::chmod(top.c_str(), 0711) == 0);
  CHECK(gw::check_socket_access(inner + "/s", kWritable, client("www-data")) ==
        inner + "/s: user www-data cannot reach the socket: directory " + inner +
            " (owner root, group root, mode 0700) gives user www-data no search (x) "
            "permission; fix: chgrp www-data " +
            inner + " && chmod g+x " + inner);
  REQUIRE(::chmod(inner.c_str(), 0701) == 0);
  CHECK(gw::check_socket_access(inner + "/s", kWritable, client("www-data")) == "");
}

TEST_CASE("socket access: symbolic links are followed to the directory that blocks") {
  if (!running_as_root()) return;
  Tree t;
  std::string real = t.dir("real", 0700);
  std::string link = t.tmp / "link";
  REQUIRE(::symlink(real.c_str(), link.c_str()) == 0);
  CHECK(gw::check_socket_access(link + "/s", kWritable, client("nobody")) ==
        link + "/s: user nobody cannot reach the socket: directory " + real +
            " (owner root, group root, mode 0700) gives user nobody no search (x) permission; "
            "fix: chgrp nogroup " +
            real + " && chmod g+x " + real);
}

TEST_CASE("socket access: odd paths") {
  if (!running_as_root()) return;
  Tree t;
  SUBCASE("a directory name that needs quoting in the command") {
    std::string run = t.dir("my run's", 0750);
    CHECK(gw::check_socket_access(run + "/s", kWritable, client("www-data")) ==
          run + "/s: user www-data cannot reach the socket: directory " + run +
              " (owner root, group root, mode 0750) gives user www-data no search (x) "
              "permission; fix: chmod o+x '" +
              t.tmp.path() + "/my run'\\''s'");
  }
  SUBCASE("a missing directory") {
    std::string missing = t.tmp / "missing";
    CHECK(gw::check_socket_access(missing + "/s", kWritable, client("www-data")) ==
          missing + "/s: user www-data cannot reach the socket: directory " + missing +
              ": No such file or directory");
  }
}

TEST_CASE("socket access: the socket file needs write permission for the client") {
  if (!running_as_root()) return;
  Tree t;
  std::string sock = t.dir("run", 0755) + "/gw.sock";
  SUBCASE("group www-data on a 0755 socket: group write is missing") {
    CHECK(gw::check_socket_access(sock, SocketFile{0, kWwwDataGroup, 0755}, client("www-data")) ==
          sock +
              ": user www-data cannot connect: the socket (owner root, group www-data, mode "
              "0755) gives user www-data no write permission; fix: --socket-mode=0775 "
              "(\"socket_mode\": \"0775\" in a config file)");
  }
  SUBCASE("owned by the client: only the owner's bit counts") {
    CHECK(gw::check_socket_access(sock, SocketFile{kWwwData, 0, 0466}, client("www-data")) ==
          sock +
              ": user www-data cannot connect: the socket (owner www-data, group root, mode "
              "0466) gives user www-data no write permission; fix: --socket-mode=0666 "
              "(\"socket_mode\": \"0666\" in a config file)");
    CHECK(gw::check_socket_access(sock, SocketFile{kWwwData, 0, 0200}, client("www-data")) == "");
  }
  SUBCASE("neither owner nor group: the others' bit") {
    CHECK(gw::check_socket_access(sock, SocketFile{0, 0, 0660}, client("", "www-data")) ==
          sock +
              ": group www-data cannot connect: the socket (owner root, group root, mode 0660) "
              "gives group www-data no write permission; fix: --socket-mode=0662 "
              "(\"socket_mode\": \"0662\" in a config file)");
  }
  SUBCASE("writable through the group") {
    CHECK(gw::check_socket_access(sock, kWritable, client("", "www-data")) == "");
  }
}

namespace {

// A real listening unix socket at `path` (closed at the end of the case).
struct BoundSocket {
  int fd = -1;
  explicit BoundSocket(const std::string& path) {
    fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    REQUIRE(path.size() < sizeof sun.sun_path);
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0);
  }
  ~BoundSocket() { ::close(fd); }
};

}  // namespace

TEST_CASE("socket access: a listener's socket as it is on disk") {
  if (!running_as_root()) return;
  Tree t;
  std::string run = t.dir("run", 0700);
  gw::ListenerConfig l;
  l.protocol = gw::Protocol::FastCgi;
  l.unix_path = run + "/fcgi.sock";
  BoundSocket s(l.unix_path);
  REQUIRE(::chmod(l.unix_path.c_str(), 0660) == 0);
  REQUIRE(::chown(l.unix_path.c_str(), 0, kWwwDataGroup) == 0);

  SUBCASE("nobody named: nothing checked") {
    CHECK(gw::socket_access_warning(l) == "");
  }
  SUBCASE("socket_group names the blocked group") {
    l.socket_group = "www-data";
    CHECK(gw::socket_access_warning(l) ==
          l.unix_path + ": group www-data cannot reach the socket: directory " + run +
              " (owner root, group root, mode 0700) gives group www-data no search (x) "
              "permission; fix: chgrp www-data " +
              run + " && chmod g+x " + run);
    REQUIRE(::chmod(run.c_str(), 0710) == 0);
    REQUIRE(::chown(run.c_str(), 0, kWwwDataGroup) == 0);
    CHECK(gw::socket_access_warning(l) == "");
  }
  SUBCASE("a socket inherited from systemd is not the listener's to check") {
    l.socket_group = "www-data";
    l.inherited_fd = 3;
    CHECK(gw::socket_access_warning(l) == "");
  }
}

TEST_CASE("socket access: --check-config predicts the socket before it exists") {
  if (!running_as_root()) return;
  Tree t;
  std::string run = t.dir("run", 0755);
  gw::ServerConfig config;
  gw::ListenerConfig tcp;
  tcp.port = 8000;
  config.listeners.push_back(tcp);
  gw::ListenerConfig l;
  l.protocol = gw::Protocol::FastCgi;
  l.unix_path = run + "/fcgi.sock";
  l.socket_group = "www-data";
  config.listeners.push_back(l);

  SUBCASE("the umask's 0755 gives the group no write") {
    auto w = gw::predicted_socket_access_warnings(config);
    REQUIRE(w.size() == 1);
    CHECK(w[0] == l.unix_path +
                      ": group www-data cannot connect: the socket (owner root, group www-data, "
                      "mode 0755) gives group www-data no write permission; fix: "
                      "--socket-mode=0775 (\"socket_mode\": \"0775\" in a config file)");
  }
  SUBCASE("socket_mode 0660 is enough") {
    config.listeners[1].socket_mode = 0660;
    CHECK(gw::predicted_socket_access_warnings(config).empty());
  }
  SUBCASE("socket_owner: the socket will belong to it") {
    config.listeners[1].socket_group.clear();
    config.listeners[1].socket_owner = "www-data";
    config.umask = 0277;
    auto w = gw::predicted_socket_access_warnings(config);
    REQUIRE(w.size() == 1);
    CHECK(w[0] == l.unix_path +
                      ": user www-data cannot connect: the socket (owner www-data, group root, "
                      "mode 0500) gives user www-data no write permission; fix: "
                      "--socket-mode=0700 (\"socket_mode\": \"0700\" in a config file)");
  }
  SUBCASE("a blocking directory") {
    REQUIRE(::chmod(run.c_str(), 0700) == 0);
    config.listeners[1].socket_mode = 0660;
    auto w = gw::predicted_socket_access_warnings(config);
    REQUIRE(w.size() == 1);
    CHECK(w[0] == l.unix_path + ": group www-data cannot reach the socket: directory " + run +
                      " (owner root, group root, mode 0700) gives group www-data no search (x) "
                      "permission; fix: chgrp www-data " +
                      run + " && chmod g+x " + run);
  }
  SUBCASE("a name that does not resolve") {
    config.listeners[1].socket_group = "no-such-group-gw";
    auto w = gw::predicted_socket_access_warnings(config);
    REQUIRE(w.size() == 1);
    CHECK(w[0] == l.unix_path + ": socket group 'no-such-group-gw': no such group");
  }
}
