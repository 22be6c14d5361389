// Small cryptographic helpers for authentication over OpenSSL: digests as
// hex, HMAC-SHA256, base64, constant-time comparison, random bytes. Pure: no
// I/O besides the random generator.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gw::auth {

using Mac256 = std::array<unsigned char, 32>;

std::string to_hex(std::string_view bytes);   // lowercase
std::string md5_hex(std::string_view data);   // 32 lowercase hex digits
std::string sha1_raw(std::string_view data);  // 20 bytes
Mac256 hmac_sha256(std::string_view key, std::string_view data);

// RFC 4648 base64 with padding.
std::string base64_encode(std::string_view bytes);
// Strict decoding: the standard alphabet, padding optional but correct when
// present, no whitespace, no non-zero bits after the last character. nullopt
// on anything else.
std::optional<std::string> base64_decode(std::string_view text);

// Equality in time that depends only on the sizes (CRYPTO_memcmp).
bool equal_constant_time(std::string_view a, std::string_view b);

// `n` bytes from the OpenSSL generator; throws std::runtime_error when it
// cannot give them (never used unseeded).
std::string random_bytes(size_t n);

}  // namespace gw::auth
