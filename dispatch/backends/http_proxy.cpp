#include "dispatch/backends/http_proxy.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <variant>

#include "dispatch/backends/upstream.h"
#include "dispatch/backends/upstream_pool.h"
#include "dispatch/backends/upstream_timers.h"
#include "gateway/io/address.h"
#include "gateway/io/stream.h"
#include "gateway/io/timer.h"
#include "protocols/http1_client.h"
#include "protocols/http1_common.h"
#include "protocols/path.h"

namespace gw {

namespace {

constexpr std::string_view kRemoteUserHeader = "X-Remote-User";

// Request body bytes queued towards the upstream (or held while connecting)
// above which the connection is asked to stop reading the client.
constexpr size_t kBodyHighWater = 256 * 1024;

// Methods whose empty body is still announced ("Content-Length: 0"): some
// app servers answer 411 to a POST without one.
bool method_has_body(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH";
}

// Every comma-separated token of the Connection fields: names of fields
// the client meant for us only (RFC 9110 7.6.1).
std::vector<std::string_view> connection_tokens(const Request& request) {
  std::vector<std::string_view> tokens;
  for (const Header& h : request.headers) {
    if (!iequals(h.name, "Connection")) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view token = http1::trim_ows(rest.substr(0, comma));
      if (!token.empty()) tokens.push_back(token);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  return tokens;
}

bool named_in(const std::vector<std::string_view>& tokens, std::string_view name) {
  return std::any_of(tokens.begin(), tokens.end(),
                     [name](std::string_view t) { return iequals(t, name); });
}

// Fields the proxy sets itself: a client could otherwise claim any scheme,
// host, prefix or user to the app.
bool is_replaced(std::string_view name) {
  return iequals(name, "X-Forwarded-Proto") || iequals(name, "X-Forwarded-Host") ||
         iequals(name, "X-Forwarded-Prefix") || iequals(name, kRemoteUserHeader);
}

// A value that can stand in a header field as it is.
bool is_field_value(std::string_view v) {
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7F) return false;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Where the raw path `raw` ends the part that decodes to `prefix`, at a
// segment boundary; npos when no such place exists (the front end rewrote
// the path, or the raw path is not normalised as the decoded one is).
size_t raw_prefix_end(std::string_view raw, std::string_view prefix) {
  std::string decoded;
  size_t i = 0;
  while (decoded.size() < prefix.size() && i < raw.size()) {
    if (raw[i] == '%' && i + 2 < raw.size() && hex_value(raw[i + 1]) >= 0 &&
        hex_value(raw[i + 2]) >= 0) {
      decoded.push_back(static_cast<char>(hex_value(raw[i + 1]) * 16 + hex_value(raw[i + 2])));
      i += 3;
    } else {
      decoded.push_back(raw[i]);
      ++i;
    }
    if (!std::string_view(prefix).starts_with(decoded)) return std::string_view::npos;
  }
  if (decoded != prefix || (i < raw.size() && raw[i] != '/')) return std::string_view::npos;
  return i;
}

std::string host_from_server(const Request& request) {
  if (request.server_name.empty()) return "";
  std::string host = request.server_name;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  uint16_t default_port = request.https ? 443 : 80;
  if (request.server_port != 0 && request.server_port != default_port) {
    host += ":" + std::to_string(request.server_port);
  }
  return host;
}

// The Host for a request that came without one and names no server.
std::string fallback_host(const io::Address& upstream) {
  return upstream.is_unix ? "localhost" : upstream.to_string();
}

}  // namespace

std::string upstream_target(const Request& request) {
  if (request.script_name.empty()) return request.target;
  std::string_view target = request.target;
  size_t q = target.find('?');
  std::string_view raw_path = target.substr(0, q);
  std::string out;
  size_t end = raw_path.starts_with('/') ? raw_prefix_end(raw_path, request.script_name)
                                         : std::string_view::npos;
  if (end != std::string_view::npos) {
    out = std::string(raw_path.substr(end));
  } else {
    out = percent_encode_path(request.path_info);
  }
  if (out.empty()) out = "/";
  if (q != std::string_view::npos) out.append(target.substr(q));
  return out;
}

std::vector<Header> upstream_request_headers(const Request& request,
                                             std::string_view fallback_host) {
  std::vector<std::string_view> listed = connection_tokens(request);
  std::vector<Header> out;
  out.reserve(request.headers.size() + 4);
  std::string forwarded_for;
  const std::string* host = nullptr;
  for (const Header& h : request.headers) {
    // "Proxy" would become HTTP_PROXY in a CGI-style app (httpoxy).
    if (http1::is_hop_by_hop(h.name) || iequals(h.name, "Proxy") || is_replaced(h.name) ||
        named_in(listed, h.name)) {
      continue;
    }
    if (iequals(h.name, "X-Forwarded-For")) {
      if (!forwarded_for.empty()) forwarded_for += ", ";
      forwarded_for += h.value;
      continue;
    }
    if (iequals(h.name, "Host")) {
      if (host) continue;  // the front codecs reject a second Host; never forward two
      host = &h.value;
    }
    out.push_back(h);
  }
  if (!host) {
    std::string fallback = host_from_server(request);
    out.push_back({"Host", fallback.empty() ? std::string(fallback_host) : fallback});
  }
  if (!request.remote_addr.empty()) {
    if (!forwarded_for.empty()) forwarded_for += ", ";
    forwarded_for += request.remote_addr;
  }
  if (!forwarded_for.empty()) out.push_back({"X-Forwarded-For", std::move(forwarded_for)});
  out.push_back({"X-Forwarded-Proto", request.https ? "https" : "http"});
  if (host) out.push_back({"X-Forwarded-Host", *host});
  // The target goes without the mount prefix (upstream_target): an app that
  // builds its own URLs learns the prefix from this field.
  if (!request.script_name.empty()) {
    // Decoded, as SCRIPT_NAME is; encoded only when a byte could not stand
    // in a field (a decoded %0A).
    const std::string& prefix = request.script_name;
    out.push_back(
        {"X-Forwarded-Prefix", is_field_value(prefix) ? prefix : percent_encode_path(prefix)});
  }
  // Who the front end (or gatewayd's own auth) authenticated: an http app
  // has no REMOTE_USER variable to read it from.
  if (!request.remote_user.empty() && is_field_value(request.remote_user)) {
    out.push_back({std::string(kRemoteUserHeader), request.remote_user});
  }
  return out;
}

// What the backend and its live exchanges share.
struct HttpProxyShared {
  HttpProxyShared(uv_loop_s* loop, io::Address address, const HttpProxyOptions& options,
                  std::string upstream_name)
      : pool(loop, std::move(address), options.keepalive),
        name(std::move(upstream_name)),
        connect_timeout_ms(options.connect_timeout_ms),
        timeout_ms(options.timeout_ms) {}

  UpstreamPool pool;
  std::string name;
  uint32_t connect_timeout_ms;
  uint32_t timeout_ms;
};

namespace {

// One proxied request. Also the handler of its upstream connection.
//
// Lifecycle: begin() takes a pooled connection or connects; attach() writes
// the request head and whatever body came meanwhile; the parser's events go
// to the sink; at the response's end the connection returns to the pool
// (when it is clean) before sink.on_end(), so that a pipelined request
// started from inside on_end() can reuse it. done_ marks the end of all sink
// calls: on_end, on_error or cancel().
//
// Re-entrancy: every sink call and every upstream write may come back into
// this object (a client write error cancels us from inside on_body; a write
// error on the upstream calls on_error from inside write()). After each,
// the code checks done_ (and the attempt number) before going on.
class ProxyExchange final : public Exchange, public io::StreamHandler {
 public:
  ProxyExchange(std::shared_ptr<HttpProxyShared> shared, const Request& request, ResponseSink& sink)
      : shared_(std::move(shared)),
        sink_(sink),
        method_(request.method),
        target_(upstream_target(request)),
        headers_(upstream_request_headers(request, fallback_host(shared_->pool.address()))),
        content_length_(request.content_length),
        timer_(shared_->pool.loop()),
        parser_(Limits{}, request.method) {
    if (content_length_ == 0) body_finished_ = true;  // nothing will come
  }
  ~ProxyExchange() override { release(); }

  void begin() {
    if (!encode_head(content_length_)) {
      finish_with_error(400, "cannot forward \"" + method_ + " " + target_ +
                                 "\" to an HTTP/1.1 upstream: invalid method or target");
      return;
    }
    if (std::unique_ptr<io::Stream> idle = shared_->pool.take()) {
      if (content_length_) {
        attach(std::move(idle), true);
        return;
      }
      // The length is unknown, but the body (often just its end, from a
      // FastCGI front) tends to arrive in the same read as the request. A
      // loop turn later it is likely complete and goes with a length rather
      // than chunked, which some app servers refuse on a GET.
      parked_ = std::move(idle);
      timer_.start(0, [this] { attach(std::move(parked_), true); });
      return;
    }
    connect();
  }

  void send_body(std::string_view data) override {
    if (done_ || body_finished_) return;
    if (content_length_ && data.size() > *content_length_ - body_bytes_) {
      // The front codecs never let this happen; were it to, the extra bytes
      // would be read by the upstream as a second request.
      data = data.substr(0, *content_length_ - body_bytes_);
      body_broken_ = true;
    }
    body_bytes_ += data.size();
    if (data.empty()) return;
    if (!upstream_) {
      pending_.append(data);  // bounded: body_congested() pauses the client
    } else {
      std::string out;
      http1::encode_body_chunk(out, data, chunked_);
      body_written_ = true;
      if (!write_upstream(out)) return;
      arm_timer(true);
    }
    if (body_congested()) owe_drained_ = true;
  }

  void finish_body() override {
    if (done_ || body_finished_) return;
    body_finished_ = true;
    if (content_length_ && body_bytes_ < *content_length_) body_broken_ = true;
    if (!upstream_) return;
    std::string out;
    http1::encode_body_end(out, chunked_);
    if (!out.empty() && !write_upstream(out)) return;
    arm_timer(true);
  }

  bool body_congested() const override {
    if (done_) return false;
    return upstream_ ? upstream_->queued() >= kBodyHighWater : pending_.size() >= kBodyHighWater;
  }

  void resume_response() override {
    if (done_ || !paused_ || sink_.congested()) return;
    paused_ = false;
    process_input();
    if (done_ || paused_ || !upstream_) return;
    if (!upstream_eof_) upstream_->read_start();
    arm_timer(true);
  }

  void cancel() override {
    done_ = true;
    release();
  }

  // ---- the upstream connection ----

  void on_read(std::string_view data) override {
    if (done_) return;
    arm_timer(true);
    // Parsed events hold views into in_: while some wait (reads are stopped
    // then, so this is only a safeguard) new bytes go aside.
    (next_event_ < events_.size() ? held_ : in_).append(data);
    process_input();
  }

  void on_eof() override {
    if (done_ || upstream_eof_) return;
    upstream_eof_ = true;
    std::vector<http1::ClientEvent> events;
    if (std::optional<CodecError> e = parser_.finish_eof(events)) {
      upstream_failed(response_started_ ? who() + ": closed the connection mid-response: " + e->what
                                        : who() + ": closed the connection before responding");
      return;
    }
    // A close-delimited body ended: deliver the end (its connection is spent).
    keep_alive_ = false;
    for (auto& ev : events) events_.push_back(std::move(ev));
    process_input();
  }

  void on_error(int uv_error) override {
    if (done_) return;
    upstream_failed(who() + (response_started_ ? ": mid-response: " : ": ") +
                    io::uv_error_text(uv_error));
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
  std::string who() const { return "upstream " + shared_->name; }

  bool encode_head(std::optional<uint64_t> length) {
    head_.clear();
    bool has_body = !length || *length > 0 || method_has_body(method_);
    chunked_ = !length;
    return http1::encode_request_head(head_, method_, target_, headers_, length, has_body);
  }

  void connect() {
    connect_.start(shared_->pool.loop(), shared_->pool.address(), shared_->connect_timeout_ms,
                   timer_, [this](std::unique_ptr<io::Stream> stream, int status, std::string why) {
                     on_connected(std::move(stream), status, std::move(why));
                   });
  }

  void on_connected(std::unique_ptr<io::Stream> stream, int status, std::string why) {
    if (!stream) {
      finish_with_error(status, who() + ": " + why);
      return;
    }
    attach(std::move(stream), false);
  }

  // Writes the head, then the body that came while there was no connection.
  void attach(std::unique_ptr<io::Stream> stream, bool reused) {
    upstream_ = std::move(stream);
    upstream_->set_handler(this);
    reused_ = reused;
    ++attempt_;
    // A body of unknown length that is complete already has a length now.
    if (!content_length_ && body_finished_) encode_head(body_bytes_);
    std::string out = head_;
    if (!pending_.empty()) {
      http1::encode_body_chunk(out, pending_, chunked_);
      body_written_ = true;
      pending_ = std::string();
    }
    if (body_finished_) http1::encode_body_end(out, chunked_);
    upstream_->read_start();
    if (!write_upstream(out)) return;
    arm_timer(true);
    if (owe_drained_ && !body_congested()) {
      owe_drained_ = false;
      sink_.on_body_drained();
    }
  }

  // False when the write failed and ended this attempt (or everything).
  bool write_upstream(std::string_view bytes) {
    uint32_t attempt = attempt_;
    upstream_->write(bytes);
    return !done_ && attempt == attempt_ && upstream_;
  }

  // Feeds the parser and hands its events to the sink, pausing (reads
  // stopped, events kept) while the sink is congested.
  void process_input() {
    while (!done_) {
      while (next_event_ < events_.size()) {
        if (sink_.congested()) {
          pause();
          return;
        }
        deliver(events_[next_event_++]);
        if (done_) return;
      }
      in_.erase(0, consumed_);
      consumed_ = 0;
      events_.clear();
      next_event_ = 0;
      if (!held_.empty()) {
        in_ += held_;
        held_.clear();
      }
      if (in_.empty()) return;
      FeedResult r = parser_.feed(in_, events_);
      if (r.error) {
        finish_with_error(502, who() + ": malformed response: " + r.error->what);
        return;
      }
      consumed_ = r.consumed;
      if (r.consumed == 0 && events_.empty()) return;  // a partial head: wait for more
    }
  }

  void deliver(http1::ClientEvent& event) {
    if (auto* started = std::get_if<http1::ResponseStarted>(&event)) {
      response_started_ = true;
      keep_alive_ = started->keep_alive;
      std::erase_if(started->head.headers,
                    [](const Header& h) { return http1::is_hop_by_hop(h.name); });
      sink_.on_head(std::move(started->head));
    } else if (auto* body = std::get_if<http1::ResponseBody>(&event)) {
      sink_.on_body(body->data);
    } else {
      complete();
    }
  }

  void pause() {
    paused_ = true;
    if (upstream_) upstream_->read_stop();
    arm_timer(false);
  }

  void complete() {
    // Only a connection in a known, clean state goes back: the whole
    // request written, the whole response read and nothing after it.
    bool extra = in_.size() > consumed_ || !held_.empty();
    bool reusable = keep_alive_ && !upstream_eof_ && body_finished_ && !body_broken_ && !extra &&
                    upstream_ && upstream_->queued() == 0;
    done_ = true;
    timer_.stop();
    std::unique_ptr<io::Stream> stream = std::move(upstream_);
    if (reusable) {
      stream->set_handler(nullptr);
      shared_->pool.give_back(std::move(stream));
    }
    stream.reset();  // closes it unless pooled (safe inside its own callback)
    sink_.on_end();
  }

  // The connection failed. A reused one that failed before any answer, with
  // no body byte sent, most likely met the upstream's keep-alive timeout:
  // the request never reached the app and goes again on a new connection.
  void upstream_failed(std::string why) {
    if (reused_ && !retried_ && !parser_.received_any() && !body_written_ && !response_started_) {
      retried_ = true;
      reused_ = false;
      ++attempt_;
      stall_.stop();
      upstream_.reset();
      upstream_eof_ = false;
      parser_.reset(method_);
      in_.clear();
      held_.clear();
      events_.clear();
      next_event_ = consumed_ = 0;
      connect();
      return;
    }
    finish_with_error(502, std::move(why));
  }

  // Runs while we wait for the upstream; restarted on progress either way.
  void arm_timer(bool progress) {
    if (done_ || !upstream_) return;
    stall_.arm(progress, paused_, shared_->timeout_ms);
  }

  void on_timeout() {
    if (done_ || !upstream_) return;
    auto [status, why] = stall_error(who(), shared_->timeout_ms, response_started_,
                                     !body_finished_ && upstream_->queued() == 0);
    finish_with_error(status, std::move(why));
  }

  void finish_with_error(int status, std::string why) {
    if (done_) return;
    done_ = true;
    release();
    sink_.on_error(status, why);
  }

  // Stops everything; an upstream connection still held is in an unknown
  // state and is closed, never pooled.
  void release() {
    stall_.stop();
    connect_.cancel();
    parked_.reset();
    upstream_.reset();
  }

  std::shared_ptr<HttpProxyShared> shared_;
  ResponseSink& sink_;

  // The request, kept to write its head once a connection is up (and again
  // on a retry).
  std::string method_;
  std::string target_;
  std::vector<Header> headers_;
  std::optional<uint64_t> content_length_;
  std::string head_;
  bool chunked_ = false;

  std::unique_ptr<io::Stream> upstream_;
  std::unique_ptr<io::Stream> parked_;  // pooled, attached on the next loop turn
  io::Timer timer_;                     // connect, then stall (and other waits)
  UpstreamConnect connect_;
  StallTimer stall_{timer_, [this] { on_timeout(); }};
  uint32_t attempt_ = 0;  // changes whenever upstream_ does
  bool reused_ = false;
  bool retried_ = false;
  bool upstream_eof_ = false;

  // Request body.
  std::string pending_;  // arrived before the connection
  uint64_t body_bytes_ = 0;
  bool body_finished_ = false;
  bool body_written_ = false;  // some body byte went to the current connection
  bool body_broken_ = false;   // longer or shorter than its Content-Length
  bool owe_drained_ = false;   // body_congested() was true: on_body_drained() is due

  // Response.
  Http1ResponseParser parser_;
  std::string in_;    // upstream bytes; the parser consumed in_[0, consumed_)
  std::string held_;  // bytes read while events_ still pointed into in_
  std::vector<http1::ClientEvent> events_;
  size_t next_event_ = 0;
  size_t consumed_ = 0;
  bool response_started_ = false;
  bool keep_alive_ = false;
  bool paused_ = false;
  bool done_ = false;
};

}  // namespace

HttpProxyBackend::HttpProxyBackend(uv_loop_s* loop, HttpProxyOptions options)
    : loop_(loop), options_(std::move(options)), name_(options_.upstream) {
  std::optional<Upstream> up = prepare_upstream("upstream", options_.upstream, setup_error_);
  if (!up) return;
  name_ = up->name;
  shared_ = std::make_shared<HttpProxyShared>(loop_, std::move(up->address), options_, name_);
}

void HttpProxyBackend::shutdown() {
  if (shared_) shared_->pool.shutdown();
}

HttpProxyBackend::~HttpProxyBackend() {
  if (shared_) shared_->pool.shutdown();
}

size_t HttpProxyBackend::idle_connections() const {
  return shared_ ? shared_->pool.idle_count() : 0;
}

std::unique_ptr<Exchange> HttpProxyBackend::start(const Request& request, ResponseSink& sink) {
  if (!shared_) {
    sink.on_error(502, setup_error_);
    return std::make_unique<RefusedExchange>();
  }
  auto exchange = std::make_unique<ProxyExchange>(shared_, request, sink);
  exchange->begin();
  return exchange;
}

}  // namespace gw
