#include "gateway/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "gateway/connection.h"
#include "gateway/io/address.h"
#include "gateway/io/tls.h"
#include "gateway/listen_socket.h"
#include "gateway/log.h"
#include "gateway/server.h"
#include "gateway/socket_access.h"

namespace gw {

namespace {

constexpr int kBacklog = 511;

void free_handle(uv_handle_t* h) {
  if (h->type == UV_TCP) {
    delete reinterpret_cast<uv_tcp_t*>(h);
  } else {
    delete reinterpret_cast<uv_pipe_t*>(h);
  }
}

std::string errno_text() {
  return std::strerror(errno);
}

// Parses FCGI_WEB_SERVER_ADDRS: comma-separated addresses, spaces trimmed.
// IPv4 as the spec says; IPv6 accepted too (our extension). IPv4 entries are
// stored as v4-mapped IPv6 so one comparison covers both socket families.
bool parse_allowed(const char* text, std::vector<in6_addr>& out, std::string& bad) {
  std::string_view s(text);
  while (!s.empty()) {
    size_t comma = s.find(',');
    std::string_view item = s.substr(0, comma);
    s = comma == std::string_view::npos ? std::string_view() : s.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) continue;
    std::string a(item);
    in6_addr v6{};
    in_addr v4{};
    if (inet_pton(AF_INET, a.c_str(), &v4) == 1) {
      v6.s6_addr[10] = 0xff;
      v6.s6_addr[11] = 0xff;
      std::memcpy(&v6.s6_addr[12], &v4, 4);
    } else if (inet_pton(AF_INET6, a.c_str(), &v6) != 1) {
      bad = a;
      return false;
    }
    out.push_back(v6);
  }
  return true;
}

}  // namespace

bool fd0_is_listening_socket() {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(0, reinterpret_cast<sockaddr*>(&ss), &len) == 0) return false;
  if (errno != ENOTCONN) return false;  // ENOTSOCK: a pipe, file or tty (CGI)
  int accepting = 0;
  socklen_t alen = sizeof accepting;
  if (getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &alen) == 0) return accepting != 0;
  return true;
}

Listener::Listener(Server& server, ListenerConfig config) : server_(server) {
  if (config.name.empty()) config.name = describe_listener(config);
  config_ = std::make_shared<const ListenerConfig>(std::move(config));
  if (const char* addrs = std::getenv("FCGI_WEB_SERVER_ADDRS")) {
    std::string bad;
    restrict_peers_ = true;
    if (!parse_allowed(addrs, allowed_peers_, bad)) {
      log::warn("FCGI_WEB_SERVER_ADDRS: ignoring '" + bad + "': not an IP address");
    }
  }
}

Listener::~Listener() {
  close();
}

std::string describe_listener(const ListenerConfig& config) {
  std::string p(listener_protocol_name(config));
  if (config.inherited_fd0) return p + ":fd0";
  if (!config.unix_path.empty()) return p + ":unix:" + config.unix_path;
  io::Address a;
  a.host = config.host.empty() ? "*" : config.host;
  a.port = config.port;
  return p + ":" + a.to_string();
}

std::optional<std::string> load_listener_tls(const ListenerConfig& config,
                                             std::unique_ptr<io::TlsContext>& out) {
  out.reset();
  if (!config.tls) return std::nullopt;
  std::string error;
  out = io::TlsContext::load(config.cert_file, config.key_file, error);
  if (!out) return describe_listener(config) + ": " + error;
  return std::nullopt;
}

std::string Listener::describe() const {
  return describe_listener(*config_);
}

void Listener::reconfigure(ListenerConfig next, std::unique_ptr<io::TlsContext> tls) {
  if (next.name.empty()) next.name = describe_listener(next);
  const bool access_changed = next.socket_mode != config_->socket_mode ||
                              next.socket_owner != config_->socket_owner ||
                              next.socket_group != config_->socket_group;
  config_ = std::make_shared<const ListenerConfig>(std::move(next));
  tls_ = std::move(tls);
  if (access_changed && unlink_on_close_) {
    if (auto err = set_socket_access()) log::warn("reload: " + *err);
  }
}

std::optional<std::string> Listener::open(uint32_t umask_bits) {
  // Loaded before binding: a bad certificate must stop the start, not
  // surface as failed handshakes later.
  if (auto err = load_listener_tls(*config_, tls_)) return err;
  if (config_->inherited_fd0 || config_->inherited_fd >= 0) return open_inherited();
  if (!config_->unix_path.empty()) return open_unix(umask_bits);
  return open_tcp();
}

std::optional<std::string> Listener::listen() {
  int rc = uv_listen(handle_, kBacklog, &Listener::on_connection);
  if (rc < 0) return describe() + ": listen: " + io::uv_error_text(rc);
  handle_->data = this;
  log::info("listening on " + describe());
  return std::nullopt;
}

std::optional<std::string> Listener::open_tcp() {
  std::string error;
  int fd = bind_tcp_socket(*config_, error);
  if (fd < 0) return error;
  return open_fd(fd);
}

std::optional<std::string> Listener::open_unix(uint32_t umask_bits) {
  std::string error;
  int fd = bind_unix_socket(*config_, umask_bits, error);
  if (fd < 0) return error;
  unlink_on_close_ = true;
  // Warn only: the admin may fix a directory after gatewayd has started.
  if (std::string w = socket_access_warning(*config_); !w.empty()) log::warn(w);
  return open_fd(fd);
}

// The unix socket file's mode, owner and group as configured.
std::optional<std::string> Listener::set_socket_access() {
  return set_unix_socket_access(*config_);
}

std::optional<std::string> Listener::open_inherited() {
  if (config_->inherited_fd < 0) return open_fd(0);
  // A passed socket (systemd, the master of --workers) is opened as a copy:
  // the original stays with the process, so that a reload can close this
  // listener and open the same socket again.
  int fd = fcntl(config_->inherited_fd, F_DUPFD_CLOEXEC, 3);
  if (fd < 0) {
    return describe() + ": fd " + std::to_string(config_->inherited_fd) + ": " + errno_text();
  }
  return open_fd(fd);
}

// Takes a bound, listening socket into the loop (a TCP or a unix socket,
// whichever it is) and accepts on it. The handle owns `fd` from here on.
std::optional<std::string> Listener::open_fd(int fd) {
  const std::string what = fd == 0 ? "fd 0" : describe();
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    std::string why = what + ": not a socket: " + errno_text();
    if (fd != 0) ::close(fd);
    return why;
  }
  int rc;
  if (ss.ss_family == AF_UNIX) {
    auto* pipe = new uv_pipe_t;
    uv_pipe_init(server_.loop(), pipe, 0);
    handle_ = reinterpret_cast<uv_stream_t*>(pipe);
    rc = uv_pipe_open(pipe, fd);
  } else {
    auto* tcp = new uv_tcp_t;
    uv_tcp_init(server_.loop(), tcp);
    handle_ = reinterpret_cast<uv_stream_t*>(tcp);
    rc = uv_tcp_open(tcp, fd);
    // Linux hands TCP_NODELAY on to every accepted socket: set once here, it
    // saves a system call per connection. Responses go out in one write when
    // they can; Nagle would only hold back the tail of a streamed one.
    if (rc == 0) uv_tcp_nodelay(tcp, 1);
  }
  if (rc < 0) {
    if (fd != 0) ::close(fd);
    return what + ": " + io::uv_error_text(rc);
  }
  return listen();
}

void Listener::close() {
  if (!handle_) return;
  handle_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), free_handle);
  handle_ = nullptr;
  if (unlink_on_close_) {
    unlink(config_->unix_path.c_str());
    unlink_on_close_ = false;
  }
}

void Listener::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<Listener*>(server->data);
  if (!self) return;
  if (status < 0) {
    log::warn(self->describe() + ": accept: " + io::uv_error_text(status));
    return;
  }
  self->accept_one();
}

bool Listener::peer_allowed(int fd) const {
  if (!restrict_peers_) return true;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return false;
  in6_addr peer{};
  if (ss.ss_family == AF_INET) {
    peer.s6_addr[10] = 0xff;
    peer.s6_addr[11] = 0xff;
    std::memcpy(&peer.s6_addr[12], &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, 4);
  } else if (ss.ss_family == AF_INET6) {
    peer = reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr;
  } else {
    // The list names IP addresses; it does not restrict unix-socket peers,
    // whose access the socket file's mode and owner already decide.
    return true;
  }
  for (const auto& a : allowed_peers_) {
    if (std::memcmp(&a, &peer, sizeof a) == 0) return true;
  }
  return false;
}

void Listener::accept_one() {
  uv_stream_t* client;
  if (handle_->type == UV_TCP) {
    auto* tcp = new uv_tcp_t;
    uv_tcp_init(server_.loop(), tcp);
    client = reinterpret_cast<uv_stream_t*>(tcp);
  } else {
    auto* pipe = new uv_pipe_t;
    uv_pipe_init(server_.loop(), pipe, 0);
    client = reinterpret_cast<uv_stream_t*>(pipe);
  }
  if (uv_accept(handle_, client) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(client), free_handle);
    return;
  }
  auto stream = std::make_unique<io::Stream>(client);
  PeerInfo peer;
  if (client->type == UV_TCP) {
    // HTTP needs the addresses for every request (REMOTE_ADDR); the others
    // carry them in the request and read the socket only for a log line.
    if (config_->protocol == Protocol::Http) {
      peer = look_up_peer(stream->fd());
    } else {
      peer.unread_fd = stream->fd();
    }
  }
  // The bounds are what FCGI_GET_VALUES advertises as FCGI_MAX_CONNS: keep
  // them true. Past one a new connection is closed at once (see listener.h).
  auto who = [&] {
    if (client->type != UV_TCP) return std::string("a unix-socket peer");
    std::string addr =
        peer.unread_fd >= 0 ? look_up_peer(peer.unread_fd).remote_addr : peer.remote_addr;
    return addr.empty() ? std::string("a TCP peer") : addr;
  };
  if (server_.connection_count() >= server_.limits().max_connections) {
    log::warn(describe() + ": refused " + who() + ": " +
              std::to_string(server_.limits().max_connections) +
              " connections open (limits.max_connections)");
    return;  // the Stream's destructor closes the socket
  }
  if (config_->max_connections && *open_ >= *config_->max_connections) {
    log::warn(describe() + ": refused " + who() + ": " + std::to_string(*open_) +
              " connections open on this listener (max_connections of listener " + config_->name +
              ")");
    return;
  }
  if (!peer_allowed(stream->fd())) {
    log::warn(describe() + ": refused " + who() + ": not in FCGI_WEB_SERVER_ADDRS");
    return;
  }
  std::unique_ptr<io::Channel> channel;
  if (tls_) {
    channel = std::make_unique<io::TlsStream>(*tls_, std::move(stream));
  } else {
    channel = std::move(stream);
  }
  auto conn = std::make_unique<Connection>(server_, config_, std::move(channel), std::move(peer));
  Connection* raw = conn.get();
  server_.adopt(std::move(conn), open_);
  raw->start();
}

}  // namespace gw
