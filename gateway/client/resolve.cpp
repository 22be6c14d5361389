// Name resolution for gatewayd-client (getaddrinfo, before the loop runs).
#include "gateway/client/resolve.h"

namespace gw::client {

std::optional<ClientError> resolve(io::Address& address, std::string& display) {
  display = address.to_string();
  const std::string name = address.host;
  if (std::string why = io::resolve_host(address); !why.empty()) {
    return ClientError{Failure::Resolve, "cannot resolve '" + name + "': " + why};
  }
  if (!address.is_unix && address.host != name) display += " (" + address.host + ")";
  return std::nullopt;
}

}  // namespace gw::client
