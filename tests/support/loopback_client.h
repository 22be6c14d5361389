// A plain TCP client on 127.0.0.1 for tests that run a Server on a real
// loop: the socket is connected blocking (the kernel completes a connect()
// from the listen backlog, so a client may connect before the server has
// accepted) and read without blocking while the test runs the loop.
#pragma once

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>

namespace gw::test {

// A port nothing listens on right now (bound to port 0, then released).
inline uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

class LoopbackClient {
 public:
  explicit LoopbackClient(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    connect_errno_ = connected_ ? 0 : errno;
  }
  ~LoopbackClient() { close(fd_); }
  LoopbackClient(const LoopbackClient&) = delete;
  LoopbackClient& operator=(const LoopbackClient&) = delete;

  bool connected() const { return connected_; }
  int connect_errno() const { return connect_errno_; }
  void send(const std::string& bytes) {
    REQUIRE(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(bytes.size()));
  }
  // Takes what has arrived; true once the peer has closed.
  bool poll() {
    char buf[4096];
    for (;;) {
      ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        received_.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) eof_ = true;
      return eof_;
    }
  }
  // One whole HTTP response (by its Content-Length) is in.
  bool has_response() {
    poll();
    size_t end = received_.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    size_t cl = received_.find("Content-Length: ");
    if (cl == std::string::npos || cl > end) return false;
    size_t length = std::stoul(received_.substr(cl + 16));
    return received_.size() >= end + 4 + length;
  }
  // Takes the first whole response off the buffer and returns it.
  std::string take_response() {
    size_t end = received_.find("\r\n\r\n");
    size_t cl = received_.find("Content-Length: ");
    size_t length = std::stoul(received_.substr(cl + 16));
    std::string r = received_.substr(0, end + 4 + length);
    received_.erase(0, r.size());
    return r;
  }
  void clear() { received_.clear(); }
  const std::string& received() const { return received_; }
  bool eof() const { return eof_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  int connect_errno_ = 0;
  std::string received_;
  bool eof_ = false;
};

}  // namespace gw::test
