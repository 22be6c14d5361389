// libFuzzer target for ScgiServerCodec.
//
// The whole input is the byte stream from the web server (the captures in
// tests/vectors/scgi are the seeds); its first byte also chooses how it is
// cut into reads and whether small limits are used. Invariants:
//  * feed() consumes at most its input; no events after an error;
//  * at most one RequestStarted; BodyData only after it, never empty, and
//    never more than its content_length in total; BodyEnd once, exactly
//    when content_length bytes arrived;
//  * the response written for the request parses back (CgiResponseParser)
//    to the status written, and its body is exactly what was written, or
//    nothing for HEAD.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "protocols/cgi_response.h"
#include "protocols/scgi_server.h"

namespace {

void require(bool ok) {
  if (!ok) abort();
}

void check_response(gw::ScgiServerCodec& codec, bool head_only) {
  gw::ResponseHead head;
  head.status = 418;
  head.headers = {{"Content-Type", "text/plain"}, {"X-Bad", "a\r\nInjected: 1"}};
  std::string out;
  codec.write_head(1, head, out);
  codec.write_body(1, "teapot", out);
  require(!codec.write_end(1, out));
  gw::CgiResponseParser parser;
  gw::CgiFeedResult r = parser.feed(out);
  require(r.done && !r.error);
  require(parser.head().status == 418);
  for (const auto& h : parser.head().headers) require(h.name != "Injected");
  require(out.substr(r.consumed) == (head_only ? "" : "teapot"));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto mode = data[0];
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  gw::Limits limits;
  if (mode & 1) {
    limits.header_bytes = 300;
    limits.header_count = 8;
    limits.name_bytes = 16;
    limits.value_bytes = 64;
    limits.max_body_bytes = 1000;
  }
  const size_t piece = (mode >> 1) == 0 ? input.size() + 1 : (mode >> 1);
  gw::ScgiServerCodec codec(limits);
  std::string buffer, out;
  bool started = false, ended = false, failed = false, head_only = false;
  uint64_t expected = 0, received = 0;
  for (size_t pos = 0; pos < input.size() && !failed; pos += piece) {
    buffer.append(input.substr(pos, piece));
    for (;;) {
      std::vector<gw::Event> events;
      gw::FeedResult r = codec.feed(buffer, events, out);
      require(r.consumed <= buffer.size());
      for (auto& ev : events) {
        if (auto* s = std::get_if<gw::RequestStarted>(&ev)) {
          require(!started && s->stream == 1);
          started = true;
          require(s->request.content_length.has_value());
          expected = *s->request.content_length;
          head_only = s->request.method == "HEAD";
        } else if (auto* d = std::get_if<gw::BodyData>(&ev)) {
          require(started && !ended && !d->data.empty());
          received += d->data.size();
          require(received <= expected);
        } else if (std::get_if<gw::BodyEnd>(&ev)) {
          require(started && !ended && received == expected);
          ended = true;
        } else {
          abort();
        }
      }
      buffer.erase(0, r.consumed);
      if (r.error) {
        require(events.empty() || !started || r.consumed == 0);
        failed = true;
        break;
      }
      if (r.consumed == 0) break;
    }
  }
  if (failed) {
    std::vector<gw::Event> events;
    require(codec.feed(input, events, out).consumed == 0 && events.empty());
    return 0;
  }
  if (started) check_response(codec, head_only);
  return 0;
}
