// The `fastcgi` backend: the connection pool with its cap and wait queue,
// the connections draining after an abort, and one exchange per request.
#include "dispatch/backends/fastcgi_backend.h"

#include <algorithm>
#include <deque>
#include <optional>
#include <utility>
#include <variant>

#include "dispatch/backends/app_stderr.h"
#include "dispatch/backends/upstream.h"
#include "dispatch/backends/upstream_timers.h"
#include "gateway/io/address.h"
#include "gateway/io/stream.h"
#include "gateway/io/timer.h"
#include "protocols/cgi_params.h"
#include "protocols/cgi_response.h"
#include "protocols/fastcgi_client.h"

namespace gw {

namespace {

// Every request goes alone on its connection, always with this id.
constexpr StreamId kRequestId = 1;
// Request body bytes queued towards the app (or held before the request
// went) above which the connection is asked to stop reading the client.
constexpr size_t kBodyHighWater = 256 * 1024;
// Request body bytes of known length kept after they were sent, so that a
// retry on a new connection can send them again.
constexpr size_t kRetryHoldBytes = 64 * 1024;
// Longest wait for END_REQUEST after FCGI_ABORT_REQUEST.
constexpr uint32_t kAbortWaitMaxMs = 5000;

void set_var(std::vector<Header>& vars, std::string_view name, std::string value) {
  for (Header& v : vars) {
    if (v.name == name) {
      v.value = std::move(value);
      return;
    }
  }
  vars.push_back(Header{std::string(name), std::move(value)});
}

bool is_php_segment(std::string_view segment) {
  return segment.size() > 4 && segment.substr(segment.size() - 4) == ".php";
}

// Where the first segment ending in ".php" ends in `path`, or npos.
size_t php_script_end(std::string_view path) {
  size_t pos = 0;
  while (pos < path.size()) {
    size_t start = path[pos] == '/' ? pos + 1 : pos;
    size_t end = std::min(path.find('/', start), path.size());
    if (is_php_segment(path.substr(start, end - start))) return end;
    pos = end;
  }
  return std::string_view::npos;
}

// A count from GET_VALUES_RESULT: 1 to 1000000 in plain digits, else 0.
uint32_t parse_count(std::string_view text) {
  if (text.empty() || text.size() > 7) return 0;
  uint32_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  return n <= 1000000 ? n : 0;
}

// The cap an app's GET_VALUES_RESULT sets: the smaller of FCGI_MAX_CONNS and
// FCGI_MAX_REQS (one request per connection, so both bound the same thing);
// 0 when it names neither.
uint32_t limit_from_values(const std::vector<Header>& pairs) {
  uint32_t limit = 0;
  for (const Header& p : pairs) {
    if (p.name != fcgi::FCGI_MAX_CONNS && p.name != fcgi::FCGI_MAX_REQS) continue;
    uint32_t n = parse_count(p.value);
    if (n != 0 && (limit == 0 || n < limit)) limit = n;
  }
  return limit;
}

}  // namespace

std::vector<Header> fastcgi_request_vars(const Request& request,
                                         const FastCgiBackendOptions& options) {
  CgiContext context;
  context.document_root = options.document_root;
  std::optional<std::string> script_name;
  std::optional<std::string> path_info;
  if (!options.script_filename.empty()) {
    context.script_filename = options.script_filename;
  } else if (!options.document_root.empty()) {
    std::string root = options.document_root;
    while (!root.empty() && root.back() == '/') root.pop_back();
    const std::string& pi = request.path_info;
    size_t end = php_script_end(pi);
    if (end != std::string_view::npos) {
      std::string script = pi.substr(0, end);
      if (script.front() != '/') script.insert(0, "/");
      context.script_filename = root + script;
      script_name = request.script_name + script;
      path_info = pi.substr(end);
    } else if (!options.index.empty() && (pi.empty() || pi.back() == '/')) {
      std::string script = (pi.empty() ? "/" : pi) + options.index;
      context.script_filename = root + script;
      script_name = request.script_name + script;
      path_info = "";
    } else {
      context.script_filename = root + (pi.empty() || pi.front() == '/' ? "" : "/") + pi;
    }
  }
  std::vector<Header> vars = cgi_from_request(request, context);
  if (script_name) set_var(vars, "SCRIPT_NAME", std::move(*script_name));
  if (path_info) set_var(vars, "PATH_INFO", std::move(*path_info));
  set_var(vars, "REDIRECT_STATUS", "200");
  for (const Header& p : options.params) {
    if (p.name.empty() || p.name == "CONTENT_LENGTH") continue;
    set_var(vars, p.name, p.value);
  }
  return vars;
}

// ---- The pool ----

namespace {

// A connection counted against the pool's cap, from the connect on; the
// count drops when the Slot goes.
class Slot {
 public:
  Slot() = default;
  explicit Slot(FastCgiPool* pool) : pool_(pool) {}
  Slot(Slot&& other) noexcept : pool_(std::exchange(other.pool_, nullptr)) {}
  Slot& operator=(Slot&& other) noexcept {
    if (this != &other) {
      reset();
      pool_ = std::exchange(other.pool_, nullptr);
    }
    return *this;
  }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  ~Slot() { reset(); }
  void reset();

 private:
  FastCgiPool* pool_ = nullptr;
};

// A request sent on a new connection that has had no answer yet: it may sit
// in the app's accept queue. Counted while it lives.
class Unanswered {
 public:
  explicit Unanswered(FastCgiPool* pool);
  Unanswered(const Unanswered&) = delete;
  Unanswered& operator=(const Unanswered&) = delete;
  ~Unanswered();

 private:
  FastCgiPool* pool_;
};

// An open connection to the app. The decoder goes with it: a connection
// carries another request only when the decoder stands between records.
struct AppConn {
  Slot slot;  // first member: released after the stream closed
  std::unique_ptr<io::Stream> stream;
  FastCgiClientDecoder decoder;
};

class IdleConn;
class Drainer;

enum class DrainOutcome { Waiting, Clean, Dirty };

}  // namespace

// What the backend and its live exchanges share: the address, the options,
// the connections not owned by an exchange (idle, draining) and the count of
// all of them against the cap.
//
// Ownership: the backend and every exchange hold it through a shared_ptr;
// idle and draining connections are owned here, busy ones by their exchange.
// Waiters are woken from a timer callback on a clean stack, never from inside
// another exchange's call.
class FastCgiPool {
 public:
  struct Grant {
    std::unique_ptr<AppConn> conn;  // an idle connection, or
    Slot slot;                      // room for a new one
    bool probe = false;             // the new one asks FCGI_GET_VALUES first
  };
  class Client {
   public:
    virtual void on_grant(Grant grant) = 0;

   protected:
    ~Client() = default;
  };
  enum class Ask { Granted, Queued, Full };

  FastCgiPool(uv_loop_s* loop, io::Address address, std::string name,
              FastCgiBackendOptions options);
  ~FastCgiPool();
  FastCgiPool(const FastCgiPool&) = delete;
  FastCgiPool& operator=(const FastCgiPool&) = delete;

  uv_loop_s* loop() const { return loop_; }
  const io::Address& address() const { return address_; }
  const std::string& name() const { return name_; }
  const FastCgiBackendOptions& options() const { return options_; }
  bool keep_conn() const { return options_.keepalive > 0; }

  // A connection for `client` now (`grant` filled), later through
  // client.on_grant() (Queued), or never (Full).
  Ask acquire(Client& client, Grant& grant);
  void cancel_wait(Client& client);

  // A connection whose request ended cleanly, for reuse.
  void give_back(std::unique_ptr<AppConn> conn);
  // A connection whose client went away mid-request: FCGI_ABORT_REQUEST,
  // then back to the pool if END_REQUEST comes in time. `already_read`: bytes
  // read from it and not yet fed to its decoder.
  void drain(std::unique_ptr<AppConn> conn, bool end_stdin, std::string_view already_read);

  // The GET_VALUES answer (0: no cap), or the prober gave up without one.
  void probe_done(uint32_t limit);
  void probe_abandoned();
  // A GET_VALUES_RESULT that came late, on any connection.
  void apply_values(const std::vector<Header>& pairs);

  void shutdown();

  size_t idle_count() const { return idle_.size(); }
  size_t open_count() const { return open_; }
  uint32_t limit() const { return limit_; }
  std::string usage() const;  // "2 connections open, limit 2: project.json backend.max_conns ..."

  // For Slot, Unanswered, IdleConn and Drainer.
  void release_slot();
  void count_unanswered(int delta) { unanswered_ += delta; }
  void drop_idle(IdleConn* idle);
  void drain_done(Drainer* drainer, DrainOutcome outcome);

 private:
  enum class Probe { Needed, Running, Done };

  std::optional<Grant> try_grant();
  void schedule_dispatch();
  void dispatch();

  uv_loop_s* loop_;
  io::Address address_;
  std::string name_;
  FastCgiBackendOptions options_;
  Probe probe_;
  uint32_t limit_;  // 0: no cap
  size_t open_ = 0;
  size_t unanswered_ = 0;  // see Unanswered
  bool shut_ = false;
  bool dying_ = false;
  std::vector<std::unique_ptr<IdleConn>> idle_;  // oldest first
  std::vector<std::unique_ptr<Drainer>> drainers_;
  std::deque<Client*> waiters_;
  io::Timer dispatch_timer_;
  bool dispatch_armed_ = false;
};

namespace {

void Slot::reset() {
  if (FastCgiPool* pool = std::exchange(pool_, nullptr)) pool->release_slot();
}

Unanswered::Unanswered(FastCgiPool* pool) : pool_(pool) {
  pool_->count_unanswered(+1);
}

Unanswered::~Unanswered() {
  pool_->count_unanswered(-1);
}

// Watches one idle connection. Any event while idle makes it useless: EOF
// (the app recycled it), an error, or bytes nobody asked for.
class IdleConn final : public io::StreamHandler {
 public:
  IdleConn(FastCgiPool& pool, std::unique_ptr<AppConn> conn) : pool_(pool), conn_(std::move(conn)) {
    conn_->stream->set_handler(this);
    conn_->stream->read_start();
  }
  ~IdleConn() override {
    if (conn_) conn_->stream->set_handler(nullptr);
  }

  std::unique_ptr<AppConn> release() {
    conn_->stream->read_stop();
    conn_->stream->set_handler(nullptr);
    return std::move(conn_);
  }

  // Each destroys `this` through drop_idle(): nothing may follow. io::Stream
  // touches nothing of its own after a handler callback returns.
  void on_read(std::string_view) override { pool_.drop_idle(this); }
  void on_eof() override { pool_.drop_idle(this); }
  void on_error(int) override { pool_.drop_idle(this); }

 private:
  FastCgiPool& pool_;
  std::unique_ptr<AppConn> conn_;
};

// A connection whose request was aborted: reads (and drops) what the app
// still sends until its END_REQUEST, within a bound.
class Drainer final : public io::StreamHandler {
 public:
  Drainer(FastCgiPool& pool, std::unique_ptr<AppConn> conn)
      : pool_(pool), conn_(std::move(conn)), timer_(pool.loop()) {}
  ~Drainer() override {
    if (conn_) conn_->stream->set_handler(nullptr);
  }

  // Ends the request on our side and feeds what was read already; no
  // callback into the pool from here.
  DrainOutcome begin(bool end_stdin, std::string_view already_read, uint32_t wait_ms) {
    std::string out;
    if (end_stdin) fcgi::encode_stdin_end(out, kRequestId);
    fcgi::encode_abort_request(out, kRequestId);
    // A failed write shows again as EOF or a reset on the read side.
    conn_->stream->set_handler(nullptr);
    conn_->stream->write(out);
    if (conn_->stream->closing()) return DrainOutcome::Dirty;
    DrainOutcome outcome = feed(already_read);
    if (outcome != DrainOutcome::Waiting) return outcome;
    conn_->stream->set_handler(this);
    conn_->stream->read_start();
    timer_.start(wait_ms, [this] { pool_.drain_done(this, DrainOutcome::Dirty); });
    return DrainOutcome::Waiting;
  }

  std::unique_ptr<AppConn> take() {
    conn_->stream->set_handler(nullptr);
    return std::move(conn_);
  }

  // Each may destroy `this` through drain_done(): nothing may follow.
  void on_read(std::string_view data) override {
    DrainOutcome outcome = feed(data);
    if (outcome != DrainOutcome::Waiting) pool_.drain_done(this, outcome);
  }
  void on_eof() override { pool_.drain_done(this, DrainOutcome::Dirty); }
  void on_error(int) override { pool_.drain_done(this, DrainOutcome::Dirty); }

 private:
  DrainOutcome feed(std::string_view data) {
    if (data.empty()) return DrainOutcome::Waiting;
    std::vector<fcgi::ClientEvent> events;
    FeedResult r = conn_->decoder.feed(data, events);
    if (r.error) return DrainOutcome::Dirty;
    for (size_t i = 0; i < events.size(); ++i) {
      auto* end = std::get_if<fcgi::EndRequest>(&events[i]);
      if (!end || end->id != kRequestId) continue;
      bool last = i + 1 == events.size() && conn_->decoder.at_record_boundary();
      return last ? DrainOutcome::Clean : DrainOutcome::Dirty;
    }
    return DrainOutcome::Waiting;
  }

  FastCgiPool& pool_;
  std::unique_ptr<AppConn> conn_;
  io::Timer timer_;
};

}  // namespace

FastCgiPool::FastCgiPool(uv_loop_s* loop, io::Address address, std::string name,
                         FastCgiBackendOptions options)
    : loop_(loop),
      address_(std::move(address)),
      name_(std::move(name)),
      options_(std::move(options)),
      probe_(options_.max_conns > 0 ? Probe::Done : Probe::Needed),
      limit_(options_.max_conns),
      dispatch_timer_(loop) {}

FastCgiPool::~FastCgiPool() {
  // Their slots point here: release them while the members are alive.
  dying_ = true;
  idle_.clear();
  drainers_.clear();
}

std::string FastCgiPool::usage() const {
  std::string s = std::to_string(open_) + " connection" + (open_ == 1 ? "" : "s") + " open, ";
  return s + (limit_ ? "limit " + std::to_string(limit_) : "no limit") +
         ": project.json backend.max_conns or the app's FCGI_MAX_CONNS";
}

FastCgiPool::Ask FastCgiPool::acquire(Client& client, Grant& grant) {
  if (waiters_.empty()) {
    if (std::optional<Grant> g = try_grant()) {
      grant = std::move(*g);
      return Ask::Granted;
    }
  }
  if (waiters_.size() >= options_.max_waiting) return Ask::Full;
  waiters_.push_back(&client);
  return Ask::Queued;
}

void FastCgiPool::cancel_wait(Client& client) {
  auto it = std::find(waiters_.begin(), waiters_.end(), &client);
  if (it != waiters_.end()) waiters_.erase(it);
}

std::optional<FastCgiPool::Grant> FastCgiPool::try_grant() {
  if (!idle_.empty()) {
    std::unique_ptr<IdleConn> idle = std::move(idle_.back());  // LIFO: the least likely recycled
    idle_.pop_back();
    Grant g;
    g.conn = idle->release();
    return g;
  }
  // The first connection asks the app how many it takes: none opens meanwhile.
  if (probe_ == Probe::Running) return std::nullopt;
  if (limit_ != 0 && open_ >= limit_) return std::nullopt;
  ++open_;
  Grant g;
  g.slot = Slot(this);
  if (probe_ == Probe::Needed) {
    probe_ = Probe::Running;
    g.probe = true;
  }
  return g;
}

void FastCgiPool::release_slot() {
  if (dying_) return;
  --open_;
  schedule_dispatch();
}

void FastCgiPool::schedule_dispatch() {
  if (waiters_.empty() || dispatch_armed_ || dying_) return;
  dispatch_armed_ = true;
  dispatch_timer_.start(0, [this] {
    dispatch_armed_ = false;
    dispatch();
  });
}

void FastCgiPool::dispatch() {
  while (!waiters_.empty()) {
    std::optional<Grant> g = try_grant();
    if (!g) return;
    Client* client = waiters_.front();
    waiters_.pop_front();
    client->on_grant(std::move(*g));
  }
}

void FastCgiPool::give_back(std::unique_ptr<AppConn> conn) {
  if (shut_ || !keep_conn() || !conn->stream || conn->stream->closing()) return;  // closes
  // An app that set no cap may have fewer workers than we have connections
  // (PHP-FPM answers GET_VALUES without FCGI_MAX_CONNS): each worker stays
  // with its kept connection, so a new connection waits in the app's accept
  // queue until a kept one closes. While one may be waiting, close.
  if (limit_ == 0 && unanswered_ > 0) return;
  if (idle_.size() >= options_.keepalive) idle_.erase(idle_.begin());
  idle_.push_back(std::make_unique<IdleConn>(*this, std::move(conn)));
  schedule_dispatch();
}

void FastCgiPool::drop_idle(IdleConn* idle) {
  auto it = std::find_if(idle_.begin(), idle_.end(),
                         [idle](const std::unique_ptr<IdleConn>& p) { return p.get() == idle; });
  if (it != idle_.end()) idle_.erase(it);
}

void FastCgiPool::drain(std::unique_ptr<AppConn> conn, bool end_stdin,
                        std::string_view already_read) {
  if (shut_) return;  // closes
  auto drainer = std::make_unique<Drainer>(*this, std::move(conn));
  uint32_t wait_ms = std::min(options_.timeout_ms, kAbortWaitMaxMs);
  DrainOutcome outcome = drainer->begin(end_stdin, already_read, wait_ms);
  if (outcome == DrainOutcome::Waiting) {
    drainers_.push_back(std::move(drainer));
  } else if (outcome == DrainOutcome::Clean) {
    give_back(drainer->take());
  }
}

void FastCgiPool::drain_done(Drainer* drainer, DrainOutcome outcome) {
  auto it =
      std::find_if(drainers_.begin(), drainers_.end(),
                   [drainer](const std::unique_ptr<Drainer>& p) { return p.get() == drainer; });
  if (it == drainers_.end()) return;
  std::unique_ptr<Drainer> done = std::move(*it);
  drainers_.erase(it);
  if (outcome == DrainOutcome::Clean) give_back(done->take());
}

void FastCgiPool::probe_done(uint32_t limit) {
  if (probe_ == Probe::Running) probe_ = Probe::Done;
  if (options_.max_conns == 0 && limit != 0) limit_ = limit;
  schedule_dispatch();
}

void FastCgiPool::probe_abandoned() {
  if (probe_ == Probe::Running) probe_ = Probe::Needed;
  schedule_dispatch();
}

void FastCgiPool::apply_values(const std::vector<Header>& pairs) {
  uint32_t limit = limit_from_values(pairs);
  if (options_.max_conns == 0 && limit != 0) limit_ = limit;
}

void FastCgiPool::shutdown() {
  shut_ = true;
  idle_.clear();
  drainers_.clear();
}

// ---- One request ----

namespace {

// One request to the app. Also the handler of its connection while it has
// one, and a client of the pool while it waits for one.
//
// Lifecycle: begin() asks the pool for a connection (at once when the body
// length is known; a body of unknown length is held until its end first).
// A pooled connection is used as is; a new one may first ask GET_VALUES
// (probing_). send_request() writes BEGIN_REQUEST, PARAMS and the body held
// so far; later body bytes stream as STDIN. The app's records go to the sink
// (events held while it is congested), and END_REQUEST ends the response: the
// connection goes back to the pool (when clean) before sink.on_end(), so that
// a request started from inside on_end() can reuse it. done_ marks the end of
// all sink calls: on_end, on_error or cancel().
//
// Re-entrancy: every sink call and every write may come back into this
// object (a client write error cancels us from inside on_body; a failed write
// to the app calls on_error from inside write()). After each, the code checks
// done_ and the attempt number (a retry starts a new attempt).
class FcgiExchange final : public Exchange, public io::StreamHandler, public FastCgiPool::Client {
 public:
  FcgiExchange(std::shared_ptr<FastCgiPool> pool, const Request& request, ResponseSink& sink)
      : pool_(std::move(pool)),
        sink_(sink),
        vars_(fastcgi_request_vars(request, pool_->options())),
        content_length_(request.content_length),
        timer_(pool_->loop()),
        stderr_log_(who() + ": stderr: ") {
    if (content_length_ == 0) body_finished_ = true;  // nothing will come
  }
  ~FcgiExchange() override { release(); }

  void begin() {
    if (content_length_) acquire();
  }

  void send_body(std::string_view data) override {
    if (done_ || body_finished_) return;
    if (content_length_) {
      // The front codecs never let this happen; were it to, the app would
      // get more than CONTENT_LENGTH says.
      if (data.size() > *content_length_ - body_bytes_) {
        data = data.substr(0, *content_length_ - body_bytes_);
      }
    } else if (data.size() > options().max_buffered_body - body_bytes_) {
      finish_with_error(411, "request body of unknown length over " +
                                 std::to_string(options().max_buffered_body) +
                                 " bytes: it is held to send its length first");
      return;
    }
    body_bytes_ += data.size();
    if (data.empty()) return;
    if (!request_sent_) {
      unsent_.append(data);  // bounded: body_congested(), or max_buffered_body
    } else if (write_error_.empty()) {
      std::string out;
      fcgi::encode_stdin(out, kRequestId, data);
      hold_for_retry(data);
      if (!write_app(out)) return;
      arm_timer(true);
    }
    if (body_congested()) owe_drained_ = true;
  }

  void finish_body() override {
    if (done_ || body_finished_) return;
    body_finished_ = true;
    if (!content_length_) {
      // The whole body is here: it goes with its length, which PHP needs.
      vars_.insert(vars_.begin(), Header{"CONTENT_LENGTH", std::to_string(body_bytes_)});
      acquire();
      return;
    }
    if (body_bytes_ < *content_length_) {
      finish_with_error(400, "request body ended after " + std::to_string(body_bytes_) + " of " +
                                 std::to_string(*content_length_) + " bytes");
      return;
    }
    if (!request_sent_ || !write_error_.empty()) return;
    std::string out;
    fcgi::encode_stdin_end(out, kRequestId);
    stdin_ended_ = true;
    if (!write_app(out)) return;
    arm_timer(true);
  }

  bool body_congested() const override {
    // A body of unknown length is held whole (max_buffered_body bounds it).
    if (done_ || !content_length_ || !write_error_.empty()) return false;
    if (request_sent_ && conn_) return conn_->stream->queued() >= kBodyHighWater;
    return unsent_.size() >= kBodyHighWater;
  }

  void resume_response() override {
    if (done_ || !paused_ || sink_.congested()) return;
    paused_ = false;
    process_input();
    if (done_ || paused_ || !conn_) return;
    if (!app_eof_) conn_->stream->read_start();
    arm_timer(true);
  }

  void cancel() override {
    if (done_) return;
    done_ = true;
    abandon();
    release();
  }

  // ---- the pool ----

  void on_grant(FastCgiPool::Grant grant) override {
    waiting_ = false;
    timer_.stop();
    if (grant.conn) {
      attach(std::move(grant.conn), true);
      return;
    }
    slot_ = std::move(grant.slot);
    probing_ = grant.probe;
    connect();
  }

  // ---- the connection ----

  void on_read(std::string_view data) override {
    if (done_) return;
    if (probing_) {
      on_probe_answer(data);
      return;
    }
    arm_timer(true);
    // Decoded events hold views into in_: while some wait (reads are stopped
    // then, so this is only a safeguard) new bytes go aside.
    (next_event_ < events_.size() ? held_ : in_).append(data);
    process_input();
  }

  void on_eof() override {
    if (done_ || app_eof_) return;
    app_eof_ = true;
    if (probing_) {
      // Some apps close on a management record: go on without a cap.
      end_probe(0);
      reconnect();
      return;
    }
    if (pending_end() != kNone) return;  // the events waiting for the sink end the request
    app_failed(who() + (!received_any_      ? ": closed the connection before responding"
                        : response_started_ ? ": closed the connection mid-response"
                                            : ": closed the connection before the end of its "
                                              "response head"));
  }

  void on_error(int uv_error) override {
    if (done_) return;
    if (probing_) {
      end_probe(0);
      reconnect();
      return;
    }
    // A read error stops reading first; with reading still on (or stopped by
    // us for the sink), a write failed: the app stopped taking the request.
    // It may have answered anyway, so the answer, or the lack of one, decides.
    bool write_failed = conn_ && (conn_->stream->reading() || paused_) && !app_eof_;
    if (write_failed) {
      if (!write_error_.empty()) return;  // another queued write of the same failure
      if (can_retry()) {
        retry();
        return;
      }
      write_error_ = io::uv_error_text(uv_error);
      unsent_ = std::string();
      if (owe_drained_) {
        owe_drained_ = false;
        sink_.on_body_drained();
      }
      return;
    }
    app_failed(who() + (response_started_ ? ": mid-response: " : ": ") +
               io::uv_error_text(uv_error));
  }

  void on_drain() override {
    if (done_ || probing_) return;
    arm_timer(true);
    if (owe_drained_ && !body_congested()) {
      owe_drained_ = false;
      sink_.on_body_drained();
    }
  }

 private:
  enum class Step { Next, Wait, Stop };

  const FastCgiBackendOptions& options() const { return pool_->options(); }
  std::string who() const { return "fastcgi upstream " + pool_->name(); }

  void acquire() {
    FastCgiPool::Grant grant;
    switch (pool_->acquire(*this, grant)) {
      case FastCgiPool::Ask::Granted:
        on_grant(std::move(grant));
        return;
      case FastCgiPool::Ask::Queued:
        waiting_ = true;
        timer_.start(options().connect_timeout_ms, [this] { on_wait_timeout(); });
        return;
      case FastCgiPool::Ask::Full:
        finish_with_error(503, who() + ": " + std::to_string(options().max_waiting) +
                                   " requests already waiting for a connection, a fixed bound (" +
                                   pool_->usage() + ")");
        return;
    }
  }

  void on_wait_timeout() {
    if (done_ || !waiting_) return;
    pool_->cancel_wait(*this);
    waiting_ = false;
    finish_with_error(
        503, who() + ": no connection free within " + std::to_string(options().connect_timeout_ms) +
                 " ms (project.json backend.connect_timeout_ms; " + pool_->usage() + ")");
  }

  void connect() {
    connect_.start(pool_->loop(), pool_->address(), options().connect_timeout_ms, timer_,
                   [this](std::unique_ptr<io::Stream> stream, int status, std::string why) {
                     on_connected(std::move(stream), status, std::move(why));
                   });
  }

  void on_connected(std::unique_ptr<io::Stream> stream, int status, std::string why) {
    if (!stream) {
      finish_with_error(status, who() + ": " + why);
      return;
    }
    auto conn = std::make_unique<AppConn>();
    conn->slot = std::move(slot_);
    conn->stream = std::move(stream);
    attach(std::move(conn), false);
  }

  void attach(std::unique_ptr<AppConn> conn, bool reused) {
    conn_ = std::move(conn);
    ++attempt_;
    reused_ = reused;
    conn_->stream->set_handler(this);
    conn_->stream->read_start();
    if (probing_) {
      ask_values();
    } else {
      send_request();
    }
  }

  // ---- FCGI_GET_VALUES on the first connection ----

  void ask_values() {
    std::string out;
    fcgi::encode_get_values(out,
                            {std::string(fcgi::FCGI_MAX_CONNS), std::string(fcgi::FCGI_MAX_REQS),
                             std::string(fcgi::FCGI_MPXS_CONNS)});
    // An app that ignores management records gets its request all the same.
    timer_.start(options().get_values_timeout_ms, [this] {
      end_probe(0);
      send_request();
    });
    write_app(out);
  }

  void on_probe_answer(std::string_view data) {
    std::vector<fcgi::ClientEvent> events;
    FeedResult r = conn_->decoder.feed(data, events);
    if (r.error) {
      end_probe(0);
      finish_with_error(502, who() + ": malformed answer to FCGI_GET_VALUES: " + r.error->what);
      return;
    }
    if (events.empty()) return;
    uint32_t limit = 0;
    for (const auto& event : events) {
      if (const auto* values = std::get_if<fcgi::GetValuesResult>(&event)) {
        limit = limit_from_values(values->pairs);
      } else if (!std::holds_alternative<fcgi::UnknownTypeReply>(event)) {
        end_probe(0);
        finish_with_error(502, who() + ": sent request records before any request");
        return;
      }
    }
    end_probe(limit);
    if (!conn_->decoder.at_record_boundary()) {
      finish_with_error(502, who() + ": sent a partial record before any request");
      return;
    }
    send_request();
  }

  void end_probe(uint32_t limit) {
    if (!probing_) return;
    probing_ = false;
    timer_.stop();
    // The app may close a connection it answered GET_VALUES on: the request
    // is then retried as on a recycled connection.
    reused_ = true;
    pool_->probe_done(limit);
  }

  // ---- the request ----

  void send_request() {
    if (done_ || !conn_) return;
    std::string out;
    fcgi::encode_begin_request(out, kRequestId, fcgi::FCGI_RESPONDER, pool_->keep_conn());
    fcgi::encode_params(out, kRequestId, vars_);
    request_sent_ = true;
    if (!reused_) unanswered_.emplace(pool_.get());
    if (!unsent_.empty()) {
      fcgi::encode_stdin(out, kRequestId, unsent_);
      hold_for_retry(std::move(unsent_));
      unsent_ = std::string();
    }
    if (body_finished_) {
      fcgi::encode_stdin_end(out, kRequestId);
      stdin_ended_ = true;
    }
    if (!write_app(out)) return;
    arm_timer(true);
    if (owe_drained_ && !body_congested()) {
      owe_drained_ = false;
      sink_.on_body_drained();
    }
  }

  // Keeps body bytes written on this attempt while they fit the bound, so a
  // retry can send them again.
  void hold_for_retry(std::string_view data) {
    body_written_ = true;
    if (!copy_complete_) return;
    size_t bound = content_length_ ? kRetryHoldBytes : options().max_buffered_body;
    if (copy_.size() + data.size() > bound) {
      copy_complete_ = false;
      copy_ = std::string();
      return;
    }
    copy_.append(data);
  }
  void hold_for_retry(std::string&& data) {
    if (copy_.empty() && copy_complete_ && !content_length_) {
      body_written_ = true;
      copy_ = std::move(data);  // all of a held body: no copy
      return;
    }
    hold_for_retry(std::string_view(data));
  }

  // False when the write ended this attempt (or everything).
  bool write_app(std::string_view bytes) {
    uint32_t attempt = attempt_;
    conn_->stream->write(bytes);
    return !done_ && attempt == attempt_ && conn_ && write_error_.empty();
  }

  // ---- retries ----

  bool body_retryable() const { return !body_written_ || copy_complete_; }
  bool can_retry() const { return reused_ && !retried_ && !received_any_ && body_retryable(); }

  void retry() {
    retried_ = true;
    reconnect();
  }

  // Starts over on a new connection, keeping this one's slot.
  void reconnect() {
    ++attempt_;
    stall_.stop();
    conn_->stream->set_handler(nullptr);
    slot_ = std::move(conn_->slot);
    conn_.reset();
    unanswered_.reset();
    reused_ = false;
    app_eof_ = false;
    request_sent_ = false;
    stdin_ended_ = false;
    write_error_.clear();
    in_.clear();
    held_.clear();
    events_.clear();
    next_event_ = consumed_ = 0;
    received_any_ = got_stdout_ = false;
    if (!copy_.empty()) unsent_.insert(0, copy_);
    copy_ = std::string();
    copy_complete_ = true;
    body_written_ = false;
    connect();
  }

  // ---- the response ----

  // Feeds the decoder and hands its events to the sink, pausing (reads
  // stopped, events kept) while the sink is congested.
  void process_input() {
    uint32_t attempt = attempt_;
    while (!done_ && attempt == attempt_) {
      while (next_event_ < events_.size()) {
        Step step = deliver(events_[next_event_]);
        if (step == Step::Wait) {
          pause();
          return;
        }
        if (step == Step::Stop || done_ || attempt != attempt_) return;
        ++next_event_;
      }
      in_.erase(0, consumed_);
      consumed_ = 0;
      events_.clear();
      next_event_ = 0;
      if (!held_.empty()) {
        in_ += held_;
        held_.clear();
      }
      if (in_.empty()) return;
      FeedResult r = conn_->decoder.feed(in_, events_);
      if (r.error) {
        finish_with_error(502, who() + ": malformed record: " + r.error->what);
        return;
      }
      consumed_ = r.consumed;
    }
  }

  Step deliver(fcgi::ClientEvent& event) {
    unanswered_.reset();  // the app took the connection
    if (auto* out = std::get_if<fcgi::Stdout>(&event)) {
      if (out->id != kRequestId) return wrong_id("FCGI_STDOUT", out->id);
      return on_stdout(*out);
    }
    if (auto* err = std::get_if<fcgi::Stderr>(&event)) {
      if (err->id != kRequestId) return wrong_id("FCGI_STDERR", err->id);
      received_any_ = true;
      on_stderr(err->data);
      return done_ ? Step::Stop : Step::Next;
    }
    if (auto* end = std::get_if<fcgi::StdoutEnd>(&event)) {
      if (end->id != kRequestId) return wrong_id("FCGI_STDOUT", end->id);
      received_any_ = true;
      return Step::Next;
    }
    if (auto* end = std::get_if<fcgi::EndRequest>(&event)) {
      if (end->id != kRequestId) return wrong_id("FCGI_END_REQUEST", end->id);
      received_any_ = true;
      return on_end_request(*end);
    }
    if (auto* values = std::get_if<fcgi::GetValuesResult>(&event)) {
      pool_->apply_values(values->pairs);  // a late answer to our GET_VALUES
    }
    return Step::Next;  // FCGI_UNKNOWN_TYPE: a late answer too
  }

  Step wrong_id(std::string_view type, StreamId id) {
    finish_with_error(502, who() + ": sent " + std::string(type) + " for request id " +
                               std::to_string(id) + " (only 1 is in use)");
    return Step::Stop;
  }

  Step on_stdout(fcgi::Stdout& out) {
    if (sink_.congested()) return Step::Wait;
    received_any_ = got_stdout_ = true;
    copy_complete_ = false;  // no retry once the app answered
    copy_ = std::string();
    if (!parser_.done()) {
      CgiFeedResult r = parser_.feed(out.data);
      if (r.error) {
        finish_with_error(502, who() + ": malformed response head: " + r.error->what);
        return Step::Stop;
      }
      if (!r.done) return Step::Next;  // the parser keeps a partial head
      response_started_ = true;
      ResponseHead head = parser_.take_head();
      // A local redirect the app meant us to follow; we cannot route, so
      // the client follows it (its Location is in the headers).
      if (parser_.local_redirect()) head.status = 302;
      sink_.on_head(std::move(head));
      if (done_) return Step::Stop;
      out.data.remove_prefix(r.consumed);
      if (out.data.empty()) return Step::Next;
      if (sink_.congested()) return Step::Wait;  // the event waits with the rest
    }
    sink_.on_body(out.data);
    return done_ ? Step::Stop : Step::Next;
  }

  Step on_end_request(const fcgi::EndRequest& end) {
    std::string status = " (app status " + std::to_string(end.app_status) + ")";
    switch (end.protocol_status) {
      case fcgi::FCGI_REQUEST_COMPLETE:
        break;
      case fcgi::FCGI_OVERLOADED:
        if (!got_stdout_ && !retried_ && body_retryable()) {
          retry();
          return Step::Stop;
        }
        finish_with_error(got_stdout_ ? 502 : 503,
                          who() + ": overloaded (FCGI_OVERLOADED)" + (retried_ ? ", again" : ""));
        return Step::Stop;
      case fcgi::FCGI_CANT_MPX_CONN:
        finish_with_error(502, who() + ": refused the request (FCGI_CANT_MPX_CONN)");
        return Step::Stop;
      case fcgi::FCGI_UNKNOWN_ROLE:
        finish_with_error(502, who() + ": does not take the responder role (FCGI_UNKNOWN_ROLE)");
        return Step::Stop;
      default:
        finish_with_error(502, who() + ": ended the request with protocol status " +
                                   std::to_string(end.protocol_status));
        return Step::Stop;
    }
    if (!parser_.done()) {
      finish_with_error(502, who() +
                                 (got_stdout_ ? ": ended the request inside its response head"
                                              : ": ended the request without a response") +
                                 status);
      return Step::Stop;
    }
    complete();
    return Step::Stop;
  }

  static constexpr size_t kNone = ~size_t{0};

  // Where an END_REQUEST for us waits among the undelivered events, or kNone.
  size_t pending_end() const {
    for (size_t i = next_event_; i < events_.size(); ++i) {
      const auto* end = std::get_if<fcgi::EndRequest>(&events_[i]);
      if (end && end->id == kRequestId) return i;
    }
    return kNone;
  }

  void pause() {
    paused_ = true;
    if (conn_) conn_->stream->read_stop();
    arm_timer(false);
  }

  // The response ended with END_REQUEST, the current event.
  void complete() {
    flush_stderr();
    if (done_) return;
    // Only a connection in a known, clean state goes back: the whole
    // request written, the END_REQUEST read and nothing after it.
    bool clean = stdin_ended_ && write_error_.empty() && !app_eof_ &&
                 next_event_ + 1 == events_.size() && held_.empty() &&
                 conn_->decoder.at_record_boundary() && conn_->stream->queued() == 0;
    done_ = true;
    timer_.stop();
    std::unique_ptr<AppConn> conn = std::move(conn_);
    conn->stream->set_handler(nullptr);
    if (clean) pool_->give_back(std::move(conn));
    conn.reset();  // closes it unless pooled (safe inside its own callback)
    sink_.on_end();
  }

  // The connection failed: retried when that is safe, else 502.
  void app_failed(std::string why) {
    if (can_retry()) {
      retry();
      return;
    }
    if (!write_error_.empty()) why += " (request body: " + write_error_ + ")";
    finish_with_error(502, std::move(why));
  }

  // ---- stderr: the error log ----

  void on_stderr(std::string_view data) {
    if (!done_) stderr_log_.feed(data, sink_);
  }

  void flush_stderr() { stderr_log_.flush(sink_); }

  // ---- timers and the end ----

  // Runs while we wait for the app; restarted on progress either way.
  void arm_timer(bool progress) {
    if (done_ || !conn_ || probing_) return;
    stall_.arm(progress, paused_, options().timeout_ms);
  }

  void on_timeout() {
    if (done_ || !conn_) return;
    auto [status, why] =
        stall_error(who(), options().timeout_ms, response_started_,
                    !body_finished_ && conn_->stream->queued() == 0 && write_error_.empty());
    finish_with_error(status, std::move(why));
  }

  void finish_with_error(int status, std::string why) {
    if (done_) return;
    flush_stderr();
    if (done_) return;
    done_ = true;
    release();
    sink_.on_error(status, why);
  }

  // The client went away: a request under way is aborted and its connection
  // drained (or closed when its state is unknown).
  void abandon() {
    unanswered_.reset();
    if (!conn_ || !request_sent_ || app_eof_ || !write_error_.empty()) return;
    conn_->stream->set_handler(nullptr);
    size_t end = pending_end();
    if (end != kNone) {
      // The app ended it already; clean when nothing follows.
      if (stdin_ended_ && end + 1 == events_.size() && held_.empty() &&
          conn_->decoder.at_record_boundary() && conn_->stream->queued() == 0) {
        conn_->stream->read_stop();
        pool_->give_back(std::move(conn_));
      }
      return;
    }
    pool_->drain(std::move(conn_), !stdin_ended_, held_);
  }

  // Stops everything; a connection still held is in an unknown state and is
  // closed, never pooled.
  void release() {
    stall_.stop();
    if (waiting_) {
      pool_->cancel_wait(*this);
      waiting_ = false;
    }
    connect_.cancel();
    if (probing_) {
      probing_ = false;
      pool_->probe_abandoned();
    }
    if (conn_) {
      conn_->stream->set_handler(nullptr);
      conn_.reset();
    }
    unanswered_.reset();
    slot_.reset();
  }

  std::shared_ptr<FastCgiPool> pool_;  // first member: outlives everything below
  ResponseSink& sink_;

  std::vector<Header> vars_;  // kept for a retry
  std::optional<uint64_t> content_length_;

  // The connection, or what leads to one.
  bool waiting_ = false;  // queued in the pool
  Slot slot_;             // while connecting
  std::unique_ptr<AppConn> conn_;
  bool probing_ = false;                  // conn_ asks GET_VALUES before the request goes
  std::optional<Unanswered> unanswered_;  // the request went on a new conn_, no answer yet
  io::Timer timer_;                       // connect, then stall (and other waits)
  UpstreamConnect connect_;
  StallTimer stall_{timer_, [this] { on_timeout(); }};
  uint32_t attempt_ = 0;  // changes whenever conn_ does
  bool reused_ = false;   // conn_ carried something before this request
  bool retried_ = false;
  bool app_eof_ = false;

  // Request body.
  std::string unsent_;  // not yet written: before the request went, or for a retry
  std::string copy_;    // written on this attempt, while copy_complete_
  bool copy_complete_ = true;
  uint64_t body_bytes_ = 0;
  bool request_sent_ = false;  // BEGIN_REQUEST and PARAMS written on conn_
  bool body_finished_ = false;
  bool body_written_ = false;  // some body byte went on conn_
  bool stdin_ended_ = false;   // the empty STDIN went on conn_
  bool owe_drained_ = false;   // body_congested() was true: on_body_drained() is due
  std::string write_error_;    // the app stopped taking the request

  // Response.
  CgiResponseParser parser_;
  std::string in_;    // bytes from the app; the decoder consumed in_[0, consumed_)
  std::string held_;  // bytes read while events_ still pointed into in_
  std::vector<fcgi::ClientEvent> events_;
  size_t next_event_ = 0;
  size_t consumed_ = 0;
  bool received_any_ = false;  // any record for this request
  bool got_stdout_ = false;
  bool response_started_ = false;  // the head went to the sink
  bool paused_ = false;
  bool done_ = false;

  // Stderr.
  AppStderr stderr_log_;
};

}  // namespace

FastCgiBackend::FastCgiBackend(uv_loop_s* loop, FastCgiBackendOptions options)
    : name_(options.upstream) {
  std::optional<Upstream> up = prepare_upstream("fastcgi upstream", options.upstream, setup_error_);
  if (!up) return;
  name_ = up->name;
  pool_ = std::make_shared<FastCgiPool>(loop, std::move(up->address), name_, std::move(options));
}

FastCgiBackend::~FastCgiBackend() {
  if (pool_) pool_->shutdown();
}

void FastCgiBackend::shutdown() {
  if (pool_) pool_->shutdown();
}

size_t FastCgiBackend::idle_connections() const {
  return pool_ ? pool_->idle_count() : 0;
}

size_t FastCgiBackend::open_connections() const {
  return pool_ ? pool_->open_count() : 0;
}

uint32_t FastCgiBackend::connection_limit() const {
  return pool_ ? pool_->limit() : 0;
}

std::unique_ptr<Exchange> FastCgiBackend::start(const Request& request, ResponseSink& sink) {
  if (!pool_) {
    sink.on_error(502, setup_error_);
    return std::make_unique<RefusedExchange>();
  }
  auto exchange = std::make_unique<FcgiExchange>(pool_, request, sink);
  exchange->begin();
  return exchange;
}

}  // namespace gw
