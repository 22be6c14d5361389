// The unix-socket self-check: can the web server's user (socket_owner) or
// group (socket_group) actually connect to a listener's socket? Connecting
// needs search (x) permission on every directory above the socket and write
// permission on the socket file; "13: Permission denied" in a web server's
// log is usually one of those. When something blocks, the answer names the
// first blocking directory (or the socket) and the least-privilege command
// that fixes it. A warning only: the admin may fix the directory afterwards.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gateway/config.h"

namespace gw {

// Who has to reach the socket.
struct SocketClient {
  std::string label;         // "user www-data", "group www-data": for messages
  std::optional<uid_t> uid;  // unset: any member of a group, no particular user
  std::vector<gid_t> gids;   // every group it is in (a user's: getgrouplist)
  // The group a "chgrp" fix names: socket_group, else the user's primary group.
  std::optional<gid_t> fix_gid;
};

// socket_owner names the client when given (the socket is chowned to it,
// so that is the web server's user), with all its groups; otherwise any
// member of socket_group. Names or numeric ids. nullopt when both are empty
// (nobody named: nothing to check). A name that does not resolve sets `error`.
std::optional<SocketClient> socket_client(const std::string& owner, const std::string& group,
                                          std::string& error);

// Owner, group and permission bits of a socket file, as it is or will be.
struct SocketFile {
  uid_t uid = 0;
  gid_t gid = 0;
  uint32_t mode = 0;  // permission bits only (e.g. 0660)
};

// Checks each directory from / down to the socket's (symbolic links
// resolved), then `file`. Returns "" when `client` can connect, else one
// line: what blocks and the fix. root can always connect.
std::string check_socket_access(const std::string& socket_path, const SocketFile& file,
                                const SocketClient& client);

// For a listener whose socket was just bound, chmod-ed and chown-ed: the
// warning for its socket_owner / socket_group, or "" (also when neither is
// set or the listener is not a unix socket).
std::string socket_access_warning(const ListenerConfig& listener);

// For --check-config, before anything is bound: one warning per unix
// listener whose socket_owner / socket_group could not connect, with the
// socket file predicted from socket_mode (else 0777 minus `umask`), the
// owner and group it will be given (else this process's).
std::vector<std::string> predicted_socket_access_warnings(const ServerConfig& config);

}  // namespace gw
