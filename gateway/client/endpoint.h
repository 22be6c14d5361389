// The URL-or-ADDRESS argument of gatewayd-client: where to connect, which
// protocol a URL scheme names, and what the request's Host, SERVER_NAME,
// SERVER_PORT and target are. Accepted forms:
//   fcgi://host:port/path?query   scgi://  ajp://  http://   (default ports
//                                 8000, 4000, 8009, 80, as gatewayd's)
//   host:port   [v6]:port         (the protocol comes from --protocol)
//   unix:/path/to.sock   /path/to.sock
//   unix:/path/to.sock|fcgi://localhost/path   (Apache's ProxyPass form)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "gateway/io/address.h"
#include "protocols/request.h"

namespace gw::client {

struct Endpoint {
  std::optional<Protocol> protocol;  // from a URL scheme
  io::Address address;               // a TCP host may still be a name (see resolve.h)
  std::string authority;             // the Host value: "host[:port]" as written
  std::string server_name;           // host without brackets or port
  uint16_t server_port = 0;
  std::string target;  // "/path?query" from the URL (fragment dropped); empty: none
};

// Parses the argument; on failure returns why, as a phrase for
// "gatewayd-client: 'ARG': WHY".
std::variant<Endpoint, std::string> parse_endpoint(std::string_view text);

// A request target (path and query) as given on the command line: it must
// start with '/', hold only visible ASCII (spaces percent-encoded) and have
// a path whose %XX escapes decode. nullopt when fine, else why.
std::optional<std::string> check_target(std::string_view target);

// "FastCGI", "SCGI", "AJP", "HTTP": how messages name the protocol.
std::string_view protocol_title(Protocol protocol);
// The URL scheme: "fcgi", "scgi", "ajp", "http".
std::string_view protocol_scheme(Protocol protocol);

}  // namespace gw::client
