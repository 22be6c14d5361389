// SCGI adapter: the netstring of CGI variables and the body out; a CGI
// response in, ended by the app closing the connection.
#include "gateway/client/wire.h"
#include "protocols/scgi_client.h"

namespace gw::client {

namespace {

class ScgiEncoder final : public RequestEncoder {
 public:
  ScgiEncoder(const RequestPlan& plan, uint64_t length) : vars_(plan.cgi_vars), length_(length) {
    head_ = scgi::encode_request_head(vars_, length_);
  }

  void describe(std::vector<std::string>& lines) const override {
    lines.push_back("netstring of " + std::to_string(head_.size()) + " bytes:");
    lines.push_back("CONTENT_LENGTH=" + shown(std::to_string(length_)));
    lines.push_back("SCGI=" + shown("1"));
    for (const Header& v : vars_) {
      if (v.name == "CONTENT_LENGTH" || v.name == "SCGI") continue;  // the two above
      lines.push_back(v.name + "=" + shown(v.value));
    }
  }

  void encode_body(std::string& out, std::string_view data) const override { out.append(data); }
  void encode_body_end(std::string& /*out*/) const override {}

 private:
  std::vector<Header> vars_;
  uint64_t length_;
};

class ScgiReader final : public ResponseReader {
 public:
  explicit ScgiReader(const ReaderOptions& options) : options_(options) {}

  void new_connection() override {}

  void start() override {
    reader_.emplace(limits_);
    bytes_in_ = body_bytes_ = 0;
  }

  ReadResult feed(std::string_view in, ResponseSink& sink) override {
    bytes_in_ += in.size();
    events_.clear();
    FeedResult r = reader_->feed(in, events_);
    deliver(sink);
    if (r.error) {
      return ReadResult{r.consumed, ClientError{Failure::Malformed, "SCGI: " + r.error->what}};
    }
    return ReadResult{r.consumed, std::nullopt};
  }

  std::optional<ClientError> finish_eof(ResponseSink& sink) override {
    if (reader_->done()) return std::nullopt;
    events_.clear();
    auto err = reader_->finish_eof(events_);
    if (err) {
      if (bytes_in_ == 0) {
        return ClientError{Failure::Closed,
                           "SCGI: the app closed the connection without a response"};
      }
      return ClientError{Failure::Closed,
                         "SCGI: the app closed the connection inside the response head after " +
                             std::to_string(bytes_in_) + " bytes"};
    }
    deliver(sink);
    return std::nullopt;
  }

  bool ended() const override { return reader_->done(); }

  std::string waiting_for() const override {
    if (!reader_->started()) {
      if (bytes_in_ == 0) return "the response (nothing received yet)";
      return "the end of the response head (" + std::to_string(bytes_in_) + " bytes so far)";
    }
    return "the app to close the connection, which ends an SCGI response (" +
           std::to_string(body_bytes_) + " bytes of body so far)";
  }

 private:
  void deliver(ResponseSink& sink) {
    for (auto& event : events_) {
      if (auto* started = std::get_if<scgi::ResponseStarted>(&event)) {
        sink.on_head(started->head, started->local_redirect);
      } else if (auto* body = std::get_if<scgi::ResponseBody>(&event)) {
        body_bytes_ += body->data.size();
        sink.on_body(body->data);
      } else {
        if (options_.trace) {
          sink.on_trace("connection closed: the end of the response (" +
                        std::to_string(body_bytes_) + " bytes of body)");
        }
        sink.on_end(false);
      }
    }
  }

  ReaderOptions options_;
  Limits limits_;
  std::optional<ScgiResponseReader> reader_;
  std::vector<scgi::ClientEvent> events_;
  uint64_t bytes_in_ = 0;
  uint64_t body_bytes_ = 0;
};

}  // namespace

std::unique_ptr<RequestEncoder> make_scgi_encoder(const RequestPlan& plan, std::string& error) {
  if (!plan.length) {
    error = "SCGI sends the body's length first: the body must be a file or text";
    return nullptr;
  }
  return std::make_unique<ScgiEncoder>(plan, *plan.length);
}

std::unique_ptr<ResponseReader> make_scgi_reader(const ReaderOptions& options) {
  auto reader = std::make_unique<ScgiReader>(options);
  reader->start();
  return reader;
}

}  // namespace gw::client
