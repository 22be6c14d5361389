// The master of --workers (see master.h): plain POSIX, no event library (a
// loop does not survive fork). One poll() waits on a self-pipe fed by the
// signal handlers and on each starting worker's readiness pipe; everything
// else happens between two polls.
#include "gateway/master.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "gateway/daemon.h"
#include "gateway/listen_socket.h"
#include "gateway/listener.h"
#include "gateway/log.h"
#include "gateway/socket_access.h"
#include "gateway/socket_activation.h"
#include "gateway/systemd.h"

namespace gw {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A worker that ran this long started well: its restart delay starts over.
constexpr milliseconds kStableRun{10'000};
constexpr milliseconds kFirstRestartDelay{250};
constexpr milliseconds kMaxRestartDelay{16'000};
// Beyond graceful_timeout_ms, which the workers' own graceful stop keeps:
// the time they may take to exit after it.
constexpr milliseconds kStopMargin{5'000};
// SIGINT: the workers stop at once; past this they are killed.
constexpr milliseconds kImmediateStopWait{5'000};
// What a worker writes before READY=1 is not kept beyond this.
constexpr size_t kReadyTextMax = 4096;

constexpr int kHandledSignals[] = {SIGCHLD, SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1};

int g_signal_pipe[2] = {-1, -1};
pid_t g_master_of_this_worker = 0;

void on_signal(int signum) {
  const int saved = errno;
  const auto byte = static_cast<unsigned char>(signum);
  ssize_t n = write(g_signal_pipe[1], &byte, 1);
  (void)n;  // a full pipe already holds a wake-up
  errno = saved;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return std::string("was killed by SIG") + (name ? name : std::to_string(WTERMSIG(status)));
  }
  return "ended";
}

std::string address_key(const ListenerConfig& l) {
  if (!l.unix_path.empty()) return "unix:" + l.unix_path;
  return "tcp:" + l.host + "\n" + std::to_string(l.port);
}

size_t worker_count(const Startup& s) {
  return std::max<size_t>(1, s.config.workers);
}

long long ms(Clock::duration d) {
  return std::chrono::duration_cast<milliseconds>(d).count();
}

// A listening socket the master opened, known by its address.
struct OwnedSocket {
  std::string key;
  int fd = -1;
  std::string unix_path;  // removed when the socket is closed ("" for TCP)
};

void close_socket(const OwnedSocket& s) {
  close(s.fd);
  if (!s.unix_path.empty()) unlink(s.unix_path.c_str());
}

struct Worker {
  pid_t pid = -1;
  size_t slot = 0;
  int ready_fd = -1;  // read end of its readiness pipe, until READY=1 or EOF
  std::string ready_text;
  bool ready = false;
  bool retiring = false;     // told to stop: replaced, or the master stops
  bool from_reload = false;  // a replacement started by a reload
  Clock::time_point started;
};

struct Slot {
  pid_t active = -1;  // the worker serving in this slot (once ready), or -1
  int failures = 0;   // young deaths in a row
  std::optional<Clock::time_point> restart_at;
};

// A SIGHUP in progress: the configuration read again and the workers
// replaced slot by slot with it.
struct Reload {
  Startup next;
  std::vector<OwnedSocket> opened;  // sockets opened for it, not yet the master's
  size_t slot = 0;                  // the slot being replaced
  pid_t starting = -1;              // its new worker, until ready
  std::optional<Clock::time_point> retry_at;
  bool committed = false;  // a new worker is ready: the new configuration is the master's
};

class Master {
 public:
  Master(std::vector<std::string> args, EnvLookup env, Startup startup, WorkerMain serve)
      : args_(std::move(args)), env_(env), startup_(std::move(startup)), serve_(std::move(serve)) {}

  int run();

 private:
  std::optional<std::string> open_sockets(Startup& s, std::vector<OwnedSocket>& opened);
  std::optional<std::string> install_signals();
  pid_t spawn(size_t slot, const Startup& s, bool from_reload);
  [[noreturn]] void become_worker(int ready_fd, Startup s);
  Worker* find(pid_t pid);
  void wait_once();
  void on_signal_byte(int signum);
  void read_ready(Worker& w);
  void on_ready(Worker& w);
  void reap();
  void on_exit(const Worker& w, int status);
  void run_timers();
  void begin_reload();
  void replace_next();
  void abandon_reload(const std::string& why);
  void finish_reload();
  void stop(int signum, milliseconds wait);
  void signal_all(int signum);
  void fail_start(const std::string& why);
  int finish();

  std::vector<std::string> args_;
  EnvLookup env_;
  Startup startup_;  // the configuration in use (new and restarted workers get it)
  WorkerMain serve_;
  pid_t master_pid_ = getpid();
  std::vector<OwnedSocket> owned_;
  std::vector<Worker> workers_;  // every live worker process
  std::vector<Slot> slots_;
  std::optional<Reload> reload_;
  bool reload_again_ = false;  // a SIGHUP came during a reload or the start
  bool started_ = false;       // the first workers were all ready once
  bool stopping_ = false;
  std::optional<Clock::time_point> stop_deadline_;
  std::string start_failure_;
};

std::optional<std::string> Master::open_sockets(Startup& s, std::vector<OwnedSocket>& opened) {
  for (ListenerConfig& l : s.config.listeners) {
    if (l.inherited_fd >= 0) continue;  // systemd's, already listening
    if (l.inherited_fd0) {
      l.inherited_fd = 0;  // a web server's socket on fd 0: each worker opens a copy
      continue;
    }
    const std::string key = address_key(l);
    auto same = [&](const OwnedSocket& o) { return o.key == key; };
    if (auto it = std::find_if(owned_.begin(), owned_.end(), same); it != owned_.end()) {
      l.inherited_fd = it->fd;
      continue;
    }
    if (auto it = std::find_if(opened.begin(), opened.end(), same); it != opened.end()) {
      l.inherited_fd = it->fd;
      continue;
    }
    std::string error;
    const bool is_unix = !l.unix_path.empty();
    int fd = is_unix ? bind_unix_socket(l, s.config.umask, error) : bind_tcp_socket(l, error);
    if (fd < 0) return error;
    opened.push_back(OwnedSocket{key, fd, is_unix ? l.unix_path : ""});
    l.inherited_fd = fd;
    log::info("listening on " + describe_listener(l));
    if (is_unix) {
      if (std::string w = socket_access_warning(l); !w.empty()) log::warn(w);
    }
  }
  return std::nullopt;
}

std::optional<std::string> Master::install_signals() {
  if (pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    return std::string("pipe: ") + std::strerror(errno);
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  for (int signum : kHandledSignals) sigaction(signum, &sa, nullptr);
  return std::nullopt;
}

pid_t Master::spawn(size_t slot, const Startup& s, bool from_reload) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    log::error(std::string("cannot start a worker: pipe: ") + std::strerror(errno));
    return -1;
  }
  // Blocked across fork: the child must not run the master's handlers
  // before it has put back the default ones.
  sigset_t handled, old;
  sigemptyset(&handled);
  for (int signum : kHandledSignals) sigaddset(&handled, signum);
  sigprocmask(SIG_BLOCK, &handled, &old);
  pid_t pid = fork();
  if (pid == 0) {
    for (int signum : kHandledSignals) std::signal(signum, SIG_DFL);
    // Until the server watches them: a reload or a log reopening forwarded
    // to a worker still starting must not end it.
    std::signal(SIGHUP, SIG_IGN);
    std::signal(SIGUSR1, SIG_IGN);
    sigprocmask(SIG_SETMASK, &old, nullptr);
    close(fds[0]);
    become_worker(fds[1], s);
  }
  const int fork_errno = errno;
  sigprocmask(SIG_SETMASK, &old, nullptr);
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    log::error(std::string("cannot start a worker: fork: ") + std::strerror(fork_errno));
    return -1;
  }
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  Worker w;
  w.pid = pid;
  w.slot = slot;
  w.ready_fd = fds[0];
  w.from_reload = from_reload;
  w.started = Clock::now();
  workers_.push_back(std::move(w));
  log::info("started worker " + std::to_string(pid) + " (slot " + std::to_string(slot + 1) + ")");
  return pid;
}

void Master::become_worker(int ready_fd, Startup s) {
  // A master killed outright must not leave workers serving on their own.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != master_pid_) _exit(1);
  g_master_of_this_worker = master_pid_;
  close(g_signal_pipe[0]);
  close(g_signal_pipe[1]);
  for (const Worker& w : workers_) {
    if (w.ready_fd >= 0) close(w.ready_fd);
  }
  // Sockets kept only for workers still finishing on an older configuration.
  std::vector<int> used;
  for (const ListenerConfig& l : s.config.listeners) used.push_back(l.inherited_fd);
  auto close_unused = [&](const std::vector<OwnedSocket>& sockets) {
    for (const OwnedSocket& o : sockets) {
      if (std::find(used.begin(), used.end(), o.fd) == used.end()) close(o.fd);
    }
  };
  close_unused(owned_);
  if (reload_) close_unused(reload_->opened);
  log::set_tag("worker " + std::to_string(getpid()));
  detach_forget();
  systemd::notify_to_fd(ready_fd);
  // The pid file, the terminal and the other workers are the master's.
  s.config.pidfile.clear();
  s.config.daemonize = false;
  s.config.workers = 1;
  int status = serve_(s);
  std::exit(status);
}

Worker* Master::find(pid_t pid) {
  for (Worker& w : workers_) {
    if (w.pid == pid) return &w;
  }
  return nullptr;
}

int Master::run() {
  log::set_tag("master");
  if (auto err = install_signals()) {
    fail_start(*err);
    return finish();
  }
  if (auto err = open_sockets(startup_, owned_)) {
    fail_start(*err);
    return finish();
  }
  if (!startup_.config.pidfile.empty()) {
    if (std::string err = write_pidfile(startup_.config.pidfile); !err.empty()) {
      fail_start(err);
      return finish();
    }
  }
  slots_.resize(worker_count(startup_));
  for (size_t i = 0; i < slots_.size() && start_failure_.empty(); ++i) {
    if (spawn(i, startup_, false) < 0) fail_start("cannot start the workers");
  }
  while (!(stopping_ && workers_.empty())) wait_once();
  return finish();
}

void Master::wait_once() {
  std::vector<pollfd> fds;
  fds.push_back(pollfd{g_signal_pipe[0], POLLIN, 0});
  std::vector<pid_t> owners;
  for (const Worker& w : workers_) {
    if (w.ready_fd < 0) continue;
    fds.push_back(pollfd{w.ready_fd, POLLIN, 0});
    owners.push_back(w.pid);
  }
  std::optional<Clock::time_point> next;
  auto consider = [&](const std::optional<Clock::time_point>& t) {
    if (t && (!next || *t < *next)) next = t;
  };
  for (const Slot& s : slots_) consider(s.restart_at);
  if (reload_) consider(reload_->retry_at);
  consider(stop_deadline_);
  int timeout = -1;
  if (next)
    timeout = static_cast<int>(std::clamp<long long>(ms(*next - Clock::now()) + 1, 0, 60'000));
  int n = poll(fds.data(), fds.size(), timeout);
  if (n < 0 && errno != EINTR) log::error(std::string("poll: ") + std::strerror(errno));
  if (n > 0) {
    if (fds[0].revents) {
      unsigned char buf[64];
      ssize_t got;
      while ((got = read(g_signal_pipe[0], buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < got; ++i) on_signal_byte(buf[i]);
      }
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      if (Worker* w = find(owners[i - 1]); w && w->ready_fd >= 0) read_ready(*w);
    }
  }
  reap();  // also without SIGCHLD: cheap, and a lost wake-up cannot leave a zombie
  run_timers();
}

void Master::on_signal_byte(int signum) {
  switch (signum) {
    case SIGCHLD:
      break;  // reap() runs after every wake-up
    case SIGHUP:
      if (stopping_) break;
      if (!started_ || reload_) {
        reload_again_ = true;
      } else {
        begin_reload();
      }
      break;
    case SIGQUIT:
    case SIGTERM:
      log::info(std::string("received SIG") + sigabbrev_np(signum) + ", stopping gracefully");
      stop(signum, milliseconds(startup_.config.graceful_timeout_ms) + kStopMargin);
      break;
    case SIGINT:
      log::info("received SIGINT, stopping now");
      stop(SIGINT, kImmediateStopWait);
      break;
    case SIGUSR1:
      if (std::string err = log::reopen(); !err.empty()) log::error("reopening the log: " + err);
      signal_all(SIGUSR1);
      break;
    default:
      break;
  }
}

void Master::read_ready(Worker& w) {
  char buf[256];
  ssize_t n = read(w.ready_fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n > 0) {
    w.ready_text.append(buf, static_cast<size_t>(n));
    if (w.ready_text.size() > kReadyTextMax) {
      w.ready_text.erase(0, w.ready_text.size() - kReadyTextMax);
    }
    // One state per line: "READY=1" alone on its line.
    if (("\n" + w.ready_text).find("\nREADY=1\n") == std::string::npos) return;
    close(w.ready_fd);
    w.ready_fd = -1;
    w.ready = true;
    on_ready(w);
    return;
  }
  // End of file: the worker is exiting; reap() hears of it.
  close(w.ready_fd);
  w.ready_fd = -1;
}

void Master::on_ready(Worker& w) {
  log::info("worker " + std::to_string(w.pid) + " is ready");
  if (w.retiring) return;  // told to stop while it was starting
  if (w.from_reload) {
    if (!reload_ || reload_->starting != w.pid) return;
    Reload& r = *reload_;
    if (!r.committed) {
      r.committed = true;
      startup_ = r.next;
      for (auto& o : r.opened) owned_.push_back(std::move(o));
      r.opened.clear();
      log::info("reload: the new configuration is in use; replacing the workers one at a time");
    }
    Slot& slot = slots_[w.slot];
    if (Worker* old = find(slot.active); old && old->pid != w.pid) {
      old->retiring = true;
      kill(old->pid, SIGQUIT);
      log::info("reload: worker " + std::to_string(old->pid) + " replaced by " +
                std::to_string(w.pid) + ", finishing its requests");
    }
    slot.active = w.pid;
    slot.restart_at.reset();
    r.starting = -1;
    ++r.slot;
    replace_next();
    return;
  }
  slots_[w.slot].active = w.pid;
  if (started_) return;
  for (const Slot& s : slots_) {
    if (s.active < 0) return;
  }
  started_ = true;
  log::info(std::to_string(slots_.size()) + " workers ready");
  detach_done("");
  systemd::notify("READY=1\nMAINPID=" + std::to_string(master_pid_));
  if (reload_again_) {
    reload_again_ = false;
    begin_reload();
  }
}

void Master::reap() {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    auto it = std::find_if(workers_.begin(), workers_.end(),
                           [&](const Worker& w) { return w.pid == pid; });
    if (it == workers_.end()) continue;  // not a worker (nothing else is ours)
    Worker w = std::move(*it);
    workers_.erase(it);
    if (w.ready_fd >= 0) close(w.ready_fd);
    on_exit(w, status);
  }
}

void Master::on_exit(const Worker& w, int status) {
  const std::string who = "worker " + std::to_string(w.pid);
  const bool expected = stopping_ || w.retiring;
  if (expected) {
    log::info(who + " " + describe_exit(status));
  } else {
    log::error(who + " " + describe_exit(status) + (w.ready ? "" : " before it was ready"));
  }
  if (stopping_) return;
  if (!started_) {
    fail_start(who + " " + describe_exit(status) + " before it was ready");
    return;
  }
  if (w.from_reload && reload_ && reload_->starting == w.pid) {
    reload_->starting = -1;
    if (!reload_->committed) {
      abandon_reload("the new worker " + describe_exit(status) + " before it was ready");
      return;
    }
    Slot& slot = slots_[w.slot];
    ++slot.failures;
    const auto delay =
        std::min(kMaxRestartDelay, kFirstRestartDelay * (1 << std::min(slot.failures - 1, 6)));
    reload_->retry_at = Clock::now() + delay;
    log::info("reload: starting another new worker in " + std::to_string(ms(delay)) + " ms");
    return;
  }
  if (w.retiring || w.slot >= slots_.size()) return;
  Slot& slot = slots_[w.slot];
  if (slot.active != w.pid) return;
  slot.active = -1;
  const bool young = !w.ready || Clock::now() - w.started < kStableRun;
  slot.failures = young ? slot.failures + 1 : 0;
  milliseconds delay{0};
  if (slot.failures > 0) {
    delay = std::min(kMaxRestartDelay, kFirstRestartDelay * (1 << std::min(slot.failures - 1, 6)));
  }
  slot.restart_at = Clock::now() + delay;
  log::info("starting a worker in its place in " + std::to_string(ms(delay)) + " ms");
}

void Master::run_timers() {
  const auto now = Clock::now();
  if (stop_deadline_ && now >= *stop_deadline_) {
    stop_deadline_.reset();
    for (const Worker& w : workers_) {
      log::warn("worker " + std::to_string(w.pid) + " still running: killing it");
      kill(w.pid, SIGKILL);
    }
  }
  if (stopping_) return;
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    if (!slot.restart_at || now < *slot.restart_at) continue;
    slot.restart_at.reset();
    // A reload about to replace this slot starts its worker itself.
    if (reload_ && reload_->slot == i) continue;
    pid_t pid = spawn(i, startup_, false);
    if (pid < 0) {
      slot.restart_at = now + kMaxRestartDelay;
    } else {
      slot.active = pid;  // its death before READY=1 counts as this slot's
    }
  }
  if (reload_ && reload_->retry_at && now >= *reload_->retry_at) {
    reload_->retry_at.reset();
    replace_next();
  }
}

void Master::begin_reload() {
  systemd::notify("RELOADING=1");
  log::info("received SIGHUP, reloading: the workers are replaced one at a time");
  Reload r;
  if (auto err = load_startup_activated(args_, env_, r.next)) {
    log::error("reload: keeping the running configuration: " + err->message());
    systemd::notify("READY=1");
    return;
  }
  if (auto err = open_sockets(r.next, r.opened)) {
    for (const OwnedSocket& o : r.opened) close_socket(o);
    log::error("reload: keeping the running configuration: " + *err);
    systemd::notify("READY=1");
    return;
  }
  reload_ = std::move(r);
  replace_next();
}

void Master::replace_next() {
  Reload& r = *reload_;
  const Startup& config = r.committed ? startup_ : r.next;
  const size_t target = worker_count(config);
  if (r.slot < target) {
    if (slots_.size() <= r.slot) slots_.resize(r.slot + 1);
    slots_[r.slot].restart_at.reset();
    pid_t pid = spawn(r.slot, config, true);
    if (pid < 0) {
      if (!r.committed) {
        abandon_reload("a new worker could not be started");
      } else {
        r.retry_at = Clock::now() + kMaxRestartDelay;
      }
      return;
    }
    r.starting = pid;
    return;
  }
  // Fewer workers than before: the slots past the new count stop.
  for (size_t i = target; i < slots_.size(); ++i) {
    if (Worker* w = find(slots_[i].active)) {
      w->retiring = true;
      kill(w->pid, SIGQUIT);
    }
  }
  slots_.resize(target);
  finish_reload();
}

void Master::abandon_reload(const std::string& why) {
  log::error("reload abandoned: " + why + "; the running workers keep the old configuration");
  for (const OwnedSocket& o : reload_->opened) close_socket(o);
  if (Worker* w = find(reload_->starting)) {
    w->retiring = true;
    kill(w->pid, SIGQUIT);
  }
  reload_.reset();
  systemd::notify("READY=1");
}

void Master::finish_reload() {
  // Sockets no listener uses any more: the workers that still have them
  // are finishing; new ones never get them.
  std::vector<int> used;
  for (const ListenerConfig& l : startup_.config.listeners) used.push_back(l.inherited_fd);
  std::vector<OwnedSocket> kept;
  for (OwnedSocket& o : owned_) {
    if (std::find(used.begin(), used.end(), o.fd) != used.end()) {
      kept.push_back(std::move(o));
    } else {
      log::info("closed the socket of " + o.key.substr(o.key.find(':') + 1));
      close_socket(o);
    }
  }
  owned_ = std::move(kept);
  reload_.reset();
  log::info("reload: done, " + std::to_string(slots_.size()) + " workers");
  systemd::notify("READY=1");
  if (reload_again_) {
    reload_again_ = false;
    begin_reload();
  }
}

void Master::signal_all(int signum) {
  for (const Worker& w : workers_) kill(w.pid, signum);
}

void Master::stop(int signum, milliseconds wait) {
  if (!stopping_) systemd::notify("STOPPING=1");
  stopping_ = true;
  if (reload_) {
    for (const OwnedSocket& o : reload_->opened) close_socket(o);
    reload_.reset();
  }
  for (Slot& s : slots_) s.restart_at.reset();
  signal_all(signum);
  const auto deadline = Clock::now() + wait;
  if (!stop_deadline_ || deadline < *stop_deadline_) stop_deadline_ = deadline;
}

void Master::fail_start(const std::string& why) {
  if (start_failure_.empty()) start_failure_ = why;
  stop(SIGTERM, kImmediateStopWait);
}

int Master::finish() {
  for (const OwnedSocket& o : owned_) close_socket(o);
  owned_.clear();
  if (!start_failure_.empty()) {
    log::error(start_failure_);
    detach_done(start_failure_);
    return 1;
  }
  if (!startup_.config.pidfile.empty()) unlink(startup_.config.pidfile.c_str());
  log::info("stopped");
  return 0;
}

}  // namespace

pid_t master_of_this_worker() {
  return g_master_of_this_worker;
}

int run_master(std::vector<std::string> args, EnvLookup env, Startup startup, WorkerMain serve) {
  Master master(std::move(args), env, std::move(startup), std::move(serve));
  return master.run();
}

}  // namespace gw
