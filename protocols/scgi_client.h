// SCGI, client side (the web server's role): what an SCGI backend sends to an
// app (tracd --protocol=scgi, uWSGI's SCGI socket) and what a command-line
// client sends to gatewayd. docs: protocols.md section 2.
//
// The request is the netstring from encode_request_head() followed by
// exactly `content_length` body bytes, sent raw. The app answers with a CGI
// response and closes the connection: parse it with CgiResponseParser
// (protocols/cgi_response.h); the body ends at EOF.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "protocols/request.h"

namespace gw::scgi {

// The netstring of CGI variables: CONTENT_LENGTH first (the given length),
// SCGI=1 second, then `cgi_vars` in order. Variables named CONTENT_LENGTH or
// SCGI in `cgi_vars` are skipped (the two above are authoritative), as are
// variables with an empty name or a NUL in the name or value, which the
// format cannot carry.
std::string encode_request_head(const std::vector<Header>& cgi_vars, uint64_t content_length);

}  // namespace gw::scgi
