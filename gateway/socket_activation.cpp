#include "gateway/socket_activation.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

namespace gw {

namespace {

constexpr std::string_view kProtocolNames[] = {"fcgi", "scgi", "ajp", "http", "status"};

bool is_protocol_name(std::string_view name) {
  return std::find(std::begin(kProtocolNames), std::end(kProtocolNames), name) !=
         std::end(kProtocolNames);
}

size_t serving_count(const std::vector<ListenerConfig>& listeners) {
  return static_cast<size_t>(std::count_if(listeners.begin(), listeners.end(),
                                           [](const ListenerConfig& l) { return !l.status; }));
}

// Whether s.config.listeners[0] is a listener nobody gave an address for:
// the command line's --protocol alone, or the one load_startup chose when
// nothing named a listener (HTTP on port 80, or fd 0).
bool first_is_implicit(const Startup& s) {
  if (s.config.listeners.empty() || s.config.listeners[0].status) return false;
  if (s.cli.protocol_given && !s.cli.address_given) return true;
  if (s.cgi_mode || serving_count(s.cli.config.listeners) != 0) return false;
  if (s.cli.config_file.empty()) return true;
  // The file's listeners come after the command line's; read it again to
  // tell one of its own from the default put first.
  ServerConfig probe = s.cli.config;
  if (load_config_file(s.cli.config_file, probe)) return false;
  return serving_count(probe.listeners) == 0;
}

std::string socket_label(const systemd::PassedSocket& p) {
  std::string name = p.name.empty() ? "unnamed socket" : "socket '" + p.name + "'";
  return "systemd " + name + " (fd " + std::to_string(p.fd) + ")";
}

std::optional<ConfigError> serve_with(const systemd::PassedSocket& p, ListenerConfig l,
                                      std::vector<ListenerConfig>& out) {
  if (auto why = take_socket_address(p.fd, l)) return ConfigError{socket_label(p), *why};
  l.inherited_fd = p.fd;
  l.inherited_fd0 = false;
  out.push_back(std::move(l));
  return std::nullopt;
}

}  // namespace

std::optional<std::string> check_listening_socket(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
    return errno == ENOTSOCK ? "not a socket" : std::string("not usable: ") + std::strerror(errno);
  }
  if (type != SOCK_STREAM) {
    return "not a stream socket (a datagram or seqpacket socket: use ListenStream=)";
  }
  int accepting = 0;
  len = sizeof accepting;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting) {
    return "not a listening socket (a connection: the socket unit must not say Accept=yes)";
  }
  return std::nullopt;
}

std::optional<std::string> take_socket_address(int fd, ListenerConfig& l) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return std::string("getsockname: ") + std::strerror(errno);
  }
  l.host.clear();
  l.port = 0;
  l.unix_path.clear();
  l.socket_mode.reset();
  l.socket_owner.clear();
  l.socket_group.clear();
  char text[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    l.host = text;
    l.port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    l.host = text;
    if (l.host == "::") l.host.clear();  // every interface, as an empty host says
    l.port = ntohs(a->sin6_port);
  } else if (ss.ss_family == AF_UNIX) {
    const auto* a = reinterpret_cast<const sockaddr_un*>(&ss);
    size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    n = std::min(n, sizeof a->sun_path);
    if (n == 0) return "an unbound unix socket";
    if (a->sun_path[0] == '\0') {
      l.unix_path = "@" + std::string(a->sun_path + 1, n - 1);
    } else {
      l.unix_path = std::string(a->sun_path, strnlen(a->sun_path, n));
    }
  } else {
    return "a socket of address family " + std::to_string(ss.ss_family);
  }
  return std::nullopt;
}

std::optional<ConfigError> match_passed_sockets(const std::vector<systemd::PassedSocket>& passed,
                                                Startup& s) {
  if (passed.empty()) return std::nullopt;
  std::vector<ListenerConfig>& listeners = s.config.listeners;
  std::optional<ListenerConfig> implicit;
  if (first_is_implicit(s)) {
    implicit = listeners.front();
    listeners.erase(listeners.begin());
  }
  std::vector<bool> taken(listeners.size(), false);
  std::vector<ListenerConfig> added;
  for (const systemd::PassedSocket& p : passed) {
    if (auto why = check_listening_socket(p.fd)) return ConfigError{socket_label(p), *why};
    // 1. A configured listener of that name.
    auto named = std::find_if(listeners.begin(), listeners.end(), [&](const ListenerConfig& l) {
      return !p.name.empty() && l.name == p.name;
    });
    if (named != listeners.end()) {
      size_t i = static_cast<size_t>(named - listeners.begin());
      if (!taken[i]) {
        ListenerConfig& l = *named;
        if (auto why = take_socket_address(p.fd, l)) return ConfigError{socket_label(p), *why};
        l.inherited_fd = p.fd;
        l.inherited_fd0 = false;
        taken[i] = true;
      } else if (auto err = serve_with(p, *named, added)) {
        return err;
      }
      continue;
    }
    // 2. A protocol's name.
    if (is_protocol_name(p.name)) {
      ListenerConfig l;
      if (p.name == "status") {
        l.status = true;
      } else {
        bool tls = false;
        parse_protocol(p.name, l.protocol, tls);
        if (implicit && implicit->protocol == l.protocol && !implicit->tls) l = *implicit;
      }
      l.name = p.name;
      if (auto err = serve_with(p, std::move(l), added)) return err;
      continue;
    }
    // 3. The only socket, and --protocol without an address.
    if (passed.size() == 1 && implicit && s.cli.protocol_given) {
      if (auto err = serve_with(p, *implicit, added)) return err;
      continue;
    }
    std::string why =
        p.name.empty()
            ? "an unnamed socket needs a name (FileDescriptorName= in the socket unit) or, "
              "when it is the only one, --protocol"
            : "no listener is named '" + p.name +
                  "' and it is not a protocol name (fcgi, scgi, ajp, http, status): set "
                  "FileDescriptorName= to one of those, or name a listener so (\"name\" in "
                  "--config)";
    return ConfigError{socket_label(p), why};
  }
  for (auto& l : added) listeners.push_back(std::move(l));
  s.cgi_mode = false;
  return validate(s.config);
}

const std::vector<systemd::PassedSocket>& passed_sockets(std::string* error) {
  static std::string take_error;
  static const std::vector<systemd::PassedSocket> passed = systemd::take_listen_fds(&take_error);
  if (error) *error = take_error;
  return passed;
}

std::optional<ConfigError> apply_passed_sockets(Startup& s) {
  std::string error;
  const auto& passed = passed_sockets(&error);
  if (!error.empty()) return ConfigError{"socket activation", error};
  if (s.cli.action != CliResult::Action::Run) return std::nullopt;
  return match_passed_sockets(passed, s);
}

std::optional<ConfigError> load_startup_activated(const std::vector<std::string>& args,
                                                  EnvLookup env, Startup& out) {
  passed_sockets();  // taken before load_startup looks at the environment
  if (auto err = load_startup(args, env, out)) return err;
  return apply_passed_sockets(out);
}

}  // namespace gw
