// What gatewayd-client sends, decided once from the options: the Request a
// web server would have built for it, and the CGI variables it would pass
// (cgi_from_request, then --param), for every protocol adapter to encode.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gateway/client/options.h"
#include "protocols/request.h"

namespace gw::client {

struct RequestPlan {
  Protocol protocol = Protocol::Http;
  Request request;                 // method, target, path, headers (Host first), lengths
  std::vector<Header> cgi_vars;    // FastCGI and SCGI: the variables sent, in order
  bool has_body = false;           // a body was given (possibly empty)
  std::optional<uint64_t> length;  // body length (0 without one); nullopt: unknown (a pipe)
  bool keep_conn = false;
  size_t ajp_packet_size = 8192;
  std::optional<std::string> ajp_secret;
};

// `body_length`: the size of the body (-d text, the file), nullopt for a
// pipe; ignored without a body.
RequestPlan make_plan(const ClientOptions& options, std::optional<uint64_t> body_length);

}  // namespace gw::client
