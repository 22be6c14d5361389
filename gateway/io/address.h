// Socket addresses as text and back: "host:port", "[v6]:port", "unix:/path".
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gw::io {

struct Address {
  bool is_unix = false;
  std::string host;  // numeric or a name (resolved at connect time)
  uint16_t port = 0;
  std::string path;  // unix socket path

  std::string to_string() const;
};

// Parses "host:port", "[v6]:port", "unix:/path" or "/path". nullopt when malformed.
std::optional<Address> parse_address(std::string_view text);

// Replaces a host name in `address` by its first address (getaddrinfo,
// which blocks: for setup before the loop serves). A numeric host or a unix
// socket is left as it is. Returns why the name did not resolve, "" on
// success.
std::string resolve_host(Address& address);

// Numeric host and port of a sockaddr ("" and 0 for unix sockets).
void describe_sockaddr(const sockaddr* sa, std::string& host, uint16_t& port);

}  // namespace gw::io
