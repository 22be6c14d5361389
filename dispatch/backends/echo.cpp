#include "dispatch/backends/echo.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "dispatch/backends/pretty_json.h"

namespace gw {

namespace {

// Output goes to the sink in pieces of this size, so a congested client is
// noticed between pieces (the document itself is bounded by the header limits).
constexpr size_t kPieceBytes = 64 * 1024;

struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// Fetched once: EVP_sha256() would make every EVP_DigestInit_ex look the
// algorithm up again in OpenSSL 3's provider tables.
const EVP_MD* sha256() {
  static EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return fetched ? fetched : EVP_sha256();
}

// SHA-256 of no bytes: most requests have no body, and need no digest run.
constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

void write_pairs(PrettyJson& j, std::string_view name, const std::vector<Header>& pairs) {
  j.key(name);
  j.begin_array();
  for (const auto& p : pairs) {
    j.begin_array();
    j.value(p.name);
    j.value(p.value);
    j.end_array();
  }
  j.end_array();
}

// About what describe_request() and the digest take, so that the output is
// allocated once instead of doubled seven times over.
size_t estimated_size(const Request& r) {
  size_t size = 1024 + 4 * r.target.size();  // members, indentation, digest; path, ...
  for (const auto* pairs : {&r.headers, &r.params}) {
    for (const auto& p : *pairs) size += p.name.size() + p.value.size() + 32;
  }
  return size;
}

// Everything from the request, written now: the Request is only borrowed for
// the duration of start(). The object is left open: body_length and
// body_sha256 follow once the body is in.
void describe_request(PrettyJson& j, std::string_view project, const Request& r) {
  j.begin_object();
  j.member("project", project);
  j.member("origin", protocol_name(r.origin));
  j.member("method", r.method);
  j.member("target", r.target);
  j.member("path", r.path);
  j.member("script_name", r.script_name);
  j.member("path_info", r.path_info);
  j.member("query", r.query);
  j.member("server_protocol", r.server_protocol);
  write_pairs(j, "headers", r.headers);
  write_pairs(j, "params", r.params);
  j.key("content_length");
  if (r.content_length) {
    j.value(*r.content_length);
  } else {
    j.null();
  }
  j.member("remote_addr", r.remote_addr);
  j.member("remote_port", uint64_t{r.remote_port});
  j.member("server_name", r.server_name);
  j.member("server_addr", r.server_addr);
  j.member("server_port", uint64_t{r.server_port});
  j.member("remote_user", r.remote_user);
  j.member("auth_type", r.auth_type);
  j.member("https", r.https);
  // TLS facts only when known, so plain requests stay short.
  if (!r.ssl_protocol.empty()) j.member("ssl_protocol", r.ssl_protocol);
  if (!r.ssl_cipher.empty()) j.member("ssl_cipher", r.ssl_cipher);
  if (r.ssl_key_size != 0) j.member("ssl_key_size", uint64_t{r.ssl_key_size});
  if (!r.ssl_session_id.empty()) j.member("ssl_session_id", r.ssl_session_id);
  if (!r.ssl_client_cert.empty()) j.member("ssl_client_cert", r.ssl_client_cert);
  if (!r.route.empty()) j.member("route", r.route);
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
  EchoExchange(std::string_view project, const Request& request, ResponseSink& sink) : sink_(sink) {
    output_.reserve(estimated_size(request));
    PrettyJson j(output_);
    describe_request(j, project, request);
  }

  void send_body(std::string_view data) override {
    if (state_ != State::Reading || data.empty()) return;
    if (!md_ && !start_digest()) return;
    if (EVP_DigestUpdate(md_.get(), data.data(), data.size()) != 1) {
      fail("echo: SHA-256 update failed");
      return;
    }
    body_length_ += data.size();
  }

  void finish_body() override {
    if (state_ != State::Reading) return;
    std::string body_sha256(kEmptySha256);
    if (md_) {
      unsigned char digest[EVP_MAX_MD_SIZE];
      unsigned int digest_size = 0;
      if (EVP_DigestFinal_ex(md_.get(), digest, &digest_size) != 1) {
        fail("echo: SHA-256 final failed");
        return;
      }
      md_.reset();
      body_sha256 = to_hex(digest, digest_size);
    }
    // Continues the object describe_request() left open (one level deep).
    PrettyJson j(output_);
    j.reopen_object();
    j.member("body_length", body_length_);
    j.member("body_sha256", body_sha256);
    j.end_object();
    output_.push_back('\n');
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

  // With the first body bytes; false (after telling the sink) when OpenSSL
  // cannot.
  bool start_digest() {
    md_.reset(EVP_MD_CTX_new());
    if (!md_ || EVP_DigestInit_ex(md_.get(), sha256(), nullptr) != 1) {
      fail("echo: cannot initialise SHA-256");
      return false;
    }
    return true;
  }

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
  return std::make_unique<EchoExchange>(project_, request, sink);
}

}  // namespace gw
