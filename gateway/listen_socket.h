// The bind step of a listener, on plain sockets: a TCP socket (IPv4/IPv6,
// SO_REUSEADDR) or a unix socket (a stale file from a dead run replaced, a
// live one refused; umask, mode, owner and group applied), bound and
// listening. The Listener adopts the descriptor into its loop; the master
// of --workers opens every socket this way and hands copies to its workers.
#pragma once

#include <optional>
#include <string>

#include "gateway/config.h"

namespace gw {

// The backlog of every socket gatewayd listens on.
inline constexpr int kListenBacklog = 511;

// A listening TCP socket (close-on-exec) for `config`'s host and port, or -1
// and `error`. Host "" is every interface ("::", IPv4 too on a dual-stack
// host), "localhost" is 127.0.0.1.
int bind_tcp_socket(const ListenerConfig& config, std::string& error);

// A listening unix socket (close-on-exec) at config.unix_path, created
// under `umask`, with config's socket_mode, socket_owner and socket_group;
// or -1 and `error` (the file is removed again when a later step failed).
int bind_unix_socket(const ListenerConfig& config, uint32_t umask, std::string& error);

// chmod and chown of config.unix_path as configured (again on a reload).
std::optional<std::string> set_unix_socket_access(const ListenerConfig& config);

}  // namespace gw
