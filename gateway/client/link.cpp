// ClientLink: connect, read buffering, inactivity timeout (see link.h).
#include "gateway/client/link.h"

#include <uv.h>

#include <cstdio>

#include "gateway/client/endpoint.h"

namespace gw::client {

namespace {

// A reader leaves at most one partial unit unconsumed (an AJP packet, an
// HTTP head line), far below this; more means bytes nobody will ever use.
constexpr size_t kMaxUnused = 1 << 20;

std::string error_text(int uv_error) {
  return std::string(uv_strerror(uv_error)) + " (" + uv_err_name(uv_error) + ")";
}

}  // namespace

std::string seconds_text(uint64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", static_cast<double>(ms) / 1000.0);
  return buf;
}

ClientLink::ClientLink(uv_loop_s* loop, LinkUser& user, Protocol protocol, io::Address address,
                       std::string display, uint64_t timeout_ms)
    : loop_(loop),
      user_(user),
      protocol_(protocol),
      address_(std::move(address)),
      display_(std::move(display)),
      timeout_ms_(timeout_ms),
      timer_(loop) {}

ClientLink::~ClientLink() {
  *alive_ = false;
  close();
}

std::string ClientLink::title() const {
  return std::string(protocol_title(protocol_));
}

void ClientLink::connect() {
  close();
  watch();
  int rc = io::Stream::connect(
      loop_, address_,
      [this](int status, std::unique_ptr<io::Stream> stream) {
        on_connect(status, std::move(stream));
      },
      pending_);
  if (rc < 0) {
    // Reported on a later turn, so that a caller retrying in its failure
    // handler never recurses.
    pending_.reset();
    io::defer(loop_, [alive = alive_, this, generation = generation_, rc] {
      if (*alive && generation == generation_) connect_failed(rc);
    });
  }
}

void ClientLink::on_connect(int status, std::unique_ptr<io::Stream> stream) {
  pending_.reset();
  if (status < 0) {
    connect_failed(status);
    return;
  }
  stream_ = std::move(stream);
  stream_->set_handler(this);
  stream_->read_start();
  touch();
  user_.on_connected();
}

void ClientLink::connect_failed(int uv_error) {
  close();
  user_.on_link_failed(ClientError{
      Failure::Connect, title() + ": cannot connect to " + display_ + ": " + error_text(uv_error)});
}

void ClientLink::write(std::string_view data) {
  if (!stream_) return;
  touch();
  stream_->write(data);
}

void ClientLink::watch() {
  watching_ = true;
  touch();
  arm(timeout_ms_);
}

void ClientLink::unwatch() {
  watching_ = false;
  timer_.stop();
}

void ClientLink::arm(uint64_t ms) {
  timer_.start(ms, [this] { on_timer(); });
}

void ClientLink::touch() {
  last_activity_ = uv_now(loop_);
}

// One timer start per timeout period, not per read: the deadline moves
// with last_activity_ and the timer only checks it.
void ClientLink::on_timer() {
  if (!watching_) return;
  uint64_t idle = uv_now(loop_) - last_activity_;
  if (idle < timeout_ms_) {
    arm(timeout_ms_ - idle);
    return;
  }
  std::string what =
      title() + ": timed out after " + seconds_text(timeout_ms_) +
      (connected() ? " waiting for " + user_.waiting_for() : " connecting to " + display_);
  close();
  user_.on_link_failed(ClientError{Failure::Timeout, std::move(what)});
}

void ClientLink::close() {
  ++generation_;
  unwatch();
  input_.clear();
  if (pending_) {
    pending_->cancel();
    pending_.reset();
  }
  if (stream_) {
    // Deleted on a later turn: close() may run inside one of the stream's
    // own callbacks. Without a handler it reports nothing more.
    stream_->set_handler(nullptr);
    stream_->read_stop();
    io::Stream* retired = stream_.release();
    io::defer(loop_, [retired] { delete retired; });
  }
}

void ClientLink::on_read(std::string_view data) {
  touch();
  const uint64_t generation = generation_;
  if (input_.empty()) {
    size_t used = user_.on_input(data);
    if (generation != generation_) return;  // closed (and maybe reconnected) meanwhile
    if (used < data.size()) input_.assign(data.substr(used));
  } else {
    input_.append(data);
    size_t used = user_.on_input(input_);
    if (generation != generation_) return;
    input_.erase(0, used);
  }
  if (input_.size() > kMaxUnused) {
    close();
    user_.on_link_failed(
        ClientError{Failure::Malformed, title() + ": more than 1 MiB from " + display_ +
                                            " that is not part of any message while waiting for " +
                                            user_.waiting_for()});
  }
}

void ClientLink::on_eof() {
  touch();
  user_.on_peer_closed();
}

void ClientLink::on_error(int uv_error) {
  if (uv_error == UV_EPIPE) {
    user_.on_send_failed();
    return;
  }
  std::string what = title() + ": " +
                     (uv_error == UV_ECONNRESET
                          ? std::string("connection reset by ") + display_
                          : "connection to " + display_ + " failed: " + error_text(uv_error)) +
                     " while waiting for " + user_.waiting_for();
  close();
  user_.on_link_failed(ClientError{Failure::Closed, std::move(what)});
}

void ClientLink::on_drain() {
  touch();
  user_.on_writable();
}

}  // namespace gw::client
