#include "dispatch/backends/mime.h"

#include <array>
#include <string>

namespace gw {

namespace {

struct MimeEntry {
  std::string_view extension;  // lowercase, without the dot
  std::string_view type;
};

// Kept compact on purpose: the types browsers and tools actually need from a
// project's static tree. Anything else is served as a download.
constexpr std::array kMimeTable = {
    // text (charset: sources in project trees are UTF-8 today)
    MimeEntry{"html", "text/html; charset=utf-8"},
    MimeEntry{"htm", "text/html; charset=utf-8"},
    MimeEntry{"css", "text/css; charset=utf-8"},
    MimeEntry{"js", "text/javascript; charset=utf-8"},  // RFC 9239
    MimeEntry{"mjs", "text/javascript; charset=utf-8"},
    MimeEntry{"txt", "text/plain; charset=utf-8"},
    MimeEntry{"text", "text/plain; charset=utf-8"},
    MimeEntry{"log", "text/plain; charset=utf-8"},
    MimeEntry{"csv", "text/csv; charset=utf-8"},
    MimeEntry{"md", "text/markdown; charset=utf-8"},
    MimeEntry{"xml", "text/xml; charset=utf-8"},
    MimeEntry{"ics", "text/calendar; charset=utf-8"},
    // structured data
    MimeEntry{"json", "application/json"},
    MimeEntry{"map", "application/json"},
    MimeEntry{"webmanifest", "application/manifest+json"},
    MimeEntry{"rss", "application/rss+xml"},
    MimeEntry{"atom", "application/atom+xml"},
    MimeEntry{"wasm", "application/wasm"},
    MimeEntry{"pdf", "application/pdf"},
    // images
    MimeEntry{"svg", "image/svg+xml"},
    MimeEntry{"png", "image/png"},
    MimeEntry{"jpg", "image/jpeg"},
    MimeEntry{"jpeg", "image/jpeg"},
    MimeEntry{"gif", "image/gif"},
    MimeEntry{"webp", "image/webp"},
    MimeEntry{"avif", "image/avif"},
    MimeEntry{"bmp", "image/bmp"},
    MimeEntry{"ico", "image/vnd.microsoft.icon"},
    // fonts
    MimeEntry{"woff", "font/woff"},
    MimeEntry{"woff2", "font/woff2"},
    MimeEntry{"ttf", "font/ttf"},
    MimeEntry{"otf", "font/otf"},
    // audio and video
    MimeEntry{"mp4", "video/mp4"},
    MimeEntry{"webm", "video/webm"},
    MimeEntry{"ogv", "video/ogg"},
    MimeEntry{"mp3", "audio/mpeg"},
    MimeEntry{"ogg", "audio/ogg"},
    MimeEntry{"oga", "audio/ogg"},
    MimeEntry{"wav", "audio/wav"},
    MimeEntry{"m4a", "audio/mp4"},
    MimeEntry{"flac", "audio/flac"},
    // archives
    MimeEntry{"zip", "application/zip"},
    MimeEntry{"gz", "application/gzip"},
    MimeEntry{"tgz", "application/gzip"},
    MimeEntry{"tar", "application/x-tar"},
    MimeEntry{"bz2", "application/x-bzip2"},
    MimeEntry{"xz", "application/x-xz"},
    MimeEntry{"zst", "application/zstd"},
    MimeEntry{"7z", "application/x-7z-compressed"},
};

constexpr std::string_view kDefaultType = "application/octet-stream";

// The lowercased extension of the last path segment, or "" when it has none.
std::string lower_extension(std::string_view file_name) {
  size_t slash = file_name.rfind('/');
  std::string_view base = slash == std::string_view::npos ? file_name : file_name.substr(slash + 1);
  size_t dot = base.rfind('.');
  // dot == 0: a hidden name such as ".profile" has no extension.
  if (dot == std::string_view::npos || dot == 0) return {};
  std::string ext(base.substr(dot + 1));
  for (char& c : ext) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  }
  return ext;
}

}  // namespace

std::string_view mime_type_for(std::string_view file_name) {
  std::string ext = lower_extension(file_name);
  if (ext.empty()) return kDefaultType;
  for (const auto& entry : kMimeTable) {
    if (entry.extension == ext) return entry.type;
  }
  return kDefaultType;
}

}  // namespace gw
