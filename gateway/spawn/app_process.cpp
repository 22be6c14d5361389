// One supervised app process and its output (see app_process.h).
#include "gateway/spawn/app_process.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include "gateway/io/process.h"
#include "gateway/io/stream.h"
#include "gateway/io/timer.h"
#include "gateway/log.h"

namespace gw {

namespace {

constexpr uint64_t kGroupPollMs = 50;
// An output line longer than this is cut (the rest of it dropped): an app
// writing without newlines must not grow a buffer without bound.
constexpr size_t kLineBytes = 2048;

}  // namespace

// One output pipe (stdout or stderr) turned into log lines.
struct OutputPipe final : io::StreamHandler {
  AppProcess* owner = nullptr;
  std::function<void()> closed;  // tells the owner
  std::unique_ptr<io::Stream> stream;
  std::string prefix;
  log::Level level = log::Level::Info;
  std::string line;
  bool cutting = false;  // the rest of an over-long line is skipped
  bool open = false;

  void start() {
    if (!stream) return;
    open = true;
    stream->set_handler(this);
    stream->read_start();
  }
  void on_read(std::string_view data) override {
    for (char c : data) {
      if (c == '\n') {
        emit();
        cutting = false;
      } else if (!cutting) {
        line += c;
        if (line.size() >= kLineBytes) {
          line += " [cut]";
          emit();
          cutting = true;
        }
      }
    }
  }
  void emit() {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    log::write(level, prefix + line);
    line.clear();
  }
  void finish() {
    if (!line.empty()) emit();
    if (open && !stream->closing()) stream->close(false);
  }
  void on_eof() override { finish(); }
  void on_error(int) override { finish(); }
  void on_closed() override {
    open = false;
    auto tell = closed;  // the call may free the owner, and this with it
    tell();
  }
};

struct AppProcess::Impl {
  uv_loop_s* loop;
  io::Process* process = nullptr;  // frees itself after release()
  OutputPipe out, err;
  io::Timer timer;
  uint64_t polls = 0;
  uint32_t stop_timeout_ms = 5000;
  ExitCallback on_exit;
  std::shared_ptr<size_t> live;
  std::string log_tag;
  explicit Impl(uv_loop_s* l) : loop(l), timer(l) {}
};

AppProcess::AppProcess(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  if (impl_->live) ++*impl_->live;
}

AppProcess::~AppProcess() {
  if (impl_->process) impl_->process->release();
  if (impl_->live) --*impl_->live;
}

AppProcess* AppProcess::start(uv_loop_s* loop, const Spec& spec, ExitCallback on_exit,
                              std::shared_ptr<size_t> live, std::string& error) {
  LaunchSpec launch = spec.launch;
  launch.parent_pid = static_cast<int>(::getpid());
  io::Process::Options options;
  options.file = spec.launcher;
  options.args = launcher_args(spec.launcher, launch);
  options.env = launcher_env(launch);
  options.cwd = spec.cwd;
  options.stdin_fd = spec.stdin_fd;
  auto impl = std::make_unique<Impl>(loop);
  impl->stop_timeout_ms = spec.stop_timeout_ms;
  impl->log_tag = spec.log_tag;
  impl->live = std::move(live);
  auto* self = new AppProcess(std::move(impl));
  io::Process::Pipes pipes;
  int rc = 0;
  self->impl_->process = io::Process::spawn(
      loop, options,
      [self](int64_t exit_status, int term_signal) { self->on_exit(exit_status, term_signal); },
      pipes, rc);
  if (!self->impl_->process) {
    error = io::uv_error_text(rc);
    self->released_ = true;
    self->exited_ = true;
    delete self;
    return nullptr;
  }
  self->pid_ = self->impl_->process->pid();
  self->impl_->on_exit = std::move(on_exit);
  // Our end of the app's stdin pipe (when fd 0 is not a socket) is closed at
  // once: the app reads EOF there.
  pipes.stdin_pipe.reset();
  std::string prefix = spec.log_tag + " pid " + std::to_string(self->pid_);
  OutputPipe* outputs[] = {&self->impl_->out, &self->impl_->err};
  std::unique_ptr<io::Stream>* streams[] = {&pipes.stdout_pipe, &pipes.stderr_pipe};
  for (int i = 0; i < 2; ++i) {
    OutputPipe& o = *outputs[i];
    o.owner = self;
    o.stream = std::move(*streams[i]);
    o.prefix = prefix + (i == 0 ? ": stdout: " : ": stderr: ");
    o.level = i == 0 ? log::Level::Info : log::Level::Warn;
    o.closed = [self] { self->maybe_delete(); };
    o.start();
  }
  return self;
}

void AppProcess::on_exit(int64_t exit_status, int term_signal) {
  exited_ = true;
  impl_->process->release();
  impl_->process = nullptr;
  // Children the app left in its group go with it.
  if (!group_pending_) end_group();
  in_exit_ = true;
  ExitCallback callback = std::move(impl_->on_exit);
  impl_->on_exit = nullptr;
  if (callback && !released_) callback(exit_status, term_signal);  // may call release()
  in_exit_ = false;
  maybe_delete();
}

void AppProcess::stop() {
  if (stop_sent_) return;
  end_group();
}

void AppProcess::release(bool keep_running) {
  released_ = true;
  impl_->on_exit = nullptr;
  if (!keep_running) stop();
  maybe_delete();
}

// SIGTERM now, SIGKILL to what is left after stop_timeout_ms; probed every
// kGroupPollMs and let go as soon as the group is empty.
void AppProcess::end_group() {
  if (stop_sent_ || pid_ <= 1) return;  // never kill(0) or kill(-1)
  stop_sent_ = true;
  auto alive = [this] { return ::kill(-pid_, 0) == 0 || errno == EPERM; };
  if (!alive()) return;
  ::kill(-pid_, SIGTERM);
  group_pending_ = true;
  impl_->polls = 0;
  impl_->timer.start(
      kGroupPollMs,
      [this, alive] {
        bool still = alive();
        if (still && ++impl_->polls * kGroupPollMs < impl_->stop_timeout_ms) return;
        if (still) {
          log::warn(impl_->log_tag + " pid " + std::to_string(pid_) + ": still running " +
                    std::to_string(impl_->stop_timeout_ms) + " ms after SIGTERM, sending SIGKILL");
          ::kill(-pid_, SIGKILL);
        }
        impl_->timer.stop();
        group_pending_ = false;
        maybe_delete();
      },
      kGroupPollMs);
}

void AppProcess::maybe_delete() {
  if (!exited_ || in_exit_ || group_pending_) return;
  // Output pipes still open once the whole group is gone belong to
  // something that left the group (a daemon of its own): not waited for.
  bool pipes_open = impl_->out.open || impl_->err.open;
  if (pipes_open) {
    if (released_) {
      impl_->out.finish();
      impl_->err.finish();
    }
    return;
  }
  if (released_) delete this;
}

}  // namespace gw
