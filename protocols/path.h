// Percent-decoding and path normalisation, done in exactly one place.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gw {

// Decodes %XX escapes. Returns nullopt for a malformed escape or a decoded
// NUL byte. '+' is left alone (it means space only in query strings).
std::optional<std::string> percent_decode(std::string_view in);

// Percent-encodes a decoded path for use in a URL: unreserved characters and
// '/' stay, everything else becomes %XX.
std::string percent_encode_path(std::string_view in);

// Normalises a decoded absolute path: collapses "//" and "/./", resolves
// "/../" within the path. Returns nullopt if the path does not start with '/'
// or ".." would climb above the root, so a caller can never be led outside
// the tree it serves.
std::optional<std::string> normalize_path(std::string_view decoded);

}  // namespace gw
