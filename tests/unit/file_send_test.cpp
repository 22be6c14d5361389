// Files sent with sendfile(2): io::Stream::send_file on a socket pair (order
// with the bytes written around the file, a full socket, a file that
// shrinks, a cancel, a close, the descriptor closed every way) and the HTTP
// codec's raw body allowance. The Stream's counters show that the bytes went
// by sendfile(2), so a silent fallback to the copy fails these tests.
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "gateway/io/stream.h"
#include "protocols/http1_server.h"
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
    p.stream->write("HEAD|");
    p.stream->send_file(open_file(path), 10, 90000, done.callback());
    p.stream->write("|TAIL");
    REQUIRE(loop.run_until([&] {
      p.read();
      return p.got.size() >= 5 + 90000 + 5;
    }));
    CHECK(p.got == "HEAD|" + body.substr(10, 90000) + "|TAIL");
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
  p.stream->send_file(open_file(path), 0, size, done.callback());
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

TEST_CASE("file send: a file shorter than announced ends with UV_EOF") {
  TestLoop loop;
  TempDir dir("file-send");
  const std::string path = dir.write("short", "0123456789");
  Pair p(loop.get());
  Done done;
  p.stream->send_file(open_file(path), 4, 100, done.callback());
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
    p.stream->send_file(open_file(path), 0, size, done.callback());
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
    p.stream->send_file(open_file(path), 0, size, done.callback());
    p.stream->close(false);
    CHECK(done.status == std::optional<int>(UV_ECANCELED));
    CHECK(loop.run_until([&] { return p.recorder.closed; }));
  }
  SUBCASE("close(true) waits for the whole file") {
    Pair p(loop.get(), 64 * 1024);
    Done done;
    p.stream->send_file(open_file(path), 0, size, done.callback());
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
    p.stream->send_file(open_file(path), 0, size, done.callback());
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
    p.stream->send_file(open_file(path), 0, size, done.callback());
    p.stream.reset();
    CHECK_FALSE(done.status.has_value());
  }
  loop.run_for(20);
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
