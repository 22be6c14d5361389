// SCGI client side: the request netstring, and the app's CGI response read
// until EOF.
#include "protocols/scgi_client.h"

#include "protocols/cgi_params.h"

namespace gw {
namespace scgi {

namespace {

void append_pair(std::string& block, std::string_view name, std::string_view value) {
  block.append(name);
  block.push_back('\0');
  block.append(value);
  block.push_back('\0');
}

bool encodable(const Header& v) {
  if (v.name == "CONTENT_LENGTH" || v.name == "SCGI") return false;
  // What an SCGI server (ours included) refuses is never sent.
  return valid_cgi_name(v.name) && v.value.find('\0') == std::string::npos;
}

}  // namespace

std::string encode_request_head(const std::vector<Header>& cgi_vars, uint64_t content_length) {
  std::string block;
  append_pair(block, "CONTENT_LENGTH", std::to_string(content_length));
  append_pair(block, "SCGI", "1");
  for (const auto& v : cgi_vars) {
    if (encodable(v)) append_pair(block, v.name, v.value);
  }
  std::string out = std::to_string(block.size());
  out.reserve(out.size() + block.size() + 2);
  out += ':';
  out += block;
  out += ',';
  return out;
}

}  // namespace scgi

ScgiResponseReader::ScgiResponseReader(const Limits& limits) : parser_(limits) {}

FeedResult ScgiResponseReader::feed(std::string_view in, std::vector<scgi::ClientEvent>& events) {
  if (error_) return FeedResult{0, error_};
  if (ended_) return FeedResult{};
  std::string_view body = in;
  if (!in.empty()) received_any_ = true;
  if (!parser_.done()) {
    CgiFeedResult r = parser_.feed(in);
    if (r.error) {
      error_ = r.error;
      return FeedResult{0, error_};
    }
    if (!r.done) return FeedResult{in.size(), std::nullopt};  // the parser kept the bytes
    events.emplace_back(scgi::ResponseStarted{parser_.take_head(), parser_.local_redirect()});
    body = in.substr(r.consumed);
  }
  if (!body.empty()) events.emplace_back(scgi::ResponseBody{body});
  return FeedResult{in.size(), std::nullopt};
}

std::optional<CodecError> ScgiResponseReader::finish_eof(std::vector<scgi::ClientEvent>& events) {
  if (error_) return error_;
  if (ended_) return std::nullopt;
  if (!parser_.done()) {
    error_ =
        CodecError{502, received_any_ ? "SCGI app closed the connection inside its response head"
                                      : "SCGI app closed the connection without a response"};
    return error_;
  }
  ended_ = true;
  events.emplace_back(scgi::ResponseEnd{});
  return std::nullopt;
}

}  // namespace gw
