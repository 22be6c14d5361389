#include "gateway/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace gw::log {

namespace {
Level g_level = Level::Info;
int g_fd = 2;
std::string g_tag;
std::string g_path;  // "" while on stderr

std::string_view level_name(Level l) {
  switch (l) {
    case Level::Debug:
      return "debug";
    case Level::Info:
      return "info";
    case Level::Warn:
      return "warn";
    case Level::Error:
      return "error";
  }
  return "?";
}
}  // namespace

void set_tag(std::string tag) {
  g_tag = std::move(tag);
}

void set_level(Level level) {
  g_level = level;
}

std::optional<Level> parse_level(std::string_view name) {
  for (Level l : {Level::Debug, Level::Info, Level::Warn, Level::Error}) {
    if (name == level_name(l)) return l;
  }
  return std::nullopt;
}

std::string open_file(const std::string& path) {
  if (path.empty()) {
    if (g_fd != 2) close(g_fd);
    g_fd = 2;
    g_path.clear();
    return "";
  }
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return path + ": " + std::strerror(errno);
  if (g_fd != 2) close(g_fd);
  g_fd = fd;
  g_path = path;
  return "";
}

std::string reopen() {
  if (g_path.empty()) return "";
  std::string path = g_path;
  return open_file(path);
}

std::string escape(std::string_view m) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(m.size());
  for (unsigned char c : m) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

void write(Level level, std::string_view message) {
  if (level < g_level) return;
  char stamp[32];
  time_t now = time(nullptr);
  struct tm tm_utc;
  gmtime_r(&now, &tm_utc);
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm_utc);
  std::string line;
  line.reserve(message.size() + 48);
  line += stamp;
  line += " [";
  line += level_name(level);
  line += "] ";
  if (!g_tag.empty()) {
    line += g_tag;
    line += ": ";
  }
  line += escape(message);
  line += '\n';
  // One write(2) per line keeps lines whole when several processes share the file.
  ssize_t rc = ::write(g_fd, line.data(), line.size());
  (void)rc;
}

}  // namespace gw::log
