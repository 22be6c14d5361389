// The supervisor of a spawned project: starts instances, probes them,
// spreads requests, respawns with backoff, gives up, recycles and stops.
#include "gateway/spawn/spawn_core.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <optional>

#include "dispatch/backends/upstream.h"
#include "gateway/io/address.h"
#include "gateway/log.h"
#include "gateway/spawn/placeholders.h"
#include "gateway/spawn/spawned_exchange.h"

namespace gw {

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kProbeIntervalMs = 50;
// An app that ends with an error this soon after it started failed to
// start, even when it answered a request first.
constexpr auto kMinUptime = std::chrono::milliseconds(1000);

std::string exit_text(int64_t exit_status, int term_signal) {
  if (term_signal != 0) return "killed by signal " + std::to_string(term_signal);
  return "exited with status " + std::to_string(exit_status);
}

uint64_t elapsed_ms(Clock::time_point since) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count());
}

}  // namespace

void stop_run(Run& run) {
  if (run.backend) run.backend->shutdown();
  if (run.process) run.process->stop();
}

uint32_t SpawnCore::total_in_flight() const {
  uint32_t n = 0;
  for (const Slot& s : slots_) {
    if (s.current) n += s.current->in_flight;
    for (const auto& r : s.retiring) n += r->in_flight;
  }
  return n;
}

std::unique_ptr<Exchange> SpawnCore::start(const Request& request, ResponseSink& sink) {
  if (closed_) {
    sink.on_error(503, "project " + name_ + ": gatewayd is stopping");
    return std::make_unique<RefusedExchange>();
  }
  if (all_gave_up()) {
    sink.on_error(503, "project " + name_ + ": the app failed to start too often; gave up");
    return std::make_unique<RefusedExchange>();
  }
  if (!running_) start_all();
  auto exchange = std::make_unique<SpawnedExchange>(*this, sink);
  if (Run* run = pick()) {
    dispatch(*exchange, request, *run);
    return exchange;
  }
  if (all_gave_up()) {  // the start above may have failed every instance
    exchange->fail(503, "project " + name_ + ": the app failed to start too often; gave up");
    return exchange;
  }
  if (waiting_.size() >= SpawnedBackend::kMaxWaiting) {
    exchange->fail(503, "project " + name_ + ": too many requests waiting for an app instance");
    return exchange;
  }
  exchange->wait(request, options_.start_timeout_ms);
  waiting_.push_back(exchange.get());
  return exchange;
}

Run* SpawnCore::pick() {
  Run* best = nullptr;
  uint32_t best_index = 0;
  const uint32_t n = static_cast<uint32_t>(slots_.size());
  for (uint32_t k = 0; k < n; ++k) {
    uint32_t i = (cursor_ + k) % n;
    Run* r = slots_[i].current.get();
    if (!r || r->phase != Run::Phase::Ready) continue;
    if (!best || r->in_flight < best->in_flight) {
      best = r;
      best_index = i;
    }
  }
  if (best) cursor_ = (best_index + 1) % n;
  return best;
}

void SpawnCore::dispatch(SpawnedExchange& exchange, const Request& request, Run& run) {
  Slot& slot = slots_[run.slot];
  std::shared_ptr<Run> keep = slot.current;  // `run` is slot.current
  ++run.in_flight;
  ++run.requests;
  ++slot.requests;
  const bool recycle = options_.max_requests > 0 && run.requests >= options_.max_requests;
  if (recycle) {
    log::info(tag(run.slot) + " pid " + std::to_string(run.pid) + ": reached max_requests (" +
              std::to_string(options_.max_requests) + "), replacing it");
    run.phase = Run::Phase::Draining;
    slot.retiring.push_back(slot.current);
    slot.current.reset();
  }
  idle_timer_.stop();
  exchange.dispatch(keep, request);
  if (recycle && !closed_ && running_ && !slot.current && !slot.backoff_pending) {
    ++slot.restarts;
    start_slot(slot.index);
  }
}

void SpawnCore::on_request_done(Run& run) {
  if (run.phase == Run::Phase::Draining && run.in_flight == 0 && run.process) {
    run.phase = Run::Phase::Stopping;
    // Not from inside the inner backend's own call into our sink.
    auto& retiring = slots_[run.slot].retiring;
    auto it = std::find_if(retiring.begin(), retiring.end(),
                           [&](const std::shared_ptr<Run>& r) { return r.get() == &run; });
    if (it != retiring.end()) {
      io::defer(loop_, [r = *it] {
        if (r->core && r->process) stop_run(*r);
      });
    }
  }
  if (total_in_flight() == 0) arm_idle_timer();
}

void SpawnCore::arm_idle_timer() {
  if (!options_.on_demand || options_.idle_timeout_ms == 0 || closed_ || !running_) return;
  idle_timer_.start(options_.idle_timeout_ms, [this] {
    if (total_in_flight() == 0 && waiting_.empty()) stop_all_for_idle();
  });
}

void SpawnCore::stop_all_for_idle() {
  log::info("project " + name_ + ": no request for " + std::to_string(options_.idle_timeout_ms) +
            " ms, stopping its app instances");
  running_ = false;
  for (Slot& s : slots_) {
    s.backoff_timer->stop();
    s.backoff_pending = false;
    s.failures = 0;
    retire(s);
  }
}

// The slot's current run stops taking requests and is stopped.
void SpawnCore::retire(Slot& slot) {
  if (!slot.current) return;
  std::shared_ptr<Run> run = std::move(slot.current);
  slot.current.reset();
  if (run->probe) run->probe->cancel();
  run->probe_timer.reset();
  if (!run->process) {
    detach(run);
    return;
  }
  run->phase = Run::Phase::Stopping;
  slot.retiring.push_back(run);
  stop_run(*run);
}

void SpawnCore::start_all() {
  if (closed_) return;
  running_ = true;
  for (Slot& s : slots_) {
    if (!s.current && !s.backoff_pending && !s.gave_up) start_slot(s.index);
  }
  arm_idle_timer();
}

bool SpawnCore::prepare_dir(std::string& error) {
  if (runtime_dir_) return true;
  runtime_dir_ = RuntimeDir::create(error);
  if (!runtime_dir_) return false;
  // An app that binds {socket} itself as another user needs to write there.
  if (options_.listen == SpawnOptions::Listen::Unix && !options_.user.empty() && ::geteuid() == 0) {
    if (const struct passwd* pw = ::getpwnam(options_.user.c_str())) {
      error = runtime_dir_->hand_to(pw->pw_uid, pw->pw_gid);
      if (!error.empty()) return false;
    }
  }
  return true;
}

void SpawnCore::start_slot(uint32_t index) {
  if (closed_) return;
  Slot& slot = slots_[index];
  auto run = std::make_shared<Run>();
  run->core = this;
  run->slot = index;
  run->number = ++run_counter_;
  PlaceholderValues values;
  values.project = dir_;
  values.name = name_;
  values.instance = std::to_string(index);
  std::string error;
  int listen_fd = -1;
  if (options_.listen == SpawnOptions::Listen::Port) {
    uint16_t port = pick_free_port(error);
    if (port == 0) return on_start_failed(index, error);
    values.port = std::to_string(port);
    run->upstream = "127.0.0.1:" + values.port;
  } else {
    if (!prepare_dir(error)) return on_start_failed(index, error);
    run->socket_path = runtime_dir_->path() + "/" + std::to_string(index) + "-" +
                       std::to_string(run->number) + ".sock";
    run->upstream = "unix:" + run->socket_path;
    if (options_.listen == SpawnOptions::Listen::Fd0) {
      listen_fd = listen_unix_socket(run->socket_path, error);
      if (listen_fd < 0) return on_start_failed(index, error);
    } else {
      values.socket = run->socket_path;
      ::unlink(run->socket_path.c_str());
    }
  }

  AppProcess::Spec spec;
  spec.launcher = launcher_;
  spec.launch.user = options_.user;
  spec.launch.group = options_.group;
  for (const std::string& arg : options_.command) {
    spec.launch.argv.push_back(expand_placeholders(arg, values));
  }
  spec.launch.file = spec.launch.argv.empty() ? std::string() : spec.launch.argv[0];
  for (const Header& e : options_.env) {
    spec.launch.env.push_back(e.name + "=" + expand_placeholders(e.value, values));
  }
  for (const std::string& name : options_.pass_env) {
    bool given = std::any_of(options_.env.begin(), options_.env.end(),
                             [&](const Header& e) { return e.name == name; });
    const char* value = std::getenv(name.c_str());
    if (!given && value) spec.launch.env.push_back(name + "=" + value);
  }
  spec.cwd = options_.cwd.empty() ? dir_ : options_.cwd;
  spec.stdin_fd = listen_fd;
  spec.log_tag = tag(index);
  spec.stop_timeout_ms = options_.stop_timeout_ms;
  std::weak_ptr<Run> weak = run;
  AppProcess* process = AppProcess::start(
      loop_, spec,
      [this, weak](int64_t exit_status, int term_signal) {
        if (auto r = weak.lock(); r && r->core) on_run_exit(r, exit_status, term_signal);
      },
      live_, error);
  if (listen_fd >= 0) ::close(listen_fd);  // the app holds its own copy now
  if (!process) {
    if (!run->socket_path.empty()) ::unlink(run->socket_path.c_str());
    return on_start_failed(index, "cannot start " + spec.launch.file + ": " + error);
  }
  run->process = process;
  run->pid = process->pid();
  run->started = Clock::now();
  BackendConfig instance = backend_config_;
  instance.upstream = run->upstream;
  run->backend = factory_(instance);
  slot.current = run;
  log::info(tag(index) + ": started pid " + std::to_string(run->pid) + " on " + run->upstream);
  if (options_.listen == SpawnOptions::Listen::Fd0) {
    set_ready(run);
  } else {
    run->probe_timer = std::make_unique<io::Timer>(loop_);
    probe(run);
  }
}

void SpawnCore::set_ready(const std::shared_ptr<Run>& run) {
  run->phase = Run::Phase::Ready;
  if (options_.listen != SpawnOptions::Listen::Fd0) {
    log::info(tag(run->slot) + " pid " + std::to_string(run->pid) + ": listening after " +
              std::to_string(elapsed_ms(run->started)) + " ms");
  }
  drain_waiting();
}

// One connect to the instance's address; again every kProbeIntervalMs until
// it succeeds or start_timeout_ms passed.
void SpawnCore::probe(const std::shared_ptr<Run>& run) {
  std::optional<io::Address> address = io::parse_address(run->upstream);
  std::weak_ptr<Run> weak = run;
  auto again = [this, weak] {
    auto r = weak.lock();
    if (!r || !r->core || r->phase != Run::Phase::Starting) return;
    if (elapsed_ms(r->started) >= options_.start_timeout_ms) {
      std::string why = "pid " + std::to_string(r->pid) + " did not listen on " + r->upstream +
                        " within " + std::to_string(options_.start_timeout_ms) + " ms";
      retire(slots_[r->slot]);
      on_start_failed(r->slot, why);
      return;
    }
    r->probe_timer->start(kProbeIntervalMs, [this, weak] {
      if (auto r2 = weak.lock(); r2 && r2->core && r2->phase == Run::Phase::Starting) probe(r2);
    });
  };
  if (!address) return again();
  int rc = io::Stream::connect(
      loop_, *address,
      [this, weak, again](int status, std::unique_ptr<io::Stream> stream) {
        stream.reset();  // only the connect mattered
        auto r = weak.lock();
        if (!r || !r->core || r->phase != Run::Phase::Starting) return;
        r->probe.reset();
        if (status == 0) {
          set_ready(r);
        } else {
          again();
        }
      },
      run->probe);
  if (rc < 0) again();
}

void SpawnCore::on_run_exit(const std::shared_ptr<Run>& run, int64_t exit_status, int term_signal) {
  Slot& slot = slots_[run->slot];
  const std::string what = tag(run->slot) + " pid " + std::to_string(run->pid) + " " +
                           exit_text(exit_status, term_signal);
  if (slot.current != run) {  // retiring: stopped by us, or ended while draining
    log::info(what);
    slot.retiring.erase(std::remove(slot.retiring.begin(), slot.retiring.end(), run),
                        slot.retiring.end());
    detach(run);
    return;
  }
  const uint64_t uptime = elapsed_ms(run->started);
  const bool error_exit = term_signal != 0 || exit_status != 0;
  const bool failed = run->served == 0 || (error_exit && Clock::now() - run->started < kMinUptime);
  slot.current.reset();
  detach(run);
  if (closed_ || !running_) {
    log::info(what);
    return;
  }
  if (failed) {
    on_start_failed(run->slot, "pid " + std::to_string(run->pid) + " " +
                                   exit_text(exit_status, term_signal) + " after " +
                                   std::to_string(uptime) + " ms, having answered " +
                                   std::to_string(run->served) + " requests");
    return;
  }
  log::warn(what + " after answering " + std::to_string(run->served) +
            " requests; starting it again");
  slot.failures = 0;
  ++slot.restarts;
  start_slot(run->slot);
}

void SpawnCore::on_start_failed(uint32_t index, const std::string& why) {
  Slot& slot = slots_[index];
  ++slot.failures;
  const uint32_t limit = options_.give_up_after;
  if (limit > 0 && slot.failures >= limit) {
    slot.gave_up = true;
    log::error(tag(index) + ": " + why + "; gave up after " + std::to_string(slot.failures) +
               " failed starts in a row");
    if (all_gave_up()) {
      log::error("project " + name_ +
                 ": every app instance gave up; requests get 503 until it is reloaded");
      fail_waiting(503, "project " + name_ + ": the app failed to start too often; gave up");
    }
    return;
  }
  const uint64_t delay =
      backoff_delay_ms(slot.failures, options_.backoff_initial_ms, options_.backoff_max_ms);
  log::warn(tag(index) + ": " + why + "; failed start " + std::to_string(slot.failures) +
            (limit > 0 ? " of " + std::to_string(limit) : std::string()) + ", starting again in " +
            std::to_string(delay) + " ms");
  slot.backoff_pending = true;
  slot.backoff_timer->start(delay, [this, index] {
    Slot& s = slots_[index];
    s.backoff_pending = false;
    if (closed_ || !running_ || s.current) return;
    ++s.restarts;
    start_slot(index);
  });
}

// The core lets go of `run`: its process is stopped (if it still runs), its
// socket file removed and its backend shut down; exchanges still running on
// it keep it alive until they end.
void SpawnCore::detach(const std::shared_ptr<Run>& run) {
  run->core = nullptr;
  if (run->probe) run->probe->cancel();
  run->probe.reset();
  run->probe_timer.reset();
  if (run->backend) run->backend->shutdown();  // before the signal: see stop_run
  if (run->process) {
    run->process->release();
    run->process = nullptr;
  }
  if (!run->socket_path.empty()) ::unlink(run->socket_path.c_str());
}

void SpawnCore::drain_waiting() {
  if (draining_queue_) return;  // a dispatch below started an instance
  draining_queue_ = true;
  while (!waiting_.empty()) {
    Run* run = pick();
    if (!run) break;
    SpawnedExchange* exchange = waiting_.front();
    waiting_.pop_front();
    exchange->set_waiting(false);
    Request request = exchange->held_request();
    dispatch(*exchange, request, *run);
  }
  draining_queue_ = false;
}

void SpawnCore::remove_waiting(SpawnedExchange* exchange) {
  waiting_.remove(exchange);
  exchange->set_waiting(false);
}

void SpawnCore::fail_waiting(int status, const std::string& why) {
  while (!waiting_.empty()) {
    SpawnedExchange* exchange = waiting_.front();
    waiting_.pop_front();
    exchange->fail(status, why);
  }
}

void SpawnCore::close() {
  if (closed_) return;
  closed_ = true;
  running_ = false;
  kick_timer_.stop();
  idle_timer_.stop();
  fail_waiting(503, "project " + name_ + ": gatewayd is stopping");
  size_t stopping = 0;
  for (Slot& s : slots_) {
    s.backoff_timer->stop();
    s.backoff_pending = false;
    std::vector<std::shared_ptr<Run>> runs = std::move(s.retiring);
    s.retiring.clear();
    if (s.current) runs.push_back(std::move(s.current));
    s.current.reset();
    for (auto& run : runs) {
      if (run->process) ++stopping;
      detach(run);
    }
  }
  if (stopping > 0) {
    log::info("project " + name_ + ": stopping " + std::to_string(stopping) + " app process" +
              (stopping == 1 ? "" : "es"));
  }
  runtime_dir_.reset();
}

SpawnStatus SpawnCore::status() const {
  SpawnStatus st;
  st.gave_up = all_gave_up();
  st.stopped = closed_;
  st.waiting = waiting_.size();
  st.processes = *live_;
  for (const Slot& s : slots_) {
    SpawnInstanceStatus i;
    i.index = s.index;
    i.requests = s.requests;
    i.restarts = s.restarts;
    i.failures = s.failures;
    i.retiring = static_cast<uint32_t>(s.retiring.size());
    for (const auto& r : s.retiring) i.in_flight += r->in_flight;
    if (s.current) {
      i.state = s.current->phase == Run::Phase::Ready ? SpawnState::Ready : SpawnState::Starting;
      i.pid = s.current->pid;
      i.address = s.current->upstream;
      i.in_flight += s.current->in_flight;
    } else if (s.gave_up) {
      i.state = SpawnState::GaveUp;
    } else if (s.backoff_pending) {
      i.state = SpawnState::Backoff;
    }
    st.instances.push_back(std::move(i));
  }
  return st;
}

void SpawnCore::retry() {
  if (closed_) return;
  for (Slot& s : slots_) {
    if (!s.gave_up) continue;
    s.gave_up = false;
    s.failures = 0;
  }
  log::info("project " + name_ + ": starting its app instances again");
  start_all();
}

}  // namespace gw
