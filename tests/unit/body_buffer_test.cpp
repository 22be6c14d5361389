// Request buffering: the inner backend starts only once the body is
// complete, sees its exact length, and is fed at its own pace from memory
// or from the temporary file.
#include <dirent.h>
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "dispatch/backends/body_buffer.h"
#include "gateway/config.h"
#include "tests/support/recording_sink.h"
#include "tests/support/temp_dir.h"

namespace {

using gw::BodyBufferOptions;
using gw::Request;
using gw::test::RecordingSink;
using gw::test::TempDir;

// An app that takes at most `window` bytes before it says it is congested;
// the test drains it with take().
struct SlowApp : gw::Backend {
  struct Call {
    Request request;
    std::string body;
    bool finished = false;
    bool cancelled = false;
    gw::ResponseSink* sink = nullptr;
  };
  size_t window = SIZE_MAX;
  size_t buffered = 0;
  std::vector<std::shared_ptr<Call>> calls;

  struct Ex : gw::Exchange {
    SlowApp& app;
    std::shared_ptr<Call> call;
    Ex(SlowApp& a, std::shared_ptr<Call> c) : app(a), call(std::move(c)) {}
    void send_body(std::string_view data) override {
      CHECK_FALSE(body_congested());  // the buffer must respect our pace
      call->body.append(data);
      app.buffered += data.size();
    }
    void finish_body() override {
      call->finished = true;
      gw::ResponseHead head;
      head.status = 200;
      call->sink->on_head(head);
      call->sink->on_body(std::to_string(call->body.size()));
      call->sink->on_end();
    }
    bool body_congested() const override { return app.buffered >= app.window; }
    void cancel() override { call->cancelled = true; }
  };

  std::unique_ptr<gw::Exchange> start(const Request& request, gw::ResponseSink& sink) override {
    auto call = std::make_shared<Call>();
    call->request = request;
    call->sink = &sink;
    calls.push_back(call);
    return std::make_unique<Ex>(*this, call);
  }
  std::string_view kind() const override { return "slow-app"; }
  // The app consumed what it had: the exchange may send more.
  void take() {
    buffered = 0;
    calls.back()->sink->on_body_drained();
  }
};

Request post(std::optional<uint64_t> length) {
  Request r;
  r.method = "POST";
  r.path = r.target = "/upload";
  r.content_length = length;
  return r;
}

size_t files_in(const std::string& dir) {
  size_t n = 0;
  DIR* d = opendir(dir.c_str());
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 23);
  return s;
}

}  // namespace

TEST_CASE("body buffer: the app starts only with the whole body, at every memory threshold") {
  const std::string body = pattern(300 * 1024 + 7);
  TempDir tmp;
  for (size_t memory : {size_t{0}, size_t{1024}, size_t{64 * 1024}, size_t{1 << 20}}) {
    CAPTURE(memory);
    auto app = std::make_unique<SlowApp>();
    SlowApp& a = *app;
    auto backend = gw::wrap_body_buffer(std::move(app), BodyBufferOptions{memory, tmp.path()});
    RecordingSink sink;
    auto ex = backend->start(post(std::nullopt), sink);  // chunked: length unknown
    for (size_t off = 0; off < body.size(); off += 10000) {
      ex->send_body(std::string_view(body).substr(off, 10000));
      CHECK(a.calls.empty());
      CHECK_FALSE(ex->body_congested());
    }
    ex->finish_body();
    REQUIRE(a.calls.size() == 1);
    CHECK(a.calls[0]->request.content_length == body.size());
    CHECK(a.calls[0]->body == body);
    CHECK(sink.ended);
    CHECK(sink.body() == std::to_string(body.size()));
    CHECK(files_in(tmp.path()) == 0);  // the temporary file never had a name
  }
}

TEST_CASE("body buffer: the body is replayed at the app's pace") {
  const std::string body = pattern(1 << 20);
  TempDir tmp;
  auto app = std::make_unique<SlowApp>();
  SlowApp& a = *app;
  a.window = 100 * 1024;
  auto backend = gw::wrap_body_buffer(std::move(app), BodyBufferOptions{4096, tmp.path()});
  RecordingSink sink;
  auto ex = backend->start(post(body.size()), sink);
  ex->send_body(body);
  ex->finish_body();
  REQUIRE(a.calls.size() == 1);
  int rounds = 0;
  while (!a.calls[0]->finished && rounds < 100) {
    CHECK(a.buffered >= a.window);  // stopped because the app was full
    a.take();
    ++rounds;
  }
  CHECK(rounds >= 6);  // 1 MiB through a 100 KiB window, 64 KiB pieces
  CHECK(a.calls[0]->body == body);
  CHECK(sink.ended);
}

TEST_CASE("body buffer: no body, no waiting and no invented length") {
  TempDir tmp;
  auto app = std::make_unique<SlowApp>();
  SlowApp& a = *app;
  auto backend = gw::wrap_body_buffer(std::move(app), BodyBufferOptions{1024, tmp.path()});
  RecordingSink sink;
  auto ex = backend->start(post(0), sink);
  CHECK(a.calls.size() == 1);  // straight through
  RecordingSink sink2;
  auto ex2 = backend->start(post(std::nullopt), sink2);
  ex2->finish_body();
  REQUIRE(a.calls.size() == 2);
  CHECK_FALSE(a.calls[1]->request.content_length.has_value());
}

TEST_CASE("body buffer: cancel before and after the app started") {
  TempDir tmp;
  auto app = std::make_unique<SlowApp>();
  SlowApp& a = *app;
  a.window = 10;
  auto backend = gw::wrap_body_buffer(std::move(app), BodyBufferOptions{0, tmp.path()});
  RecordingSink s1;
  auto ex1 = backend->start(post(5), s1);
  ex1->send_body("abc");
  ex1->cancel();
  ex1->send_body("de");
  ex1->finish_body();
  CHECK(a.calls.empty());
  RecordingSink s2;
  auto ex2 = backend->start(post(100), s2);
  ex2->send_body(pattern(100));
  ex2->finish_body();
  REQUIRE(a.calls.size() == 1);
  ex2->cancel();
  CHECK(a.calls[0]->cancelled);
}

TEST_CASE("body buffer: a temporary directory that cannot be used gives 500") {
  auto app = std::make_unique<SlowApp>();
  SlowApp& a = *app;
  auto backend =
      gw::wrap_body_buffer(std::move(app), BodyBufferOptions{16, "/nonexistent-gatewayd-dir"});
  RecordingSink sink;
  auto ex = backend->start(post(100), sink);
  ex->send_body(pattern(100));
  REQUIRE(sink.error_status.has_value());
  CHECK(*sink.error_status == 500);
  CHECK(sink.why.find("cannot make a temporary file in /nonexistent-gatewayd-dir") !=
        std::string::npos);
  ex->finish_body();
  CHECK(a.calls.empty());
}

TEST_CASE("body buffer: project.json buffer_body") {
  TempDir dir;
  auto load = [&](const std::string& value, gw::ProjectConfig& p) {
    dir.replace("p/project.json", R"({"backend": {"type": "echo"}, "buffer_body": )" + value + "}");
    auto err = gw::load_project(dir / "p", p);
    return err ? err->message() : std::string("ok");
  };
  gw::ProjectConfig p;
  CHECK(load("true", p) == "ok");
  REQUIRE(p.buffer_body.has_value());
  CHECK(*p.buffer_body == BodyBufferOptions{});
  CHECK(load("false", p) == "ok");
  CHECK_FALSE(p.buffer_body.has_value());
  dir.mkdir("p/tmp");
  CHECK(load(R"({"memory_bytes": 4096, "temp_dir": "tmp"})", p) == "ok");
  REQUIRE(p.buffer_body.has_value());
  CHECK(p.buffer_body->memory_bytes == 4096);
  CHECK(p.buffer_body->temp_dir == dir / "p/tmp");
  const std::string file = dir / "p/project.json";
  CHECK(load(R"({"temp_dir": "missing"})", p) ==
        file + ": buffer_body.temp_dir: '" + (dir / "p/missing") + "' is not a directory");
  CHECK(load(R"({"memory": 1})", p) ==
        file + ": buffer_body.memory: unknown key (expected one of: memory_bytes, temp_dir)");
  CHECK(load("1", p) ==
        file + R"(: buffer_body: must be true, false or {"memory_bytes", "temp_dir"})");
}
