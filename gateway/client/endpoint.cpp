// Parsing of gatewayd-client's URL-or-ADDRESS argument and request targets.
#include "gateway/client/endpoint.h"

#include <sys/un.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "protocols/http1_common.h"
#include "protocols/path.h"

namespace gw::client {

namespace {

struct Scheme {
  std::string_view name;
  Protocol protocol;
};
constexpr Scheme kSchemes[] = {
    {"fcgi", Protocol::FastCgi},
    {"scgi", Protocol::Scgi},
    {"ajp", Protocol::Ajp13},
    {"http", Protocol::Http},
};

std::optional<std::string> check_socket_path(std::string_view path) {
  if (!path.starts_with('/')) return "a unix socket path must be absolute (unix:/path)";
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return "the unix socket path is longer than " +
           std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes";
  }
  return std::nullopt;
}

std::optional<uint16_t> parse_port_number(std::string_view s) {
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || value == 0 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(value);
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// "scheme://authority[/path][?query][#fragment]".
std::variant<Endpoint, std::string> parse_url(std::string_view text) {
  size_t sep = text.find("://");
  std::string scheme = lower(text.substr(0, sep));
  Endpoint e;
  for (const auto& s : kSchemes) {
    if (scheme == s.name) e.protocol = s.protocol;
  }
  if (!e.protocol) {
    if (scheme == "https") {
      return std::string(
          "https:// is not supported: gatewayd-client speaks plain HTTP/1.1 (use http://)");
    }
    return "unknown URL scheme '" + scheme + "' (use fcgi://, scgi://, ajp:// or http://)";
  }
  std::string_view rest = text.substr(sep + 3);
  size_t end = std::min(rest.find_first_of("/?#"), rest.size());
  std::string_view authority = rest.substr(0, end);
  std::string_view tail = rest.substr(end);
  if (authority.empty()) return std::string("no host in the URL");
  if (authority.find('@') != std::string_view::npos) {
    return std::string(
        "a user name or password in the URL is not sent anywhere: use -H 'Authorization: ...' "
        "(or --param REMOTE_USER=... for FastCGI and SCGI)");
  }
  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::string("unterminated '[' in the host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::string("unexpected text after ']' in the host");
      port_text = after.substr(1);
      has_port = true;
    }
  } else {
    size_t colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      has_port = true;
      if (host.find(':') != std::string_view::npos) {
        return std::string("an IPv6 address needs brackets: [::1]:8000");
      }
    }
  }
  if (host.empty()) return std::string("no host in the URL");
  if (!http1::is_host_value(host)) return "'" + std::string(host) + "' is not a host name";
  e.server_port = gw::default_port(*e.protocol);
  if (has_port) {
    auto port = parse_port_number(port_text);
    if (!port) return "'" + std::string(port_text) + "' is not a port number (1-65535)";
    e.server_port = *port;
  }
  e.address.host = std::string(host);
  e.address.port = e.server_port;
  e.authority = std::string(authority);
  e.server_name = std::string(host);
  tail = tail.substr(0, tail.find('#'));  // a fragment is never sent, as browsers do
  if (!tail.empty()) {
    e.target = tail.front() == '?' ? "/" + std::string(tail) : std::string(tail);
    if (auto why = check_target(e.target)) return *why;
  }
  return e;
}

Endpoint unix_endpoint(std::string_view path) {
  Endpoint e;
  e.address.is_unix = true;
  e.address.path = std::string(path);
  e.authority = "localhost";
  e.server_name = "localhost";
  e.server_port = 80;
  return e;
}

}  // namespace

std::variant<Endpoint, std::string> parse_endpoint(std::string_view text) {
  if (text.empty()) return std::string("empty address");
  if (text.starts_with("unix:") || text.starts_with('/')) {
    std::string_view socket = text.starts_with("unix:") ? text.substr(5) : text;
    size_t bar = socket.find('|');
    std::string_view path = socket.substr(0, bar);
    if (auto why = check_socket_path(path)) return *why;
    if (bar == std::string_view::npos) return unix_endpoint(path);
    // Apache's "unix:/path|fcgi://host/target": the socket, then a URL for
    // the protocol, Host and target.
    std::string_view url = socket.substr(bar + 1);
    if (url.find("://") == std::string_view::npos) {
      return std::string("after '|' a URL is expected, such as fcgi://localhost/");
    }
    auto parsed = parse_url(url);
    if (auto* why = std::get_if<std::string>(&parsed)) return *why;
    Endpoint e = std::get<Endpoint>(std::move(parsed));
    e.address = io::Address{};
    e.address.is_unix = true;
    e.address.path = std::string(path);
    return e;
  }
  if (text.find("://") != std::string_view::npos) return parse_url(text);
  auto address = io::parse_address(text);
  if (!address) {
    return std::string(
        "not an address: give host:port, [v6]:port, unix:/path or a URL such as "
        "fcgi://127.0.0.1:8000/");
  }
  Endpoint e;
  e.address = *address;
  e.authority = std::string(text);
  e.server_name = address->host;
  e.server_port = address->port;
  return e;
}

std::optional<std::string> check_target(std::string_view target) {
  if (target.empty() || target.front() != '/') return std::string("the path must start with '/'");
  for (char c : target) {
    if (c == '#') return std::string("'#' starts a fragment, which is never sent");
    if (!http1::is_target_char(c)) {
      return std::string(
          "the path holds a space, a control character or a non-ASCII byte: percent-encode it "
          "(a space is %20)");
    }
  }
  if (!percent_decode(target.substr(0, target.find('?')))) {
    return std::string("the path has a malformed %-escape or %00");
  }
  return std::nullopt;
}

std::string_view protocol_title(Protocol protocol) {
  switch (protocol) {
    case Protocol::FastCgi:
      return "FastCGI";
    case Protocol::Scgi:
      return "SCGI";
    case Protocol::Ajp13:
      return "AJP";
    case Protocol::Http:
      break;
  }
  return "HTTP";
}

std::string_view protocol_scheme(Protocol protocol) {
  for (const auto& s : kSchemes) {
    if (s.protocol == protocol) return s.name;
  }
  return "http";
}

}  // namespace gw::client
