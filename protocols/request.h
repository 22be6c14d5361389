// The one internal request type. Every front-end codec (HTTP/1.1, FastCGI,
// SCGI, AJP13) produces a Request; nothing downstream knows which protocol
// brought it. The body is not part of it: it arrives as BodyData events.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw {

enum class Protocol : uint8_t { Http, FastCgi, Scgi, Ajp13 };

std::string_view protocol_name(Protocol p);

// tracd's default port per protocol (http 80, https 443, scgi 4000, ajp 8009,
// fcgi 8000), which gatewayd listens on and gatewayd-client connects to.
uint16_t default_port(Protocol p, bool tls = false);

struct Header {
  std::string name;
  std::string value;
  bool operator==(const Header&) const = default;
};

// ASCII case-insensitive equality, as HTTP header names compare.
bool iequals(std::string_view a, std::string_view b);

struct Request {
  Protocol origin = Protocol::Http;
  std::string method;           // "GET"
  std::string target;           // raw target as the client sent it: path[?query] (REQUEST_URI)
  std::string path;             // percent-decoded path of the target, no query
  std::string query;            // raw query string, without '?'
  std::string script_name;      // decoded mount prefix; the router extends it by the project
  std::string path_info;        // decoded path below script_name
  std::string server_protocol;  // "HTTP/1.1"
  // Request headers with HTTP spellings ("Content-Type", "X-Foo"); for
  // FastCGI/SCGI rebuilt from HTTP_* variables plus CONTENT_TYPE/CONTENT_LENGTH.
  std::vector<Header> headers;
  // Every other variable the front end sent (SERVER_SOFTWARE, DOCUMENT_ROOT,
  // REDIRECT_STATUS, ...), names as sent. Informational: never trusted for
  // routing or file selection.
  std::vector<Header> params;
  std::optional<uint64_t> content_length;  // nullopt: unknown, the body ends at BodyEnd
  std::string remote_addr;
  uint16_t remote_port = 0;
  std::string server_name;
  std::string server_addr;
  uint16_t server_port = 0;
  std::string remote_user;
  std::string auth_type;
  bool https = false;
  // TLS facts of the client's connection to the front end, when known: from
  // our own TLS listener, AJP's ssl_* attributes, or the SSL_* variables a
  // FastCGI/SCGI front end passes (mod_ssl names). Empty / 0 when unknown.
  std::string ssl_protocol;     // "TLSv1.3"
  std::string ssl_cipher;       // "TLS_AES_256_GCM_SHA384"
  std::string ssl_session_id;   // hex
  std::string ssl_client_cert;  // PEM
  uint32_t ssl_key_size = 0;    // cipher key bits (AJP ssl_key_size)
  // Where the front end routed the request (AJP route / jvm_route): logged,
  // never used to choose a project, file or backend.
  std::string route;

  // First header with this name (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
};

struct ResponseHead {
  int status = 200;
  std::string reason;  // empty: the standard phrase for status
  std::vector<Header> headers;

  const std::string* header(std::string_view name) const;
};

// "OK" for 200, "Not Found" for 404, ...; "Unknown" when not known.
std::string_view reason_phrase(int status);

}  // namespace gw
