// --bench: many connections on one loop, each sending the pre-encoded
// request again as soon as the previous response ended (or when its --rate
// slot comes), until -n requests were issued or -t passed. With
// --abort-ratio some requests are abandoned on purpose: the connection is
// closed part way through the request or its response, as a browser that
// goes away makes its web server do.
#include "gateway/client/bench.h"

#include <uv.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <vector>

#include "gateway/client/bench_stats.h"
#include "gateway/client/body_source.h"
#include "gateway/client/endpoint.h"
#include "gateway/client/link.h"
#include "gateway/client/request_plan.h"
#include "gateway/client/wire.h"
#include "gateway/io/timer.h"

namespace gw::client {

namespace {

// Large requests go out in slices, each written once the previous one left
// the queue, so a slow peer never makes the stream copy a whole body.
constexpr size_t kSlice = 256 * 1024;
constexpr uint64_t kNsPerMs = 1'000'000;
// An abandoned request's connection is closed 0 to this many milliseconds
// after its last byte left: at once the server reads the cut and the close
// together, later it has begun working on what it got.
constexpr uint64_t kMaxAbortDelayMs = 2;

// The request, encoded once for every connection.
struct Prepared {
  std::string bytes;     // what goes out at once: head, body and end marker
  std::string body;      // AJP: the body, cut into packets on GET_BODY_CHUNK
  size_t body_sent = 0;  // AJP: body bytes already in `bytes` (the unasked first packet)
  std::string end_packet;
  size_t max_piece = 0;
};

Prepared prepare(const RequestEncoder& encoder, const std::string& body) {
  Prepared p;
  p.bytes = encoder.head();
  p.max_piece = encoder.max_body_piece();
  if (encoder.body_on_request()) {
    p.body = body;
    p.body_sent = std::min(body.size(), p.max_piece);
    if (p.body_sent > 0)
      encoder.encode_body(p.bytes, std::string_view(body).substr(0, p.body_sent));
    encoder.encode_body_end(p.end_packet);
    return p;
  }
  for (size_t pos = 0; pos < body.size(); pos += p.max_piece) {
    encoder.encode_body(p.bytes, std::string_view(body).substr(pos, p.max_piece));
  }
  encoder.encode_body_end(p.bytes);
  return p;
}

// --abort-ratio: whether a request is abandoned, and where. Head and Body:
// after `at` bytes of the request stream went out and left the queue;
// Response: once more than `at` bytes of the response came in.
struct AbortPlan {
  bool abort = false;
  AbortPoint point = AbortPoint::Head;
  uint64_t at = 0;
  uint64_t delay_ms = 0;  // Head and Body: from the last byte out to the close

  bool in_request() const { return abort && point != AbortPoint::Response; }
};

class BenchConn;

class BenchRun {
 public:
  BenchRun(uv_loop_s* loop, const ClientOptions& options, const io::Address& address,
           const std::string& display, Output& out, const RequestPlan& plan,
           const RequestEncoder& encoder, Prepared prepared)
      : loop_(loop),
        options_(options),
        address_(address),
        display_(display),
        out_(out),
        plan_(plan),
        encoder_(encoder),
        prepared_(std::move(prepared)),
        head_bytes_(encoder.head().size()),
        // AJP sends the rest of the body a packet per GET_BODY_CHUNK; their
        // few header bytes are left out of this (it only places the cut).
        request_bytes_(prepared_.bytes.size() + (prepared_.body.size() - prepared_.body_sent) +
                       prepared_.end_packet.size()) {}

  int run();

  uv_loop_s* loop() const { return loop_; }
  const ClientOptions& options() const { return options_; }
  const io::Address& address() const { return address_; }
  const std::string& display() const { return display_; }
  const RequestPlan& plan() const { return plan_; }
  const RequestEncoder& encoder() const { return encoder_; }
  const Prepared& prepared() const { return prepared_; }

  // The next request, if the run is not over: when it is due (now, or its
  // --rate slot).
  bool take_ticket(uint64_t now, uint64_t& due) {
    if (options_.bench.requests && issued_ >= *options_.bench.requests) return false;
    if (deadline_ != 0 && now >= deadline_) return false;
    due = now;
    if (options_.bench.rate) {
      due =
          start_ + static_cast<uint64_t>(static_cast<double>(issued_) * 1e9 / *options_.bench.rate);
      if (deadline_ != 0 && due >= deadline_) return false;
    }
    ++issued_;
    return true;
  }

  void record_response(uint64_t latency_ns, int status, uint64_t body_bytes) {
    stats_.record_response(latency_ns, status, options_.fail_on_status);
    stats_.body_bytes += body_bytes;
    last_end_ = uv_hrtime();
  }

  void record_failure(const ClientError& error) {
    stats_.record_failure(error);
    last_end_ = uv_hrtime();
    if (out_.verbose()) out_.error(error.what);
  }

  void record_abort(AbortPoint point) {
    stats_.record_abort(point);
    last_end_ = uv_hrtime();
  }

  // The size of the last complete response on the wire: where a Response
  // abort may cut the next one.
  void note_response_bytes(uint64_t bytes) { response_bytes_ = bytes; }

  AbortPlan plan_abort();

  void connection_done() { ++done_; }

 private:
  std::string title() const;

  uv_loop_s* loop_;
  const ClientOptions& options_;
  io::Address address_;
  std::string display_;
  Output& out_;
  const RequestPlan& plan_;
  const RequestEncoder& encoder_;
  Prepared prepared_;
  std::vector<std::unique_ptr<BenchConn>> conns_;
  BenchStats stats_;
  uint64_t start_ = 0;
  uint64_t deadline_ = 0;  // 0: none
  uint64_t issued_ = 0;
  uint64_t last_end_ = 0;
  size_t done_ = 0;
  const uint64_t head_bytes_;
  const uint64_t request_bytes_;
  uint64_t response_bytes_ = 0;
  std::mt19937_64 rng_{std::random_device{}()};
};

class BenchConn final : public LinkUser, public ResponseSink {
 public:
  explicit BenchConn(BenchRun& run)
      : run_(run),
        link_(run.loop(), *this, run.plan().protocol, run.address(), run.display(),
              run.options().timeout_ms),
        reader_(
            make_reader(ReaderOptions{run.plan().protocol, run.plan().request.method,
                                      run.plan().keep_conn, run.plan().ajp_packet_size, false})),
        pace_(run.loop()) {}

  // Takes the next ticket, or closes for good when the run is over.
  void next() {
    uint64_t now = uv_hrtime();
    uint64_t due = 0;
    if (!run_.take_ticket(now, due)) {
      link_.close();
      run_.connection_done();
      return;
    }
    started_ = due;
    if (due > now + kNsPerMs) {
      pace_.start((due - now + kNsPerMs - 1) / kNsPerMs, [this] { begin(); });
    } else {
      begin();
    }
  }

 private:
  void begin() {
    ++request_;
    busy_ = true;
    ended_ = reusable_ = false;
    status_ = 0;
    body_bytes_ = 0;
    abort_ = run_.plan_abort();
    aborting_ = false;
    out_ = in_ = 0;
    // From when it was due (--rate), but never before it went out: the
    // pacing timer has millisecond steps and may fire a little early.
    const uint64_t now = uv_hrtime();
    started_ = run_.options().bench.rate ? std::min(started_, now) : now;
    if (link_.connected()) {
      send();
    } else {
      link_.connect();
    }
  }

  void send() {
    reader_->start();
    sent_ = 0;
    ajp_sent_ = run_.prepared().body_sent;
    link_.watch();
    pump();
  }

  void pump() {
    const std::string& bytes = run_.prepared().bytes;
    const uint64_t request = request_;
    const size_t limit = abort_.in_request() && abort_.at < bytes.size()
                             ? static_cast<size_t>(abort_.at)
                             : bytes.size();
    while (busy_ && sent_ < limit && link_.connected() && link_.queued() == 0) {
      size_t n = std::min(kSlice, limit - sent_);
      size_t at = sent_;
      sent_ += n;
      out_ += n;
      link_.write(std::string_view(bytes).substr(at, n));
      if (request != request_) return;  // the write failed and the next request began
    }
    arm_request_abort();
  }

  // Head and Body aborts: once the bytes before the cut left the queue, the
  // connection is closed after the plan's delay.
  void arm_request_abort() {
    if (!busy_ || aborting_ || !abort_.in_request() || out_ < abort_.at) return;
    if (!link_.connected() || link_.queued() != 0) return;
    aborting_ = true;
    pace_.start(abort_.delay_ms, [this] { abort_now(); });
  }

  // Abandons the request: the connection is dropped (kept or not), as a web
  // server drops its connection to the app when its client went away.
  void abort_now() {
    pace_.stop();
    run_.record_abort(abort_.point);
    busy_ = aborting_ = false;
    link_.close();
    next();
  }

  void complete() {
    run_.note_response_bytes(in_);
    run_.record_response(uv_hrtime() - started_, status_, body_bytes_);
    busy_ = false;
    link_.unwatch();
    if (!reusable_) link_.close();
    next();
  }

  void fail(const ClientError& error) {
    run_.record_failure(error);
    busy_ = false;
    link_.close();
    next();
  }

  // ---- LinkUser

  void on_connected() override {
    reader_->new_connection();
    if (busy_) send();
  }

  size_t on_input(std::string_view data) override {
    if (!busy_) {  // bytes nobody asked for on an idle connection: drop it
      link_.close();
      return data.size();
    }
    if (aborting_) return data.size();  // the close is due: what comes no longer matters
    if (abort_.abort && abort_.point == AbortPoint::Response && in_ + data.size() > abort_.at) {
      abort_now();
      return data.size();
    }
    ReadResult r = reader_->feed(data, *this);
    in_ += r.consumed;
    if (r.error) {
      fail(*r.error);
    } else if (ended_ && abort_.in_request()) {
      // Answered before the request was all sent (a static file ignores a
      // body): the rest will never go out, so the connection cannot carry
      // another request. Abandoned as planned.
      abort_now();
    } else if (ended_) {
      if (r.consumed < data.size()) {
        fail(ClientError{Failure::Malformed, std::string(protocol_title(run_.plan().protocol)) +
                                                 ": " + std::to_string(data.size() - r.consumed) +
                                                 " more bytes after the end of the response"});
      } else {
        complete();
      }
    } else {
      return r.consumed;
    }
    return data.size();
  }

  void on_peer_closed() override {
    if (!busy_) {  // a kept connection the peer closed between requests
      link_.close();
      return;
    }
    if (aborting_) {
      abort_now();
      return;
    }
    std::optional<ClientError> err = ended_ ? std::nullopt : reader_->finish_eof(*this);
    if (ended_) {
      reusable_ = false;
      complete();
    } else {
      fail(err ? *err
               : ClientError{Failure::Closed, std::string(protocol_title(run_.plan().protocol)) +
                                                  ": the connection closed before the response "
                                                  "ended"});
    }
  }

  void on_link_failed(ClientError error) override {
    if (!busy_) return;  // an idle kept connection died: the next request reconnects
    if (aborting_) {
      abort_now();
      return;
    }
    if (ended_) {
      reusable_ = false;
      complete();
    } else {
      fail(error);
    }
  }

  void on_writable() override {
    if (!aborting_) pump();
  }

  std::string waiting_for() const override { return reader_->waiting_for(); }

  // ---- ResponseSink

  void on_head(const ResponseHead& head, const std::optional<std::string>&) override {
    status_ = head.status;
  }
  void on_body(std::string_view data) override { body_bytes_ += data.size(); }
  void on_end(bool reusable) override {
    ended_ = true;
    reusable_ = reusable;
  }

  // AJP: one packet per GET_BODY_CHUNK, cut from the body; an empty one
  // once it is all sent.
  void on_body_wanted(size_t max_bytes) override {
    if (aborting_) return;
    const Prepared& p = run_.prepared();
    if (ajp_sent_ >= p.body.size()) {
      send_packet(p.end_packet);
      return;
    }
    size_t n = std::min(
        {max_bytes == 0 ? p.max_piece : max_bytes, p.max_piece, p.body.size() - ajp_sent_});
    scratch_.clear();
    run_.encoder().encode_body(scratch_, std::string_view(p.body).substr(ajp_sent_, n));
    ajp_sent_ += n;
    send_packet(scratch_);
  }

  // AJP: a body packet, or as much of it as goes before a planned cut.
  void send_packet(std::string_view packet) {
    if (abort_.in_request()) {
      if (out_ >= abort_.at) return;
      if (out_ + packet.size() > abort_.at) packet = packet.substr(0, abort_.at - out_);
    }
    out_ += packet.size();
    const uint64_t request = request_;
    link_.write(packet);
    if (request == request_) arm_request_abort();
  }

  BenchRun& run_;
  ClientLink link_;
  std::unique_ptr<ResponseReader> reader_;
  io::Timer pace_;
  std::string scratch_;
  bool busy_ = false;
  bool ended_ = false;
  bool reusable_ = false;
  int status_ = 0;
  uint64_t started_ = 0;
  uint64_t body_bytes_ = 0;
  size_t sent_ = 0;
  size_t ajp_sent_ = 0;
  uint64_t request_ = 0;  // bumped by begin(): a pump() from an earlier request stops
  AbortPlan abort_;
  bool aborting_ = false;  // the close of an abandoned request is due
  uint64_t out_ = 0;       // request bytes written, AJP's later packets included
  uint64_t in_ = 0;        // response bytes the reader used
};

AbortPlan BenchRun::plan_abort() {
  AbortPlan a;
  const double ratio = options_.bench.abort_ratio;
  if (ratio <= 0 || std::uniform_real_distribution<double>(0, 1)(rng_) >= ratio) return a;
  auto uniform = [this](uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng_);
  };
  a.abort = true;
  a.delay_ms = uniform(0, kMaxAbortDelayMs);
  // A cut in the body only when there is one; each available point is as
  // likely as the others.
  const bool body = plan_.length.value_or(0) > 0 && request_bytes_ > head_bytes_;
  const uint64_t pick = uniform(0, body ? 2 : 1);
  if (pick == 0 && head_bytes_ > 0) {
    a.point = AbortPoint::Head;
    a.at = uniform(0, head_bytes_ - 1);
  } else if (pick == 1 && body) {
    a.point = AbortPoint::Body;
    a.at = uniform(head_bytes_, request_bytes_ - 1);
  } else {
    a.point = AbortPoint::Response;
    a.at = uniform(0, response_bytes_ > 0 ? response_bytes_ - 1 : 0);
  }
  return a;
}

std::string BenchRun::title() const {
  const Protocol p = plan_.protocol;
  std::string reuse;
  if (!plan_.keep_conn) {
    reuse = "a new connection per request";
  } else if (p == Protocol::FastCgi) {
    reuse = "FCGI_KEEP_CONN";
  } else if (p == Protocol::Http) {
    reuse = "keep-alive";
  } else {
    reuse = "connections reused";
  }
  const BenchOptions& b = options_.bench;
  std::string limit;
  if (b.requests) limit = std::to_string(*b.requests) + " requests";
  if (b.duration_ms) limit += (limit.empty() ? "for " : " within ") + seconds_text(*b.duration_ms);
  if (b.rate) {
    char rate[48];
    std::snprintf(rate, sizeof rate, ", at most %g requests/s", *b.rate);
    limit += rate;
  }
  if (b.abort_ratio > 0) {
    char abort[64];
    std::snprintf(abort, sizeof abort, ", %g of them abandoned on purpose", b.abort_ratio);
    limit += abort;
  }
  return std::string(protocol_title(p)) + " " + display_ + ": " + plan_.request.method + " " +
         plan_.request.target + ", " + std::to_string(b.connections) + " connections, " + reuse +
         ", " + limit;
}

int BenchRun::run() {
  start_ = uv_hrtime();
  stats_.aborting = options_.bench.abort_ratio > 0;
  if (options_.bench.duration_ms) deadline_ = start_ + *options_.bench.duration_ms * kNsPerMs;
  conns_.reserve(options_.bench.connections);
  for (uint32_t i = 0; i < options_.bench.connections; ++i) {
    conns_.push_back(std::make_unique<BenchConn>(*this));
  }
  for (auto& conn : conns_) conn->next();
  uv_run(loop_, UV_RUN_DEFAULT);
  if (done_ != conns_.size()) {
    out_.error("the event loop stopped before every connection was done");
    return kExitPeer;
  }
  stats_.elapsed_ns = (last_end_ > start_ ? last_end_ : uv_hrtime()) - start_;
  if (!out_.body(format_bench_report(title(), stats_)) || !out_.flush()) {
    out_.error(out_.stdout_error()->what);
    return kExitOutput;
  }
  return stats_.failed() == 0 ? kExitOk : kExitPeer;
}

}  // namespace

int run_bench(uv_loop_s* loop, const ClientOptions& options, const io::Address& address,
              const std::string& display, Output& out) {
  std::string body;
  if (auto err = load_body(options.body, kMaxBenchBody, body)) {
    out.error(err->what);
    return exit_status(err->failure);
  }
  RequestPlan plan = make_plan(options, body.size());
  std::string why;
  std::unique_ptr<RequestEncoder> encoder = make_encoder(plan, why);
  if (!encoder) {
    out.error(why);
    return kExitUsage;
  }
  if (out.verbose()) {
    std::vector<std::string> lines;
    encoder->describe(lines);
    for (const auto& line : lines) out.sent(line);
  }
  BenchRun run(loop, options, address, display, out, plan, *encoder, prepare(*encoder, body));
  return run.run();
}

}  // namespace gw::client
