#include "dispatch/auth/auth_header.h"

#include <openssl/crypto.h>

#include <array>
#include <utility>
#include <vector>

#include "dispatch/auth/auth_crypto.h"

namespace gw::auth {

namespace {

bool is_tchar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool all_hex(std::string_view s, size_t size) {
  if (s.size() != size) return false;
  for (char c : s) {
    if (!is_hex(c)) return false;
  }
  return true;
}

bool iequals_ascii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

void skip_ows(std::string_view& s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
}

std::string_view take_token(std::string_view& s) {
  size_t n = 0;
  while (n < s.size() && is_tchar(s[n])) ++n;
  std::string_view t = s.substr(0, n);
  s.remove_prefix(n);
  return t;
}

// The credentials part after the scheme: at least one SP, nothing else.
bool split_scheme(std::string_view value, std::string_view scheme, std::string_view& rest) {
  if (value.size() <= scheme.size() || !iequals_ascii(value.substr(0, scheme.size()), scheme) ||
      value[scheme.size()] != ' ') {
    return false;
  }
  rest = value.substr(scheme.size());
  skip_ows(rest);
  while (!rest.empty() && is_ows(rest.back())) rest.remove_suffix(1);
  return true;
}

// quoted-string (RFC 9110 5.6.4) at the start of `s`, unescaped into `out`.
bool take_quoted(std::string_view& s, std::string& out) {
  if (s.empty() || s.front() != '"') return false;
  size_t i = 1;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '"') {
      s.remove_prefix(i + 1);
      return true;
    }
    if (c == '\\') {
      if (i + 1 >= s.size()) return false;
      auto e = static_cast<unsigned char>(s[i + 1]);
      if ((e < 0x20 && e != '\t') || e == 0x7F) return false;
      out.push_back(static_cast<char>(e));
      i += 2;
      continue;
    }
    if ((c < 0x20 && c != '\t') || c == 0x7F) return false;
    out.push_back(static_cast<char>(c));
    ++i;
  }
  return false;  // no closing quote
}

using Params = std::vector<std::pair<std::string, std::string>>;

// #auth-param: names lowercased, values unescaped.
bool parse_params(std::string_view s, Params& out, std::string& why) {
  while (true) {
    // Empty list elements are allowed (RFC 9110 5.6.1).
    skip_ows(s);
    while (!s.empty() && s.front() == ',') {
      s.remove_prefix(1);
      skip_ows(s);
    }
    if (s.empty()) return true;
    std::string_view name = take_token(s);
    if (name.empty()) {
      why = "auth-param name expected";
      return false;
    }
    skip_ows(s);
    if (s.empty() || s.front() != '=') {
      why = "'=' expected after " + std::string(name);
      return false;
    }
    s.remove_prefix(1);
    skip_ows(s);
    std::string value;
    if (!s.empty() && s.front() == '"') {
      if (!take_quoted(s, value)) {
        why = "bad quoted string for " + std::string(name);
        return false;
      }
    } else {
      value = std::string(take_token(s));
      if (value.empty()) {
        why = "empty value for " + std::string(name);
        return false;
      }
    }
    std::string key = lower(name);
    for (const auto& p : out) {
      if (p.first == key) {
        why = "duplicate " + key;
        return false;
      }
    }
    if (out.size() >= kMaxAuthParams) {
      why = "too many auth-params";
      return false;
    }
    out.emplace_back(std::move(key), std::move(value));
    skip_ows(s);
    if (s.empty()) return true;
    if (s.front() != ',') {
      why = "',' expected after " + out.back().first;
      return false;
    }
  }
}

const std::string* param(const Params& params, std::string_view name) {
  for (const auto& p : params) {
    if (p.first == name) return &p.second;
  }
  return nullptr;
}

}  // namespace

Scheme scheme_of(std::string_view value) {
  std::string_view v = value;
  skip_ows(v);
  std::string_view token = take_token(v);
  if (iequals_ascii(token, "Basic")) return Scheme::Basic;
  if (iequals_ascii(token, "Digest")) return Scheme::Digest;
  return Scheme::Other;
}

BasicCredentials::~BasicCredentials() {
  OPENSSL_cleanse(password.data(), password.size());
}

std::optional<BasicCredentials> parse_basic(std::string_view value, std::string& why) {
  if (value.size() > kMaxAuthorizationBytes) {
    why = "Authorization header too long";
    return std::nullopt;
  }
  std::string_view token;
  if (!split_scheme(value, "Basic", token)) {
    why = "not Basic credentials";
    return std::nullopt;
  }
  std::optional<std::string> decoded = base64_decode(token);
  if (!decoded) {
    why = "Basic credentials are not base64";
    return std::nullopt;
  }
  size_t colon = decoded->find(':');
  std::optional<BasicCredentials> out;
  if (colon == std::string::npos) {
    why = "Basic credentials without ':'";
  } else {
    out.emplace();
    out->user = decoded->substr(0, colon);
    out->password = decoded->substr(colon + 1);
  }
  OPENSSL_cleanse(decoded->data(), decoded->size());
  return out;
}

std::optional<DigestCredentials> parse_digest(std::string_view value, std::string& why) {
  if (value.size() > kMaxAuthorizationBytes) {
    why = "Authorization header too long";
    return std::nullopt;
  }
  std::string_view rest;
  if (!split_scheme(value, "Digest", rest)) {
    why = "not Digest credentials";
    return std::nullopt;
  }
  Params params;
  if (!parse_params(rest, params, why)) return std::nullopt;
  if (param(params, "username*")) {
    why = "username* (RFC 8187 encoding) is not supported";
    return std::nullopt;
  }
  DigestCredentials c;
  static constexpr std::array<std::pair<std::string_view, std::string DigestCredentials::*>, 8>
      kRequired = {{
          {"username", &DigestCredentials::username},
          {"realm", &DigestCredentials::realm},
          {"nonce", &DigestCredentials::nonce},
          {"uri", &DigestCredentials::uri},
          {"response", &DigestCredentials::response},
          {"qop", &DigestCredentials::qop},
          {"nc", &DigestCredentials::nc},
          {"cnonce", &DigestCredentials::cnonce},
      }};
  for (const auto& [name, field] : kRequired) {
    const std::string* v = param(params, name);
    if (!v) {
      why = "Digest credentials without " + std::string(name);
      return std::nullopt;
    }
    c.*field = *v;
  }
  if (const std::string* a = param(params, "algorithm")) c.algorithm = *a;
  if (const std::string* o = param(params, "opaque")) {
    c.opaque = *o;
    c.has_opaque = true;
  }
  if (!c.algorithm.empty() && !iequals_ascii(c.algorithm, "MD5")) {
    why = "Digest algorithm not supported";
    return std::nullopt;
  }
  if (!iequals_ascii(c.qop, "auth")) {
    why = "Digest qop is not auth";
    return std::nullopt;
  }
  if (!all_hex(c.response, 32)) {
    why = "Digest response is not 32 hex digits";
    return std::nullopt;
  }
  if (!all_hex(c.nc, 8)) {
    why = "Digest nc is not 8 hex digits";
    return std::nullopt;
  }
  if (c.username.empty() || c.nonce.empty() || c.uri.empty() || c.cnonce.empty()) {
    why = "Digest credentials with an empty username, nonce, uri or cnonce";
    return std::nullopt;
  }
  c.response = lower(c.response);
  c.qop = "auth";
  return c;
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7F) continue;
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string basic_challenge(std::string_view realm) {
  return "Basic realm=" + quoted(realm) + ", charset=\"UTF-8\"";
}

std::string digest_challenge(std::string_view realm, std::string_view nonce,
                             std::string_view opaque, bool stale) {
  std::string out = "Digest realm=" + quoted(realm) +
                    ", qop=\"auth\", algorithm=MD5, nonce=" + quoted(nonce) +
                    ", opaque=" + quoted(opaque);
  if (stale) out += ", stale=true";
  return out;
}

}  // namespace gw::auth
