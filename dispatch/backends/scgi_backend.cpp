// The `scgi` backend: one connection per request to an SCGI app.
#include "dispatch/backends/scgi_backend.h"

#include <optional>
#include <utility>

#include "dispatch/backends/upstream.h"
#include "dispatch/backends/upstream_timers.h"
#include "gateway/io/address.h"
#include "gateway/io/stream.h"
#include "gateway/io/timer.h"
#include "protocols/cgi_params.h"
#include "protocols/cgi_response.h"
#include "protocols/scgi_client.h"

namespace gw {

namespace {

// Request body bytes queued towards the app (or held while connecting) above
// which the connection is asked to stop reading the client.
constexpr size_t kBodyHighWater = 256 * 1024;

}  // namespace

std::vector<Header> scgi_request_vars(const Request& request, const std::vector<Header>& params) {
  std::vector<Header> vars = cgi_from_request(request, CgiContext{});
  for (const Header& p : params) {
    if (p.name.empty()) continue;
    bool replaced = false;
    for (Header& v : vars) {
      if (v.name == p.name) {
        v.value = p.value;
        replaced = true;
        break;
      }
    }
    if (!replaced) vars.push_back(p);
  }
  return vars;
}

// What the backend and its live exchanges share; immutable.
struct ScgiShared {
  uv_loop_s* loop;
  io::Address address;
  std::string name;
  std::vector<Header> params;
  uint32_t connect_timeout_ms;
  uint32_t timeout_ms;
  size_t max_buffered_body;
};

namespace {

// One request to the app. Also the handler of its connection.
//
// Lifecycle: begin() connects at once when the body length is known; a body
// of unknown length is held until its end and the connection made then.
// on_connected() writes the netstring and the body held so far; later body
// bytes stream. The response goes to the sink as CgiResponseParser reads its
// head, and ends when the app closes the connection. done_ marks the end of
// all sink calls: on_end, on_error or cancel().
//
// Re-entrancy: every sink call and every write may come back into this
// object (a client write error cancels us from inside on_body; a write error
// on the connection calls on_error from inside write()). After each, the
// code checks done_ before going on.
class ScgiExchange final : public Exchange, public io::StreamHandler {
 public:
  ScgiExchange(std::shared_ptr<const ScgiShared> shared, const Request& request, ResponseSink& sink)
      : shared_(std::move(shared)),
        sink_(sink),
        vars_(scgi_request_vars(request, shared_->params)),
        content_length_(request.content_length),
        timer_(shared_->loop) {
    if (content_length_ == 0) body_finished_ = true;  // nothing will come
  }
  ~ScgiExchange() override { release(); }

  void begin() {
    // SCGI needs the length before the body: an unknown one waits for the end.
    if (content_length_) connect();
  }

  void send_body(std::string_view data) override {
    if (done_ || body_finished_) return;
    if (content_length_) {
      // The front codecs never let this happen; were it to, the app would
      // read the extra bytes as nothing it asked for.
      if (data.size() > *content_length_ - body_bytes_) {
        data = data.substr(0, *content_length_ - body_bytes_);
      }
    } else if (data.size() > shared_->max_buffered_body - body_bytes_) {
      finish_with_error(411, "request body of unknown length over " +
                                 std::to_string(shared_->max_buffered_body) +
                                 " bytes: an SCGI app needs the length first");
      return;
    }
    body_bytes_ += data.size();
    if (data.empty()) return;
    if (!upstream_) {
      pending_.append(data);  // bounded by body_congested() or max_buffered_body
    } else if (write_error_.empty()) {
      if (!write_upstream(data)) return;
      arm_timer(true);
    }
    if (body_congested()) owe_drained_ = true;
  }

  void finish_body() override {
    if (done_ || body_finished_) return;
    body_finished_ = true;
    if (!content_length_) {
      connect();
      return;
    }
    if (body_bytes_ < *content_length_) {
      finish_with_error(400, "request body ended after " + std::to_string(body_bytes_) + " of " +
                                 std::to_string(*content_length_) + " bytes");
      return;
    }
    arm_timer(true);
  }

  bool body_congested() const override {
    // A body of unknown length is held whole (max_buffered_body bounds it).
    if (done_ || !content_length_ || !write_error_.empty()) return false;
    return upstream_ ? upstream_->queued() >= kBodyHighWater : pending_.size() >= kBodyHighWater;
  }

  void resume_response() override {
    if (done_ || !paused_ || sink_.congested()) return;
    if (held_head_) {
      sink_.on_head(std::move(*held_head_));
      held_head_.reset();
      if (done_) return;
      if (sink_.congested()) return;
    }
    if (!held_body_.empty()) {
      std::string body = std::move(held_body_);
      held_body_.clear();
      sink_.on_body(body);
      if (done_) return;
      if (sink_.congested()) return;
    }
    if (held_end_) {
      complete();
      return;
    }
    paused_ = false;
    if (upstream_ && !upstream_eof_) upstream_->read_start();
    arm_timer(true);
  }

  void cancel() override {
    done_ = true;
    release();
  }

  // ---- the connection ----

  void on_read(std::string_view data) override {
    if (done_) return;
    arm_timer(true);
    received_any_ = true;
    std::string_view body = data;
    if (!parser_.done()) {
      CgiFeedResult r = parser_.feed(data);
      if (r.error) {
        finish_with_error(502, who() + ": malformed response: " + r.error->what);
        return;
      }
      if (!r.done) return;  // the parser keeps a partial head
      response_started_ = true;
      ResponseHead head = parser_.take_head();
      // A local redirect the app meant us to follow; we cannot route, so
      // the client follows it (its Location is in the headers).
      if (parser_.local_redirect()) head.status = 302;
      emit_head(std::move(head));
      if (done_) return;
      body = data.substr(r.consumed);
    }
    if (!body.empty()) emit_body(body);
  }

  // SCGI has no other end of the response than the app closing.
  void on_eof() override {
    if (done_ || upstream_eof_) return;
    upstream_eof_ = true;
    if (!parser_.done()) {
      std::string why = who() + (received_any_ ? ": closed the connection inside its response head"
                                               : ": closed the connection before responding");
      if (!write_error_.empty()) why += " (request body: " + write_error_ + ")";
      finish_with_error(502, why);
      return;
    }
    if (paused_) {
      held_end_ = true;
    } else {
      complete();
    }
  }

  void on_error(int uv_error) override {
    if (done_) return;
    // A read error stops reading first; with reading still on, it was a write
    // that failed: the app stopped taking the body (it may have answered
    // without reading it all). The rest of the body is dropped and the
    // answer, or the lack of one, decides.
    if (upstream_ && upstream_->reading() && !upstream_eof_ && write_error_.empty()) {
      write_error_ = io::uv_error_text(uv_error);
      pending_ = std::string();
      if (owe_drained_) {
        owe_drained_ = false;
        sink_.on_body_drained();
      }
      return;
    }
    finish_with_error(
        502, who() + (response_started_ ? ": mid-response: " : ": ") + io::uv_error_text(uv_error));
  }

  void on_drain() override {
    if (done_) return;
    arm_timer(true);
    if (owe_drained_) {
      owe_drained_ = false;
      sink_.on_body_drained();
    }
  }

 private:
  std::string who() const { return "scgi upstream " + shared_->name; }

  void connect() {
    connect_.start(shared_->loop, shared_->address, shared_->connect_timeout_ms, timer_,
                   [this](std::unique_ptr<io::Stream> stream, int status, std::string why) {
                     on_connected(std::move(stream), status, std::move(why));
                   });
  }

  void on_connected(std::unique_ptr<io::Stream> stream, int status, std::string why) {
    if (!stream) {
      finish_with_error(status, who() + ": " + why);
      return;
    }
    upstream_ = std::move(stream);
    upstream_->set_handler(this);
    upstream_->read_start();
    uint64_t length = content_length_ ? *content_length_ : body_bytes_;
    if (!write_upstream(scgi::encode_request_head(vars_, length))) return;
    vars_ = std::vector<Header>();
    if (!pending_.empty() && write_error_.empty()) {
      std::string held = std::move(pending_);
      pending_ = std::string();
      if (!write_upstream(held)) return;
    }
    arm_timer(true);
    if (owe_drained_ && !body_congested()) {
      owe_drained_ = false;
      sink_.on_body_drained();
    }
  }

  // False when the exchange ended inside the write.
  bool write_upstream(std::string_view bytes) {
    upstream_->write(bytes);
    return !done_;
  }

  // The sink gets the response in order; while it is congested the rest is
  // held (reading stops, so at most one read's worth).
  void emit_head(ResponseHead head) {
    if (paused_ || sink_.congested()) {
      held_head_ = std::move(head);
      pause();
    } else {
      sink_.on_head(std::move(head));
    }
  }

  void emit_body(std::string_view data) {
    if (paused_ || sink_.congested()) {
      held_body_.append(data);
      pause();
    } else {
      sink_.on_body(data);
    }
  }

  void pause() {
    if (paused_) return;
    paused_ = true;
    if (upstream_) upstream_->read_stop();
    arm_timer(false);
  }

  void complete() {
    done_ = true;
    release();
    sink_.on_end();
  }

  // Runs while we wait for the app; restarted on progress either way.
  void arm_timer(bool progress) {
    if (done_ || !upstream_) return;
    stall_.arm(progress, paused_, shared_->timeout_ms);
  }

  void on_timeout() {
    if (done_ || !upstream_) return;
    auto [status, why] =
        stall_error(who(), shared_->timeout_ms, response_started_,
                    !body_finished_ && upstream_->queued() == 0 && write_error_.empty());
    finish_with_error(status, std::move(why));
  }

  void finish_with_error(int status, std::string why) {
    if (done_) return;
    done_ = true;
    release();
    sink_.on_error(status, why);
  }

  void release() {
    stall_.stop();
    connect_.cancel();
    upstream_.reset();
  }

  std::shared_ptr<const ScgiShared> shared_;
  ResponseSink& sink_;

  std::vector<Header> vars_;  // until the netstring is written
  std::optional<uint64_t> content_length_;

  std::unique_ptr<io::Stream> upstream_;
  io::Timer timer_;  // connect, then stall (and other waits)
  UpstreamConnect connect_;
  StallTimer stall_{timer_, [this] { on_timeout(); }};
  bool upstream_eof_ = false;

  // Request body.
  std::string pending_;  // before the connection (all of it for an unknown length)
  uint64_t body_bytes_ = 0;
  bool body_finished_ = false;
  bool owe_drained_ = false;  // body_congested() was true: on_body_drained() is due
  std::string write_error_;   // the app stopped taking the body

  // Response.
  CgiResponseParser parser_;
  bool received_any_ = false;
  bool response_started_ = false;  // the head was complete
  std::optional<ResponseHead> held_head_;
  std::string held_body_;
  bool held_end_ = false;
  bool paused_ = false;
  bool done_ = false;
};

}  // namespace

ScgiBackend::ScgiBackend(uv_loop_s* loop, ScgiBackendOptions options) : name_(options.upstream) {
  std::optional<Upstream> up = prepare_upstream("scgi upstream", options.upstream, setup_error_);
  if (!up) return;
  name_ = up->name;
  shared_ = std::make_shared<const ScgiShared>(
      ScgiShared{loop, std::move(up->address), name_, std::move(options.params),
                 options.connect_timeout_ms, options.timeout_ms, options.max_buffered_body});
}

ScgiBackend::~ScgiBackend() = default;

std::unique_ptr<Exchange> ScgiBackend::start(const Request& request, ResponseSink& sink) {
  if (!shared_) {
    sink.on_error(502, setup_error_);
    return std::make_unique<RefusedExchange>();
  }
  auto exchange = std::make_unique<ScgiExchange>(shared_, request, sink);
  exchange->begin();
  return exchange;
}

}  // namespace gw
