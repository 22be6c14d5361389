// The one mapping between CGI variables and Request, shared by every front
// end that speaks CGI variables (FastCGI PARAMS, SCGI headers, the CGI-mode
// environment) and by backends that send them (FastCGI, SCGI, CGI).
// docs: protocols.md sections 4, 5.3-5.5 and 8.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/codec.h"
#include "protocols/request.h"

namespace gw {

// Builds `out` from the variables a front end sent. Returns a 400 error for
// a missing REQUEST_METHOD, an undecodable path, an ambiguous duplicate of a
// routing or identity variable, or (strict_content_length, SCGI) a missing or
// non-digit CONTENT_LENGTH; `what` names the variable and quotes the value.
//
// Rules:
//  * target = REQUEST_URI, else percent_encode_path(SCRIPT_NAME + PATH_INFO)
//    plus "?" QUERY_STRING when non-empty. path = the decoded path part of
//    REQUEST_URI (%00 and malformed escapes rejected), else SCRIPT_NAME +
//    PATH_INFO (already decoded by the front end). query = QUERY_STRING,
//    else the part of REQUEST_URI after '?'.
//  * A non-empty PATH_INFO is trusted with its SCRIPT_NAME (lighttpd prefix,
//    nginx split, mod_fcgid, caddy, h2o). Without one, a SCRIPT_NAME that is
//    absent, empty or the whole path (nginx stock params, mod_proxy_fcgi,
//    lighttpd at "/") gives script_name "" and path_info = path; any other
//    SCRIPT_NAME is kept with path_info "".
//  * HTTP_X_FOO_BAR becomes header "X-Foo-Bar"; HTTP_PROXY is dropped
//    (httpoxy). CONTENT_TYPE becomes "Content-Type" (HTTP_CONTENT_TYPE only
//    without it); a known CONTENT_LENGTH becomes "Content-Length", and
//    HTTP_CONTENT_LENGTH is never used, so the headers cannot disagree with
//    the body framing.
//  * CONTENT_LENGTH: digits give the length; absent, empty, "-1" or other
//    text give an unknown length (the body ends at its end marker), except
//    with strict_content_length.
//  * REMOTE_ADDR/PORT, SERVER_NAME/ADDR/PORT/PROTOCOL, REMOTE_USER,
//    AUTH_TYPE and HTTPS (on/1/yes) fill fields; REQUEST_SCHEME=https sets
//    https too. Every other variable lands in params as sent.
//  * Duplicates of REQUEST_METHOD, REQUEST_URI, SCRIPT_NAME, PATH_INFO,
//    QUERY_STRING, CONTENT_LENGTH, REMOTE_USER, AUTH_TYPE or HTTPS are
//    rejected; for other names the last one wins.
std::optional<CodecError> request_from_cgi(std::vector<Header> vars, Protocol origin,
                                           bool strict_content_length, Request& out);

struct CgiContext {
  std::string server_software = "gatewayd";
  std::string document_root;    // sent as DOCUMENT_ROOT when set
  std::string script_filename;  // sent as SCRIPT_FILENAME when set
};

// RFC 3875 variables describing `request` for a backend, in a fixed order.
// Headers become HTTP_* (repeated headers joined with ", ", Cookie with
// "; "), except Proxy (httpoxy), Content-Type and Content-Length (sent as
// CONTENT_TYPE / CONTENT_LENGTH), the hop-by-hop fields (Connection,
// Keep-Alive, Proxy-Connection, TE, Transfer-Encoding, Upgrade) and those
// the Connection field names, as the http backend drops them too, and names
// with characters outside [A-Za-z0-9-], which could collide with another
// header once '-' and '_' both become '_'.
std::vector<Header> cgi_from_request(const Request& request, const CgiContext& context);

// A CGI response head (RFC 3875 section 6) for FastCGI STDOUT and SCGI:
// "Status: 200 OK" (never an HTTP status line, which httpd rejects), the
// headers, an empty line; CRLF endings. Hop-by-hop headers (Connection, the
// names it lists, Keep-Alive, Transfer-Encoding, TE, Trailer, Upgrade,
// Proxy-Connection), a Status header and headers whose name is not a token or
// whose value holds CR, LF or NUL are dropped: the front end frames the body
// itself and a stray line break would split the response. A status outside
// 100..999 becomes 500.
std::string format_cgi_head(const ResponseHead& head);

// Whether a CGI variable name can be passed on as it is: not empty, no NUL,
// '=' or control character. A name with '=' would become a different
// variable in a CGI script's environment ("A=B" + "x" reads as A = "B=x").
bool valid_cgi_name(std::string_view name);

// A value quoted for an error message: at most `max` bytes, bytes outside
// printable ASCII as \xNN, so that front-end data cannot forge log lines.
std::string quote_for_log(std::string_view value, size_t max = 128);

}  // namespace gw
