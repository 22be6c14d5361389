// Launcher mode: see app_launcher.h. Runs before anything else in main().
#include "gateway/spawn/app_launcher.h"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace gw {

namespace {

// argv: [launcher, kLauncherFlag, parent_pid, user, group, file, app argv...]
constexpr int kFixedArgs = 6;

bool parse_number(std::string_view text, uint64_t max, uint64_t& out) {
  if (text.empty() || text.size() > 19) return false;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  if (value > max) return false;
  out = value;
  return true;
}

void fail(const std::string& what, int err) {
  std::string line = "gatewayd app launcher: " + what;
  if (err != 0) line += std::string(": ") + std::strerror(err);
  line += "\n";
  // Nothing to do when stderr is gone.
  [[maybe_unused]] ssize_t n = ::write(2, line.data(), line.size());
}

void close_inherited_fds() {
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, 3U, ~0U, 0U) == 0) return;
#endif
  long max = ::sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (int fd = 3; fd < max; ++fd) ::close(fd);
}

// The user and group of the spec, applied when they differ from ours.
bool apply_credentials(const LaunchSpec& spec) {
  if (spec.user.empty() && spec.group.empty()) return true;
  uid_t uid = ::geteuid();
  gid_t gid = ::getegid();
  const struct passwd* pw = nullptr;
  uint64_t number = 0;
  if (!spec.user.empty()) {
    pw = ::getpwnam(spec.user.c_str());
    if (pw) {
      uid = pw->pw_uid;
      gid = pw->pw_gid;
    } else if (parse_number(spec.user, 0xfffffffe, number)) {
      uid = static_cast<uid_t>(number);
    } else {
      fail("no such user: " + spec.user, 0);
      return false;
    }
  }
  if (!spec.group.empty()) {
    const struct group* gr = ::getgrnam(spec.group.c_str());
    if (gr) {
      gid = gr->gr_gid;
    } else if (parse_number(spec.group, 0xfffffffe, number)) {
      gid = static_cast<gid_t>(number);
    } else {
      fail("no such group: " + spec.group, 0);
      return false;
    }
  }
  if (uid == ::getuid() && uid == ::geteuid() && gid == ::getgid() && gid == ::getegid()) {
    return true;  // already who the app should be (gatewayd is not root)
  }
  int rc = pw ? ::initgroups(pw->pw_name, gid) : ::setgroups(1, &gid);
  if (rc != 0) {
    fail("cannot set the supplementary groups", errno);
    return false;
  }
  if (::setgid(gid) != 0) {
    fail("setgid " + std::to_string(gid), errno);
    return false;
  }
  if (::setuid(uid) != 0) {
    fail("setuid " + std::to_string(uid), errno);
    return false;
  }
  return true;
}

}  // namespace

std::string encode_env(const std::vector<std::string>& env) {
  std::string out;
  for (const std::string& e : env) out += std::to_string(e.size()) + ":" + e;
  return out;
}

bool decode_env(std::string_view encoded, std::vector<std::string>& out) {
  out.clear();
  while (!encoded.empty()) {
    size_t colon = encoded.find(':');
    uint64_t length = 0;
    if (colon == std::string_view::npos || !parse_number(encoded.substr(0, colon), 1 << 30, length))
      return false;
    encoded.remove_prefix(colon + 1);
    if (length > encoded.size()) return false;
    std::string_view entry = encoded.substr(0, length);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0) return false;
    out.emplace_back(entry);
    encoded.remove_prefix(length);
  }
  return true;
}

std::vector<std::string> launcher_args(const std::string& launcher_path, const LaunchSpec& spec) {
  std::vector<std::string> args = {launcher_path, kLauncherFlag, std::to_string(spec.parent_pid),
                                   spec.user,     spec.group,    spec.file};
  args.insert(args.end(), spec.argv.begin(), spec.argv.end());
  return args;
}

std::vector<std::string> launcher_env(const LaunchSpec& spec) {
  return {std::string(kEnvVariable) + "=" + encode_env(spec.env)};
}

bool parse_launch(int argc, const char* const* argv, const char* encoded_env, LaunchSpec& out,
                  std::string& error) {
  if (argc < kFixedArgs + 1) {
    error = "too few arguments";
    return false;
  }
  uint64_t pid = 0;
  if (!parse_number(argv[2], 0x7fffffff, pid) || pid < 1) {
    error = "bad parent pid";
    return false;
  }
  out.parent_pid = static_cast<int>(pid);
  out.user = argv[3];
  out.group = argv[4];
  out.file = argv[5];
  if (out.file.empty() || out.file[0] != '/') {
    error = "the app path must be absolute";
    return false;
  }
  out.argv.assign(argv + kFixedArgs, argv + argc);
  if (!encoded_env || !decode_env(encoded_env, out.env)) {
    error = std::string("missing or malformed ") + kEnvVariable;
    return false;
  }
  return true;
}

int run_app_launcher_if_asked(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], kLauncherFlag) != 0) return -1;
  LaunchSpec spec;
  std::string error;
  if (!parse_launch(argc, argv, std::getenv(kEnvVariable), spec, error)) {
    fail(error, 0);
    return 127;
  }
  close_inherited_fds();
  if (!apply_credentials(spec)) return 127;
  // After the credentials: changing them clears the parent-death signal.
  if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) {
    fail("PR_SET_PDEATHSIG", errno);
    return 127;
  }
  // gatewayd may have died before the line above: then nobody would tell us.
  if (::getppid() != spec.parent_pid) return 1;
  std::vector<char*> args;
  for (std::string& a : spec.argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& e : spec.env) envp.push_back(e.data());
  envp.push_back(nullptr);
  ::execve(spec.file.c_str(), args.data(), envp.data());
  fail("cannot run " + spec.file, errno);
  return 127;
}

}  // namespace gw
