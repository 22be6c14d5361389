#include "dispatch/backends/echo.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

namespace gw {

namespace {

// Keeps members in insertion order: the field order is part of the interface.
using Json = nlohmann::ordered_json;

// Output goes to the sink in pieces of this size, so a congested client is
// noticed between pieces (the document itself is bounded by the header limits).
constexpr size_t kPieceBytes = 64 * 1024;

struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

Json pairs_to_json(const std::vector<Header>& pairs) {
  Json out = Json::array();
  for (const auto& p : pairs) out.push_back(Json::array({p.name, p.value}));
  return out;
}

// Everything from the request, copied now: the Request is only borrowed for
// the duration of start().
Json describe_request(std::string_view project, const Request& r) {
  Json j = Json::object();
  j["project"] = project;
  j["origin"] = protocol_name(r.origin);
  j["method"] = r.method;
  j["target"] = r.target;
  j["path"] = r.path;
  j["script_name"] = r.script_name;
  j["path_info"] = r.path_info;
  j["query"] = r.query;
  j["server_protocol"] = r.server_protocol;
  j["headers"] = pairs_to_json(r.headers);
  j["params"] = pairs_to_json(r.params);
  j["content_length"] = r.content_length ? Json(*r.content_length) : Json(nullptr);
  j["remote_addr"] = r.remote_addr;
  j["remote_port"] = r.remote_port;
  j["server_name"] = r.server_name;
  j["server_addr"] = r.server_addr;
  j["server_port"] = r.server_port;
  j["remote_user"] = r.remote_user;
  j["auth_type"] = r.auth_type;
  j["https"] = r.https;
  // TLS facts only when known, so plain requests stay short.
  if (!r.ssl_protocol.empty()) j["ssl_protocol"] = r.ssl_protocol;
  if (!r.ssl_cipher.empty()) j["ssl_cipher"] = r.ssl_cipher;
  if (r.ssl_key_size != 0) j["ssl_key_size"] = r.ssl_key_size;
  if (!r.ssl_session_id.empty()) j["ssl_session_id"] = r.ssl_session_id;
  if (!r.ssl_client_cert.empty()) j["ssl_client_cert"] = r.ssl_client_cert;
  if (!r.route.empty()) j["route"] = r.route;
  return j;
}

std::string to_hex(const unsigned char* data, size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 15]);
  }
  return out;
}

class EchoExchange : public Exchange {
 public:
  EchoExchange(Json description, ResponseSink& sink)
      : description_(std::move(description)), sink_(sink) {}

  // Sets up the digest; false (after telling the sink) when OpenSSL cannot.
  bool init() {
    md_.reset(EVP_MD_CTX_new());
    if (!md_ || EVP_DigestInit_ex(md_.get(), EVP_sha256(), nullptr) != 1) {
      fail("echo: cannot initialise SHA-256");
      return false;
    }
    return true;
  }

  void send_body(std::string_view data) override {
    if (state_ != State::Reading || data.empty()) return;
    if (EVP_DigestUpdate(md_.get(), data.data(), data.size()) != 1) {
      fail("echo: SHA-256 update failed");
      return;
    }
    body_length_ += data.size();
  }

  void finish_body() override {
    if (state_ != State::Reading) return;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_size = 0;
    if (EVP_DigestFinal_ex(md_.get(), digest, &digest_size) != 1) {
      fail("echo: SHA-256 final failed");
      return;
    }
    md_.reset();
    description_["body_length"] = body_length_;
    description_["body_sha256"] = to_hex(digest, digest_size);
    // replace: header values may hold bytes that are not UTF-8 (obs-text);
    // dump() would otherwise throw on them.
    output_ = description_.dump(2, ' ', false, Json::error_handler_t::replace);
    output_.push_back('\n');
    description_ = Json();
    state_ = State::Writing;

    ResponseHead head;
    head.status = 200;
    head.headers.push_back({"Content-Type", "application/json"});
    head.headers.push_back({"Content-Length", std::to_string(output_.size())});
    head.headers.push_back({"Cache-Control", "no-store"});
    sink_.on_head(std::move(head));
    pump();
  }

  void resume_response() override { pump(); }

  void cancel() override {
    state_ = State::Done;
    md_.reset();
    output_.clear();
  }

 private:
  enum class State { Reading, Writing, Done };

  void fail(std::string_view why) {
    state_ = State::Done;
    md_.reset();
    sink_.on_error(500, why);
  }

  // Writes output_ while the client keeps up; resume_response() continues.
  void pump() {
    if (state_ != State::Writing || pumping_) return;
    pumping_ = true;
    while (state_ == State::Writing && sent_ < output_.size() && !sink_.congested()) {
      size_t n = std::min(kPieceBytes, output_.size() - sent_);
      sink_.on_body(std::string_view(output_).substr(sent_, n));
      sent_ += n;
    }
    pumping_ = false;
    // cancel() may have come from inside on_body().
    if (state_ == State::Writing && sent_ == output_.size()) {
      state_ = State::Done;
      output_.clear();
      sink_.on_end();
    }
  }

  Json description_;
  ResponseSink& sink_;
  MdCtx md_;
  uint64_t body_length_ = 0;
  State state_ = State::Reading;
  std::string output_;
  size_t sent_ = 0;
  bool pumping_ = false;
};

}  // namespace

EchoBackend::EchoBackend(std::string project) : project_(std::move(project)) {}

std::unique_ptr<Exchange> EchoBackend::start(const Request& request, ResponseSink& sink) {
  auto exchange = std::make_unique<EchoExchange>(describe_request(project_, request), sink);
  exchange->init();
  return exchange;
}

}  // namespace gw
