// The MD5-based crypt of FreeBSD ("$1$") and Apache's variant of it
// ("$apr1$"), which differ only in their magic prefix. Implemented over
// OpenSSL's MD5 because libcrypt has no "$apr1$".
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gw::auth {

// `setting` is "MAGIC" SALT ["$" ...] where MAGIC is "$1$" or "$apr1$" and
// the salt is at most 8 characters (more are ignored, as the algorithm
// does). Returns the whole hash "MAGIC SALT $ 22 characters", or nullopt
// for another magic.
std::optional<std::string> md5_crypt(std::string_view password, std::string_view setting);

}  // namespace gw::auth
