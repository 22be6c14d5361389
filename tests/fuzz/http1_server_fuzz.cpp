// Fuzz target for the HTTP/1.1 server codec (protocols/http1_server.h).
//
// Input: 4 control bytes, then the bytes a client sends. The control bytes
// seed the sizes of the pieces the input is fed in and the shape of the
// responses written back. Invariants checked (abort on violation):
//  * feed() never consumes more than it was given;
//  * BodyData views lie inside the fed buffer and are never empty;
//  * no events, and nothing consumed, after an error;
//  * events come in order: RequestStarted, BodyData*, BodyEnd;
//  * everything the codec writes back (100 Continue, responses, the error
//    response) parses with Http1ResponseParser, response by response, with
//    the bodies that were written.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/http1_client.h"
#include "protocols/http1_server.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

struct Rng {
  uint32_t state;
  uint32_t next() {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
  }
};

struct Expected {
  std::string method;
  std::string body;  // what the client must read
};

// The response written for one request, chosen from the control bytes.
Expected respond(gw::Http1ServerCodec& codec, const std::string& method, Rng& rng, std::string& out,
                 bool& keep) {
  static const int kStatuses[] = {200, 201, 204, 304, 404, 500};
  gw::ResponseHead head;
  head.status = kStatuses[rng.next() % 6];
  std::string body(rng.next() % 40, 'b');
  uint32_t framing = rng.next() % 3;
  if (framing == 0) head.headers.push_back({"Content-Length", std::to_string(body.size())});
  if (framing == 1 && !body.empty()) {
    // Announce less than is written: the codec must cut the excess.
    head.headers.push_back({"Content-Length", std::to_string(body.size() - 1)});
  }
  head.headers.push_back({"X-Seq", std::to_string(rng.next() % 1000)});
  codec.write_head(1, head, out);
  size_t half = body.size() / 2;
  codec.write_body(1, std::string_view(body).substr(0, half), out);
  codec.write_body(1, std::string_view(body).substr(half), out);
  keep = codec.write_end(1, out);
  bool no_body = method == "HEAD" || head.status == 204 || head.status == 304;
  if (no_body) body.clear();
  if (framing == 1 && !body.empty()) body.pop_back();
  return {method, body};
}

// Parses one response from the front of `out`; returns false if it does not
// parse as `method`'s response with `body`.
bool parse_one(std::string_view& out, const Expected& want, bool last) {
  gw::Http1ResponseParser parser(gw::Limits{}, want.method);
  std::vector<gw::http1::ClientEvent> events;
  gw::FeedResult r = parser.feed(out, events);
  if (r.error) return false;
  if (!parser.done()) {
    if (!last || parser.finish_eof(events)) return false;
  }
  std::string body;
  for (const auto& ev : events) {
    if (const auto* data = std::get_if<gw::http1::ResponseBody>(&ev)) body += data->data;
  }
  if (body != want.body) return false;
  out.remove_prefix(r.consumed);
  return true;
}

// The error response, after any 100 Continue. Its body is left out when it
// answers a HEAD request, and the codec reports no method before the error.
bool parse_error_response(std::string_view& out) {
  for (const char* method : {"GET", "HEAD"}) {
    gw::Http1ResponseParser parser(gw::Limits{}, method);
    std::vector<gw::http1::ClientEvent> events;
    gw::FeedResult r = parser.feed(out, events);
    if (!r.error && parser.done() && r.consumed == out.size()) {
      out = {};
      return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  Rng rng{(uint32_t(data[0]) << 24 | uint32_t(data[1]) << 16 | uint32_t(data[2]) << 8 |
           uint32_t(data[3])) |
          1};
  std::string_view input(reinterpret_cast<const char*>(data + 4), size - 4);

  gw::Limits limits;
  if (data[0] & 1) {  // small limits reach the 414/431 paths with short inputs
    limits.request_line_bytes = 64;
    limits.header_bytes = 256;
    limits.header_count = 8;
    limits.name_bytes = 32;
    limits.value_bytes = 64;
    limits.max_body_bytes = 512;
  }
  gw::Http1ServerCodec codec(limits);
  std::string buffer;
  std::string out;
  std::vector<Expected> responses;
  std::string method;       // of the request in progress
  bool in_request = false;  // RequestStarted seen, BodyEnd not yet
  bool failed = false;
  bool closed = false;

  size_t pos = 0;
  while (pos < input.size() && !closed && !failed) {
    size_t n = 1 + rng.next() % 64;
    buffer.append(input.substr(pos, n));
    pos += n;
    while (!closed) {
      std::vector<gw::Event> events;
      gw::FeedResult r = codec.feed(buffer, events, out);
      check(r.consumed <= buffer.size());
      if (failed) check(events.empty() && r.consumed == 0);
      bool ended = false;
      for (const gw::Event& ev : events) {
        check(!ended);  // nothing after BodyEnd until write_end
        if (const auto* started = std::get_if<gw::RequestStarted>(&ev)) {
          check(!in_request);
          in_request = true;
          method = started->request.method;
        } else if (const auto* body = std::get_if<gw::BodyData>(&ev)) {
          check(in_request && !body->data.empty());
          check(body->data.data() >= buffer.data() &&
                body->data.data() + body->data.size() <= buffer.data() + r.consumed);
        } else if (std::holds_alternative<gw::BodyEnd>(ev)) {
          check(in_request);
          in_request = false;
          ended = true;
        } else {
          check(false);
        }
      }
      buffer.erase(0, r.consumed);
      if (r.error) {
        failed = true;
        break;
      }
      if (ended) {
        bool keep = false;
        responses.push_back(respond(codec, method, rng, out, keep));
        closed = !keep;
        continue;
      }
      if (r.consumed == 0) break;
    }
  }

  std::string_view rest = out;
  for (size_t i = 0; i < responses.size(); ++i) {
    check(parse_one(rest, responses[i], i + 1 == responses.size() && !failed));
  }
  if (failed) check(parse_error_response(rest));
  // A request still arriving may have had its 100 Continue already.
  if (in_request && rest == "HTTP/1.1 100 Continue\r\n\r\n") rest = {};
  check(rest.empty());
  return 0;
}
