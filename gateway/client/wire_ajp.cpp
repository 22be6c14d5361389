// AJP13 adapter, as mod_jk talks to a container: FORWARD_REQUEST (with the
// secret), the first body packet unasked, later ones on GET_BODY_CHUNK;
// SEND_HEADERS, SEND_BODY_CHUNK and END_RESPONSE in.
#include <variant>

#include "gateway/client/wire.h"
#include "protocols/ajp13_client.h"

namespace gw::client {

namespace {

ClientError malformed(std::string what) {
  return ClientError{Failure::Malformed, "AJP: " + std::move(what)};
}

class AjpEncoder final : public RequestEncoder {
 public:
  explicit AjpEncoder(const RequestPlan& plan) : packet_size_(plan.ajp_packet_size) {
    Request request = plan.request;
    if (!plan.has_body) request.content_length = 0;  // else it would announce a chunked body
    forward_ = ajp::forward_request_for(request);
    forward_.secret = plan.ajp_secret;
    if (!plan.has_body) {
      // A bodiless request carries no Content-Length, as mod_proxy_ajp sends it.
      std::erase_if(forward_.headers,
                    [](const Header& h) { return iequals(h.name, "Content-Length"); });
    }
  }

  bool encode() { return ajp::encode_forward_request(head_, forward_, packet_size_); }

  void describe(std::vector<std::string>& lines) const override {
    const ajp::ForwardRequest& f = forward_;
    lines.push_back("FORWARD_REQUEST (" + std::to_string(head_.size()) + " bytes): " + f.method +
                    " " + shown(f.req_uri) + " " + f.protocol);
    lines.push_back("remote_addr " + shown(f.remote_addr) + ", remote_host " +
                    (f.remote_host ? shown(*f.remote_host) : "null") + ", server_name " +
                    shown(f.server_name) + ", server_port " + std::to_string(f.server_port) +
                    ", is_ssl " + (f.is_ssl ? "1" : "0"));
    for (const Header& h : f.headers) lines.push_back("header " + h.name + ": " + escaped(h.value));
    auto attribute = [&](std::string_view name, const std::optional<std::string>& value) {
      if (value) lines.push_back("attribute " + std::string(name) + " " + shown(*value));
    };
    attribute("query_string", f.query_string);
    if (f.secret) {
      lines.push_back("attribute secret (" + std::to_string(f.secret->size()) +
                      " bytes, not shown)");
    }
    attribute("remote_user", f.remote_user);
    attribute("auth_type", f.auth_type);
    attribute("route", f.route);
    for (const Header& a : f.attributes) {
      lines.push_back("attribute req_attribute " + a.name + " " + shown(a.value));
    }
  }

  bool body_on_request() const override { return true; }
  size_t max_body_piece() const override { return packet_size_ - ajp::kBodyPacketOverhead; }
  void encode_body(std::string& out, std::string_view data) const override {
    ajp::encode_body_packet(out, data, packet_size_);
  }
  void encode_body_end(std::string& out) const override {
    ajp::encode_body_end(out, ajp::BodyEndForm::Empty);
  }

 private:
  size_t packet_size_;
  ajp::ForwardRequest forward_;
};

class AjpReader final : public ResponseReader {
 public:
  explicit AjpReader(const ReaderOptions& options) : options_(options) {
    limits_.ajp_packet_size = options.ajp_packet_size;
    decoder_.emplace(limits_);
  }

  void new_connection() override { decoder_.emplace(limits_); }

  void start() override {
    head_seen_ = ended_ = received_any_ = false;
    body_bytes_ = 0;
  }

  ReadResult feed(std::string_view in, ResponseSink& sink) override {
    if (!in.empty()) received_any_ = true;
    events_.clear();
    FeedResult r = decoder_->feed(in, events_);
    for (const auto& event : events_) {
      auto err = std::visit([&](const auto& e) { return on_event(e, sink); }, event);
      if (err) return ReadResult{r.consumed, std::move(err)};
    }
    if (r.error) {
      std::string_view what = r.error->what;
      if (what.starts_with("AJP container: ")) what.remove_prefix(15);
      return ReadResult{r.consumed, malformed(std::string(what))};
    }
    return ReadResult{r.consumed, std::nullopt};
  }

  std::optional<ClientError> finish_eof(ResponseSink& /*sink*/) override {
    if (ended_) return std::nullopt;
    if (!head_seen_) {
      return ClientError{Failure::Closed,
                         !received_any_
                             ? "AJP: the container closed the connection without answering"
                             : "AJP: the container closed the connection before SEND_HEADERS"};
    }
    return ClientError{Failure::Closed,
                       "AJP: the container closed the connection before END_RESPONSE after " +
                           std::to_string(body_bytes_) + " bytes of body"};
  }

  bool ended() const override { return ended_; }

  std::string waiting_for() const override {
    if (!head_seen_) return "SEND_HEADERS";
    return "END_RESPONSE (" + std::to_string(body_bytes_) + " bytes of body so far)";
  }

 private:
  std::optional<ClientError> after_end(std::string_view type) const {
    if (ended_) return malformed(std::string(type) + " after END_RESPONSE");
    return std::nullopt;
  }

  std::optional<ClientError> on_event(const ajp::SendHeaders& e, ResponseSink& sink) {
    if (auto err = after_end("SEND_HEADERS")) return err;
    if (head_seen_) return malformed("a second SEND_HEADERS");
    head_seen_ = true;
    if (options_.trace) {
      sink.on_trace("SEND_HEADERS " + std::to_string(e.head.status) + ", " +
                    std::to_string(e.head.headers.size()) + " headers");
    }
    sink.on_head(e.head, std::nullopt);
    return std::nullopt;
  }

  std::optional<ClientError> on_event(const ajp::SendBodyChunk& e, ResponseSink& sink) {
    if (auto err = after_end("SEND_BODY_CHUNK")) return err;
    if (!head_seen_) return malformed("SEND_BODY_CHUNK before SEND_HEADERS");
    if (options_.trace) {
      sink.on_trace(e.data.empty() ? "SEND_BODY_CHUNK empty (flush)"
                                   : "SEND_BODY_CHUNK " + std::to_string(e.data.size()) + " bytes");
    }
    body_bytes_ += e.data.size();
    if (!e.data.empty()) sink.on_body(e.data);
    return std::nullopt;
  }

  std::optional<ClientError> on_event(const ajp::GetBodyChunk& e, ResponseSink& sink) {
    if (auto err = after_end("GET_BODY_CHUNK")) return err;
    if (options_.trace) sink.on_trace("GET_BODY_CHUNK " + std::to_string(e.requested) + " bytes");
    sink.on_body_wanted(e.requested);
    return std::nullopt;
  }

  std::optional<ClientError> on_event(const ajp::EndResponse& e, ResponseSink& sink) {
    if (auto err = after_end("END_RESPONSE")) return err;
    if (!head_seen_) return malformed("END_RESPONSE without SEND_HEADERS");
    if (options_.trace) sink.on_trace(std::string("END_RESPONSE reuse ") + (e.reuse ? "1" : "0"));
    ended_ = true;
    sink.on_end(e.reuse && options_.keep_conn);
    return std::nullopt;
  }

  std::optional<ClientError> on_event(const ajp::CPong& /*e*/, ResponseSink&) {
    return malformed("a CPONG, but no CPING was sent");
  }

  ReaderOptions options_;
  Limits limits_;
  std::optional<AjpClientDecoder> decoder_;
  std::vector<ajp::ClientEvent> events_;
  bool head_seen_ = false;
  bool ended_ = false;
  bool received_any_ = false;
  uint64_t body_bytes_ = 0;
};

}  // namespace

std::unique_ptr<RequestEncoder> make_ajp_encoder(const RequestPlan& plan, std::string& error) {
  auto encoder = std::make_unique<AjpEncoder>(plan);
  if (!encoder->encode()) {
    error = "AJP: the request does not fit in one packet of " +
            std::to_string(plan.ajp_packet_size) +
            " bytes, or holds a value AJP cannot carry (--ajp-packet-size, up to 65536, must "
            "match the container's)";
    return nullptr;
  }
  return encoder;
}

std::unique_ptr<ResponseReader> make_ajp_reader(const ReaderOptions& options) {
  return std::make_unique<AjpReader>(options);
}

}  // namespace gw::client
