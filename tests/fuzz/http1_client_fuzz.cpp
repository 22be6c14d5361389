// Fuzz target for the HTTP/1.1 response parser (protocols/http1_client.h).
//
// Input: 4 control bytes, then the bytes an upstream sends. The control bytes
// pick the request method and seed the sizes of the pieces the input is fed
// in. Invariants checked (abort on violation):
//  * feed() never consumes more than it was given;
//  * ResponseBody views lie inside the fed buffer and are never empty;
//  * no events, and nothing consumed, after an error or after ResponseEnd
//    (until reset());
//  * events come in order: ResponseStarted, ResponseBody*, ResponseEnd;
//  * a Content-Length body has exactly that many bytes;
//  * a parsed response, written again by the server codec (as the proxy
//    does), parses back to the same status and body.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
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

// One response as the parser reported it.
struct Seen {
  bool started = false;
  bool ended = false;
  gw::ResponseHead head;
  std::optional<uint64_t> framed_length;  // Content-Length that framed the body
  std::string body;
};

// Passes a parsed response through the server codec, as the http backend
// hands it to the client connection, and parses the result again.
void check_relay(const std::string& method, const Seen& seen) {
  gw::Http1ServerCodec codec(gw::Limits{});
  std::vector<gw::Event> events;
  std::string out;
  std::string request = method + " / HTTP/1.1\r\nHost: h\r\n\r\n";
  check(codec.feed(request, events, out).consumed == request.size());
  codec.write_head(1, seen.head, out);
  codec.write_body(1, seen.body, out);
  bool keep = codec.write_end(1, out);

  gw::Http1ResponseParser parser(gw::Limits{}, method);
  std::vector<gw::http1::ClientEvent> again;
  gw::FeedResult r = parser.feed(out, again);
  check(!r.error && r.consumed == out.size());
  if (!keep && !parser.done()) check(!parser.finish_eof(again));
  check(parser.done());
  std::string body;
  for (const auto& ev : again) {
    if (const auto* started = std::get_if<gw::http1::ResponseStarted>(&ev)) {
      check(started->head.status == seen.head.status);
    } else if (const auto* data = std::get_if<gw::http1::ResponseBody>(&ev)) {
      body += data->data;
    }
  }
  check(body == seen.body);
}

void on_events(const std::vector<gw::http1::ClientEvent>& events, std::string_view fed,
               size_t consumed, Seen& seen) {
  for (const auto& ev : events) {
    check(!seen.ended);
    if (const auto* started = std::get_if<gw::http1::ResponseStarted>(&ev)) {
      check(!seen.started);
      seen.started = true;
      seen.head = started->head;
      check(seen.head.status >= 200 && seen.head.status <= 599);
      if (const std::string* cl = seen.head.header("Content-Length")) {
        seen.framed_length = gw::http1::parse_decimal(*cl);
        check(seen.framed_length.has_value());
      }
    } else if (const auto* data = std::get_if<gw::http1::ResponseBody>(&ev)) {
      check(seen.started && !data->data.empty());
      check(data->data.data() >= fed.data() &&
            data->data.data() + data->data.size() <= fed.data() + consumed);
      seen.body += data->data;
    } else {
      check(seen.started);
      seen.ended = true;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  static const char* const kMethods[] = {"GET", "HEAD", "POST"};
  std::string method = kMethods[data[0] % 3];
  Rng rng{(uint32_t(data[0]) << 24 | uint32_t(data[1]) << 16 | uint32_t(data[2]) << 8 |
           uint32_t(data[3])) |
          1};
  std::string_view input(reinterpret_cast<const char*>(data + 4), size - 4);

  gw::Limits limits;
  if (data[1] & 1) {
    limits.header_bytes = 256;
    limits.header_count = 8;
    limits.name_bytes = 32;
    limits.value_bytes = 64;
  }
  gw::Http1ResponseParser parser(limits, method);
  std::string buffer;
  Seen seen;
  bool failed = false;
  size_t pos = 0;
  while (pos < input.size() && !failed) {
    size_t n = 1 + rng.next() % 64;
    buffer.append(input.substr(pos, n));
    pos += n;
    while (true) {
      std::vector<gw::http1::ClientEvent> events;
      gw::FeedResult r = parser.feed(buffer, events);
      check(r.consumed <= buffer.size());
      on_events(events, buffer, r.consumed, seen);
      buffer.erase(0, r.consumed);
      if (r.error) {
        failed = true;
        break;
      }
      if (seen.ended) {
        bool no_body = method == "HEAD" || seen.head.status == 204 || seen.head.status == 304;
        if (seen.framed_length && !no_body) check(seen.body.size() == *seen.framed_length);
        check_relay(method, seen);
        std::vector<gw::http1::ClientEvent> after;
        check(parser.feed(buffer, after).consumed == 0 && after.empty());
        // The next response on a kept-alive connection.
        seen = Seen{};
        parser.reset(method);
        continue;
      }
      if (r.consumed == 0) break;
    }
  }
  if (failed) {
    std::vector<gw::http1::ClientEvent> events;
    check(parser.feed(buffer, events).consumed == 0 && events.empty());
    check(parser.finish_eof(events).has_value() && events.empty());
    return 0;
  }
  std::vector<gw::http1::ClientEvent> events;
  std::optional<gw::CodecError> error = parser.finish_eof(events);
  on_events(events, {}, 0, seen);
  if (!error && seen.started) {
    check(seen.ended);
    check_relay(method, seen);
  }
  return 0;
}
