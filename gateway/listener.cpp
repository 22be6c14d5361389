#include "gateway/listener.h"

#include <arpa/inet.h>
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
#include "gateway/log.h"
#include "gateway/server.h"

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

Listener::Listener(Server& server, ListenerConfig config)
    : server_(server), config_(std::move(config)) {
  if (config_.name.empty()) config_.name = describe();
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

std::string Listener::describe() const {
  std::string p(listener_protocol_name(config_));
  if (config_.inherited_fd0) return p + ":fd0";
  if (!config_.unix_path.empty()) return p + ":unix:" + config_.unix_path;
  io::Address a;
  a.host = config_.host.empty() ? "*" : config_.host;
  a.port = config_.port;
  return p + ":" + a.to_string();
}

std::optional<std::string> Listener::open(uint32_t umask_bits) {
  if (config_.tls) {
    // Loaded before binding: a bad certificate must stop the start, not
    // surface as failed handshakes later.
    std::string error;
    tls_ = io::TlsContext::load(config_.cert_file, config_.key_file, error);
    if (!tls_) return describe() + ": " + error;
  }
  if (config_.inherited_fd0) return open_inherited();
  if (!config_.unix_path.empty()) return open_unix(umask_bits);
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
  auto* tcp = new uv_tcp_t;
  uv_tcp_init(server_.loop(), tcp);
  handle_ = reinterpret_cast<uv_stream_t*>(tcp);
  sockaddr_storage ss{};
  std::string host = config_.host;
  int rc;
  if (host.empty()) {
    // All interfaces: "::" takes IPv4 too on a dual-stack host.
    rc = uv_ip6_addr("::", config_.port, reinterpret_cast<sockaddr_in6*>(&ss));
  } else if (host == "localhost") {
    rc = uv_ip4_addr("127.0.0.1", config_.port, reinterpret_cast<sockaddr_in*>(&ss));
  } else if (uv_ip4_addr(host.c_str(), config_.port, reinterpret_cast<sockaddr_in*>(&ss)) == 0) {
    rc = 0;
  } else {
    rc = uv_ip6_addr(host.c_str(), config_.port, reinterpret_cast<sockaddr_in6*>(&ss));
  }
  if (rc != 0) return describe() + ": '" + host + "' is not an IP address";
  rc = uv_tcp_bind(tcp, reinterpret_cast<const sockaddr*>(&ss), 0);
  if (rc == 0) rc = uv_listen(handle_, kBacklog, &Listener::on_connection);
  if (rc < 0 && host.empty() && rc == UV_EAFNOSUPPORT) {
    return describe() + ": IPv6 is not available; give --hostname 0.0.0.0";
  }
  if (rc < 0) return describe() + ": bind: " + io::uv_error_text(rc);
  handle_->data = this;
  log::info("listening on " + describe());
  return std::nullopt;
}

std::optional<std::string> Listener::open_unix(uint32_t umask_bits) {
  const std::string& path = config_.unix_path;
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return path + ": exists and is not a socket; not replacing it";
    // A socket file: live if something accepts on it, stale (from a dead run) otherwise.
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
    int rc = ::connect(probe, reinterpret_cast<sockaddr*>(&sun), sizeof sun);
    int err = errno;
    ::close(probe);
    if (rc == 0) return path + ": another process is listening on this socket";
    if (err != ECONNREFUSED && err != ENOENT) {
      return path + ": cannot tell whether the socket is in use: " + std::strerror(err);
    }
    if (unlink(path.c_str()) != 0) return path + ": cannot remove stale socket: " + errno_text();
    log::info(path + ": removed stale socket from an earlier run");
  }
  auto* pipe = new uv_pipe_t;
  uv_pipe_init(server_.loop(), pipe, 0);
  handle_ = reinterpret_cast<uv_stream_t*>(pipe);
  mode_t old = umask(static_cast<mode_t>(umask_bits));
  int rc = uv_pipe_bind(pipe, path.c_str());
  umask(old);
  if (rc < 0) return path + ": bind: " + io::uv_error_text(rc);
  unlink_on_close_ = true;
  if (config_.socket_mode && chmod(path.c_str(), static_cast<mode_t>(*config_.socket_mode)) != 0) {
    return path + ": chmod: " + errno_text();
  }
  if (!config_.socket_owner.empty() || !config_.socket_group.empty()) {
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    if (!config_.socket_owner.empty()) {
      if (struct passwd* pw = getpwnam(config_.socket_owner.c_str())) {
        uid = pw->pw_uid;
      } else {
        char* end = nullptr;
        long v = std::strtol(config_.socket_owner.c_str(), &end, 10);
        if (*end != '\0' || v < 0)
          return path + ": socket owner '" + config_.socket_owner + "': no such user";
        uid = static_cast<uid_t>(v);
      }
    }
    if (!config_.socket_group.empty()) {
      if (struct group* gr = getgrnam(config_.socket_group.c_str())) {
        gid = gr->gr_gid;
      } else {
        char* end = nullptr;
        long v = std::strtol(config_.socket_group.c_str(), &end, 10);
        if (*end != '\0' || v < 0)
          return path + ": socket group '" + config_.socket_group + "': no such group";
        gid = static_cast<gid_t>(v);
      }
    }
    if (chown(path.c_str(), uid, gid) != 0) return path + ": chown: " + errno_text();
  }
  return listen();
}

std::optional<std::string> Listener::open_inherited() {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(0, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return "fd 0: not a socket: " + errno_text();
  }
  int rc;
  if (ss.ss_family == AF_UNIX) {
    auto* pipe = new uv_pipe_t;
    uv_pipe_init(server_.loop(), pipe, 0);
    handle_ = reinterpret_cast<uv_stream_t*>(pipe);
    rc = uv_pipe_open(pipe, 0);
  } else {
    auto* tcp = new uv_tcp_t;
    uv_tcp_init(server_.loop(), tcp);
    handle_ = reinterpret_cast<uv_stream_t*>(tcp);
    rc = uv_tcp_open(tcp, 0);
  }
  if (rc < 0) return "fd 0: " + io::uv_error_text(rc);
  return listen();
}

void Listener::close() {
  if (!handle_) return;
  handle_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), free_handle);
  handle_ = nullptr;
  if (unlink_on_close_) {
    unlink(config_.unix_path.c_str());
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
    auto* tcp = reinterpret_cast<uv_tcp_t*>(client);
    uv_tcp_nodelay(tcp, 1);
    sockaddr_storage ss{};
    int len = sizeof ss;
    if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      io::describe_sockaddr(reinterpret_cast<sockaddr*>(&ss), peer.remote_addr, peer.remote_port);
    }
    len = sizeof ss;
    if (uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      io::describe_sockaddr(reinterpret_cast<sockaddr*>(&ss), peer.local_addr, peer.local_port);
    }
  }
  // limits.max_connections is what FCGI_GET_VALUES advertises as
  // FCGI_MAX_CONNS: keep it true. Past it a new connection is closed at once.
  if (server_.connection_count() >= server_.limits().max_connections) {
    log::warn(describe() + ": refused " + peer.remote_addr + ": " +
              std::to_string(server_.limits().max_connections) +
              " connections open (limits.max_connections)");
    return;
  }
  if (!peer_allowed(stream->fd())) {
    log::warn(describe() + ": refused " + peer.remote_addr + ": not in FCGI_WEB_SERVER_ADDRS");
    return;  // the Stream's destructor closes the socket
  }
  std::unique_ptr<io::Channel> channel;
  if (tls_) {
    channel = std::make_unique<io::TlsStream>(*tls_, std::move(stream));
  } else {
    channel = std::move(stream);
  }
  auto conn = std::make_unique<Connection>(server_, config_, std::move(channel), std::move(peer));
  Connection* raw = conn.get();
  server_.adopt(std::move(conn));
  raw->start();
}

}  // namespace gw
