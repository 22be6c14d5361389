// The error log: one line per event, "TIME [level] message", to stderr in
// the foreground or to a file. Control characters in messages are escaped so
// that bytes from the network or a backend can never forge a log line.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gw::log {

enum class Level { Debug, Info, Warn, Error };

void set_level(Level level);
// "debug", "info", "warn", "error" (as --log-level takes them).
std::optional<Level> parse_level(std::string_view name);
// Appends to `path` from now on ("" = stderr). Returns an error text or "".
// On failure the log keeps going where it went.
std::string open_file(const std::string& path);
// Opens the file again by its path (SIGUSR1, after logrotate moved it): new
// lines go to a new file at that path. Nothing to do on stderr. Returns an
// error text or "" (on failure the log keeps its old file).
std::string reopen();

// Written after the level of every line from now on, as "TAG: message"
// ("worker 1234": which process of --workers wrote it); "" for none.
void set_tag(std::string tag);

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
