// The app side of backend tests: a listening socket (127.0.0.1:0 or a unix
// socket), and accepted connections read with blocking calls on threads of
// their own. Every read is bounded in time so that a broken backend makes a
// test fail, never hang.
#pragma once

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/support/loopback_client.h"

namespace gw::test {

constexpr int kAppReadTimeoutMs = 3000;  // one read or close awaited by the app

// A 127.0.0.1 port nothing listens on: bound once, closed, never listened
// on, so a connect is refused.
inline uint16_t closed_port() {
  return free_port();
}

// A bound, listening socket: TCP on 127.0.0.1 with a free port when
// `unix_path` is empty, else that unix socket (removed again at the end).
class TestListener {
 public:
  explicit TestListener(std::string unix_path = "", int backlog = 16)
      : unix_path_(std::move(unix_path)) {
    if (unix_path_.empty()) {
      fd_ = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
      socklen_t len = sizeof sin;
      getsockname(fd_, reinterpret_cast<sockaddr*>(&sin), &len);
      port_ = ntohs(sin.sin_port);
    } else {
      ::unlink(unix_path_.c_str());
      fd_ = socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un sun{};
      sun.sun_family = AF_UNIX;
      snprintf(sun.sun_path, sizeof sun.sun_path, "%s", unix_path_.c_str());
      REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0);
    }
    REQUIRE(listen(fd_, backlog) == 0);
  }
  ~TestListener() {
    ::close(fd_);
    if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
  }
  TestListener(const TestListener&) = delete;
  TestListener& operator=(const TestListener&) = delete;

  // As a backend's "upstream" names it.
  std::string address() const {
    return unix_path_.empty() ? "127.0.0.1:" + std::to_string(port_) : "unix:" + unix_path_;
  }
  int fd() const { return fd_; }
  uint16_t port() const { return port_; }

 private:
  std::string unix_path_;
  int fd_ = -1;
  uint16_t port_ = 0;
};

// One accepted connection, from the app's side. Protocol readers derive
// from it and parse buf_, refilled by need() / fill().
class AppSocket {
 public:
  AppSocket(int fd, const std::atomic<bool>& stopping) : fd_(fd), stopping_(stopping) {}
  ~AppSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  AppSocket(const AppSocket&) = delete;
  AppSocket& operator=(const AppSocket&) = delete;

  void send(std::string_view bytes) {
    while (!bytes.empty() && fd_ >= 0) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }

  // True when the backend closes its side (EOF or reset) in time.
  bool wait_closed() {
    while (fill()) buf_.clear();
    return closed_;
  }

  // Closes with a reset instead of a FIN.
  void reset() {
    linger lg{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    ::close(fd_);
    fd_ = -1;
  }

  // Reads everything until the backend closes, discarding it.
  size_t drain() {
    size_t total = buf_.size();
    buf_.clear();
    while (fill()) {
      total += buf_.size();
      buf_.clear();
    }
    return total;
  }

 protected:
  bool need(size_t n) {
    while (buf_.size() < n) {
      if (!fill()) return false;
    }
    return true;
  }

  // One recv, waiting at most kAppReadTimeoutMs (less when the app stops).
  bool fill() {
    auto deadline = Clock::now() + std::chrono::milliseconds(kAppReadTimeoutMs);
    while (fd_ >= 0 && !stopping_ && Clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      char chunk[65536];
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) {
        closed_ = true;
        return false;
      }
      buf_.append(chunk, static_cast<size_t>(n));
      return true;
    }
    return false;
  }

  using Clock = std::chrono::steady_clock;
  int fd_;
  const std::atomic<bool>& stopping_;
  std::string buf_;
  bool closed_ = false;
};

// Accepts connections and runs `handler(conn, index)` for each on a thread
// of its own, `Conn` being built from (fd, stopping). What handlers record()
// is read after stop() (the joins order it); accepts() and flag() may be
// read while it runs.
template <typename Conn, typename Record>
class TestApp {
 public:
  using Handler = std::function<void(Conn&, int)>;

  explicit TestApp(Handler handler, std::string unix_path = "", int backlog = 16)
      : handler_(std::move(handler)), listener_(std::move(unix_path), backlog) {
    if (handler_) thread_ = std::thread([this] { serve(); });
  }
  ~TestApp() { stop(); }

  std::string address() const { return listener_.address(); }
  int fd() const { return listener_.fd(); }
  uint16_t port() const { return listener_.port(); }
  int accepts() const { return accepts_; }
  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  void set_flag(int i) { flags_[i] = true; }
  bool flag(int i) const { return flags_[i]; }
  void record(Record r) {
    std::lock_guard<std::mutex> lock(mutex_);
    requests.push_back(std::move(r));
  }

  std::vector<Record> requests;  // what handlers recorded, in order

 private:
  void serve() {
    std::vector<std::thread> conns;
    while (!stopping_) {
      pollfd p{listener_.fd(), POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int c = accept(listener_.fd(), nullptr, nullptr);
      if (c < 0) continue;
      int index = accepts_++;
      conns.emplace_back([this, c, index] {
        Conn conn(c, stopping_);
        handler_(conn, index);
      });
    }
    for (auto& t : conns) t.join();
  }

  Handler handler_;
  TestListener listener_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepts_{0};
  std::atomic<bool> flags_[4] = {};
  std::mutex mutex_;
  std::thread thread_;
};

}  // namespace gw::test
