// The echo backend: answers every request with the request itself, as the
// gateway understood it, in JSON. It is the quickest way for an admin to see
// what a web server really sends (which SCRIPT_NAME, which headers, whether
// HTTPS was passed on) without an application in the way.
//
// The answer comes once the whole request body has arrived: status 200,
// "Content-Type: application/json", "Cache-Control: no-store" and a
// Content-Length. For HEAD the head is the same (the codec drops the body).
//
// The JSON object has exactly these members, in this order. Their names are
// an interface that scripts and documentation rely on: never rename one, only
// add new members at the end.
//
//   "project"          string   name of the project that answered
//   "origin"           string   front-end protocol: "http", "fcgi", "scgi", "ajp"
//   "method"           string   "GET", "POST", ...
//   "target"           string   raw request target, path[?query] (REQUEST_URI)
//   "path"             string   percent-decoded path of the target, no query
//   "script_name"      string   decoded mount prefix, including the project
//   "path_info"        string   decoded path below script_name
//   "query"            string   raw query string, without '?'
//   "server_protocol"  string   "HTTP/1.1"
//   "headers"          array    [[name, value], ...] in the order received,
//                               names with HTTP spellings ("Content-Type")
//   "params"           array    [[name, value], ...] every other variable the
//                               front end sent (SERVER_SOFTWARE, ...), names as sent
//   "content_length"   number   the announced body length, or null when the
//                               body was sent without one (chunked)
//   "remote_addr"      string   client address as the front end reported it
//   "remote_port"      number   0 when unknown
//   "server_name"      string
//   "server_addr"      string
//   "server_port"      number   0 when unknown
//   "remote_user"      string   "" when not authenticated
//   "auth_type"        string   "" when not authenticated
//   "https"            bool
//   "body_length"      number   bytes of request body actually received
//   "body_sha256"      string   lowercase hex SHA-256 of those bytes (the
//                               digest of the empty string for no body)
//
// Strings are the bytes received; a byte sequence that is not valid UTF-8 is
// shown with U+FFFD in its place, since JSON cannot carry raw bytes.
//
// The body is hashed as it streams in and never kept, so a large upload costs
// no memory.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "dispatch/backend.h"

namespace gw {

class EchoBackend : public Backend {
 public:
  explicit EchoBackend(std::string project);

  std::unique_ptr<Exchange> start(const Request& request, ResponseSink& sink) override;
  std::string_view kind() const override { return "echo"; }

 private:
  std::string project_;
};

}  // namespace gw
