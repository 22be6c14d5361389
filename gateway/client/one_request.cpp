// One request: connect, send the head, stream the body (pushed as the
// socket takes it, or for AJP on GET_BODY_CHUNK), stream the response to
// stdout, and say exactly where it went wrong if it did.
#include "gateway/client/one_request.h"

#include <uv.h>

#include <algorithm>
#include <cstdio>

#include "gateway/client/body_source.h"
#include "gateway/client/endpoint.h"
#include "gateway/client/link.h"
#include "gateway/client/request_plan.h"
#include "gateway/client/wire.h"

namespace gw::client {

namespace {

constexpr size_t kReadAhead = 64 * 1024;

class Exchange final : public LinkUser, public ResponseSink {
 public:
  Exchange(uv_loop_s* loop, const ClientOptions& options, const io::Address& address,
           const std::string& display, Output& out, const RequestPlan& plan,
           const RequestEncoder& encoder, BodySource* body)
      : options_(options),
        display_(display),
        out_(out),
        plan_(plan),
        encoder_(encoder),
        body_(body),
        title_(protocol_title(plan.protocol)),
        reader_(make_reader(ReaderOptions{plan.protocol, plan.request.method, plan.keep_conn,
                                          plan.ajp_packet_size, out.verbose()})),
        link_(loop, *this, plan.protocol, address, display, options.timeout_ms) {}

  void start() {
    started_ns_ = uv_hrtime();
    out_.info("connecting to " + display_ + " (" + title_ + ")");
    link_.connect();
  }

  bool done() const { return finished_; }
  int exit_status() const { return exit_; }

 private:
  // ---- LinkUser

  void on_connected() override {
    out_.info("connected");
    std::vector<std::string> lines;
    encoder_.describe(lines);
    for (const auto& line : lines) out_.sent(line);
    reader_->new_connection();
    reader_->start();
    link_.write(encoder_.head());
    start_body();
  }

  size_t on_input(std::string_view data) override {
    if (finished_) return data.size();
    ReadResult r = reader_->feed(data, *this);
    if (finished_) return data.size();
    if (r.error) {
      fail(*r.error);
      return data.size();
    }
    if (reader_->ended()) {
      if (r.consumed < data.size()) {
        fail(ClientError{Failure::Malformed, title_ + ": " +
                                                 std::to_string(data.size() - r.consumed) +
                                                 " more bytes after the end of the response"});
      } else {
        finish();
      }
      return data.size();
    }
    return r.consumed;
  }

  void on_peer_closed() override {
    if (finished_) return;
    if (!reader_->ended()) {
      if (auto err = reader_->finish_eof(*this)) {
        fail(*err);
        return;
      }
    }
    if (finished_) return;
    if (reader_->ended()) {
      finish();
    } else {
      fail(ClientError{Failure::Closed, title_ + ": the connection closed before the response "
                                                 "ended"});
    }
  }

  void on_link_failed(ClientError error) override {
    if (finished_) return;
    if (reader_->ended()) {
      finish();  // a reset after a complete response loses nothing
    } else {
      fail(std::move(error));
    }
  }

  void on_send_failed() override {
    if (send_failed_) return;
    send_failed_ = true;
    body_done_ = true;
    if (body_) body_->cancel();
    reading_ = false;
    out_.info("the peer stopped reading the request body after " + std::to_string(sent_) +
              " bytes; reading its answer");
  }

  void on_writable() override { pump(); }

  std::string waiting_for() const override {
    if (!body_done_ && reading_) {
      return "the request body (" + std::to_string(sent_) + " bytes sent so far)";
    }
    if (!body_done_ && link_.queued() > 0) {
      return "the peer to read the request body (" + std::to_string(sent_) + " bytes sent)";
    }
    return reader_->waiting_for();
  }

  // ---- ResponseSink

  void on_head(const ResponseHead& head,
               const std::optional<std::string>& local_redirect) override {
    if (finished_) return;
    status_ = head.status;
    if (head.status == 0) {
      std::string target = shown(local_redirect.value_or(""), 200);
      out_.received("local redirect to " + target);
      out_.warning(title_ + ": the app answered with a local redirect to " + target +
                   " (a Location and no Status): a web server would serve that path instead");
    } else {
      out_.received_head(head);
    }
    if (options_.include_head && !out_.head(head)) fail(*out_.stdout_error());
  }

  void on_body(std::string_view data) override {
    if (finished_) return;
    body_bytes_ += data.size();
    if (!out_.body(data)) fail(*out_.stdout_error());
  }

  void on_end(bool /*reusable*/) override {}  // on_input and on_peer_closed read ended()

  void on_app_stderr(std::string_view data) override { out_.app_stderr(data); }

  void on_body_wanted(size_t max_bytes) override {
    ++wanted_;
    wanted_max_ = max_bytes;
    serve_wanted();
  }

  void on_trace(std::string_view line) override { out_.received(line); }
  void on_warning(std::string_view line) override { out_.warning(line); }

  // ---- The request body

  void start_body() {
    if (encoder_.body_on_request()) {
      if (!body_ || (plan_.length && *plan_.length == 0)) {
        body_done_ = true;  // nothing to send; a GET_BODY_CHUNK gets an empty packet
      } else if (plan_.length) {
        // AJP: the first packet of a body of known length goes out unasked.
        on_body_wanted(encoder_.max_body_piece());
      }
      return;
    }
    if (!body_) {
      end_body();
      return;
    }
    pump();
  }

  // Push protocols: the next piece once the socket took the previous one.
  void pump() {
    if (finished_ || body_done_ || reading_ || !body_ || encoder_.body_on_request()) return;
    if (!link_.connected() || link_.queued() > 0) return;  // on_writable() comes back here
    uint64_t max = encoder_.max_body_piece();
    if (plan_.length) {
      uint64_t left = *plan_.length - sent_;
      if (left == 0) {
        end_body();
        return;
      }
      max = std::min(max, left);
    }
    reading_ = true;
    body_->read(static_cast<size_t>(max),
                [this](std::string_view data, std::optional<ClientError> error) {
                  on_piece(data, std::move(error));
                });
  }

  void on_piece(std::string_view data, std::optional<ClientError> error) {
    reading_ = false;
    if (finished_ || body_done_) return;
    if (error) {
      fail(std::move(*error));
      return;
    }
    if (data.empty()) {
      if (shrank()) return;
      end_body();
      return;
    }
    data = data.substr(0, unread(data.size()));
    sent_ += data.size();
    read_ += data.size();
    scratch_.clear();
    encoder_.encode_body(scratch_, data);
    link_.write(scratch_);
    if (plan_.length && sent_ == *plan_.length) end_body();
    pump();
  }

  // A file that grew since its size was announced: only that size goes out.
  size_t unread(size_t n) const {
    return plan_.length ? static_cast<size_t>(std::min<uint64_t>(n, *plan_.length - read_)) : n;
  }

  // The source ended before the announced length.
  bool shrank() {
    if (!plan_.length || read_ >= *plan_.length) return false;
    fail(ClientError{Failure::BodyInput, "the request body ended after " + std::to_string(read_) +
                                             " of " + std::to_string(*plan_.length) +
                                             " bytes: the file shrank while being sent"});
    return true;
  }

  void end_body() {
    body_done_ = true;
    if (encoder_.body_on_request() && plan_.length) {
      out_.info("request body complete, " + std::to_string(sent_) + " bytes");
      return;  // AJP sends no end marker after a body of known length
    }
    scratch_.clear();
    encoder_.encode_body_end(scratch_);
    link_.write(scratch_);
    out_.sent("body " + std::to_string(sent_) + " bytes" +
              (scratch_.empty()
                   ? std::string()
                   : ", then its end marker (" + std::to_string(scratch_.size()) + " bytes)"));
  }

  // AJP: one packet per GET_BODY_CHUNK, in order, cut from a read-ahead
  // buffer (one file read serves several packets).
  void serve_wanted() {
    while (!finished_ && !send_failed_ && wanted_ > 0 && !reading_) {
      if (body_done_) {
        --wanted_;
        scratch_.clear();
        encoder_.encode_body_end(scratch_);
        link_.write(scratch_);
        out_.sent("empty body packet (no more body)");
      } else if (ahead_pos_ < ahead_.size()) {
        --wanted_;
        size_t n = std::min({wanted_max_ == 0 ? encoder_.max_body_piece() : wanted_max_,
                             encoder_.max_body_piece(), ahead_.size() - ahead_pos_});
        std::string_view piece = std::string_view(ahead_).substr(ahead_pos_, n);
        ahead_pos_ += n;
        sent_ += n;
        scratch_.clear();
        encoder_.encode_body(scratch_, piece);
        link_.write(scratch_);
        out_.sent("body packet, " + std::to_string(n) + " bytes");
        if (plan_.length && sent_ == *plan_.length) end_body();
      } else if (source_ended_) {
        --wanted_;
        end_body();  // a body of unknown length: the empty packet ends it
      } else {
        fill_ahead();
      }
    }
  }

  void fill_ahead() {
    reading_ = true;
    body_->read(kReadAhead, [this](std::string_view data, std::optional<ClientError> error) {
      reading_ = false;
      if (finished_ || body_done_) return;
      if (error) {
        fail(std::move(*error));
        return;
      }
      if (data.empty()) {
        if (shrank()) return;
        source_ended_ = true;
      }
      data = data.substr(0, unread(data.size()));
      read_ += data.size();
      ahead_.assign(data);
      ahead_pos_ = 0;
      serve_wanted();
    });
  }

  // ---- The end

  void finish() {
    finished_ = true;
    link_.close();
    if (body_) body_->cancel();
    if (!out_.flush()) {
      out_.error(out_.stdout_error()->what);
      exit_ = kExitOutput;
      return;
    }
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.3f", static_cast<double>(uv_hrtime() - started_ns_) / 1e6);
    out_.info("done: status " + std::to_string(status_) + ", " + std::to_string(body_bytes_) +
              " bytes of body, " + ms + " ms");
    if (options_.fail_on_status && status_ != 0 && (status_ < 200 || status_ > 299)) {
      out_.error(title_ + ": the response status is " + std::to_string(status_) + " (--fail)");
      exit_ = kExitHttpStatus;
      return;
    }
    exit_ = kExitOk;
  }

  void fail(ClientError error) {
    finished_ = true;
    link_.close();
    if (body_) body_->cancel();
    out_.flush();
    out_.error(error.what);
    exit_ = client::exit_status(error.failure);
  }

  const ClientOptions& options_;
  std::string display_;
  Output& out_;
  const RequestPlan& plan_;
  const RequestEncoder& encoder_;
  BodySource* body_;
  std::string title_;
  std::unique_ptr<ResponseReader> reader_;
  ClientLink link_;
  std::string scratch_;
  uint64_t started_ns_ = 0;
  uint64_t sent_ = 0;  // body bytes sent
  uint64_t read_ = 0;  // body bytes read from the source
  bool reading_ = false;
  bool source_ended_ = false;
  std::string ahead_;  // AJP: read, not sent yet
  size_t ahead_pos_ = 0;
  bool body_done_ = false;
  bool send_failed_ = false;
  uint32_t wanted_ = 0;  // GET_BODY_CHUNKs not answered yet
  size_t wanted_max_ = 0;
  int status_ = 0;
  uint64_t body_bytes_ = 0;
  bool finished_ = false;
  int exit_ = kExitPeer;
};

}  // namespace

int run_one_request(uv_loop_s* loop, const ClientOptions& options, const io::Address& address,
                    const std::string& display, Output& out) {
  auto opened = open_body(loop, options.body);
  if (auto* err = std::get_if<ClientError>(&opened)) {
    out.error(err->what);
    return exit_status(err->failure);
  }
  std::unique_ptr<BodySource> body = std::get<std::unique_ptr<BodySource>>(std::move(opened));
  RequestPlan plan = make_plan(options, body ? body->length() : std::nullopt);
  std::string why;
  std::unique_ptr<RequestEncoder> encoder = make_encoder(plan, why);
  if (!encoder) {
    out.error(why);
    return kExitUsage;
  }
  Exchange exchange(loop, options, address, display, out, plan, *encoder, body.get());
  exchange.start();
  uv_run(loop, UV_RUN_DEFAULT);
  if (!exchange.done()) {
    out.error("the event loop stopped before the exchange ended");
    return kExitPeer;
  }
  return exchange.exit_status();
}

}  // namespace gw::client
