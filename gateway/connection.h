// One accepted connection: its socket, its protocol codec, and the requests
// in flight on it. It moves bytes between the socket and the codec, starts a
// backend exchange per request, and applies backpressure both ways.
//
// Lifetime: owned by the Server. It ends in exactly one place: on_closed()
// (the socket handle has closed), which hands it back to the Server to be
// freed on a later loop turn. It holds its listener's settings (shared): a
// reload may change or close the listener while this connection still serves.
//
// Graceful stop: drain() closes an idle connection at once and a busy one as
// soon as its last request in flight has been answered.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dispatch/backend.h"
#include "gateway/config.h"
#include "gateway/io/channel.h"
#include "gateway/io/timer.h"
#include "gateway/request_record.h"
#include "protocols/codec.h"

namespace gw {

class Server;

// The two ends of an accepted TCP socket; empty for a unix socket.
struct PeerInfo {
  std::string remote_addr;
  uint16_t remote_port = 0;
  std::string local_addr;
  uint16_t local_port = 0;
  // An accepted TCP socket not asked yet: the addresses are read from it when
  // first needed. FastCGI, SCGI and AJP13 carry the client's address in the
  // request, so their connections log with it only when something goes wrong,
  // and the two system calls are saved on every other connection.
  int unread_fd = -1;
};

// getpeername() and getsockname() of an accepted TCP socket.
PeerInfo look_up_peer(int fd);

std::unique_ptr<ServerCodec> make_server_codec(const ListenerConfig& listener,
                                               const Limits& limits);

class Connection final : public io::StreamHandler {
 public:
  // `channel` is a plain socket, or TLS over one for an https listener.
  Connection(Server& server, std::shared_ptr<const ListenerConfig> listener,
             std::unique_ptr<io::Channel> channel, PeerInfo peer);
  ~Connection() override;

  void start();
  // Stops work and closes the socket (after writing what is queued if flush).
  void close(bool flush);
  // Graceful stop: no further request is expected; close when idle.
  void drain();
  size_t requests_in_flight() const { return requests_.size(); }
  // Bytes the connection's input and output buffers hold (their capacity).
  size_t buffer_bytes() const { return in_.capacity() + out_.capacity(); }

 private:
  class RequestState;
  friend class RequestState;

  void on_read(std::string_view data) override;
  void on_eof() override;
  void on_error(int uv_error) override;
  void on_drain() override;
  void on_closed() override;

  void process_input();
  void handle_event(Event& event);
  void request_more_body();
  void start_request(RequestStarted& started);
  void begin_record(RequestRecord& record, const Request& req);
  void respond_locally(RequestState& state, int status, std::string_view content_type,
                       std::string body, std::vector<Header> extra = {});
  void end_request(StreamId id, bool aborted);
  void retire(StreamId id);
  bool all_bodies_read() const;  // of every request in flight
  void trim_idle_buffers();
  void flush();
  void flush_soon();
  bool input_paused() const;
  void resume_reading();
  void arm_idle_timer();
  void update_body_timer(bool progress);
  void on_header_timeout();
  void on_body_timeout();
  void on_request_timeout(StreamId id);
  void close_after_timeout();
  std::string tag() const;
  // No request in flight and none begun: nothing read since the last ended.
  bool idle() const { return requests_.empty() && in_.empty() && bytes_read_ == bytes_at_idle_; }

  Server& server_;
  std::shared_ptr<const ListenerConfig> listener_config_;  // keeps listener_ valid
  const ListenerConfig& listener_;
  std::unique_ptr<io::Channel> stream_;
  std::unique_ptr<ServerCodec> codec_;
  const PeerInfo& peer() const;  // reads the socket's addresses on first use
  mutable PeerInfo peer_;
  io::Timer idle_timer_;  // keep-alive, or the head's timeout once its bytes come
  io::Timer body_timer_;  // between two reads of a request body
  bool head_timer_on_ = false;
  bool served_ = false;  // a request has been answered on this connection
  bool body_timer_on_ = false;
  std::string in_;
  std::string out_;
  std::vector<Event> events_;
  std::map<StreamId, std::unique_ptr<RequestState>> requests_;
  bool closing_ = false;
  bool input_eof_ = false;
  bool in_process_ = false;
  bool refeed_ = false;
  bool congestion_signalled_ = false;  // a backend was told to pause
  bool draining_ = false;              // graceful stop: close once idle
  uint64_t bytes_read_ = 0;
  uint64_t bytes_at_idle_ = 0;  // bytes_read_ when the last request in flight ended
};

}  // namespace gw
