// One listening socket bound to one protocol: TCP (IPv4/IPv6), a unix
// socket (mode, owner, group; a stale socket file from a dead run is
// replaced, a live one is not), or a socket inherited already listening:
// on fd 0, passed by systemd, or shared by the master of --workers.
//
// Its settings are shared with every connection it accepted (shared_ptr):
// a reload may give the listener new settings, or close it, while those
// connections still serve requests on the old ones.
//
// Connection bounds: past limits.max_connections (the whole server) or the
// listener's own max_connections a new connection is accepted and closed at
// once, with a warning naming the bound. Closing, rather than leaving
// clients in the listen backlog (Apache's way once MaxRequestWorkers are
// busy), gives a front end an immediate error (its 502, or its next
// upstream) instead of a wait that only its own timeout ends, and a flood
// cannot park connections in the kernel queue; FCGI_GET_VALUES advertises
// the bound so that a front end that asks stays under it.
#pragma once

#include <netinet/in.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/config.h"

struct uv_stream_s;

namespace gw {

namespace io {
class TlsContext;
}

class Server;

class Listener {
 public:
  Listener(Server& server, ListenerConfig config);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds and listens. `umask` applies to the unix socket file. Returns an error text.
  std::optional<std::string> open(uint32_t umask);
  void close();
  const ListenerConfig& config() const { return *config_; }
  // Connections it accepted that are open now; a reload that keeps the
  // socket keeps the count (and a changed max_connections applies to it).
  size_t connection_count() const { return *open_; }
  std::shared_ptr<const ListenerConfig> shared_config() const { return config_; }
  std::string describe() const;

  // Reload: the same socket keeps accepting; connections accepted from now
  // on get `next` (same address, other settings) and `tls` (a certificate
  // read again; null for a plain listener). A unix socket's mode and owner
  // are set again when they changed (a failure is logged, not fatal).
  void reconfigure(ListenerConfig next, std::unique_ptr<io::TlsContext> tls);

 private:
  std::optional<std::string> open_tcp();
  std::optional<std::string> open_unix(uint32_t umask);
  std::optional<std::string> open_inherited();
  std::optional<std::string> open_fd(int fd);
  std::optional<std::string> listen();
  static void on_connection(uv_stream_s* server, int status);
  void accept_one();
  bool peer_allowed(int fd) const;
  std::optional<std::string> set_socket_access();

  Server& server_;
  std::shared_ptr<const ListenerConfig> config_;
  uv_stream_s* handle_ = nullptr;
  bool unlink_on_close_ = false;
  // FCGI_WEB_SERVER_ADDRS: when set, TCP peers must be in it (IPv6 is an extension).
  std::vector<in6_addr> allowed_peers_;
  bool restrict_peers_ = false;
  std::unique_ptr<io::TlsContext> tls_;  // https listeners
  // Shared with the Server's record of each connection, which counts down
  // when the connection closes, also after this listener is gone.
  std::shared_ptr<size_t> open_ = std::make_shared<size_t>(0);
};

// Loads the certificate of a TLS listener into `out` (null for a plain
// one). Returns an error text naming the listener.
std::optional<std::string> load_listener_tls(const ListenerConfig& config,
                                             std::unique_ptr<io::TlsContext>& out);

// "proto:address", as listeners are named in logs when they have no name.
std::string describe_listener(const ListenerConfig& config);

// True when fd 0 is a listening socket (how a web server that spawns us
// hands over its socket: getpeername fails with ENOTCONN).
bool fd0_is_listening_socket();

}  // namespace gw
