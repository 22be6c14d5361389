// libFuzzer target for the Authorization header parsers and the nonces.
//
// The input is an Authorization value (seeds: tests/fuzz/auth.dict helps
// build Digest parameters). Invariants:
//  * parse_basic and parse_digest never accept a value over the bound;
//  * accepted Digest credentials have a 32 lowercase hex response, 8 hex nc,
//    qop "auth", non-empty username, nonce, uri and cnonce; written out again
//    with quoted() they parse to the same fields;
//  * accepted Basic credentials encode back to a value that parses the same;
//  * no input is a valid nonce under a key it could not know, and a nonce
//    made for a time read from the input checks as Valid at that time and
//    Stale after its lifetime.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "dispatch/auth/auth_crypto.h"
#include "dispatch/auth/auth_header.h"
#include "dispatch/auth/digest.h"

namespace {

void require(bool ok) {
  if (!ok) abort();
}

bool lower_hex(std::string_view s, size_t n) {
  return s.size() == n && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view value(reinterpret_cast<const char*>(data), size);
  (void)gw::auth::scheme_of(value);
  std::string why;

  auto digest = gw::auth::parse_digest(value, why);
  if (digest) {
    require(size <= gw::auth::kMaxAuthorizationBytes);
    require(lower_hex(digest->response, 32));
    require(digest->nc.size() == 8);
    require(digest->qop == "auth");
    require(!digest->username.empty() && !digest->nonce.empty() && !digest->uri.empty() &&
            !digest->cnonce.empty());
    using gw::auth::quoted;
    std::string again = "Digest username=" + quoted(digest->username) +
                        ", realm=" + quoted(digest->realm) + ", nonce=" + quoted(digest->nonce) +
                        ", uri=" + quoted(digest->uri) + ", response=" + quoted(digest->response) +
                        ", qop=auth, nc=" + digest->nc + ", cnonce=" + quoted(digest->cnonce);
    if (digest->has_opaque) again += ", opaque=" + quoted(digest->opaque);
    // quoted() drops control characters, which a quoted-string may not hold
    // anyway except HTAB: values with them cannot round-trip.
    bool has_ctl = false;
    for (const std::string* f : {&digest->username, &digest->realm, &digest->nonce, &digest->uri,
                                 &digest->cnonce, &digest->opaque}) {
      for (char c : *f) has_ctl = has_ctl || (static_cast<unsigned char>(c) < 0x20 && c != '\t');
    }
    if (!has_ctl && again.size() <= gw::auth::kMaxAuthorizationBytes) {
      std::string why2;
      auto back = gw::auth::parse_digest(again, why2);
      require(back.has_value());
      require(back->username == digest->username && back->realm == digest->realm &&
              back->nonce == digest->nonce && back->uri == digest->uri &&
              back->response == digest->response && back->nc == digest->nc &&
              back->cnonce == digest->cnonce && back->opaque == digest->opaque);
    }
    (void)gw::auth::digest_matches(std::string(32, '0'), "GET", *digest);
  }

  auto basic = gw::auth::parse_basic(value, why);
  if (basic) {
    require(size <= gw::auth::kMaxAuthorizationBytes);
    require(basic->user.find(':') == std::string::npos);
    std::string again = "Basic " + gw::auth::base64_encode(basic->user + ":" + basic->password);
    if (again.size() <= gw::auth::kMaxAuthorizationBytes) {
      auto back = gw::auth::parse_basic(again, why);
      require(back && back->user == basic->user && back->password == basic->password);
    }
  }

  const std::string key(32, 'k');
  require(gw::auth::check_nonce(key, "realm", value, 1u << 30, 300) ==
          gw::auth::NonceState::Invalid);
  uint64_t t = 0;
  std::memcpy(&t, data, size < sizeof t ? size : sizeof t);
  t >>= 2;  // leave room for the lifetime
  std::string nonce = gw::auth::make_nonce(key, value, t);
  require(gw::auth::check_nonce(key, value, nonce, t, 300) == gw::auth::NonceState::Valid);
  require(gw::auth::check_nonce(key, value, nonce, t + 301, 300) == gw::auth::NonceState::Stale);
  return 0;
}
