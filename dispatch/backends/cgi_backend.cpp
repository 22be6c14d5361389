// The `cgi` backend: a process per request (io::Process), in a process group
// of its own that is ended with the request.
#include "dispatch/backends/cgi_backend.h"

#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <unordered_set>
#include <utility>

#include "dispatch/backends/app_stderr.h"
#include "dispatch/backends/upstream.h"
#include "gateway/io/process.h"
#include "gateway/io/stream.h"
#include "gateway/io/timer.h"
#include "protocols/cgi_params.h"
#include "protocols/cgi_response.h"

namespace gw {

namespace {

// Request body bytes queued towards the script's stdin above which the
// connection is asked to stop reading the client.
constexpr size_t kBodyHighWater = 256 * 1024;
// The response a script writes while its request body is still coming is
// held, up to this much, until the body came whole: a front end may stop
// sending the body once a response head arrived (nginx does), and a script
// that answers before reading its stdin would then wait for the rest
// forever. Past it the script streams (cat) and its output goes on.
constexpr size_t kHoldWhileBodyComes = 256 * 1024;
// SIGTERM first; what is left of the group this long after gets SIGKILL.
// Meanwhile the group is looked at every kGroupPollMs, and let go of as soon
// as it is gone.
constexpr uint64_t kKillDelayMs = 2000;
constexpr uint64_t kGroupPollMs = 50;
constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

bool passable(const Header& v) {
  return !v.name.empty() && v.name.find_first_of(std::string_view("=\0", 2)) == std::string::npos &&
         v.value.find('\0') == std::string::npos;
}

std::string directory_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::vector<std::string> cgi_environment(const Request& request, const CgiBackendOptions& options,
                                         std::string_view inherited_path) {
  CgiContext context;
  context.script_filename = options.script;
  context.document_root = options.document_root;
  std::vector<Header> vars = cgi_from_request(request, context);
  // CONTENT_LENGTH is set if and only if a body comes (RFC 3875 4.1.2): an
  // SCGI front end sends "0" for every GET, an HTTP or FastCGI one nothing,
  // and the script must not see the difference.
  if (request.content_length == 0) {
    std::erase_if(vars, [](const Header& v) { return v.name == "CONTENT_LENGTH"; });
  }
  for (const Header& e : options.env) {
    if (e.name == "CONTENT_LENGTH") continue;  // the body's framing is ours
    bool replaced = false;
    for (Header& v : vars) {
      if (v.name == e.name) {
        v.value = e.value;
        replaced = true;
        break;
      }
    }
    if (!replaced) vars.push_back(e);
  }
  bool has_path = false;
  for (const Header& v : vars) has_path = has_path || v.name == "PATH";
  if (!has_path) {
    vars.push_back(
        {"PATH", inherited_path.empty() ? std::string(kDefaultPath) : std::string(inherited_path)});
  }
  std::vector<std::string> env;
  env.reserve(vars.size());
  for (const Header& v : vars) {
    if (passable(v)) env.push_back(v.name + "=" + v.value);
  }
  return env;
}

class CgiChild;

// What the backend, its exchanges and its children share.
struct CgiShared {
  uv_loop_s* loop;
  CgiBackendOptions options;
  std::string working_dir;
  std::string inherited_path;
  std::unordered_set<CgiChild*> children;  // every live CgiChild
  size_t running = 0;                      // children not yet reaped
  bool shut = false;
};

namespace {

// Told when the script process exits.
class CgiChildOwner {
 public:
  virtual ~CgiChildOwner() = default;
  virtual void on_child_exit(int64_t exit_status, int term_signal) = 0;
};

}  // namespace

// One script process and its process group. It owns itself: it lives until
// the process was reaped and its handle closed, its owner let go, and the
// group's SIGKILL (when one is due) was sent, so that no exchange has to
// outlive its script.
class CgiChild {
 public:
  // Starts the script with `env` and pipes for its stdio. Null when it could
  // not start, with the libuv error in `error`.
  static CgiChild* spawn(const std::shared_ptr<CgiShared>& shared, std::vector<std::string> env,
                         io::Process::Pipes& pipes, int& error) {
    io::Process::Options options{shared->options.script, std::move(env), shared->working_dir};
    auto* child = new CgiChild(shared);
    child->process_ = io::Process::spawn(
        shared->loop, options,
        [child](int64_t exit_status, int term_signal) { child->on_exit(exit_status, term_signal); },
        pipes, error);
    if (!child->process_) {
      delete child;
      return nullptr;
    }
    child->pid_ = child->process_->pid();
    ++shared->running;
    return child;
  }

  void set_owner(CgiChildOwner* owner) { owner_ = owner; }
  int pid() const { return pid_; }

  // The owner is done with it: what is left of the group is ended.
  void detach() {
    owner_ = nullptr;
    end_group();
    maybe_delete();
  }

  // SIGTERM to the group now, SIGKILL to what is left of it kKillDelayMs
  // later. Once the script was reaped its group may be gone already (then
  // nothing is sent: its number could be reused); while any member lives
  // the number stays reserved, so signalling it is safe. The group is
  // probed until it is gone, which keeps the window for a reused number to
  // the time between one probe and the next signal.
  void end_group() {
    if (group_ended_ || pid_ <= 1) return;  // never kill(0) or kill(-1)
    group_ended_ = true;
    if (!group_alive()) return;
    ::kill(-pid_, SIGTERM);
    kill_pending_ = true;
    kill_polls_ = 0;
    kill_timer_.start(
        kGroupPollMs,
        [this] {
          if (group_alive() && ++kill_polls_ * kGroupPollMs < kKillDelayMs) return;
          if (group_alive()) ::kill(-pid_, SIGKILL);
          kill_timer_.stop();
          kill_pending_ = false;
          maybe_delete();
        },
        kGroupPollMs);
  }

 private:
  explicit CgiChild(std::shared_ptr<CgiShared> shared)
      : shared_(std::move(shared)), kill_timer_(shared_->loop) {
    shared_->children.insert(this);
  }
  ~CgiChild() {
    shared_->children.erase(this);
    if (process_) process_->release();
  }

  void on_exit(int64_t exit_status, int term_signal) {
    exited_ = true;
    --shared_->running;
    in_exit_ = true;  // the owner may detach() from inside its callback
    if (owner_) owner_->on_child_exit(exit_status, term_signal);
    in_exit_ = false;
    maybe_delete();  // last: it may free this
  }

  bool group_alive() const { return ::kill(-pid_, 0) == 0 || errno == EPERM; }

  void maybe_delete() {
    if (exited_ && !in_exit_ && !owner_ && !kill_pending_) delete this;
  }

  std::shared_ptr<CgiShared> shared_;
  io::Process* process_ = nullptr;  // frees itself after release()
  io::Timer kill_timer_;
  CgiChildOwner* owner_ = nullptr;
  int pid_ = 0;
  bool exited_ = false;
  bool in_exit_ = false;
  bool group_ended_ = false;
  bool kill_pending_ = false;
  uint64_t kill_polls_ = 0;
};

namespace {

std::string exit_text(int64_t exit_status, int term_signal) {
  if (term_signal != 0) return "killed by signal " + std::to_string(term_signal);
  return "exited with status " + std::to_string(exit_status);
}

// One request: its script process and the three pipes to it.
//
// Lifecycle: begin() starts the script at once when the body length is
// known; a body of unknown length is held until its end and the script
// started then, with CONTENT_LENGTH. The response ends once the script
// exited and stdout and stderr reached EOF (or the grace after its exit
// ran out). done_ marks the end of all sink calls: on_end, on_error or
// cancel(); release() then lets go of the process, which ends its group.
//
// Re-entrancy: a sink call may cancel us (a client write error), and a write
// to stdin may fail inside write(); after each, the code checks done_.
class CgiExchange final : public Exchange, public CgiChildOwner {
 public:
  CgiExchange(std::shared_ptr<CgiShared> shared, const Request& request, ResponseSink& sink)
      : shared_(std::move(shared)),
        sink_(sink),
        content_length_(request.content_length),
        timer_(shared_->loop),
        grace_timer_(shared_->loop),
        left_ms_(shared_->options.timeout_ms),
        stderr_log_(who() + ": stderr: "),
        stdin_handler_(*this),
        stdout_handler_(*this),
        stderr_handler_(*this) {
    if (content_length_) {
      env_ = cgi_environment(request, shared_->options, shared_->inherited_path);
      if (*content_length_ == 0) body_finished_ = true;  // nothing will come
    } else {
      deferred_request_ = request;
    }
  }
  ~CgiExchange() override { release(); }

  void begin() {
    if (content_length_) spawn();
  }

  void send_body(std::string_view data) override {
    if (done_ || body_finished_) return;
    if (content_length_) {
      if (data.size() > *content_length_ - body_bytes_) {
        data = data.substr(0, *content_length_ - body_bytes_);
      }
    } else if (data.size() > shared_->options.max_buffered_body - body_bytes_) {
      finish_with_error(411, "request body of unknown length over " +
                                 std::to_string(shared_->options.max_buffered_body) +
                                 " bytes: a CGI script needs the length first");
      return;
    }
    body_bytes_ += data.size();
    if (data.empty()) return;
    if (!child_started_) {
      pending_.append(data);  // unknown length: max_buffered_body bounds it
      return;
    }
    write_stdin(data);
    if (done_) return;
    if (body_congested()) owe_drained_ = true;
  }

  void finish_body() override {
    if (done_ || body_finished_) return;
    body_finished_ = true;
    if (!content_length_) {
      Request request = std::move(*deferred_request_);
      deferred_request_.reset();
      // CONTENT_LENGTH is set if and only if there is a body (RFC 3875 4.1.2).
      if (body_bytes_ > 0) request.content_length = body_bytes_;
      env_ = cgi_environment(request, shared_->options, shared_->inherited_path);
      spawn();
      return;
    }
    close_stdin();
    if (done_ || paused_) return;
    // What the script answered while the body came goes now.
    if (!deliver_held()) {
      if (!done_) pause();
      return;
    }
    maybe_finish();
  }

  // Hands the held head and body to the sink; false when it stopped
  // (done, or the sink congested with some still held).
  bool deliver_held() {
    if (held_head_) {
      sink_.on_head(std::move(*held_head_));
      held_head_.reset();
      if (done_ || sink_.congested()) return false;
    }
    if (!held_body_.empty()) {
      std::string body = std::move(held_body_);
      held_body_.clear();
      sink_.on_body(body);
      if (done_ || sink_.congested()) return false;
    }
    return true;
  }

  bool body_congested() const override {
    if (done_ || !stdin_ || stdin_closed_ || stdin_failed_) return false;
    return stdin_->queued() >= kBodyHighWater;
  }

  void resume_response() override {
    if (done_ || !paused_ || sink_.congested()) return;
    if (!deliver_held()) return;
    paused_ = false;
    start_deadline();
    if (stdout_ && !stdout_eof_) stdout_->read_start();
    maybe_finish();
  }

  void cancel() override {
    done_ = true;
    release();
  }

  void on_child_exit(int64_t exit_status, int term_signal) override {
    if (done_) return;
    exited_ = true;
    exit_status_ = exit_status;
    term_signal_ = term_signal;
    maybe_finish();
  }

 private:
  // The three pipes' handlers, forwarding to the exchange.
  struct StdinHandler final : io::StreamHandler {
    explicit StdinHandler(CgiExchange& e) : ex(e) {}
    void on_read(std::string_view) override {}
    void on_eof() override {}
    void on_error(int) override { ex.on_stdin_failed(); }
    void on_drain() override { ex.on_stdin_drained(); }
    CgiExchange& ex;
  };
  struct StdoutHandler final : io::StreamHandler {
    explicit StdoutHandler(CgiExchange& e) : ex(e) {}
    void on_read(std::string_view data) override { ex.on_stdout(data); }
    void on_eof() override { ex.on_stdout_eof(); }
    void on_error(int uv_error) override { ex.on_stdout_error(uv_error); }
    CgiExchange& ex;
  };
  struct StderrHandler final : io::StreamHandler {
    explicit StderrHandler(CgiExchange& e) : ex(e) {}
    void on_read(std::string_view data) override { ex.on_stderr(data); }
    void on_eof() override { ex.on_stderr_eof(); }
    void on_error(int) override { ex.on_stderr_eof(); }
    CgiExchange& ex;
  };

  std::string who() const { return "cgi " + shared_->options.script; }

  void spawn() {
    const CgiBackendOptions& o = shared_->options;
    if (shared_->shut) {
      finish_with_error(503, who() + ": the server is stopping");
      return;
    }
    if (shared_->running >= o.max_processes) {
      finish_with_error(503, who() + ": " + std::to_string(shared_->running) +
                                 " processes running already (project.json backend.max_processes)");
      return;
    }
    int error = 0;
    io::Process::Pipes pipes;
    child_ = CgiChild::spawn(shared_, std::move(env_), pipes, error);
    env_ = std::vector<std::string>();
    if (!child_) {
      finish_with_error(500, who() + ": cannot start it (working directory " +
                                 shared_->working_dir + "): " + io::uv_error_text(error));
      return;
    }
    child_started_ = true;
    child_->set_owner(this);
    stderr_log_.set_prefix(who() + " [pid " + std::to_string(child_->pid()) + "]: stderr: ");
    stdin_ = std::move(pipes.stdin_pipe);
    stdout_ = std::move(pipes.stdout_pipe);
    stderr_ = std::move(pipes.stderr_pipe);
    stdin_->set_handler(&stdin_handler_);
    stdout_->set_handler(&stdout_handler_);
    stderr_->set_handler(&stderr_handler_);
    stdout_->read_start();
    stderr_->read_start();
    start_deadline();
    if (!pending_.empty()) {
      std::string body = std::move(pending_);
      pending_ = std::string();
      write_stdin(body);
      if (done_) return;
    }
    if (body_finished_) close_stdin();
  }

  // ---- stdin: the request body ----

  void write_stdin(std::string_view data) {
    if (!stdin_ || stdin_closed_ || stdin_failed_) return;  // dropped: the script stopped reading
    stdin_->write(data);
  }

  void close_stdin() {
    if (!stdin_ || stdin_closed_) return;
    stdin_closed_ = true;
    stdin_->close(true);  // after what is queued: the script reads EOF
  }

  // EPIPE and the like: the script closed its stdin or exited without
  // reading all of the body. Not an error; the rest of the body is dropped.
  void on_stdin_failed() {
    if (done_ || stdin_failed_) return;
    stdin_failed_ = true;
    stdin_->close(false);
    if (owe_drained_) {
      owe_drained_ = false;
      sink_.on_body_drained();
    }
  }

  void on_stdin_drained() {
    if (done_ || !owe_drained_ || body_congested()) return;
    owe_drained_ = false;
    sink_.on_body_drained();
  }

  // ---- stdout: the response ----

  void on_stdout(std::string_view data) {
    if (done_) return;
    std::string_view body = data;
    if (!head_parsed_) {
      CgiFeedResult r = parser_.feed(data);
      if (r.error) {
        finish_with_error(502, who() + ": malformed response head: " + r.error->what);
        return;
      }
      if (!r.done) return;
      head_parsed_ = true;
      ResponseHead head = parser_.take_head();
      // A local redirect the script meant us to follow; we cannot route, so
      // the client follows it (its Location is in the headers).
      if (parser_.local_redirect()) head.status = 302;
      if (paused_ || sink_.congested()) {
        held_head_ = std::move(head);
        pause();
      } else if (!body_finished_) {
        held_head_ = std::move(head);  // until the body came (kHoldWhileBodyComes)
      } else {
        sink_.on_head(std::move(head));
        if (done_) return;
      }
      body = data.substr(r.consumed);
    }
    if (body.empty()) return;
    if (paused_ || sink_.congested()) {
      held_body_.append(body);  // reading stops: at most one read's worth
      pause();
    } else if (held_head_) {
      held_body_.append(body);
      // Past the bound the script streams its answer to a body it is still
      // reading (cat): holding more would block it, and so the body.
      if (held_body_.size() >= kHoldWhileBodyComes && !deliver_held() && !done_) pause();
    } else {
      sink_.on_body(body);
    }
  }

  void on_stdout_eof() {
    if (done_) return;
    stdout_eof_ = true;
    maybe_finish();
  }

  void on_stdout_error(int uv_error) {
    if (done_) return;
    finish_with_error(502, who() + ": reading its stdout: " + io::uv_error_text(uv_error));
  }

  // While the response waits, the script is left blocked on its stdout: no
  // reading, no grace, and the deadline waits too.
  void pause() {
    if (paused_) return;
    paused_ = true;
    if (stdout_) stdout_->read_stop();
    stop_deadline();
    grace_timer_.stop();
    grace_armed_ = false;
  }

  // ---- stderr: the error log ----

  void on_stderr(std::string_view data) {
    if (!done_) stderr_log_.feed(data, sink_);
  }

  void on_stderr_eof() {
    if (done_ || stderr_eof_) return;
    stderr_eof_ = true;
    stderr_log_.flush(sink_);
    maybe_finish();
  }

  // ---- the end ----

  void maybe_finish() {
    // A head held until the body came keeps the response open too.
    if (done_ || !exited_ || paused_ || held_head_) return;
    if (!stdout_eof_ || !stderr_eof_) {
      if (!grace_armed_) {
        grace_armed_ = true;
        grace_timer_.start(shared_->options.exit_grace_ms, [this] { on_grace_expired(); });
      }
      return;
    }
    grace_timer_.stop();
    grace_armed_ = false;
    finish_response();
  }

  // The script exited but something it started holds stdout or stderr.
  void on_grace_expired() {
    grace_armed_ = false;
    if (done_) return;
    std::string open = !stdout_eof_ && !stderr_eof_ ? "stdout and stderr"
                       : !stdout_eof_               ? "stdout"
                                                    : "stderr";
    if (!stderr_eof_) stderr_log_.flush(sink_);
    sink_.log_error(who() + ": " + open + " still open " +
                    std::to_string(shared_->options.exit_grace_ms) +
                    " ms after it exited (held by a process it started); closed");
    if (done_) return;
    stdout_.reset();
    stderr_.reset();
    stdout_eof_ = stderr_eof_ = true;
    finish_response();
  }

  void finish_response() {
    std::string how = exit_text(exit_status_, term_signal_);
    if (!head_parsed_) {
      finish_with_error(502, who() + ": " + how + " before a complete response head");
      return;
    }
    if (term_signal_ != 0) {
      finish_with_error(502, who() + ": " + how + " in the middle of its response");
      return;
    }
    if (exit_status_ != 0) {
      sink_.log_error(who() + ": " + how + " after its response head");
      if (done_) return;
    }
    done_ = true;
    release();
    sink_.on_end();
  }

  // The whole-request deadline runs only while the script is the slow side.
  void start_deadline() {
    if (done_) return;
    running_since_ = std::chrono::steady_clock::now();
    timer_.start(left_ms_, [this] { on_timeout(); });
  }

  void stop_deadline() {
    timer_.stop();
    auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - running_since_)
                     .count();
    uint64_t used = spent > 0 ? static_cast<uint64_t>(spent) : 0;
    left_ms_ = used < left_ms_ ? left_ms_ - used : 1;
  }

  void on_timeout() {
    if (done_) return;
    std::string ms =
        std::to_string(shared_->options.timeout_ms) + " ms (project.json backend.timeout_ms)";
    finish_with_error(504, who() + (head_parsed_ ? ": response not complete within " + ms
                                                 : ": no response within " + ms));
  }

  void finish_with_error(int status, std::string why) {
    if (done_) return;
    done_ = true;
    release();
    sink_.on_error(status, why);
  }

  // Stops everything; the process, if still there, is let go of, which ends
  // its group.
  void release() {
    timer_.stop();
    grace_timer_.stop();
    stdin_.reset();
    stdout_.reset();
    stderr_.reset();
    if (child_) {
      child_->detach();
      child_ = nullptr;
    }
  }

  std::shared_ptr<CgiShared> shared_;
  ResponseSink& sink_;
  std::optional<uint64_t> content_length_;
  std::optional<Request> deferred_request_;  // unknown length: until the body's end
  std::vector<std::string> env_;             // until the script starts

  CgiChild* child_ = nullptr;  // until release()
  bool child_started_ = false;
  std::unique_ptr<io::Stream> stdin_;
  std::unique_ptr<io::Stream> stdout_;
  std::unique_ptr<io::Stream> stderr_;
  io::Timer timer_;  // the whole-request deadline
  io::Timer grace_timer_;
  bool grace_armed_ = false;
  uint64_t left_ms_;  // of the deadline, while it is stopped
  std::chrono::steady_clock::time_point running_since_;

  // Request body.
  std::string pending_;  // a body of unknown length, before the script starts
  uint64_t body_bytes_ = 0;
  bool body_finished_ = false;
  bool owe_drained_ = false;  // body_congested() was true: on_body_drained() is due
  bool stdin_closed_ = false;
  bool stdin_failed_ = false;

  // Response.
  CgiResponseParser parser_;
  bool head_parsed_ = false;
  std::optional<ResponseHead> held_head_;
  std::string held_body_;
  bool paused_ = false;
  bool stdout_eof_ = false;

  // stderr.
  AppStderr stderr_log_;
  bool stderr_eof_ = false;

  // The process.
  bool exited_ = false;
  int64_t exit_status_ = 0;
  int term_signal_ = 0;

  bool done_ = false;

  StdinHandler stdin_handler_;
  StdoutHandler stdout_handler_;
  StderrHandler stderr_handler_;
};

}  // namespace

CgiBackend::CgiBackend(uv_loop_s* loop, CgiBackendOptions options) {
  if (options.script.empty() || options.script.front() != '/') {
    setup_error_ = "cgi script \"" + options.script + "\": not an absolute path";
    return;
  }
  auto shared = std::make_shared<CgiShared>();
  shared->loop = loop;
  shared->working_dir =
      options.working_dir.empty() ? directory_of(options.script) : options.working_dir;
  const char* path = std::getenv("PATH");
  shared->inherited_path = path ? path : "";
  shared->options = std::move(options);
  shared_ = std::move(shared);
}

CgiBackend::~CgiBackend() {
  shutdown();
}

void CgiBackend::shutdown() {
  if (!shared_) return;
  shared_->shut = true;
  // end_group() never deletes a CgiChild, so the set stays valid.
  for (CgiChild* child : shared_->children) child->end_group();
}

size_t CgiBackend::live_processes() const {
  return shared_ ? shared_->children.size() : 0;
}

std::unique_ptr<Exchange> CgiBackend::start(const Request& request, ResponseSink& sink) {
  if (!shared_) {
    sink.on_error(500, setup_error_);
    return std::make_unique<RefusedExchange>();
  }
  if (shared_->shut) {
    sink.on_error(503, "cgi " + shared_->options.script + ": the server is stopping");
    return std::make_unique<RefusedExchange>();
  }
  auto exchange = std::make_unique<CgiExchange>(shared_, request, sink);
  exchange->begin();
  return exchange;
}

}  // namespace gw
