// The two parts of systemd's protocol a service needs, without libsystemd:
// sockets passed by socket activation (sd_listen_fds) and state
// notifications for Type=notify (sd_notify).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::systemd {

struct PassedSocket {
  int fd = -1;
  std::string name;  // FileDescriptorName= of the socket unit ("" when unnamed)

  bool operator==(const PassedSocket&) const = default;
};

// The first passed descriptor (SD_LISTEN_FDS_START).
inline constexpr int kFirstPassedFd = 3;

// The sockets systemd passed to this process: LISTEN_PID must be our pid;
// LISTEN_FDS counts them from fd 3, LISTEN_FDNAMES names them. The
// variables are removed so that child processes do not see them (and
// NOTIFY_SOCKET is read for notify() and removed too). Each fd is made
// close-on-exec. Malformed variables give no sockets and set `error`.
std::vector<PassedSocket> take_listen_fds(std::string* error = nullptr);

// The parsing part of take_listen_fds, for `self` as our pid. No variable
// set, or LISTEN_PID naming another process: no sockets, no error (as
// sd_listen_fds). Otherwise LISTEN_FDS must be a count from 1 to 10000 and
// LISTEN_FDNAMES, when set, must hold exactly that many ':'-separated
// names. The name "unknown" (what systemd says of an unnamed socket) is
// reported as "". Returns why the variables are malformed.
std::optional<std::string> parse_listen_env(const char* listen_pid, const char* listen_fds,
                                            const char* listen_fdnames, pid_t self,
                                            std::vector<PassedSocket>& out);

// Sends a state ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...",
// "MAINPID=N", several joined by '\n') to $NOTIFY_SOCKET, or to the fd
// given to notify_to_fd; does nothing without either.
void notify(std::string_view state);

// Sends `state` as one datagram to the unix socket `address`: a path, or
// "@name" for an abstract socket. Returns why it could not.
std::optional<std::string> notify_address(const std::string& address, std::string_view state);

// From now on notify() writes each state, followed by '\n', to `fd` (a
// pipe to a master process) instead of $NOTIFY_SOCKET; -1 undoes it.
void notify_to_fd(int fd);

}  // namespace gw::systemd
