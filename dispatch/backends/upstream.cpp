#include "dispatch/backends/upstream.h"

namespace gw {

std::optional<Upstream> prepare_upstream(std::string_view label, const std::string& text,
                                         std::string& error) {
  std::optional<io::Address> address = io::parse_address(text);
  if (!address) {
    error = std::string(label) + " \"" + text +
            "\": not an address (host:port, [v6]:port or unix:/path)";
    return std::nullopt;
  }
  Upstream up{std::move(*address), text};
  const std::string host = up.address.host;
  if (std::string why = io::resolve_host(up.address); !why.empty()) {
    error = std::string(label) + " " + text + ": cannot resolve " + host + ": " + why;
    return std::nullopt;
  }
  if (!up.address.is_unix && up.address.host != host) {
    up.name += " (" + up.address.to_string() + ")";
  }
  return up;
}

}  // namespace gw
