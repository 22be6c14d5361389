// gatewayd started by itself as the launcher of an app process.
//
// The supervisor runs /proc/self/exe with kLauncherFlag and a LaunchSpec
// encoded in argv and one environment variable. The launcher closes every
// inherited descriptor above 2, takes the app's user and group (initgroups,
// setgid, setuid) when asked, asks the kernel for SIGTERM when gatewayd
// dies (PR_SET_PDEATHSIG, set after the credentials change, which would
// clear it) and makes sure gatewayd is still its parent, then execs the app
// with exactly the environment of the spec.
//
// The app's environment travels in one variable (kEnvVariable) rather than
// as the launcher's own environment: the launcher may run as root, and the
// dynamic loader must not act on an LD_PRELOAD meant for the app.
#pragma once

#include <string>
#include <vector>

namespace gw {

inline constexpr const char* kLauncherFlag = "--app-launcher";
inline constexpr const char* kEnvVariable = "GATEWAYD_APP_ENV";

struct LaunchSpec {
  int parent_pid = 0;             // gatewayd: the launcher stops if its parent differs
  std::string user, group;        // names or numeric ids; empty: unchanged
  std::string file;               // absolute path of the app
  std::vector<std::string> argv;  // the app's argv (argv[0] included)
  std::vector<std::string> env;   // "NAME=value": the app's whole environment
};

// The launcher's argv (after `launcher_path` as argv[0]) and its environment.
std::vector<std::string> launcher_args(const std::string& launcher_path, const LaunchSpec& spec);
std::vector<std::string> launcher_env(const LaunchSpec& spec);

// The inverse: reads a spec from the launcher's argv and the value of
// kEnvVariable. False with the reason in `error` when malformed.
bool parse_launch(int argc, const char* const* argv, const char* encoded_env, LaunchSpec& out,
                  std::string& error);

// The environment entries as one string ("LEN:NAME=value" each) and back.
std::string encode_env(const std::vector<std::string>& env);
bool decode_env(std::string_view encoded, std::vector<std::string>& out);

// When argv asks for launcher mode, prepares the process and execs the app
// (returning only with an exit status on failure); otherwise returns -1.
int run_app_launcher_if_asked(int argc, char** argv);

}  // namespace gw
