#include "gateway/listen_socket.h"

#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "gateway/listener.h"
#include "gateway/log.h"

namespace gw {

namespace {

// "EADDRINUSE: Address already in use": the name for searching, the text for reading.
std::string errno_text(int e) {
  const char* name = strerrorname_np(e);
  return std::string(name ? name : "error") + ": " + std::strerror(e);
}

// A numeric id, or nullopt when `text` is not one.
std::optional<unsigned long> numeric_id(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  unsigned long v = std::strtoul(text.c_str(), &end, 10);
  if (*end != '\0' || errno != 0 || text[0] == '-') return std::nullopt;
  return v;
}

// Whether something accepts on the unix socket file at `path`: live, or
// stale (what a killed process leaves behind). Sets `error` when unsure.
bool unix_socket_live(const std::string& path, std::string& error) {
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) {
    error = path + ": socket: " + errno_text(errno);
    return true;
  }
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  int rc = ::connect(probe, reinterpret_cast<sockaddr*>(&sun), sizeof sun);
  int err = errno;
  ::close(probe);
  if (rc == 0) {
    error = path + ": another process is listening on this socket";
    return true;
  }
  if (err != ECONNREFUSED && err != ENOENT) {
    error = path + ": cannot tell whether the socket is in use: " + std::strerror(err);
    return true;
  }
  return false;
}

}  // namespace

int bind_tcp_socket(const ListenerConfig& config, std::string& error) {
  const std::string& host = config.host;
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  const std::string v4_text = host == "localhost" ? "127.0.0.1" : host;
  if (host.empty()) {
    v6->sin6_family = AF_INET6;
    v6->sin6_addr = in6addr_any;
    v6->sin6_port = htons(config.port);
    len = sizeof *v6;
  } else if (inet_pton(AF_INET, v4_text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(config.port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(config.port);
    len = sizeof *v6;
  } else {
    error = describe_listener(config) + ": '" + host + "' is not an IP address";
    return -1;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (host.empty() && errno == EAFNOSUPPORT) {
      error = describe_listener(config) + ": IPv6 is not available; give --hostname 0.0.0.0";
    } else {
      error = describe_listener(config) + ": socket: " + errno_text(errno);
    }
    return -1;
  }
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (host.empty()) {
    // "::" takes IPv4 too on a dual-stack host, whatever net.ipv6.bindv6only says.
    int off = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, kListenBacklog) != 0) {
    error = describe_listener(config) + ": bind: " + errno_text(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

int bind_unix_socket(const ListenerConfig& config, uint32_t umask_bits, std::string& error) {
  const std::string& path = config.unix_path;
  sockaddr_un sun{};
  if (path.empty() || path.size() >= sizeof sun.sun_path) {
    error = path + ": not a usable unix socket path";
    return -1;
  }
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      error = path + ": exists and is not a socket; not replacing it";
      return -1;
    }
    if (unix_socket_live(path, error)) return -1;
    if (unlink(path.c_str()) != 0) {
      error = path + ": cannot remove stale socket: " + std::strerror(errno);
      return -1;
    }
    log::info(path + ": removed stale socket from an earlier run");
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = path + ": socket: " + errno_text(errno);
    return -1;
  }
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  mode_t old = umask(static_cast<mode_t>(umask_bits));
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun);
  int err = errno;
  umask(old);
  if (rc != 0) {
    error = path + ": bind: " + errno_text(err);
    ::close(fd);
    return -1;
  }
  // Mode and owner are set before listen(), so no client can connect while the
  // socket still has the umask's mode and the daemon's group.
  if (auto why = set_unix_socket_access(config)) {
    error = *why;
  } else if (::listen(fd, kListenBacklog) != 0) {
    error = path + ": listen: " + errno_text(errno);
  } else {
    return fd;
  }
  ::close(fd);
  unlink(path.c_str());
  return -1;
}

std::optional<std::string> set_unix_socket_access(const ListenerConfig& config) {
  const std::string& path = config.unix_path;
  if (config.socket_mode && chmod(path.c_str(), static_cast<mode_t>(*config.socket_mode)) != 0) {
    return path + ": chmod: " + std::strerror(errno);
  }
  if (config.socket_owner.empty() && config.socket_group.empty()) return std::nullopt;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  if (!config.socket_owner.empty()) {
    if (struct passwd* pw = getpwnam(config.socket_owner.c_str())) {
      uid = pw->pw_uid;
    } else if (auto id = numeric_id(config.socket_owner)) {
      uid = static_cast<uid_t>(*id);
    } else {
      return path + ": socket owner '" + config.socket_owner + "': no such user";
    }
  }
  if (!config.socket_group.empty()) {
    if (struct group* gr = getgrnam(config.socket_group.c_str())) {
      gid = gr->gr_gid;
    } else if (auto id = numeric_id(config.socket_group)) {
      gid = static_cast<gid_t>(*id);
    } else {
      return path + ": socket group '" + config.socket_group + "': no such group";
    }
  }
  if (chown(path.c_str(), uid, gid) != 0) return path + ": chown: " + std::strerror(errno);
  return std::nullopt;
}

}  // namespace gw
