// Content types for static files, chosen by file name extension.
#pragma once

#include <string_view>

namespace gw {

// The Content-Type for `file_name` (a name or a path; only the part after the
// last '/' counts), from its extension compared case-insensitively. Text types
// carry "; charset=utf-8". A name without an extension, a hidden name without
// one (".profile") and an unknown extension give "application/octet-stream",
// which browsers download rather than render: the safe default for a gateway
// that cannot know what a file holds.
std::string_view mime_type_for(std::string_view file_name);

}  // namespace gw
