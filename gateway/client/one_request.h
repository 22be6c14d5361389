// gatewayd-client's default mode and its probes: one request (the body
// streamed from its source, the response body streamed to stdout), an AJP
// CPING, or a FastCGI FCGI_GET_VALUES. Each runs the loop until it is done
// and returns the exit status.
#pragma once

#include <string>

#include "gateway/client/options.h"
#include "gateway/client/output.h"
#include "gateway/io/address.h"

struct uv_loop_s;

namespace gw::client {

// `address` is resolved (numeric); `display` names it in messages.
int run_one_request(uv_loop_s* loop, const ClientOptions& options, const io::Address& address,
                    const std::string& display, Output& out);

int run_cping(uv_loop_s* loop, const ClientOptions& options, const io::Address& address,
              const std::string& display, Output& out);

int run_get_values(uv_loop_s* loop, const ClientOptions& options, const io::Address& address,
                   const std::string& display, Output& out);

}  // namespace gw::client
