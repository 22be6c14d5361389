// --bench: gatewayd's own load generator. The request is encoded once
// (head, body and end marker in one buffer) and sent over many connections
// on one loop; each connection reuses its reader and buffers, so a request
// costs no allocation of the client's own (the codecs still build each
// response head). Latency is measured with the monotonic clock from when a
// request is issued (its connect included, when it needs one) or, with
// --rate, from when it was due, to the end of its response.
#pragma once

#include <string>

#include "gateway/client/options.h"
#include "gateway/client/output.h"
#include "gateway/io/address.h"

struct uv_loop_s;

namespace gw::client {

// The most body --bench keeps in memory.
inline constexpr size_t kMaxBenchBody = size_t{64} << 20;

// Runs the load, prints the report on stdout and returns the exit status:
// 0 when every request got a response (with --fail: a 2xx one), else 1.
int run_bench(uv_loop_s* loop, const ClientOptions& options, const io::Address& address,
              const std::string& display, Output& out);

}  // namespace gw::client
