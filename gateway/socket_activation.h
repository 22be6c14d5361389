// Which listener serves each socket systemd passed (socket activation):
//
//  1. A socket named like a configured listener (FileDescriptorName= equal
//     to the listener's "name") is served with that listener's settings;
//     several sockets of one name each get a copy of them.
//  2. Otherwise a socket named after a protocol (fcgi, scgi, ajp, http,
//     status) gets a new listener of that protocol, named so. When the
//     command line gave that --protocol without an address, its options
//     (--ajp-secret, ...) come along.
//  3. Otherwise, when it is the only socket passed and --protocol was given
//     without an address, it is served with that protocol, whatever its
//     name (an unnamed socket, or systemd's default name "NAME.socket").
//  4. Anything else is an error that says what to name the socket.
//
// A listener for which no address was given (--protocol alone, or the
// default when nothing names a listener) is not bound once sockets are
// passed: it only stands for a socket as in 2 and 3. A configured listener
// whose socket was not passed binds as usual. A passed socket's address,
// mode and owner are the socket unit's: the listener's own are replaced by
// what the socket says (so logs and checks show the real address).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "gateway/config.h"
#include "gateway/startup.h"
#include "gateway/systemd.h"

namespace gw {

// Why `fd` cannot be served, or nullopt: it must be a listening stream
// socket (an Accept=yes socket unit passes connections, not a listening
// socket; ListenDatagram= passes a datagram socket).
std::optional<std::string> check_listening_socket(int fd);

// Sets `l`'s address to the bound address of socket `fd`: host and port, a
// unix path, or "@NAME" for an abstract unix socket. Clears the unix
// socket's mode, owner and group (the socket unit sets those). Returns why
// it cannot.
std::optional<std::string> take_socket_address(int fd, ListenerConfig& l);

// Applies the rules above to `s` (after load_startup): sets inherited_fd on
// the listeners that serve a passed socket, adds and drops listeners, and
// validates the result. No sockets: `s` is left as it is.
std::optional<ConfigError> match_passed_sockets(const std::vector<systemd::PassedSocket>& passed,
                                                Startup& s);

// The sockets systemd passed to this process: the first call takes them
// from the environment (systemd::take_listen_fds), later calls return the
// same ones. `error` is set when the variables are malformed.
const std::vector<systemd::PassedSocket>& passed_sockets(std::string* error = nullptr);

// match_passed_sockets with passed_sockets(): what main runs on the Startup
// it serves, and a reload on the Startup it reads again (so that a reload
// sees what a restart by systemd would).
std::optional<ConfigError> apply_passed_sockets(Startup& s);

// load_startup, then apply_passed_sockets.
std::optional<ConfigError> load_startup_activated(const std::vector<std::string>& args,
                                                  EnvLookup env, Startup& out);

}  // namespace gw
