// The supervised backend against real processes (small /bin/sh and python3
// apps) started through the built gatewayd in launcher mode, on a TestLoop.
// The inner backend is a fake that answers with the instance's address or
// holds requests open, so that what is tested is the supervisor: starts,
// readiness, spreading, waiting, respawn, backoff, give-up, recycling,
// on-demand and idle stops, shutdown. One case puts the real http backend
// in front of python3 -m http.server.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "dispatch/backends/http_proxy.h"
#include "gateway/log.h"
#include "gateway/spawn/spawned_backend.h"
#include "tests/support/recording_sink.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_loop.h"

namespace {

using gw::SpawnedBackend;
using gw::SpawnState;
using gw::test::RecordingSink;
using gw::test::TempDir;
using gw::test::TestLoop;

// The gatewayd built beside the unit tests: the launcher the supervisor runs.
std::string gatewayd_path() {
  char self[PATH_MAX] = {};
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  REQUIRE(n > 0);
  std::string dir =
      std::filesystem::path(std::string(self, static_cast<size_t>(n))).parent_path().string();
  std::string path = std::filesystem::weakly_canonical(dir + "/../gateway/gatewayd").string();
  REQUIRE_MESSAGE(::access(path.c_str(), X_OK) == 0, "build gatewayd first: " << path);
  return path;
}

// What the fake inner backends saw, shared by all of them.
struct Board {
  bool hold = false;  // keep requests open until finish()
  struct Held {
    std::string upstream;
    gw::ResponseSink* sink;
    std::string body;
    bool body_finished = false;
    bool cancelled = false;
  };
  std::vector<std::shared_ptr<Held>> held;
  int starts = 0;
  int backends = 0;
  int shutdowns = 0;

  void finish(size_t i) {
    auto& h = *held[i];
    h.sink->on_head(gw::ResponseHead{});
    h.sink->on_body(h.upstream);
    h.sink->on_end();
  }
};

class FakeExchange final : public gw::Exchange {
 public:
  explicit FakeExchange(std::shared_ptr<Board::Held> held) : held_(std::move(held)) {}
  void send_body(std::string_view data) override {
    if (held_) held_->body += data;
  }
  void finish_body() override {
    if (held_) held_->body_finished = true;
  }
  void cancel() override {
    if (held_) held_->cancelled = true;
  }

 private:
  std::shared_ptr<Board::Held> held_;
};

class FakeBackend final : public gw::Backend {
 public:
  FakeBackend(std::shared_ptr<Board> board, std::string upstream)
      : board_(std::move(board)), upstream_(std::move(upstream)) {
    ++board_->backends;
  }
  std::unique_ptr<gw::Exchange> start(const gw::Request&, gw::ResponseSink& sink) override {
    ++board_->starts;
    if (!board_->hold) {
      sink.on_head(gw::ResponseHead{});
      sink.on_body(upstream_);
      sink.on_end();
      return std::make_unique<FakeExchange>(nullptr);
    }
    auto held = std::make_shared<Board::Held>();
    held->upstream = upstream_;
    held->sink = &sink;
    board_->held.push_back(held);
    return std::make_unique<FakeExchange>(held);
  }
  std::string_view kind() const override { return "fake"; }
  void shutdown() override { ++board_->shutdowns; }

 private:
  std::shared_ptr<Board> board_;
  std::string upstream_;
};

gw::ProjectConfig project_for(const TempDir& dir, std::vector<std::string> command) {
  gw::ProjectConfig p;
  p.name = "demo";
  p.dir = dir.path();
  p.backend.type = "fastcgi";
  gw::SpawnOptions s;
  s.command = std::move(command);
  s.cwd = dir.path();
  s.backoff_initial_ms = 20;
  s.backoff_max_ms = 80;
  s.stop_timeout_ms = 2000;
  s.start_timeout_ms = 3000;
  p.spawn = s;
  return p;
}

std::vector<std::string> sh(const std::string& script) {
  return {"/bin/sh", "-c", script, "app"};
}

struct Harness {
  TestLoop loop{8000};
  std::shared_ptr<Board> board = std::make_shared<Board>();
  std::unique_ptr<SpawnedBackend> backend;
  std::set<int> pids;  // every pid seen, checked gone at the end

  void make(const gw::ProjectConfig& project) {
    auto b = board;
    backend = std::make_unique<SpawnedBackend>(
        loop.get(), project,
        [b](const gw::BackendConfig& c) { return std::make_unique<FakeBackend>(b, c.upstream); },
        gatewayd_path());
  }
  gw::SpawnStatus status() {
    auto st = backend->status();
    for (const auto& i : st.instances) {
      if (i.pid) pids.insert(i.pid);
    }
    return st;
  }
  bool all_ready() {
    auto st = status();
    for (const auto& i : st.instances) {
      if (i.state != SpawnState::Ready) return false;
    }
    return true;
  }
  static bool gone(int pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }
  // Stops everything and waits until every process seen is reaped.
  void finish() {
    if (backend) {
      status();
      backend->shutdown();
      CHECK(loop.run_until([&] { return backend->status().processes == 0; }));
      backend.reset();
    }
    for (int pid : pids) {
      CHECK(loop.run_until([pid] { return gone(pid); }));
    }
  }
  ~Harness() { finish(); }
};

gw::Request get(const std::string& path = "/") {
  gw::Request r;
  r.method = "GET";
  r.target = path;
  r.path = path;
  r.path_info = path;
  r.server_protocol = "HTTP/1.1";
  r.content_length = 0;
  return r;
}

// The error log captured in a file while a test runs.
class LogCapture {
 public:
  LogCapture() : path_(dir_.path() + "/log") { REQUIRE(gw::log::open_file(path_).empty()); }
  ~LogCapture() { gw::log::open_file(""); }
  std::string text() const { return dir_.read("log"); }

 private:
  TempDir dir_;
  std::string path_;
};

}  // namespace

TEST_CASE("spawned: fd0 instances get a listening socket and exactly their environment") {
  TempDir dir;
  ::setenv("GW_SPAWN_TEST_NOT_PASSED", "secret", 1);
  ::setenv("GW_SPAWN_TEST_PASSED", "passed-value", 1);
  Harness h;
  auto p = project_for(dir, sh("env > \"$OUT/env.$N\"; readlink /proc/self/fd/0 > \"$OUT/fd0.$N\";"
                               " pwd > \"$OUT/cwd.$N\"; exec sleep 60"));
  p.spawn->processes = 2;
  p.spawn->env = {{"OUT", dir.path()}, {"N", "{instance}"}, {"WHO", "{name}@{project}"}};
  p.spawn->pass_env = {"GW_SPAWN_TEST_PASSED", "GW_SPAWN_TEST_UNSET_ONE"};
  h.make(p);
  // Nothing starts inside the constructor.
  CHECK(h.status().processes == 0);
  REQUIRE(h.loop.run_until([&] { return h.all_ready(); }));
  auto st = h.status();
  REQUIRE(st.instances.size() == 2);
  CHECK(st.processes == 2);
  CHECK(st.instances[0].pid != st.instances[1].pid);
  CHECK(st.instances[0].address.rfind("unix:/tmp/gatewayd-", 0) == 0);
  CHECK(st.instances[0].address != st.instances[1].address);
  // The socket file exists while the instance runs.
  std::string sock0 = st.instances[0].address.substr(5);
  struct stat sb {};
  REQUIRE(::stat(sock0.c_str(), &sb) == 0);
  CHECK(S_ISSOCK(sb.st_mode));
  std::string runtime_dir = std::filesystem::path(sock0).parent_path().string();
  REQUIRE(::stat(runtime_dir.c_str(), &sb) == 0);
  CHECK((sb.st_mode & 0777) == 0700);
  REQUIRE(
      h.loop.run_until([&] { return !dir.read("cwd.0").empty() && !dir.read("cwd.1").empty(); }));
  for (std::string n : {"0", "1"}) {
    std::string env = dir.read("env." + n);
    CAPTURE(env);
    CHECK(env.find("OUT=" + dir.path() + "\n") != std::string::npos);
    CHECK(env.find("N=" + n + "\n") != std::string::npos);
    CHECK(env.find("WHO=demo@" + dir.path() + "\n") != std::string::npos);
    CHECK(env.find("GW_SPAWN_TEST_PASSED=passed-value\n") != std::string::npos);
    CHECK(env.find("GW_SPAWN_TEST_NOT_PASSED") == std::string::npos);
    CHECK(env.find("GW_SPAWN_TEST_UNSET_ONE") == std::string::npos);
    CHECK(env.find("GATEWAYD_APP_ENV") == std::string::npos);
    CHECK(dir.read("fd0." + n).rfind("socket:[", 0) == 0);
    CHECK(dir.read("cwd." + n) == dir.path() + "\n");
  }
  h.finish();
  // The runtime directory went with the backend.
  CHECK(::stat(runtime_dir.c_str(), &sb) != 0);
  ::unsetenv("GW_SPAWN_TEST_NOT_PASSED");
  ::unsetenv("GW_SPAWN_TEST_PASSED");
}

TEST_CASE("spawned: requests go to the ready instance with the fewest in flight") {
  TempDir dir;
  Harness h;
  auto p = project_for(dir, sh("exec sleep 60"));
  p.spawn->processes = 3;
  h.make(p);
  REQUIRE(h.loop.run_until([&] { return h.all_ready(); }));
  h.board->hold = true;
  std::vector<std::unique_ptr<RecordingSink>> sinks;
  std::vector<std::unique_ptr<gw::Exchange>> exchanges;
  for (int i = 0; i < 6; ++i) {
    sinks.push_back(std::make_unique<RecordingSink>());
    exchanges.push_back(h.backend->start(get(), *sinks.back()));
  }
  REQUIRE(h.board->held.size() == 6);
  auto st = h.status();
  for (const auto& i : st.instances) {
    CHECK(i.in_flight == 2);
    CHECK(i.requests == 2);
  }
  // Ending two on instance 1 makes it the least loaded.
  std::string one = st.instances[1].address;
  int ended = 0;
  for (size_t i = 0; i < h.board->held.size() && ended < 2; ++i) {
    if (h.board->held[i]->upstream == one) {
      h.board->finish(i);
      ++ended;
    }
  }
  REQUIRE(ended == 2);
  CHECK(h.status().instances[1].in_flight == 0);
  RecordingSink next;
  auto ex = h.backend->start(get(), next);
  CHECK(h.board->held.back()->upstream == one);
  for (size_t i = 0; i < sinks.size(); ++i) {
    if (!sinks[i]->finished()) h.board->finish(i);
  }
  h.board->finish(h.board->held.size() - 1);
  CHECK(next.ended);
  CHECK(next.body() == one);
  for (auto& s : sinks) CHECK(s->ended);
  for (const auto& i : h.status().instances) CHECK(i.in_flight == 0);
}

TEST_CASE("spawned: a killed instance comes back, at once after it served, else after backoff") {
  TempDir dir;
  Harness h;
  auto p = project_for(dir, sh("exec sleep 60"));
  p.spawn->backoff_initial_ms = 300;
  p.spawn->backoff_max_ms = 300;
  h.make(p);
  REQUIRE(h.loop.run_until([&] { return h.all_ready(); }));
  int first = h.status().instances[0].pid;
  // Killed before it answered anything: a failed start, so a backoff first.
  REQUIRE(::kill(first, SIGKILL) == 0);
  REQUIRE(h.loop.run_until([&] { return h.status().instances[0].state == SpawnState::Backoff; }));
  CHECK(h.status().instances[0].failures == 1);
  REQUIRE(h.loop.run_until([&] { return h.all_ready(); }));
  int second = h.status().instances[0].pid;
  CHECK(second != first);
  CHECK(h.status().instances[0].restarts == 1);
  // Served a request and ran over a second: started again at once.
  RecordingSink sink;
  auto ex = h.backend->start(get(), sink);
  CHECK(sink.ended);
  h.loop.run_for(1100);
  REQUIRE(::kill(second, SIGKILL) == 0);
  REQUIRE(h.loop.run_until([&] {
    auto st = h.status();
    return st.instances[0].pid != second && st.instances[0].pid != 0;
  }));
  auto st = h.status();
  CHECK(st.instances[0].state == SpawnState::Ready);
  CHECK(st.instances[0].failures == 0);
  CHECK(st.instances[0].restarts == 2);
}

TEST_CASE("spawned: a crashing app backs off, gives up visibly and gets 503 at once") {
  TempDir dir;
  LogCapture log;
  Harness h;
  auto p = project_for(dir, sh("echo \"crashing now\" >&2; echo out-line; exit 3"));
  p.spawn->give_up_after = 3;
  p.spawn->backoff_initial_ms = 40;
  p.spawn->backoff_max_ms = 80;
  h.make(p);
  auto started = std::chrono::steady_clock::now();
  REQUIRE(h.loop.run_until([&] { return h.status().gave_up; }));
  auto took = std::chrono::steady_clock::now() - started;
  // Two waits: 40 ms, then 80 ms. libuv counts from its cached loop time,
  // which may be a little behind the clock read above.
  CHECK(took >= std::chrono::milliseconds(100));
  auto st = h.status();
  CHECK(st.instances[0].state == SpawnState::GaveUp);
  CHECK(st.instances[0].failures == 3);
  CHECK(st.instances[0].restarts == 2);
  RecordingSink sink;
  auto ex = h.backend->start(get(), sink);
  REQUIRE(sink.error_status.has_value());
  CHECK(*sink.error_status == 503);
  CHECK(h.board->starts == 0);
  h.loop.run_for(100);  // the output pipes' last lines
  std::string text = log.text();
  CAPTURE(text);
  CHECK(text.find("project demo instance 0: pid ") != std::string::npos);
  CHECK(text.find("exited with status 3") != std::string::npos);
  CHECK(text.find("failed start 1 of 3, starting again in 40 ms") != std::string::npos);
  CHECK(text.find("failed start 2 of 3, starting again in 80 ms") != std::string::npos);
  CHECK(text.find("gave up after 3 failed starts in a row") != std::string::npos);
  CHECK(text.find("every app instance gave up") != std::string::npos);
  CHECK(text.find(": stderr: crashing now") != std::string::npos);
  CHECK(text.find(": stdout: out-line") != std::string::npos);
  // retry() leaves the give-up state.
  h.backend->retry();
  CHECK_FALSE(h.status().gave_up);
  REQUIRE(h.loop.run_until([&] { return h.status().gave_up; }));
}

TEST_CASE("spawned: a unix app is ready once it listens; requests wait for it") {
  TempDir dir;
  Harness h;
  auto p = project_for(dir, {"/usr/bin/python3", "-c",
                             "import socket, sys, time\n"
                             "time.sleep(0.3)\n"
                             "s = socket.socket(socket.AF_UNIX)\n"
                             "s.bind(sys.argv[1])\n"
                             "s.listen()\n"
                             "time.sleep(60)\n",
                             "{socket}"});
  p.spawn->listen = gw::SpawnOptions::Listen::Unix;
  h.make(p);
  h.loop.run_for(50);
  CHECK(h.status().instances[0].state == SpawnState::Starting);
  RecordingSink sink;
  gw::Request post = get();
  post.method = "POST";
  post.content_length = 5;
  auto ex = h.backend->start(post, sink);
  CHECK(h.status().waiting == 1);
  ex->send_body("hel");
  CHECK(ex->body_congested());  // held: the connection is asked to pause
  ex->send_body("lo");
  ex->finish_body();
  CHECK_FALSE(sink.finished());
  h.board->hold = true;
  REQUIRE(h.loop.run_until([&] { return !h.board->held.empty(); }));
  auto st = h.status();
  CHECK(st.instances[0].state == SpawnState::Ready);
  CHECK(st.waiting == 0);
  CHECK(h.board->held[0]->upstream == st.instances[0].address);
  CHECK(h.board->held[0]->body == "hello");
  CHECK(h.board->held[0]->body_finished);
  CHECK(sink.drained == 1);  // the connection may read again
  h.board->finish(0);
  CHECK(sink.ended);
}

TEST_CASE("spawned: an app that never listens fails its start; waiting requests get 503") {
  TempDir dir;
  Harness h;
  auto p = project_for(dir, sh("exec sleep 60 # {socket}"));
  p.spawn->listen = gw::SpawnOptions::Listen::Unix;
  p.spawn->start_timeout_ms = 200;
  p.spawn->give_up_after = 2;
  h.make(p);
  RecordingSink first;
  auto ex1 = h.backend->start(get(), first);
  // The first waits start_timeout_ms.
  REQUIRE(h.loop.run_until([&] { return first.finished(); }));
  CHECK(*first.error_status == 503);
  CHECK(first.why == "no app instance became ready within 200 ms");
  // The second instance start also times out: the give-up fails the waiter.
  RecordingSink second;
  auto ex2 = h.backend->start(get(), second);
  REQUIRE(h.loop.run_until([&] { return h.status().gave_up; }));
  CHECK(second.error_status == 503);
  CHECK(h.board->starts == 0);
}

TEST_CASE("spawned: cancel while waiting, and the queue bound") {
  TempDir dir;
  Harness h;
  auto p = project_for(dir, sh("sleep 0.3; exec sleep 60 # {socket}"));
  p.spawn->listen = gw::SpawnOptions::Listen::Unix;
  p.spawn->start_timeout_ms = 400;
  p.spawn->give_up_after = 0;
  h.make(p);
  RecordingSink sink;
  auto ex = h.backend->start(get(), sink);
  CHECK(h.status().waiting == 1);
  ex->cancel();
  sink.cancelled = true;
  CHECK(h.status().waiting == 0);
  ex.reset();
  std::vector<std::unique_ptr<RecordingSink>> sinks;
  std::vector<std::unique_ptr<gw::Exchange>> exchanges;
  for (size_t i = 0; i <= SpawnedBackend::kMaxWaiting; ++i) {
    sinks.push_back(std::make_unique<RecordingSink>());
    exchanges.push_back(h.backend->start(get(), *sinks.back()));
  }
  CHECK(h.status().waiting == SpawnedBackend::kMaxWaiting);
  CHECK_FALSE(sinks.front()->finished());
  REQUIRE(sinks.back()->error_status.has_value());
  CHECK(*sinks.back()->error_status == 503);
  CHECK(sinks.back()->why == "project demo: too many requests waiting for an app instance");
  // Destroying waiting exchanges takes them out of the queue.
  exchanges.resize(10);
  CHECK(h.status().waiting == 10);
  exchanges.clear();
  CHECK(h.status().waiting == 0);
  h.loop.run_for(50);
  CHECK(h.board->starts == 0);
}

TEST_CASE("spawned: max_requests replaces an instance once its requests end") {
  TempDir dir;
  Harness h;
  auto p = project_for(dir, sh("exec sleep 60"));
  p.spawn->max_requests = 2;
  h.make(p);
  REQUIRE(h.loop.run_until([&] { return h.all_ready(); }));
  int first = h.status().instances[0].pid;
  h.board->hold = true;
  RecordingSink a, b, c;
  auto ea = h.backend->start(get(), a);
  auto eb = h.backend->start(get(), b);
  // The second request was its last: a new process took its place at once.
  auto st = h.status();
  int second = st.instances[0].pid;
  CHECK(second != first);
  CHECK(st.instances[0].retiring == 1);
  CHECK(st.instances[0].restarts == 1);
  CHECK(st.processes == 2);
  auto ec = h.backend->start(get(), c);
  REQUIRE(h.board->held.size() == 3);
  CHECK(h.board->held[0]->upstream == h.board->held[1]->upstream);
  CHECK(h.board->held[2]->upstream != h.board->held[0]->upstream);
  h.loop.run_for(100);
  CHECK_FALSE(Harness::gone(first));  // still has requests running
  h.board->finish(0);
  h.loop.run_for(100);
  CHECK_FALSE(Harness::gone(first));
  h.board->finish(1);
  REQUIRE(h.loop.run_until([&] { return Harness::gone(first); }));
  REQUIRE(h.loop.run_until([&] { return h.status().processes == 1; }));
  CHECK(h.status().instances[0].retiring == 0);
  CHECK(h.status().instances[0].pid == second);
  h.board->finish(2);
  CHECK(a.ended);
  CHECK(b.ended);
  CHECK(c.ended);
  h.pids.insert(first);
}

TEST_CASE("spawned: on_demand starts with the first request and stops when idle") {
  TempDir dir;
  Harness h;
  auto p = project_for(dir, sh("exec sleep 60"));
  p.spawn->on_demand = true;
  p.spawn->idle_timeout_ms = 200;
  p.spawn->processes = 2;
  h.make(p);
  h.loop.run_for(100);
  CHECK(h.status().processes == 0);
  CHECK(h.status().instances[0].state == SpawnState::Stopped);
  RecordingSink sink;
  auto ex = h.backend->start(get(), sink);
  CHECK(sink.ended);
  CHECK(h.status().processes == 2);
  int pid = h.status().instances[0].pid;
  REQUIRE(h.loop.run_until([&] { return h.status().processes == 0; }));
  CHECK(Harness::gone(pid));
  CHECK(h.status().instances[0].state == SpawnState::Stopped);
  CHECK(h.status().instances[0].failures == 0);
  RecordingSink again;
  auto ex2 = h.backend->start(get(), again);
  CHECK(again.ended);
  CHECK(h.status().processes == 2);
  CHECK(h.status().instances[0].pid != pid);
}

TEST_CASE("spawned: shutdown kills what ignores SIGTERM after stop_timeout_ms") {
  TempDir dir;
  Harness h;
  auto p = project_for(
      dir, sh("trap '' TERM; echo trapped > \"$OUT/trapped\"; while :; do sleep 0.05; done"));
  // Long enough that the app is surely still there after the 150 ms below,
  // however late the loop's cached clock is on a slow (sanitizer) build.
  p.spawn->stop_timeout_ms = 1000;
  p.spawn->env = {{"OUT", dir.path()}};
  h.make(p);
  REQUIRE(h.loop.run_until([&] { return h.all_ready() && !dir.read("trapped").empty(); }));
  h.backend->shutdown();
  CHECK(h.status().stopped);
  RecordingSink sink;
  auto ex = h.backend->start(get(), sink);
  CHECK(sink.error_status == 503);
  h.loop.run_for(150);
  CHECK(h.status().processes == 1);
  // SIGTERM is ignored: only the SIGKILL after stop_timeout_ms ends it.
  REQUIRE(h.loop.run_until([&] { return h.status().processes == 0; }));
}

TEST_CASE("spawned: destroying the backend stops its processes") {
  TempDir dir;
  Harness h;
  auto p = project_for(dir, sh("sleep 60 & sleep 60"));  // a child in the group too
  h.make(p);
  REQUIRE(h.loop.run_until([&] { return h.all_ready(); }));
  int pid = h.status().instances[0].pid;
  h.backend.reset();
  REQUIRE(h.loop.run_until([&] { return Harness::gone(pid) && ::kill(-pid, 0) != 0; }));
}

TEST_CASE("spawned: port placeholder with the real http backend") {
  TempDir dir;
  { std::ofstream(dir.path() + "/hello.txt") << "hello from the app\n"; }
  TestLoop loop(10000);
  auto p =
      project_for(dir, {"/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "{port}"});
  p.backend.type = "http";
  p.spawn->listen = gw::SpawnOptions::Listen::Port;
  p.spawn->start_timeout_ms = 8000;
  auto backend = std::make_unique<SpawnedBackend>(
      loop.get(), p,
      [&loop](const gw::BackendConfig& c) {
        gw::HttpProxyOptions o;
        o.upstream = c.upstream;
        return std::make_unique<gw::HttpProxyBackend>(loop.get(), o);
      },
      gatewayd_path());
  RecordingSink sink;
  auto ex = backend->start(get("/hello.txt"), sink);
  REQUIRE(loop.run_until([&] { return sink.finished(); }));
  CHECK(sink.status() == 200);
  CHECK(sink.body() == "hello from the app\n");
  auto st = backend->status();
  CHECK(st.instances[0].address.rfind("127.0.0.1:", 0) == 0);
  CHECK(st.instances[0].requests == 1);
  int pid = st.instances[0].pid;
  ex.reset();
  backend->shutdown();
  REQUIRE(loop.run_until([&] { return backend->status().processes == 0; }));
  backend.reset();
  REQUIRE(loop.run_until([&] { return Harness::gone(pid); }));
  loop.run_for(50);
}

TEST_CASE("spawned: as root, the app runs as the configured user and group") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: needs root");
    return;
  }
  TempDir dir;
  ::chmod(dir.path().c_str(), 0777);
  Harness h;
  auto p =
      project_for(dir, sh("id -u > \"$OUT/uid\"; id -g > \"$OUT/gid\"; id -G > \"$OUT/groups\";"
                          " echo done > \"$OUT/done\"; exec sleep 60"));
  p.spawn->env = {{"OUT", dir.path()}};
  p.spawn->user = "nobody";
  p.spawn->group = "nogroup";
  h.make(p);
  REQUIRE(h.loop.run_until([&] { return !dir.read("done").empty(); }));
  CHECK(dir.read("uid") == "65534\n");
  CHECK(dir.read("gid") == "65534\n");
  CHECK(dir.read("groups") == "65534\n");  // root's supplementary groups are gone
}
