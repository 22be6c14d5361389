// Checking a password against one htpasswd hash. The kinds Apache's htpasswd
// and `openssl passwd` write are known; anything else never matches.
#pragma once

#include <string_view>

namespace gw::auth {

enum class HashKind {
  Bcrypt,    // $2y$, $2a$, $2b$ (htpasswd -B)
  Sha512,    // $6$ (openssl passwd -6)
  Sha256,    // $5$ (openssl passwd -5)
  Md5Crypt,  // $1$ (openssl passwd -1)
  Apr1,      // $apr1$ (htpasswd -m, its default)
  Sha1,      // {SHA} base64 of SHA-1 (htpasswd -s)
  Des,       // 13 characters of traditional crypt (htpasswd -d)
  Unknown,   // plain text, yescrypt, malformed: never matches
};

HashKind hash_kind(std::string_view hash);
std::string_view hash_kind_name(HashKind kind);  // "bcrypt", ... for log lines

// Costly enough (a millisecond up to tens) that it must not run on the
// event loop: bcrypt, SHA-crypt, MD5-crypt and $apr1$.
bool is_slow(HashKind kind);

// Whether `password` matches `hash`. Thread-safe (crypt_rn with its own
// state); the comparison takes time that does not depend on where the
// strings differ. Unknown kinds and hashes libcrypt refuses give false.
bool verify_password(std::string_view password, std::string_view hash);

}  // namespace gw::auth
