// HTTP/1.1 adapter: a request head (Content-Length, or chunked for a body
// of unknown length; "Connection: close" unless --keep-conn) and the strict
// response parser the http backend uses.
#include "gateway/client/wire.h"
#include "protocols/http1_client.h"

namespace gw::client {

namespace {

class HttpEncoder final : public RequestEncoder {
 public:
  explicit HttpEncoder(const RequestPlan& plan) : plan_(plan) {}

  bool encode() {
    chunked_ = plan_.has_body && !plan_.length;
    const Request& r = plan_.request;
    if (!http1::encode_request_head(head_, r.method, r.target, r.headers, plan_.length,
                                    plan_.has_body)) {
      return false;
    }
    if (!plan_.keep_conn) {
      head_.resize(head_.size() - 2);  // before the empty line that ends the head
      head_ += "Connection: close\r\n\r\n";
    }
    return true;
  }

  void describe(std::vector<std::string>& lines) const override {
    std::string_view rest = head_;
    while (!rest.empty()) {
      size_t end = rest.find("\r\n");
      if (end == 0 || end == std::string_view::npos) break;
      lines.emplace_back(rest.substr(0, end));
      rest.remove_prefix(end + 2);
    }
  }

  void encode_body(std::string& out, std::string_view data) const override {
    http1::encode_body_chunk(out, data, chunked_);
  }
  void encode_body_end(std::string& out) const override { http1::encode_body_end(out, chunked_); }

 private:
  RequestPlan plan_;
  bool chunked_ = false;
};

class HttpReader final : public ResponseReader {
 public:
  explicit HttpReader(const ReaderOptions& options)
      : options_(options), parser_(limits_, options.method) {}

  void new_connection() override {}

  void start() override {
    parser_.reset(options_.method);
    started_ = false;
    keep_alive_ = false;
    body_bytes_ = 0;
  }

  ReadResult feed(std::string_view in, ResponseSink& sink) override {
    events_.clear();
    FeedResult r = parser_.feed(in, events_);
    deliver(sink);
    if (r.error) {
      return ReadResult{r.consumed, ClientError{Failure::Malformed, "HTTP: " + r.error->what}};
    }
    return ReadResult{r.consumed, std::nullopt};
  }

  std::optional<ClientError> finish_eof(ResponseSink& sink) override {
    if (parser_.done()) return std::nullopt;
    events_.clear();
    auto err = parser_.finish_eof(events_);
    deliver(sink);
    if (!err) return std::nullopt;
    if (!parser_.received_any()) {
      return ClientError{Failure::Closed,
                         "HTTP: the server closed the connection without a response"};
    }
    if (!started_) {
      return ClientError{Failure::Closed,
                         "HTTP: the server closed the connection inside the response head"};
    }
    return ClientError{Failure::Closed,
                       "HTTP: the server closed the connection before the end of the response "
                       "after " +
                           std::to_string(body_bytes_) + " bytes of body"};
  }

  bool ended() const override { return parser_.done(); }

  std::string waiting_for() const override {
    if (!started_) return "the response head";
    return "the end of the response (" + std::to_string(body_bytes_) + " bytes of body so far)";
  }

 private:
  void deliver(ResponseSink& sink) {
    for (auto& event : events_) {
      if (auto* started = std::get_if<http1::ResponseStarted>(&event)) {
        started_ = true;
        keep_alive_ = started->keep_alive;
        if (options_.trace && options_.keep_conn && !keep_alive_) {
          sink.on_trace("the server will close the connection after this response");
        }
        sink.on_head(started->head, std::nullopt);
      } else if (auto* body = std::get_if<http1::ResponseBody>(&event)) {
        body_bytes_ += body->data.size();
        sink.on_body(body->data);
      } else {
        if (options_.trace) {
          sink.on_trace("end of the response (" + std::to_string(body_bytes_) + " bytes of body)");
        }
        sink.on_end(keep_alive_ && options_.keep_conn);
      }
    }
  }

  ReaderOptions options_;
  Limits limits_;
  Http1ResponseParser parser_;
  std::vector<http1::ClientEvent> events_;
  bool started_ = false;
  bool keep_alive_ = false;
  uint64_t body_bytes_ = 0;
};

}  // namespace

std::unique_ptr<RequestEncoder> make_http_encoder(const RequestPlan& plan, std::string& error) {
  auto encoder = std::make_unique<HttpEncoder>(plan);
  if (!encoder->encode()) {
    error = "HTTP: the method or the target cannot be sent in an HTTP/1.1 request line";
    return nullptr;
  }
  return encoder;
}

std::unique_ptr<ResponseReader> make_http_reader(const ReaderOptions& options) {
  auto reader = std::make_unique<HttpReader>(options);
  reader->start();
  return reader;
}

}  // namespace gw::client
