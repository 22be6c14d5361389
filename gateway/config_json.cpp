#include "gateway/config_json.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

namespace gw::config_json {

namespace {

// Configuration files are small; the bound keeps a wrong path (a log, a
// device) from being read into memory whole.
constexpr size_t kMaxJsonFileBytes = 1024 * 1024;

// Reads a whole small file; returns why it cannot.
std::optional<std::string> read_small_file(const std::string& path, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "cannot read: " + errno_text(errno);
  out.clear();
  char buf[16 * 1024];
  std::optional<std::string> why;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) why = "cannot read: " + errno_text(errno);
    if (n <= 0) break;
    if (out.size() + static_cast<size_t>(n) > kMaxJsonFileBytes) {
      why = "is larger than 1 MiB";
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return why;
}

// Parses JSON (comments allowed: configuration deserves them) and rejects
// duplicate keys, which nlohmann would silently resolve to the last one.
std::optional<std::string> parse_json(const std::string& text, Json& out) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  auto callback = [&](int, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) open_objects.emplace_back();
    if (event == Json::parse_event_t::object_end && !open_objects.empty()) open_objects.pop_back();
    if (event == Json::parse_event_t::key && !open_objects.empty() && parsed.is_string()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  try {
    out = Json::parse(text, callback, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const Json::exception& e) {
    std::string what = e.what();  // "[json.exception.parse_error.101] parse error at ..."
    size_t tag_end = what.find("] ");
    if (tag_end != std::string::npos) what.erase(0, tag_end + 2);
    return "invalid JSON: " + what;
  }
  if (!duplicate.empty()) return "duplicate key \"" + duplicate + "\"";
  return std::nullopt;
}

}  // namespace

std::string errno_text(int err) {
  return std::strerror(err);
}

std::optional<std::string> load_json_file(const std::string& path, Json& out) {
  std::string text;
  if (auto why = read_small_file(path, text)) return why;
  if (auto why = parse_json(text, out)) return why;
  if (!out.is_object()) return std::string("must hold a JSON object");
  return std::nullopt;
}

std::string strip_trailing_slashes(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return std::string(path);
}

// A path from a file, relative to the file's directory.
std::string resolve_from(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return base_dir + "/" + path;
}

std::optional<ConfigError> as_object(const Json& j, const std::string& file,
                                     const std::string& path) {
  if (j.is_object()) return std::nullopt;
  return ConfigError{file + ": " + path, "must be an object"};
}

}  // namespace gw::config_json
