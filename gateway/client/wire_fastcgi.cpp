// FastCGI adapter: BEGIN_REQUEST, PARAMS and STDIN out; STDOUT (a CGI
// response), STDERR and END_REQUEST in, checked per request id 1.
#include <variant>

#include "gateway/client/wire.h"
#include "protocols/cgi_response.h"
#include "protocols/fastcgi_client.h"

namespace gw::client {

namespace {

constexpr StreamId kId = 1;

std::string_view protocol_status_name(uint8_t status) {
  switch (status) {
    case fcgi::FCGI_REQUEST_COMPLETE:
      return "FCGI_REQUEST_COMPLETE";
    case fcgi::FCGI_CANT_MPX_CONN:
      return "FCGI_CANT_MPX_CONN";
    case fcgi::FCGI_OVERLOADED:
      return "FCGI_OVERLOADED";
    case fcgi::FCGI_UNKNOWN_ROLE:
      return "FCGI_UNKNOWN_ROLE";
    default:
      return "unknown";
  }
}

ClientError malformed(std::string what) {
  return ClientError{Failure::Malformed, "FastCGI: " + std::move(what)};
}

class FastCgiEncoder final : public RequestEncoder {
 public:
  explicit FastCgiEncoder(const RequestPlan& plan)
      : vars_(plan.cgi_vars), keep_conn_(plan.keep_conn) {
    fcgi::encode_begin_request(head_, kId, fcgi::FCGI_RESPONDER, keep_conn_);
    params_start_ = head_.size();
    fcgi::encode_params(head_, kId, vars_);
  }

  void describe(std::vector<std::string>& lines) const override {
    lines.push_back(std::string("BEGIN_REQUEST id 1, role FCGI_RESPONDER, flags ") +
                    (keep_conn_ ? "FCGI_KEEP_CONN" : "0"));
    for (const Header& v : vars_) lines.push_back("PARAMS " + v.name + "=" + shown(v.value));
    lines.push_back("PARAMS end (" + std::to_string(head_.size() - params_start_) +
                    " bytes of records)");
  }

  void encode_body(std::string& out, std::string_view data) const override {
    fcgi::encode_stdin(out, kId, data);
  }
  void encode_body_end(std::string& out) const override { fcgi::encode_stdin_end(out, kId); }

 private:
  std::vector<Header> vars_;
  bool keep_conn_;
  size_t params_start_ = 0;
};

class FastCgiReader final : public ResponseReader {
 public:
  explicit FastCgiReader(const ReaderOptions& options) : options_(options) {}

  void new_connection() override { decoder_ = FastCgiClientDecoder(limits_); }

  void start() override {
    cgi_.emplace(limits_);
    head_done_ = stdout_ended_ = ended_ = received_any_ = false;
    stdout_bytes_ = 0;
  }

  ReadResult feed(std::string_view in, ResponseSink& sink) override {
    if (!in.empty()) received_any_ = true;
    events_.clear();
    FeedResult r = decoder_.feed(in, events_);
    for (const auto& event : events_) {
      auto err = std::visit([&](const auto& e) { return on_event(e, sink); }, event);
      if (err) return ReadResult{in.size(), std::move(err)};
    }
    if (r.error) return ReadResult{r.consumed, malformed(r.error->what)};
    return ReadResult{r.consumed, std::nullopt};
  }

  std::optional<ClientError> finish_eof(ResponseSink& /*sink*/) override {
    if (ended_) return std::nullopt;
    if (!received_any_) {
      return ClientError{Failure::Closed,
                         "FastCGI: the app closed the connection without answering"};
    }
    return ClientError{Failure::Closed,
                       "FastCGI: the app closed the connection before END_REQUEST after " +
                           std::to_string(stdout_bytes_) + " bytes of STDOUT"};
  }

  bool ended() const override { return ended_; }

  std::string waiting_for() const override {
    if (stdout_bytes_ == 0) return "the response (no STDOUT yet)";
    std::string so_far = " (" + std::to_string(stdout_bytes_) + " bytes of STDOUT so far)";
    return (head_done_ ? "END_REQUEST" : "the end of the response head") + so_far;
  }

 private:
  // Records after END_REQUEST, or for another request id, are errors.
  std::optional<ClientError> check(std::string_view type, StreamId id) const {
    if (ended_) return malformed(std::string(type) + " after END_REQUEST");
    if (id != kId) {
      return malformed(std::string(type) + " for request id " + std::to_string(id) +
                       " (the request was id 1)");
    }
    return std::nullopt;
  }

  std::optional<ClientError> on_event(const fcgi::Stdout& e, ResponseSink& sink) {
    if (auto err = check("STDOUT", e.id)) return err;
    if (stdout_ended_) {
      return malformed("STDOUT data after the empty STDOUT record that ended the stream");
    }
    stdout_bytes_ += e.data.size();
    if (options_.trace) sink.on_trace("STDOUT " + std::to_string(e.data.size()) + " bytes");
    std::string_view body = e.data;
    if (!head_done_) {
      CgiFeedResult r = cgi_->feed(e.data);
      if (r.error) return malformed("STDOUT: " + r.error->what);
      if (!r.done) return std::nullopt;
      head_done_ = true;
      sink.on_head(cgi_->head(), cgi_->local_redirect());
      body = e.data.substr(r.consumed);
    }
    if (!body.empty()) sink.on_body(body);
    return std::nullopt;
  }

  std::optional<ClientError> on_event(const fcgi::Stderr& e, ResponseSink& sink) {
    if (auto err = check("STDERR", e.id)) return err;
    if (options_.trace) sink.on_trace("STDERR " + std::to_string(e.data.size()) + " bytes");
    sink.on_app_stderr(e.data);
    return std::nullopt;
  }

  std::optional<ClientError> on_event(const fcgi::StdoutEnd& e, ResponseSink& sink) {
    if (auto err = check("STDOUT", e.id)) return err;
    stdout_ended_ = true;
    if (options_.trace) sink.on_trace("STDOUT end (empty record)");
    return std::nullopt;
  }

  std::optional<ClientError> on_event(const fcgi::EndRequest& e, ResponseSink& sink) {
    if (auto err = check("END_REQUEST", e.id)) return err;
    std::string statuses = "protocolStatus " +
                           std::string(protocol_status_name(e.protocol_status)) + ", appStatus " +
                           std::to_string(e.app_status);
    if (options_.trace) sink.on_trace("END_REQUEST " + statuses);
    if (e.protocol_status != fcgi::FCGI_REQUEST_COMPLETE) {
      return ClientError{Failure::Refused,
                         "FastCGI: the app refused the request: END_REQUEST " + statuses};
    }
    if (!head_done_) {
      if (stdout_bytes_ == 0) {
        return malformed("END_REQUEST (" + statuses + ") without any STDOUT: no response");
      }
      return malformed("END_REQUEST after " + std::to_string(stdout_bytes_) +
                       " bytes of STDOUT that hold no complete response head");
    }
    if (!stdout_ended_) {
      sink.on_warning(
          "FastCGI: END_REQUEST came without the empty STDOUT record that ends the stream");
    }
    ended_ = true;
    sink.on_end(options_.keep_conn);
    return std::nullopt;
  }

  std::optional<ClientError> on_event(const fcgi::GetValuesResult& /*e*/, ResponseSink&) {
    return malformed("FCGI_GET_VALUES_RESULT that nobody asked for");
  }

  std::optional<ClientError> on_event(const fcgi::UnknownTypeReply& e, ResponseSink&) {
    return malformed("FCGI_UNKNOWN_TYPE for record type " + std::to_string(e.type) +
                     ", which gatewayd-client did not send");
  }

  ReaderOptions options_;
  Limits limits_;
  FastCgiClientDecoder decoder_{limits_};
  std::vector<fcgi::ClientEvent> events_;
  std::optional<CgiResponseParser> cgi_;
  bool head_done_ = false;
  bool stdout_ended_ = false;
  bool ended_ = false;
  bool received_any_ = false;
  uint64_t stdout_bytes_ = 0;
};

}  // namespace

std::unique_ptr<RequestEncoder> make_fastcgi_encoder(const RequestPlan& plan) {
  return std::make_unique<FastCgiEncoder>(plan);
}

std::unique_ptr<ResponseReader> make_fastcgi_reader(const ReaderOptions& options) {
  auto reader = std::make_unique<FastCgiReader>(options);
  reader->start();
  return reader;
}

}  // namespace gw::client
