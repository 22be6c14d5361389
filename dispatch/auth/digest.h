// Digest authentication arithmetic (RFC 7616 with MD5 and qop=auth, the
// form htdigest files support) and the server's nonces. Pure: the clock and
// the key come from the caller.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "dispatch/auth/auth_header.h"

namespace gw::auth {

// HA1 = MD5(user ":" realm ":" password), what htdigest stores.
std::string digest_ha1(std::string_view user, std::string_view realm, std::string_view password);

// The expected "response" for qop=auth:
//   MD5(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" MD5(method ":" uri))
std::string digest_response(std::string_view ha1, std::string_view method,
                            const DigestCredentials& c);

// Whether `c` carries the right response for `ha1` (constant-time).
bool digest_matches(std::string_view ha1, std::string_view method, const DigestCredentials& c);

// Nonces are "TTTTTTTTTTTTTTTT" (issue time, 16 hex digits of seconds)
// followed by 32 hex digits of HMAC-SHA256(key, time || realm), so they need
// no server state and are only good for the realm they were made for.
enum class NonceState { Valid, Stale, Invalid };

std::string make_nonce(std::string_view key, std::string_view realm, uint64_t now_s);
// Stale: made by us for this realm but older than lifetime_s; Invalid: not
// ours (or from the future).
NonceState check_nonce(std::string_view key, std::string_view realm, std::string_view nonce,
                       uint64_t now_s, uint64_t lifetime_s);

// A random key made once per process (32 bytes): nonces die with the process.
const std::string& process_key();

}  // namespace gw::auth
