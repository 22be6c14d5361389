// The placeholders of a "spawn" command and environment ({port}, {socket},
// {project}, {name}, {instance}) and the respawn delay: pure functions, kept
// apart from the supervisor so that they can be tested alone.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gw {

struct PlaceholderValues {
  std::string port;      // {port}: the TCP port on 127.0.0.1 the app binds
  std::string socket;    // {socket}: the unix socket path the app binds
  std::string project;   // {project}: the project directory
  std::string name;      // {name}: the project name
  std::string instance;  // {instance}: 0 .. processes-1
};

// `text` with every "{port}", "{socket}", "{project}", "{name}" and
// "{instance}" replaced; other braces stay as they are, so JSON or shell
// text in a value is left alone.
std::string expand_placeholders(std::string_view text, const PlaceholderValues& values);

// Whether `text` holds the placeholder `name` ("port" for "{port}").
bool has_placeholder(std::string_view text, std::string_view name);

// The wait before the next start after `failures` failed starts in a row
// (1 for the first): initial_ms doubled per further failure, never above
// max_ms (nor below initial_ms when max_ms is smaller).
uint64_t backoff_delay_ms(uint32_t failures, uint32_t initial_ms, uint32_t max_ms);

}  // namespace gw
