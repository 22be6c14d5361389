// Every bound the codecs enforce, in one place. Defaults are safe for a
// gateway behind a web server; gateway/config.cpp may override each.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gw {

struct Limits {
  // Whole request head: HTTP request line + headers, FastCGI PARAMS stream,
  // SCGI netstring. Over it: 431 (HTTP) or a closed connection.
  size_t header_bytes = 64 * 1024;
  size_t header_count = 200;              // headers / params per request
  size_t name_bytes = 1024;               // one header or param name
  size_t value_bytes = 64 * 1024;         // one header or param value
  size_t request_line_bytes = 16 * 1024;  // HTTP request line (414 over it)
  size_t streams_per_connection = 64;     // FastCGI requests in flight on one connection
  size_t max_connections = 4096;          // advertised as FCGI_MAX_CONNS
  uint64_t max_body_bytes = 0;            // 0: unlimited (bodies stream)
  // AJP13 packet size, header included: mod_jk max_packet_size and
  // mod_proxy_ajp ProxyIOBufferSize must match it. 8192 (the AJP default) up
  // to 65536.
  size_t ajp_packet_size = 8192;
  // Input buffer of a connection: must hold the largest unit a codec waits
  // for whole (a FastCGI record with padding is 8 + 65535 + 255 bytes).
  size_t input_buffer_bytes = 80 * 1024;
  // Output queued on a connection above which backends are asked to pause.
  size_t output_high_water = 256 * 1024;

  // Front-end timeouts, in milliseconds (0: none). The backend side has its
  // own per project: connect_timeout_ms and timeout_ms (between two reads
  // from the app, the first byte included) in project.json.
  uint64_t header_timeout_ms = 60'000;      // a request head from its first byte to its end
  uint64_t body_timeout_ms = 60'000;        // between two reads of a request body
  uint64_t keepalive_timeout_ms = 120'000;  // a connection with no request in flight
  uint64_t request_timeout_ms = 0;          // a whole request, head to the end of the response
};

}  // namespace gw
