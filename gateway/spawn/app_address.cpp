// Runtime directory, unix listening sockets and free ports for app instances.
#include "gateway/spawn/app_address.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace gw {

namespace {

// Room left in sockaddr_un for "/<instance>-<run>.sock" under the directory.
constexpr size_t kMaxDirLength = 60;

std::string errno_text(int err) {
  return std::strerror(err);
}

}  // namespace

std::unique_ptr<RuntimeDir> RuntimeDir::create(std::string& error) {
  std::string base = "/tmp";
  if (const char* tmp = std::getenv("TMPDIR");
      tmp && tmp[0] == '/' && std::strlen(tmp) + 20 < kMaxDirLength) {
    base = tmp;
  }
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  std::string templ = base + "/gatewayd-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) {  // mode 0700
    error = "cannot make a runtime directory in " + base + ": " + errno_text(errno);
    return nullptr;
  }
  return std::unique_ptr<RuntimeDir>(new RuntimeDir(buf.data()));
}

RuntimeDir::~RuntimeDir() {
  if (DIR* d = ::opendir(path_.c_str())) {
    std::vector<std::string> names;
    while (const dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(d);
    for (const auto& name : names) ::unlink((path_ + "/" + name).c_str());
  }
  ::rmdir(path_.c_str());
}

std::string RuntimeDir::hand_to(uid_t uid, gid_t gid) {
  if (::chown(path_.c_str(), uid, gid) != 0) {
    return "cannot hand " + path_ + " to the app's user: " + errno_text(errno);
  }
  return "";
}

int listen_unix_socket(const std::string& path, std::string& error) {
  sockaddr_un sun{};
  if (path.size() >= sizeof sun.sun_path) {
    error = "socket path too long: " + path;
    return -1;
  }
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = "socket: " + errno_text(errno);
    return -1;
  }
  ::unlink(path.c_str());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0 || ::listen(fd, 128) != 0) {
    error = "cannot listen on " + path + ": " + errno_text(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

uint16_t pick_free_port(std::string& error) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = "socket: " + errno_text(errno);
    return 0;
  }
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sin;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) == 0) {
    port = ntohs(sin.sin_port);
  } else {
    error = "cannot find a free port: " + errno_text(errno);
  }
  ::close(fd);
  return port;
}

}  // namespace gw
