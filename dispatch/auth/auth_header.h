// The Authorization request header (RFC 9110 11.6.2) for Basic (RFC 7617)
// and Digest (RFC 7616), and the WWW-Authenticate challenges we send. Pure
// and bounded: values longer than kMaxAuthorizationBytes are refused before
// any parsing.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace gw::auth {

constexpr size_t kMaxAuthorizationBytes = 8192;
constexpr size_t kMaxAuthParams = 32;

enum class Scheme { Basic, Digest, Other };

// The scheme of an Authorization value (its first token, any case).
Scheme scheme_of(std::string_view value);

struct BasicCredentials {
  std::string user;
  std::string password;  // wiped by the destructor
  ~BasicCredentials();
};

// "Basic" SP base64(user ":" password). nullopt with `why` set (never
// holding the password) for anything else.
std::optional<BasicCredentials> parse_basic(std::string_view value, std::string& why);

struct DigestCredentials {
  std::string username, realm, nonce, uri, response, qop, nc, cnonce, algorithm, opaque;
  bool has_opaque = false;
};

// "Digest" SP auth-params: name=token or name="quoted string" with
// backslash escapes, separated by commas. Checks the form of what a
// qop=auth MD5 response needs: username, realm, nonce, uri, response (32
// hex), qop "auth", nc (8 hex), cnonce; algorithm absent or MD5. Unknown
// parameters are ignored, duplicates refused.
std::optional<DigestCredentials> parse_digest(std::string_view value, std::string& why);

// `text` as an HTTP quoted-string; control characters are dropped.
std::string quoted(std::string_view text);

// WWW-Authenticate values.
std::string basic_challenge(std::string_view realm);
std::string digest_challenge(std::string_view realm, std::string_view nonce,
                             std::string_view opaque, bool stale);

}  // namespace gw::auth
