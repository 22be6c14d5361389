#include "gateway/io/address.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <charconv>

namespace gw::io {

std::string Address::to_string() const {
  if (is_unix) return "unix:" + path;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

static std::optional<uint16_t> parse_port(std::string_view s) {
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size() || value == 0 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(value);
}

std::optional<Address> parse_address(std::string_view text) {
  Address a;
  if (text.starts_with("unix:")) text.remove_prefix(5);
  if (text.starts_with("/")) {
    if (text.size() >= sizeof(sockaddr_un::sun_path)) return std::nullopt;
    a.is_unix = true;
    a.path = std::string(text);
    return a;
  }
  size_t colon;
  if (text.starts_with("[")) {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    a.host = std::string(text.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    a.host = std::string(text.substr(0, colon));
    if (a.host.find(':') != std::string::npos) return std::nullopt;  // v6 needs brackets
  }
  auto port = parse_port(text.substr(colon + 1));
  if (!port || a.host.empty()) return std::nullopt;
  a.port = *port;
  return a;
}

void describe_sockaddr(const sockaddr* sa, std::string& host, uint16_t& port) {
  char buf[INET6_ADDRSTRLEN] = {0};
  host.clear();
  port = 0;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    host = buf;
    port = ntohs(in->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    host = buf;
    // An IPv4 client on a dual-stack socket: show it as IPv4.
    if (host.starts_with("::ffff:") && host.find('.') != std::string::npos) host = host.substr(7);
    port = ntohs(in6->sin6_port);
  }
}

std::string resolve_host(Address& address) {
  if (address.is_unix) return "";
  in6_addr numeric{};
  if (inet_pton(AF_INET, address.host.c_str(), &numeric) == 1 ||
      inet_pton(AF_INET6, address.host.c_str(), &numeric) == 1) {
    return "";
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = getaddrinfo(address.host.c_str(), nullptr, &hints, &found);
  if (rc != 0 || found == nullptr) {
    if (found) freeaddrinfo(found);
    return rc != 0 ? gai_strerror(rc) : "no address";
  }
  uint16_t ignored = 0;
  describe_sockaddr(found->ai_addr, address.host, ignored);
  freeaddrinfo(found);
  return "";
}

}  // namespace gw::io
