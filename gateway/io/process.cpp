#include "gateway/io/process.h"

#include <uv.h>

namespace gw::io {

struct Process::Handle {
  uv_process_t process{};
  Process* owner = nullptr;
};

namespace {

std::unique_ptr<Stream> make_pipe(uv_loop_s* loop) {
  auto* pipe = new uv_pipe_t;
  uv_pipe_init(loop, pipe, 0);
  return std::make_unique<Stream>(reinterpret_cast<uv_stream_t*>(pipe));
}

}  // namespace

Process* Process::spawn(uv_loop_s* loop, const Options& options, ExitCallback on_exit, Pipes& pipes,
                        int& error) {
  const bool inherit_stdin = options.stdin_fd >= 0;
  Pipes made{inherit_stdin ? nullptr : make_pipe(loop), make_pipe(loop), make_pipe(loop)};
  std::vector<char*> envp;
  envp.reserve(options.env.size() + 1);
  for (const std::string& s : options.env) envp.push_back(const_cast<char*>(s.c_str()));
  envp.push_back(nullptr);
  std::string file = options.file;
  std::vector<std::string> arg_strings = options.args;
  if (arg_strings.empty()) arg_strings.push_back(file);
  std::vector<char*> args;
  args.reserve(arg_strings.size() + 1);
  for (std::string& s : arg_strings) args.push_back(s.data());
  args.push_back(nullptr);
  uv_stdio_container_t stdio[3];
  if (inherit_stdin) {
    stdio[0].flags = UV_INHERIT_FD;
    stdio[0].data.fd = options.stdin_fd;
  } else {
    stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
    stdio[0].data.stream = made.stdin_pipe->handle();
  }
  stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = made.stdout_pipe->handle();
  stdio[2].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[2].data.stream = made.stderr_pipe->handle();
  uv_process_options_t uv_options{};
  uv_options.exit_cb = [](uv_process_t* p, int64_t exit_status, int term_signal) {
    static_cast<Handle*>(p->data)->owner->on_exit(exit_status, term_signal);
  };
  uv_options.file = file.c_str();
  uv_options.args = args.data();
  uv_options.env = envp.data();
  uv_options.cwd = options.cwd.c_str();
  uv_options.flags = UV_PROCESS_DETACHED;  // setsid()
  uv_options.stdio_count = 3;
  uv_options.stdio = stdio;

  auto* self = new Process();
  self->handle_ = std::make_unique<Handle>();
  self->handle_->owner = self;
  self->handle_->process.data = self->handle_.get();
  int rc = uv_spawn(loop, &self->handle_->process, &uv_options);
  if (rc < 0) {
    // The handle was initialised all the same and must be closed.
    error = rc;
    self->released_ = true;
    self->on_exit(0, 0);
    return nullptr;
  }
  self->pid_ = self->handle_->process.pid;
  self->on_exit_ = std::move(on_exit);
  pipes = std::move(made);
  return self;
}

Process::~Process() = default;

void Process::on_exit(int64_t exit_status, int term_signal) {
  uv_close(reinterpret_cast<uv_handle_t*>(&handle_->process),
           [](uv_handle_t* h) { static_cast<Handle*>(h->data)->owner->on_closed(); });
  if (released_) return;
  ExitCallback callback = std::move(on_exit_);
  on_exit_ = nullptr;
  if (callback) callback(exit_status, term_signal);  // may call release()
}

void Process::on_closed() {
  closed_ = true;
  if (released_) delete this;
}

void Process::release() {
  released_ = true;
  on_exit_ = nullptr;
  if (closed_) delete this;
}

}  // namespace gw::io
