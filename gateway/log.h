// The error log: one line per event, "TIME [level] message", to stderr in
// the foreground or to a file. Control characters in messages are escaped so
// that bytes from the network or a backend can never forge a log line.
#pragma once

#include <string>
#include <string_view>

namespace gw::log {

enum class Level { Debug, Info, Warn, Error };

void set_level(Level level);
// Appends to `path` from now on ("" = stderr). Returns an error text or "".
std::string open_file(const std::string& path);

void write(Level level, std::string_view message);
inline void debug(std::string_view m) {
  write(Level::Debug, m);
}
inline void info(std::string_view m) {
  write(Level::Info, m);
}
inline void warn(std::string_view m) {
  write(Level::Warn, m);
}
inline void error(std::string_view m) {
  write(Level::Error, m);
}

// The message with control characters and backslashes escaped (\n, \x1b, ...).
std::string escape(std::string_view message);

}  // namespace gw::log
