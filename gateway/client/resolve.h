// Host names to numeric addresses, once, before the loop starts:
// io::Stream::connect takes numeric addresses only.
#pragma once

#include <optional>
#include <string>

#include "gateway/client/errors.h"
#include "gateway/io/address.h"

namespace gw::client {

// Replaces a host name in `address` by its first address. `display` is how
// messages name the peer: "127.0.0.1:8000", "localhost:8000 (127.0.0.1)",
// "unix:/run/app.sock".
std::optional<ClientError> resolve(io::Address& address, std::string& display);

}  // namespace gw::client
