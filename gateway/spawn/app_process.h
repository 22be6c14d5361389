// One app process, started through the launcher (app_launcher.h) in a
// session and process group of its own, with its stdout and stderr turned
// into error-log lines tagged with the project and instance.
//
// Ownership: start() returns an object that frees itself, as io::Process
// does. The owner calls release() when done with it: from then on no
// callback comes, and the object goes once the process was reaped, what was
// left of its group is gone and its output pipes are closed. The exit
// callback runs at most once.
//
// Ending: stop() sends SIGTERM to the whole group and SIGKILL to what is
// left of it stop_timeout_ms later; the group is probed every 50 ms and let
// go as soon as it is empty (while any member lives the group id cannot be
// reused, so signalling it is safe). When the app exits by itself, the rest
// of its group (children it left behind) is ended the same way.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gateway/spawn/app_launcher.h"

struct uv_loop_s;

namespace gw {

class AppProcess {
 public:
  struct Spec {
    std::string launcher = "/proc/self/exe";  // gatewayd itself, in launcher mode
    LaunchSpec launch;                        // parent_pid is filled in by start()
    std::string cwd;
    int stdin_fd = -1;    // the child's fd 0 (a listening socket); -1: a pipe closed at once
    std::string log_tag;  // "project trac instance 0": starts each output line
    uint32_t stop_timeout_ms = 5000;
  };
  using ExitCallback = std::function<void(int64_t exit_status, int term_signal)>;

  // Null with the libuv error text in `error` when it cannot start.
  // `live` (optional) counts the AppProcess objects not yet freed.
  static AppProcess* start(uv_loop_s* loop, const Spec& spec, ExitCallback on_exit,
                           std::shared_ptr<size_t> live, std::string& error);

  int pid() const { return pid_; }
  bool exited() const { return exited_; }
  // SIGTERM to the group, SIGKILL after stop_timeout_ms (once; no-op after).
  void stop();
  // No callback from now on; stops the group unless keep_running.
  void release(bool keep_running = false);

 private:
  struct Impl;
  explicit AppProcess(std::unique_ptr<Impl> impl);
  ~AppProcess();
  void on_exit(int64_t exit_status, int term_signal);
  void end_group();
  void on_group_poll();
  void maybe_delete();

  std::unique_ptr<Impl> impl_;
  int pid_ = 0;
  bool exited_ = false;
  bool in_exit_ = false;
  bool released_ = false;
  bool stop_sent_ = false;
  bool group_pending_ = false;  // TERM sent, the group not yet gone or killed
};

}  // namespace gw
