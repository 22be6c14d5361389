// libFuzzer target for the configuration readers an admin's typo or a
// hostile file can reach: the --config file, project.json and the command
// line. The first byte picks the reader; the rest is the file text (or the
// arguments, separated by NUL).
//
// Invariants:
//  * no reader crashes, throws or hangs, whatever the bytes;
//  * an error names where it is: the file (config, project.json) or a flag;
//  * reading the same input twice gives the same result (no hidden state);
//  * what a reader accepts is sane: ports 1-65535, packet sizes 8192-65536,
//    absolute paths for what is resolved against the file, non-empty
//    project names.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config.h"

namespace {

void require(bool ok) {
  if (!ok) abort();
}

// A private directory for the files the readers open.
const std::string& work_dir() {
  static const std::string dir = [] {
    std::string d = "/tmp/gatewayd-config-fuzz-" + std::to_string(getpid());
    std::string cmd_dir = d + "/p";
    require(system(("mkdir -p " + cmd_dir).c_str()) == 0);
    return d;
  }();
  return dir;
}

void write_file(const std::string& path, std::string_view text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
}

bool absolute_or_empty(const std::string& path) {
  return path.empty() || path.front() == '/';
}

// `from_file`: paths in a config file are resolved against its directory;
// on the command line they stay as given (relative to the working directory).
void check_config(const gw::ServerConfig& c, bool from_file) {
  for (const auto& l : c.listeners) {
    require(!l.unix_path.empty() || l.port >= 1);
    require(l.ajp_packet_size >= 8192 && l.ajp_packet_size <= 65536);
    require(l.unix_path.size() < 108);
  }
  if (from_file) {
    require(absolute_or_empty(c.env_parent_dir));
    require(absolute_or_empty(c.error_log));
    require(absolute_or_empty(c.access_log));
  }
  require(c.workers >= 1 && c.workers <= gw::kMaxWorkers);
}

void fuzz_config_file(std::string_view text) {
  const std::string path = work_dir() + "/gatewayd.json";
  write_file(path, text);
  gw::ServerConfig first, second;
  auto e1 = gw::load_config_file(path, first);
  auto e2 = gw::load_config_file(path, second);
  require(e1.has_value() == e2.has_value());
  if (e1) {
    require(e1->where.starts_with(path));
    require(e1->message() == e2->message());
    return;
  }
  check_config(first, true);
  require(first.listeners == second.listeners);
}

void fuzz_project(std::string_view text) {
  const std::string dir = work_dir() + "/p";
  write_file(dir + "/project.json", text);
  gw::ProjectConfig first, second;
  auto e1 = gw::load_project(dir, first);
  auto e2 = gw::load_project(dir, second);
  require(e1.has_value() == e2.has_value());
  if (e1) {
    require(e1->where.starts_with(dir));
    require(e1->message() == e2->message());
    return;
  }
  require(first == second);
  require(first.name == "p");
  require(absolute_or_empty(first.backend.root) && absolute_or_empty(first.backend.script));
  for (const auto& m : first.mounts) require(m.prefix.starts_with('/') && m.dir.starts_with('/'));
}

void fuzz_command_line(std::string_view text) {
  std::vector<std::string> args;
  size_t pos = 0;
  while (pos <= text.size() && args.size() < 64) {
    size_t end = text.find('\0', pos);
    if (end == std::string_view::npos) end = text.size();
    args.emplace_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  std::vector<const char*> argv = {"gatewayd"};
  for (const auto& a : args) argv.push_back(a.c_str());
  gw::CliResult result;
  auto no_env = [](const char*) -> const char* { return nullptr; };
  auto err = gw::parse_cli(static_cast<int>(argv.size()), argv.data(), no_env, result);
  if (err) {
    require(!err->where.empty() && !err->why.empty());
    return;
  }
  if (result.action == gw::CliResult::Action::Run) check_config(result.config, false);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 64 * 1024) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      fuzz_config_file(text);
      break;
    case 1:
      fuzz_project(text);
      break;
    default:
      fuzz_command_line(text);
      break;
  }
  return 0;
}
