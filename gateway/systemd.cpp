// systemd's socket-activation and notification protocols, spoken directly:
// a few environment variables and one datagram per state change.
#include "gateway/systemd.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace gw::systemd {

namespace {

// More would be a misconfiguration, not a socket unit.
constexpr long kMaxPassedFds = 10000;

// NOTIFY_SOCKET, read once (and removed from the environment so that the
// processes we start cannot send states in our name).
std::string& notify_socket() {
  static std::string address = [] {
    const char* v = std::getenv("NOTIFY_SOCKET");
    std::string a = v ? v : "";
    unsetenv("NOTIFY_SOCKET");
    return a;
  }();
  return address;
}

int g_notify_fd = -1;

bool parse_number(std::string_view text, long& out) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && p == end;
}

}  // namespace

std::optional<std::string> parse_listen_env(const char* listen_pid, const char* listen_fds,
                                            const char* listen_fdnames, pid_t self,
                                            std::vector<PassedSocket>& out) {
  out.clear();
  if (!listen_pid || !listen_fds) return std::nullopt;
  long pid = 0;
  if (!parse_number(listen_pid, pid) || pid <= 0) {
    return "LISTEN_PID '" + std::string(listen_pid) + "' is not a process id";
  }
  if (pid != static_cast<long>(self)) return std::nullopt;  // meant for another process
  long count = 0;
  if (!parse_number(listen_fds, count) || count < 0 || count > kMaxPassedFds) {
    return "LISTEN_FDS '" + std::string(listen_fds) + "' is not a count of descriptors";
  }
  std::vector<std::string> names;
  if (listen_fdnames) {
    std::string_view rest(listen_fdnames);
    for (;;) {
      size_t colon = rest.find(':');
      names.emplace_back(rest.substr(0, colon));
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
    if (count == 0 && names.size() == 1 && names[0].empty()) names.clear();
    if (names.size() != static_cast<size_t>(count)) {
      return "LISTEN_FDNAMES names " + std::to_string(names.size()) +
             " sockets but LISTEN_FDS is " + std::to_string(count);
    }
  }
  for (long i = 0; i < count; ++i) {
    PassedSocket s;
    s.fd = kFirstPassedFd + static_cast<int>(i);
    if (!names.empty()) s.name = names[static_cast<size_t>(i)];
    if (s.name == "unknown") s.name.clear();
    out.push_back(std::move(s));
  }
  return std::nullopt;
}

std::vector<PassedSocket> take_listen_fds(std::string* error) {
  notify_socket();  // read (and removed) before any child process exists
  std::vector<PassedSocket> out;
  auto why = parse_listen_env(std::getenv("LISTEN_PID"), std::getenv("LISTEN_FDS"),
                              std::getenv("LISTEN_FDNAMES"), getpid(), out);
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  if (why) {
    if (error) *error = *why;
    return {};
  }
  for (const PassedSocket& s : out) {
    int flags = fcntl(s.fd, F_GETFD);
    if (flags >= 0) fcntl(s.fd, F_SETFD, flags | FD_CLOEXEC);
  }
  return out;
}

std::optional<std::string> notify_address(const std::string& address, std::string_view state) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (address.size() < 2 || (address[0] != '/' && address[0] != '@')) {
    return "NOTIFY_SOCKET '" + address + "' is neither a path nor an abstract socket name";
  }
  if (address.size() >= sizeof sun.sun_path) return "NOTIFY_SOCKET '" + address + "' is too long";
  std::memcpy(sun.sun_path, address.data(), address.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
  if (address[0] == '@') {
    sun.sun_path[0] = '\0';  // abstract: the name is exactly the bytes after it
  } else {
    len += 1;  // the path's terminating NUL
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  ssize_t n = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                     reinterpret_cast<const sockaddr*>(&sun), len);
  int err = errno;
  close(fd);
  if (n < 0) return "NOTIFY_SOCKET " + address + ": " + std::strerror(err);
  return std::nullopt;
}

void notify(std::string_view state) {
  if (g_notify_fd >= 0) {
    std::string line(state);
    line += '\n';
    // One write: a pipe keeps writes below PIPE_BUF whole.
    ssize_t n;
    do {
      n = write(g_notify_fd, line.data(), line.size());
    } while (n < 0 && errno == EINTR);
    return;
  }
  const std::string& address = notify_socket();
  if (address.empty()) return;
  // Best effort, as sd_notify: a service manager that does not listen
  // must not stop the service.
  (void)notify_address(address, state);
}

void notify_to_fd(int fd) {
  g_notify_fd = fd;
}

}  // namespace gw::systemd
