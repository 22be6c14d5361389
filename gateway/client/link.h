// One client connection of gatewayd-client, shared by one-request mode,
// the probes and every --bench connection: connect with a timeout, an
// inactivity timeout while an exchange is in progress (anything moving in
// either direction restarts it), input kept across reads for the bytes a
// reader could not use yet, and failures turned into ClientErrors that
// name the protocol and what was awaited. A link can be connected again
// after close(), so a --bench connection reuses its buffers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/client/errors.h"
#include "gateway/io/address.h"
#include "gateway/io/stream.h"
#include "gateway/io/timer.h"
#include "protocols/request.h"

struct uv_loop_s;

namespace gw::client {

class LinkUser {
 public:
  virtual ~LinkUser() = default;
  virtual void on_connected() = 0;
  // Bytes from the peer (earlier unused bytes first); returns how many were
  // used. The rest is offered again with the next bytes.
  virtual size_t on_input(std::string_view data) = 0;
  // The peer closed its side (the link is still open for writing).
  virtual void on_peer_closed() = 0;
  // Connecting failed, the timeout passed, or the connection broke; the
  // link is closed already and may be connected again from here.
  virtual void on_link_failed(ClientError error) = 0;
  // A write failed with EPIPE: the peer stopped reading, but it may still
  // be answering (an early error response); reading goes on.
  virtual void on_send_failed() {}
  // The write queue emptied.
  virtual void on_writable() {}
  // What the exchange waits for, for timeout and reset messages.
  virtual std::string waiting_for() const = 0;
};

class ClientLink final : private io::StreamHandler {
 public:
  // `display` names the peer in messages ("127.0.0.1:8000").
  ClientLink(uv_loop_s* loop, LinkUser& user, Protocol protocol, io::Address address,
             std::string display, uint64_t timeout_ms);
  ~ClientLink() override;
  ClientLink(const ClientLink&) = delete;
  ClientLink& operator=(const ClientLink&) = delete;

  // Starts connecting (watching the timeout); on_connected or
  // on_link_failed follows, never from inside connect().
  void connect();
  bool connected() const { return stream_ != nullptr; }
  bool connecting() const { return pending_ != nullptr; }

  void write(std::string_view data);
  size_t queued() const { return stream_ ? stream_->queued() : 0; }

  // Watch for inactivity while an exchange is in progress; unwatch while
  // the connection waits for nothing (a kept connection between requests).
  void watch();
  void unwatch();

  // Closes at once; no callback comes after it.
  void close();

 private:
  void on_read(std::string_view data) override;
  void on_eof() override;
  void on_error(int uv_error) override;
  void on_drain() override;

  void on_connect(int status, std::unique_ptr<io::Stream> stream);
  void connect_failed(int uv_error);
  void arm(uint64_t ms);
  void on_timer();
  void touch();
  std::string title() const;

  uv_loop_s* loop_;
  LinkUser& user_;
  Protocol protocol_;
  io::Address address_;
  std::string display_;
  uint64_t timeout_ms_;
  std::unique_ptr<io::Stream> stream_;
  std::shared_ptr<io::Stream::PendingConnect> pending_;
  io::Timer timer_;
  bool watching_ = false;
  uint64_t last_activity_ = 0;  // uv_now() of the last byte moved
  uint64_t generation_ = 0;     // bumped by close(): stale callbacks see it
  std::string input_;           // bytes the user could not use yet
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// "30 s", "0.5 s".
std::string seconds_text(uint64_t ms);

}  // namespace gw::client
