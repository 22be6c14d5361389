// Stream::close_lingering: an answer written just before closing a socket
// whose peer is still sending must reach the peer, not be overtaken by a
// reset (Linux resets a socket closed with unread input, AF_UNIX and TCP
// alike), and the wait for the peer is bounded.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <string>

#include "gateway/io/stream.h"
#include "tests/support/test_loop.h"

namespace {

struct Recorder : gw::io::StreamHandler {
  size_t read_bytes = 0;
  bool closed = false;
  void on_read(std::string_view data) override { read_bytes += data.size(); }
  void on_eof() override {}
  void on_error(int) override {}
  void on_closed() override { closed = true; }
};

// One end wrapped in a Stream, the other a plain non-blocking socket: the peer.
struct Pair {
  explicit Pair(uv_loop_t* loop) {
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    REQUIRE(fcntl(fds[1], F_SETFL, O_NONBLOCK) == 0);
    auto* pipe = new uv_pipe_t;
    uv_pipe_init(loop, pipe, 0);
    REQUIRE(uv_pipe_open(pipe, fds[0]) == 0);
    stream = std::make_unique<gw::io::Stream>(reinterpret_cast<uv_stream_t*>(pipe));
    stream->set_handler(&recorder);
  }
  ~Pair() {
    if (peer >= 0) close(peer);
  }
  // Sends what the socket takes now; false once the other side is gone.
  bool peer_send(size_t n) {
    std::string data(n, 'x');
    ssize_t sent = send(peer, data.data(), data.size(), MSG_NOSIGNAL);
    return sent >= 0 || errno == EAGAIN;
  }
  int fds[2];
  int& peer = fds[1];
  Recorder recorder;
  std::unique_ptr<gw::io::Stream> stream;
};

}  // namespace

TEST_CASE("stream: the answer reaches a peer that is still sending, then the close waits for it") {
  gw::test::TestLoop loop;
  Pair p(loop.get());
  REQUIRE(p.peer_send(64 * 1024));  // input nobody will read
  p.stream->write("ANSWER");
  p.stream->close_lingering();
  CHECK(p.stream->closing());

  std::string got;
  bool eof = false, reset = false;
  CHECK(loop.run_until([&] {
    p.peer_send(4096);  // still sending, as a client mid-upload does
    char buf[256];
    ssize_t n = recv(p.peer, buf, sizeof buf, 0);
    if (n > 0) got.append(buf, static_cast<size_t>(n));
    if (n == 0) eof = true;
    if (n < 0 && errno != EAGAIN) reset = true;
    return eof || reset;
  }));
  CHECK_FALSE(reset);
  CHECK(got == "ANSWER");
  CHECK_FALSE(p.recorder.closed);  // lingering until the peer closes

  close(p.peer);
  p.peer = -1;
  CHECK(loop.run_until([&] { return p.recorder.closed; }));
  CHECK(p.recorder.read_bytes == 0);  // the discarded input never reached the handler
}

TEST_CASE("stream: lingering ends once the peer has sent kLingerBytes more") {
  gw::test::TestLoop loop;
  Pair p(loop.get());
  p.stream->close_lingering();
  size_t sent_rounds = 0;
  CHECK(loop.run_until(
      [&] {
        if (p.peer_send(64 * 1024)) ++sent_rounds;
        return p.recorder.closed;
      },
      20000));
  CHECK(sent_rounds * 64 * 1024 > gw::io::Stream::kLingerBytes / 2);
}

TEST_CASE("stream: close(false) cuts the lingering short; writes after it are dropped") {
  gw::test::TestLoop loop;
  Pair p(loop.get());
  p.stream->close_lingering();
  p.stream->write("late");  // ignored: the answer was complete
  p.stream->close(false);
  CHECK(loop.run_until([&] { return p.recorder.closed; }));
  char buf[16];
  ssize_t n = recv(p.peer, buf, sizeof buf, 0);
  CHECK(n <= 0);
}

TEST_CASE("stream: a Stream destroyed while lingering closes its socket") {
  gw::test::TestLoop loop;
  Pair p(loop.get());
  p.stream->close_lingering();
  p.stream.reset();
  char buf[16];
  bool closed = loop.run_until([&] {
    ssize_t n = recv(p.peer, buf, sizeof buf, 0);
    return n == 0 || (n < 0 && errno != EAGAIN);
  });
  CHECK(closed);
}
