// The two parts of systemd's protocol a service needs, without libsystemd:
// sockets passed by socket activation (sd_listen_fds) and state
// notifications for Type=notify (sd_notify).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gw::systemd {

struct PassedSocket {
  int fd = -1;
  std::string name;  // FileDescriptorName= of the socket unit ("" when unnamed)
};

// The sockets systemd passed to this process: LISTEN_PID must be our pid;
// LISTEN_FDS counts them from fd 3, LISTEN_FDNAMES names them. The
// variables are removed so that child processes do not see them. Each fd is
// made close-on-exec.
std::vector<PassedSocket> take_listen_fds();

// Sends a state ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...",
// "MAINPID=N") to $NOTIFY_SOCKET; does nothing without one.
void notify(std::string_view state);

}  // namespace gw::systemd
