// Files sent with sendfile(2): io::Stream::send_file on a socket pair (order
// with the bytes written around the file, a full socket, a file that
// shrinks, a cancel, a close, the descriptor closed every way), the HTTP
// codec's raw body allowance, and the static backend over a plain HTTP
// listener on a real loop (small and large files, a slow reader, a Range,
// HEAD, pipelining, a client that goes away mid-file; SCGI still copies). The Stream's counters
// show that the bytes went by sendfile(2), so a silent fallback to the copy
// fails these tests.
#include <arpa/inet.h>
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "dispatch/backends/sendfile.h"
#include "dispatch/backends/static_files.h"
#include "gateway/config.h"
#include "gateway/io/stream.h"
#include "gateway/request_record.h"
#include "gateway/server.h"
#include "gateway/startup.h"
#include "protocols/http1_server.h"
#include "tests/support/loopback_client.h"
#include "tests/support/recording_sink.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_loop.h"

using gw::io::Stream;
using gw::test::TempDir;
using gw::test::TestLoop;

namespace {

// Open descriptors of this process: a descriptor a test forgot shows here.
size_t open_fds() {
  size_t n = 0;
  DIR* dir = opendir("/proc/self/fd");
  REQUIRE(dir != nullptr);
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the directory's own
}

// libuv opens a spare descriptor (for EMFILE) with a loop's first stream and
// keeps it until the loop closes: opened here, before a test counts.
void open_loop_spare(TestLoop& loop) {
  auto* tcp = new uv_tcp_t;
  uv_tcp_init(loop.get(), tcp);
  uv_close(reinterpret_cast<uv_handle_t*>(tcp),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  loop.run_for(1);
}

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(gen() & 0xff);
  return s;
}

int open_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  return fd;
}

struct Recorder : gw::io::StreamHandler {
  int error = 0;
  bool closed = false;
  int drains = 0;
  void on_read(std::string_view) override {}
  void on_eof() override {}
  void on_error(int e) override { error = e; }
  void on_drain() override { ++drains; }
  void on_closed() override { closed = true; }
};

// One end of a socket pair in a Stream, the other read by the test.
struct Pair {
  explicit Pair(uv_loop_t* loop, int buffer = 0) {
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    if (buffer > 0) {
      setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
      setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    }
    REQUIRE(fcntl(fds[1], F_SETFL, O_NONBLOCK) == 0);
    auto* pipe = new uv_pipe_t;
    uv_pipe_init(loop, pipe, 0);
    REQUIRE(uv_pipe_open(pipe, fds[0]) == 0);
    stream = std::make_unique<Stream>(reinterpret_cast<uv_stream_t*>(pipe));
    stream->set_handler(&recorder);
  }
  ~Pair() {
    if (peer >= 0) close(peer);
  }
  // Reads at most `most` bytes of what has arrived; false once closed.
  bool read(size_t most = SIZE_MAX) {
    char buf[16384];
    while (most > 0) {
      ssize_t n = recv(peer, buf, std::min(sizeof buf, most), 0);
      if (n > 0) {
        got.append(buf, static_cast<size_t>(n));
        most -= static_cast<size_t>(n);
        continue;
      }
      return !(n == 0 || errno != EAGAIN);
    }
    return true;
  }
  int fds[2];
  int& peer = fds[1];
  std::string got;
  Recorder recorder;
  std::unique_ptr<Stream> stream;
};

struct Done {
  std::optional<int> status;
  uint64_t sent = 0;
  Stream::FileDone callback() {
    return [this](int s, uint64_t n) {
      CHECK_FALSE(status.has_value());  // once
      status = s;
      sent = n;
    };
  }
};

}  // namespace

TEST_CASE("file send: the file goes between the bytes written before and after it") {
  TestLoop loop;
  TempDir dir("file-send");
  const std::string body = random_bytes(100000, 1);
  const std::string path = dir.write("f", body);
  open_loop_spare(loop);
  const size_t fds_before = open_fds();
  const auto before = Stream::file_stats();
  {
    Pair p(loop.get());
    Done done;
    p.stream->write("A|");
    p.stream->send_file("HEAD|", open_file(path), 10, 90000, done.callback());
    p.stream->write("|TAIL");
    REQUIRE(loop.run_until([&] {
      p.read();
      return p.got.size() >= 7 + 90000 + 5;
    }));
    CHECK(p.got == "A|HEAD|" + body.substr(10, 90000) + "|TAIL");
    REQUIRE(done.status == std::optional<int>(0));
    CHECK(done.sent == 90000);
    CHECK(p.stream->queued() == 0);
    CHECK(open_fds() == fds_before + 2);  // the pair only: the file is closed
  }
  const auto after = Stream::file_stats();
  CHECK(after.sendfile_bytes - before.sendfile_bytes > 0);
  CHECK(after.sendfile_bytes - before.sendfile_bytes + after.copied_bytes - before.copied_bytes ==
        90000);
  CHECK(open_fds() == fds_before);
}

TEST_CASE("file send: a full socket is waited for, with sendfile(2) and copied pieces") {
  TestLoop loop;
  TempDir dir("file-send");
  const size_t size = 6 << 20;
  const std::string body = random_bytes(size, 2);
  const std::string path = dir.write("big", body);
  const auto before = Stream::file_stats();
  Pair p(loop.get(), 64 * 1024);
  Done done;
  p.stream->send_file("", open_file(path), 0, size, done.callback());
  CHECK_FALSE(done.status.has_value());  // the socket took only part of it
  CHECK(p.stream->queued() > 0);
  CHECK(p.stream->queued() < size);
  // A slow reader: a little per loop turn.
  REQUIRE(loop.run_until(
      [&] {
        p.read(32 * 1024);
        return p.got.size() == size;
      },
      20000));
  CHECK(p.got == body);
  CHECK(done.status == std::optional<int>(0));
  CHECK(done.sent == size);
  const auto after = Stream::file_stats();
  const uint64_t by_sendfile = after.sendfile_bytes - before.sendfile_bytes;
  const uint64_t copied = after.copied_bytes - before.copied_bytes;
  CHECK(by_sendfile + copied == size);
  CHECK(copied > 0);  // the full socket was waited for through a piece
  CHECK(by_sendfile > size / 2);
  CHECK(p.recorder.drains >= 1);
}

TEST_CASE("file send: behind a queue that waits, the file waits its turn") {
  TestLoop loop;
  TempDir dir("file-send");
  const std::string body = random_bytes(500000, 4);
  const std::string path = dir.write("f", body);
  Pair p(loop.get(), 64 * 1024);
  const std::string queued(300000, 'x');
  p.stream->write(queued);
  REQUIRE(p.stream->queued() > 0);  // libuv holds part of it
  Done done;
  p.stream->send_file("HEAD|", open_file(path), 0, body.size(), done.callback());
  p.stream->write("|TAIL");
  CHECK_FALSE(done.status.has_value());
  const std::string expected = queued + "HEAD|" + body + "|TAIL";
  REQUIRE(loop.run_until([&] {
    p.read(32 * 1024);
    return p.got.size() >= expected.size();
  }));
  CHECK(p.got == expected);
  CHECK(done.status == std::optional<int>(0));
  CHECK(done.sent == body.size());
}

TEST_CASE("file send: a file shorter than announced ends with UV_EOF") {
  TestLoop loop;
  TempDir dir("file-send");
  const std::string path = dir.write("short", "0123456789");
  Pair p(loop.get());
  Done done;
  p.stream->send_file("", open_file(path), 4, 100, done.callback());
  REQUIRE(done.status.has_value());
  CHECK(*done.status == UV_EOF);
  CHECK(done.sent == 6);
  loop.run_until([&] {
    p.read();
    return p.got.size() >= 6;
  });
  CHECK(p.got == "456789");
  CHECK(p.stream->queued() == 0);
}

TEST_CASE("file send: a cancel, a close and a destruction each close the file") {
  TestLoop loop;
  TempDir dir("file-send");
  const size_t size = 8 << 20;
  const std::string path = dir.write("big", random_bytes(size, 3));
  open_loop_spare(loop);
  const size_t fds_before = open_fds();

  SUBCASE("cancel_file: what was queued before still goes out") {
    Pair p(loop.get(), 64 * 1024);
    Done done;
    p.stream->write("before");
    p.stream->send_file("", open_file(path), 0, size, done.callback());
    p.stream->write("after");  // behind the file: dropped with it
    p.stream->cancel_file();
    REQUIRE(done.status == std::optional<int>(UV_ECANCELED));
    CHECK(done.sent < size);
    CHECK(open_fds() == fds_before + 2);
    const size_t expected = 6 + done.sent;
    CHECK(loop.run_until([&] {
      p.read();
      return p.got.size() >= expected && p.stream->queued() == 0;
    }));
    CHECK(p.got.size() == expected);
    CHECK(p.got.starts_with("before"));
  }
  SUBCASE("close(false)") {
    Pair p(loop.get(), 64 * 1024);
    Done done;
    p.stream->send_file("", open_file(path), 0, size, done.callback());
    p.stream->close(false);
    CHECK(done.status == std::optional<int>(UV_ECANCELED));
    CHECK(loop.run_until([&] { return p.recorder.closed; }));
  }
  SUBCASE("close(true) waits for the whole file") {
    Pair p(loop.get(), 64 * 1024);
    Done done;
    p.stream->send_file("", open_file(path), 0, size, done.callback());
    p.stream->close(true);
    CHECK(loop.run_until(
        [&] {
          bool open = p.read(64 * 1024);
          return !open && p.recorder.closed;
        },
        20000));
    CHECK(done.status == std::optional<int>(0));
    CHECK(p.got.size() == size);
  }
  SUBCASE("the peer goes away") {
    Pair p(loop.get(), 64 * 1024);
    Done done;
    p.stream->send_file("", open_file(path), 0, size, done.callback());
    close(p.peer);
    p.peer = -1;
    CHECK(loop.run_until([&] { return p.recorder.error != 0; }));
    CHECK(done.status == std::optional<int>(UV_ECANCELED));
    p.stream->close(false);
    CHECK(loop.run_until([&] { return p.recorder.closed; }));
  }
  SUBCASE("destroyed while sending: no callback") {
    Pair p(loop.get(), 64 * 1024);
    Done done;
    p.stream->send_file("", open_file(path), 0, size, done.callback());
    p.stream.reset();
    CHECK_FALSE(done.status.has_value());
  }
  loop.run_for(20);
  CHECK(open_fds() == fds_before);
}

// ---- Backends that offer the file to a sink that takes it ----

namespace {

// A sink that takes files: it reads what it was offered and closes it.
struct FileTakingSink : gw::test::RecordingSink {
  bool can_send_file() const override { return head.has_value() && !finished(); }
  void on_file(int fd, uint64_t offset, uint64_t length) override {
    CHECK(can_send_file());
    std::string bytes(length, '\0');
    CHECK(pread(fd, bytes.data(), length, static_cast<off_t>(offset)) ==
          static_cast<ssize_t>(length));
    files.push_back(bytes);
    CHECK(::close(fd) == 0);
  }
  std::vector<std::string> files;
};

// An app answering with an X-Sendfile header.
struct NamingApp : gw::Backend {
  explicit NamingApp(std::string path) : path_(std::move(path)) {}
  struct Nothing : gw::Exchange {
    void send_body(std::string_view) override {}
    void finish_body() override {}
    void cancel() override {}
  };
  std::unique_ptr<gw::Exchange> start(const gw::Request&, gw::ResponseSink& sink) override {
    gw::ResponseHead head;
    head.status = 200;
    head.headers = {{"X-Sendfile", path_}};
    sink.on_head(std::move(head));
    sink.on_end();
    return std::make_unique<Nothing>();
  }
  std::string_view kind() const override { return "naming"; }
  std::string path_;
};

gw::Request file_request(const std::string& path_info) {
  gw::Request r;
  r.method = "GET";
  r.script_name = "/p";
  r.path_info = path_info;
  r.path = "/p" + path_info;
  r.target = r.path;
  r.server_protocol = "HTTP/1.1";
  return r;
}

}  // namespace

TEST_CASE("file send: the static backend hands its file to a sink that takes files") {
  TempDir dir("file-send-backend");
  const std::string body = random_bytes(300000, 5);
  dir.write("htdocs/f.bin", body);
  const size_t fds_before = open_fds();
  SUBCASE("static, with a Range") {
    gw::StaticBackend backend(dir / "htdocs", {});
    FileTakingSink sink;
    gw::Request r = file_request("/f.bin");
    r.headers.push_back({"Range", "bytes=100-250099"});
    auto exchange = backend.start(r, sink);
    CHECK(sink.ended);
    CHECK(sink.status() == 206);
    CHECK(sink.pieces.empty());  // nothing copied
    REQUIRE(sink.files.size() == 1);
    CHECK(sink.files[0] == body.substr(100, 250000));
  }
  SUBCASE("X-Sendfile's file answer") {
    gw::SendfileOptions options;
    options.mode = gw::SendfileOptions::Mode::Serve;
    options.dirs = {dir / "htdocs"};
    auto backend = gw::wrap_sendfile(std::make_unique<NamingApp>(dir / "htdocs/f.bin"), options);
    FileTakingSink sink;
    auto exchange = backend->start(file_request("/x"), sink);
    CHECK(sink.ended);
    CHECK(sink.status() == 200);
    CHECK(sink.pieces.empty());
    REQUIRE(sink.files.size() == 1);
    CHECK(sink.files[0] == body);
  }
  SUBCASE("HEAD: no file") {
    gw::StaticBackend backend(dir / "htdocs", {});
    FileTakingSink sink;
    gw::Request r = file_request("/f.bin");
    r.method = "HEAD";
    auto exchange = backend.start(r, sink);
    CHECK(sink.ended);
    CHECK(sink.files.empty());
    CHECK(sink.pieces.empty());
  }
  CHECK(open_fds() == fds_before);
}

// ---- The HTTP codec's raw body allowance ----

namespace {

// A codec with one request read and a response head written.
struct Answering {
  explicit Answering(std::string_view request, gw::ResponseHead head) : codec(gw::Limits{}) {
    std::vector<gw::Event> events;
    std::string out;
    gw::FeedResult r = codec.feed(request, events, out);
    REQUIRE_FALSE(r.error);
    REQUIRE(events.size() >= 1);
    codec.write_head(1, head, out);
    head_bytes = out;
  }
  gw::Http1ServerCodec codec;
  std::string head_bytes;
};

gw::ResponseHead head_with(int status, std::optional<uint64_t> length) {
  gw::ResponseHead head;
  head.status = status;
  head.headers.push_back({"Content-Type", "text/plain"});
  if (length) head.headers.push_back({"Content-Length", std::to_string(*length)});
  return head;
}

const std::string_view kGet11 = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

}  // namespace

TEST_CASE("file send: the HTTP codec allows raw bytes only for a Content-Length body") {
  SUBCASE("Content-Length: all of it, counted as write_body counts") {
    Answering a(kGet11, head_with(200, 1000));
    CHECK(a.codec.raw_body_allowance(1) == 1000);
    std::string out;
    a.codec.write_body(1, std::string(100, 'x'), out);
    CHECK(a.codec.raw_body_allowance(1) == 900);
    CHECK(a.codec.take_raw_body(1, 900) == 900);
    CHECK(a.codec.raw_body_allowance(1) == 0);
    CHECK(a.codec.write_end(1, out));  // complete: kept alive
  }
  SUBCASE("more than announced: cut, and the connection ends") {
    Answering a(kGet11, head_with(200, 10));
    CHECK(a.codec.take_raw_body(1, 11) == 10);
    std::string out;
    CHECK_FALSE(a.codec.write_end(1, out));
  }
  SUBCASE("fewer than announced: the connection ends") {
    Answering a(kGet11, head_with(200, 10));
    CHECK(a.codec.take_raw_body(1, 9) == 9);
    std::string out;
    CHECK_FALSE(a.codec.write_end(1, out));
  }
  SUBCASE("chunked") {
    Answering a(kGet11, head_with(200, std::nullopt));
    CHECK(a.head_bytes.find("Transfer-Encoding: chunked") != std::string::npos);
    CHECK(a.codec.raw_body_allowance(1) == 0);
    CHECK(a.codec.take_raw_body(1, 5) == 0);
  }
  SUBCASE("HEAD") {
    Answering a("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n", head_with(200, 1000));
    CHECK(a.codec.raw_body_allowance(1) == 0);
  }
  SUBCASE("304 and 204") {
    Answering a(kGet11, head_with(304, 1000));
    CHECK(a.codec.raw_body_allowance(1) == 0);
    Answering b(kGet11, head_with(204, std::nullopt));
    CHECK(b.codec.raw_body_allowance(1) == 0);
  }
  SUBCASE("HTTP/1.0 with a Content-Length") {
    Answering a("GET / HTTP/1.0\r\n\r\n", head_with(200, 7));
    CHECK(a.codec.raw_body_allowance(1) == 7);
  }
  SUBCASE("before the head") {
    gw::Http1ServerCodec codec{gw::Limits{}};
    std::vector<gw::Event> events;
    std::string out;
    codec.feed(kGet11, events, out);
    CHECK(codec.raw_body_allowance(1) == 0);
  }
}

// ---- The static backend over a plain HTTP listener ----

namespace {

using Client = gw::test::LoopbackClient;

struct Records : gw::RequestObserver {
  std::vector<gw::RequestRecord> finished;
  void request_started(const gw::RequestRecord&) override {}
  void request_finished(const gw::RequestRecord& r) override { finished.push_back(r); }
};

class Site : public TempDir {
 public:
  Site() : TempDir("file-send-site") {
    write("files/project.json", R"({"backend": {"type": "static", "root": "htdocs"}})");
    small = random_bytes(1234, 10);
    big = random_bytes(6 << 20, 11);
    write("files/htdocs/small.bin", small);
    write("files/htdocs/big.bin", big);
  }
  std::string small;
  std::string big;
};

struct Running {
  explicit Running(TestLoop& loop, const Site& site, gw::Limits limits = {})
      : port(gw::test::free_port()), scgi_port(gw::test::free_port()) {
    s.config.limits = limits;
    gw::ListenerConfig l;
    l.protocol = gw::Protocol::Http;
    l.host = "127.0.0.1";
    l.port = port;
    gw::ListenerConfig scgi = l;
    scgi.protocol = gw::Protocol::Scgi;
    scgi.port = scgi_port;
    s.config.env_parent_dir = site.path();
    s.config.listeners = {l, scgi};
    auto err = gw::load_projects(s.config, s.projects);
    if (err) FAIL("load_projects: " << err->message());
    server = std::make_unique<gw::Server>(loop.get(), s.config, s.projects);
    server->set_observer(&records);
    REQUIRE_FALSE(server->start().has_value());
  }
  void stop(TestLoop& loop) {
    server->stop();
    loop.run_until([&] { return server->connection_count() == 0; });
  }
  uint16_t port;
  uint16_t scgi_port;
  gw::Startup s;
  Records records;
  std::unique_ptr<gw::Server> server;
};

std::string body_of(const std::string& response) {
  return response.substr(response.find("\r\n\r\n") + 4);
}

std::string get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: t\r\n" + extra + "\r\n";
}

std::string scgi_get(const std::string& path) {
  std::string block;
  for (std::string_view v :
       {"CONTENT_LENGTH", "0", "SCGI", "1", "REQUEST_METHOD", "GET", "REQUEST_URI"}) {
    block.append(v);
    block.push_back('\0');
  }
  block += path;
  block.push_back('\0');
  return std::to_string(block.size()) + ":" + block + ",";
}

}  // namespace

TEST_CASE("file send: static files over a plain HTTP listener go by sendfile(2)") {
  TestLoop loop(20000);
  Site site;
  Running run(loop, site);
  const size_t fds_before = open_fds();

  SUBCASE("a small file") {
    const auto before = Stream::file_stats();
    Client c(run.port);
    c.send(get("/files/small.bin"));
    REQUIRE(loop.run_until([&] { return c.has_response(); }));
    std::string r = c.take_response();
    CHECK(r.starts_with("HTTP/1.1 200 "));
    CHECK(r.find("Content-Length: 1234\r\n") != std::string::npos);
    CHECK(body_of(r) == site.small);
    const auto after = Stream::file_stats();
    CHECK(after.sendfile_bytes - before.sendfile_bytes == 1234);
    CHECK(after.copied_bytes == before.copied_bytes);
    REQUIRE(run.records.finished.size() == 1);
    CHECK(run.records.finished[0].bytes_out == 1234);
    CHECK_FALSE(run.records.finished[0].aborted);
  }
  SUBCASE("a file larger than the socket buffers, to a slow reader") {
    const auto before = Stream::file_stats();
    Client c(run.port);
    c.send(get("/files/big.bin"));
    // Nothing read for a while: the socket fills up and the server waits.
    loop.run_for(200);
    CHECK(run.records.finished.empty());
    REQUIRE(loop.run_until([&] { return c.has_response(); }));
    std::string r = c.take_response();
    CHECK(r.starts_with("HTTP/1.1 200 "));
    CHECK(body_of(r) == site.big);
    const auto after = Stream::file_stats();
    const uint64_t by_sendfile = after.sendfile_bytes - before.sendfile_bytes;
    const uint64_t copied = after.copied_bytes - before.copied_bytes;
    CHECK(by_sendfile + copied == site.big.size());
    CHECK(copied > 0);
    CHECK(by_sendfile > site.big.size() / 2);
    REQUIRE(loop.run_until([&] { return run.records.finished.size() == 1; }));
    CHECK(run.records.finished[0].bytes_out == site.big.size());
    CHECK_FALSE(run.records.finished[0].aborted);
    // Kept alive: the next request on the same connection is answered.
    c.send(get("/files/small.bin"));
    REQUIRE(loop.run_until([&] { return c.has_response(); }));
    CHECK(body_of(c.take_response()) == site.small);
  }
  SUBCASE("a Range") {
    const auto before = Stream::file_stats();
    Client c(run.port);
    c.send(get("/files/big.bin", "Range: bytes=1000000-1000999\r\n"));
    REQUIRE(loop.run_until([&] { return c.has_response(); }));
    std::string r = c.take_response();
    CHECK(r.starts_with("HTTP/1.1 206 "));
    CHECK(r.find("Content-Range: bytes 1000000-1000999/" + std::to_string(site.big.size())) !=
          std::string::npos);
    CHECK(body_of(r) == site.big.substr(1000000, 1000));
    CHECK(Stream::file_stats().sendfile_bytes - before.sendfile_bytes == 1000);
  }
  SUBCASE("HEAD: no body, and the connection goes on") {
    const auto before = Stream::file_stats();
    Client c(run.port);
    c.send("HEAD /files/big.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    REQUIRE(loop.run_until([&] {
      c.poll();
      return c.received().find("\r\n\r\n") != std::string::npos;
    }));
    loop.run_for(50);
    c.poll();
    CHECK(c.received().starts_with("HTTP/1.1 200 "));
    CHECK(c.received().ends_with("\r\n\r\n"));  // the head alone
    CHECK(c.received().find("Content-Length: " + std::to_string(site.big.size())) !=
          std::string::npos);
    CHECK(Stream::file_stats().sendfile_bytes == before.sendfile_bytes);
    c.clear();
    c.send(get("/files/small.bin"));
    REQUIRE(loop.run_until([&] { return c.has_response(); }));
    CHECK(body_of(c.take_response()) == site.small);
  }
  SUBCASE("pipelined requests are answered in order") {
    Client c(run.port);
    c.send(get("/files/big.bin", "Range: bytes=0-299999\r\n") + get("/files/small.bin") +
           get("/files/big.bin", "Range: bytes=-5\r\n"));
    REQUIRE(loop.run_until([&] { return c.has_response(); }));
    CHECK(body_of(c.take_response()) == site.big.substr(0, 300000));
    REQUIRE(loop.run_until([&] { return c.has_response(); }));
    CHECK(body_of(c.take_response()) == site.small);
    REQUIRE(loop.run_until([&] { return c.has_response(); }));
    CHECK(body_of(c.take_response()) == site.big.substr(site.big.size() - 5));
    CHECK(c.received().empty());
  }
  SUBCASE("over SCGI the body is copied as before") {
    const auto before = Stream::file_stats();
    Client c(run.scgi_port);
    c.send(scgi_get("/files/big.bin"));
    REQUIRE(loop.run_until([&] { return c.poll(); }));  // SCGI ends with the close
    CHECK(c.received().starts_with("Status: 200 OK\r\n"));
    CHECK(body_of(c.received()) == site.big);
    const auto after = Stream::file_stats();
    CHECK(after.sendfile_bytes == before.sendfile_bytes);
    CHECK(after.copied_bytes == before.copied_bytes);
  }
  SUBCASE("the client goes away mid-file") {
    {
      Client c(run.port);
      c.send(get("/files/big.bin"));
      REQUIRE(loop.run_until([&] {
        c.poll();
        return c.received().size() > 100000;
      }));
      CHECK(run.server->connection_count() == 1);
    }  // closed with unread bytes: a reset
    REQUIRE(loop.run_until([&] { return run.server->connection_count() == 0; }));
    REQUIRE(run.records.finished.size() == 1);
    CHECK(run.records.finished[0].aborted);
    CHECK(run.records.finished[0].bytes_out > 0);
    CHECK(run.records.finished[0].bytes_out < site.big.size());
  }
  loop.run_until([&] { return run.server->connection_count() == 0; }, 2000);
  loop.run_for(20);
  CHECK(open_fds() == fds_before);  // the file and the sockets are closed
  run.stop(loop);
}

TEST_CASE("file send: the request timeout still cuts a download nobody reads") {
  TestLoop loop(20000);
  Site site;
  gw::Limits limits;
  limits.request_timeout_ms = 300;
  Running run(loop, site, limits);
  const size_t fds_before = open_fds();
  {
    Client c(run.port);
    c.send(get("/files/big.bin"));
    // Never read: the socket fills and the file waits until the timeout.
    REQUIRE(loop.run_until([&] { return run.records.finished.size() == 1; }));
    CHECK(run.records.finished[0].aborted);
    CHECK(run.records.finished[0].bytes_out < site.big.size());
    // The rest of the file is not sent: what was queued arrives, then the
    // close, and the response is cut short.
    REQUIRE(loop.run_until([&] { return c.poll(); }));
    CHECK(c.received().starts_with("HTTP/1.1 200 "));
    CHECK(c.received().size() < site.big.size());
    CHECK(body_of(c.received()) == site.big.substr(0, body_of(c.received()).size()));
    REQUIRE(loop.run_until([&] { return run.server->connection_count() == 0; }));
  }
  loop.run_for(20);
  CHECK(open_fds() == fds_before);
  run.stop(loop);
}
