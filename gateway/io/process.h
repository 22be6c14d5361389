// A child process with pipes for its stdin, stdout and stderr, over libuv;
// or, instead of the stdin pipe, an inherited descriptor as its fd 0 (a
// listening socket for a FastCGI app).
//
// Ownership: spawn() returns an object that frees itself. Its owner calls
// release() when done with it; from then on no callback comes, and the
// object goes once the process was reaped and its handle closed. The exit
// callback runs at most once, when the process ends (it may call release()).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gateway/io/stream.h"

struct uv_loop_s;

namespace gw::io {

class Process {
 public:
  struct Options {
    std::string file;              // absolute path
    std::vector<std::string> env;  // "NAME=value": the whole environment
    std::string cwd;
    // The whole argv; empty runs `file` with no arguments but itself.
    std::vector<std::string> args = {};
    // >= 0: the child's fd 0 is a copy of this descriptor (the caller keeps
    // and closes its own) and Pipes.stdin_pipe stays null. -1: a pipe.
    int stdin_fd = -1;
  };
  struct Pipes {                         // our ends; the child's are its fds 0, 1 and 2
    std::unique_ptr<Stream> stdin_pipe;  // null with Options.stdin_fd
    std::unique_ptr<Stream> stdout_pipe;
    std::unique_ptr<Stream> stderr_pipe;
  };
  using ExitCallback = std::function<void(int64_t exit_status, int term_signal)>;

  // Starts `options.file` in a new session, so that it leads a process group
  // of its own and everything it starts can be signalled with it. Returns
  // null with the libuv error in `error` when it cannot start (`pipes` then
  // stay empty).
  static Process* spawn(uv_loop_s* loop, const Options& options, ExitCallback on_exit, Pipes& pipes,
                        int& error);

  int pid() const { return pid_; }
  void release();

 private:
  struct Handle;
  Process() = default;
  ~Process();
  void on_exit(int64_t exit_status, int term_signal);
  void on_closed();

  std::unique_ptr<Handle> handle_;
  ExitCallback on_exit_;
  int pid_ = 0;
  bool closed_ = false;
  bool released_ = false;
};

}  // namespace gw::io
