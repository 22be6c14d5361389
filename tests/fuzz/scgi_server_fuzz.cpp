// libFuzzer target for ScgiServerCodec.
//
// The whole input is the byte stream from the web server (the captures in
// tests/vectors/scgi are useful seeds); its first bytes also choose how it
// is cut into reads, its last byte whether small limits are used and when
// the response is written. Invariants:
//  * feed() consumes at most its input; it never waits on more than the
//    input buffer holds without failing; after an error: the same error, no
//    events, nothing consumed, nothing more written;
//  * an error leaves exactly one CGI answer in `out` with its status;
//  * at most one RequestStarted, with a known content_length within
//    max_body_bytes; BodyData only after it, never empty, views into the
//    input, never more than content_length in total; BodyEnd once, exactly
//    when content_length bytes arrived; nothing consumed past the body;
//  * the response written for the request parses back (CgiResponseParser)
//    to the status written, without the injected header, and its body is
//    exactly what was written, or nothing for HEAD.
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

struct Cutter {
  std::string_view seed;
  size_t next = 0;
  size_t piece_size() {
    if (seed.empty()) return 1 << 20;
    auto b = static_cast<uint8_t>(seed[next++ % seed.size()]);
    return b < 16 ? 1 : b < 200 ? b % 40 + 1 : static_cast<size_t>(b) * 37;
  }
};

// Writes a response in pieces and checks that it parses back.
void respond(gw::ScgiServerCodec& codec, bool head_only, size_t body_size, bool abort_it) {
  gw::ResponseHead head;
  head.status = 200 + static_cast<int>(body_size % 300);
  head.headers = {{"Content-Type", "text/plain"},
                  {"X-Bad", "a\r\nInjected: 1"},
                  {"Transfer-Encoding", "chunked"}};
  const std::string body(body_size, 'r');
  std::string out;
  codec.write_head(1, head, out);
  codec.write_body(1, body.substr(0, body_size / 3), out);
  codec.write_body(1, body.substr(body_size / 3), out);
  if (abort_it) {
    require(!codec.write_abort(1, out));
  } else {
    require(!codec.write_end(1, out));
  }
  const size_t written = out.size();
  codec.write_body(1, "late", out);  // after the end: nothing
  require(out.size() == written);

  gw::CgiResponseParser parser;
  gw::CgiFeedResult r = parser.feed(out);
  require(r.done && !r.error);
  require(parser.head().status == head.status);
  for (const auto& h : parser.head().headers) {
    require(h.name != "Injected" && h.name != "X-Bad" && h.name != "Transfer-Encoding");
  }
  require(out.substr(r.consumed) == (head_only ? std::string() : body));
}

// The size of the netstring at the start of `stream`, read independently of
// the codec (only called once the codec accepted it).
size_t head_size(std::string_view stream) {
  size_t colon = stream.find(':');
  require(colon != std::string_view::npos);
  return colon + 1 + std::stoul(std::string(stream.substr(0, colon))) + 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  Cutter cutter{input.substr(0, 8)};
  const uint8_t mode = size > 0 ? static_cast<uint8_t>(input[size - 1]) : 0;
  gw::Limits limits;
  if (mode & 1) {
    limits.header_bytes = 600;
    limits.header_count = 12;
    limits.name_bytes = 40;
    limits.value_bytes = 300;
    limits.max_body_bytes = 2000;
    limits.input_buffer_bytes = 500;
  }
  gw::ScgiServerCodec codec(limits);

  std::string buffer, out;
  bool started = false, ended = false, failed = false, head_only = false, responded = false;
  std::string failed_what;
  uint64_t expected = 0, received = 0;
  size_t consumed = 0, pos = 0;
  while (pos < input.size()) {
    const size_t n = std::min(cutter.piece_size(), input.size() - pos);
    buffer.append(input.substr(pos, n));
    pos += n;
    // Fed like a Connection: again while something is consumed.
    for (;;) {
      std::vector<gw::Event> events;
      const size_t out_before = out.size();
      gw::FeedResult r = codec.feed(buffer, events, out);
      require(r.consumed <= buffer.size());
      if (failed) {
        require(events.empty() && r.consumed == 0 && r.error && r.error->what == failed_what &&
                out.size() == out_before);
        break;
      }
      for (auto& ev : events) {
        if (auto* s = std::get_if<gw::RequestStarted>(&ev)) {
          require(!started && s->stream == 1 && s->reject_status == 0);
          require(s->request.origin == gw::Protocol::Scgi);
          require(s->request.content_length.has_value());
          expected = *s->request.content_length;
          require(limits.max_body_bytes == 0 || expected <= limits.max_body_bytes);
          head_only = s->request.method == "HEAD";
          started = true;
        } else if (auto* d = std::get_if<gw::BodyData>(&ev)) {
          require(started && !ended && d->stream == 1 && !d->data.empty());
          require(d->data.data() >= buffer.data() &&
                  d->data.data() + d->data.size() <= buffer.data() + buffer.size());
          received += d->data.size();
          require(received <= expected);
        } else if (auto* e = std::get_if<gw::BodyEnd>(&ev)) {
          require(started && !ended && e->stream == 1 && received == expected);
          ended = true;
        } else {
          abort();  // SCGI has no StreamAborted
        }
      }
      buffer.erase(0, r.consumed);
      consumed += r.consumed;
      if (r.error) {
        require(events.empty() && r.consumed == 0 && !started);
        require(r.error->http_status == 400 || r.error->http_status == 413 ||
                r.error->http_status == 431);
        // One CGI answer with that status, and nothing else.
        gw::CgiResponseParser parser;
        gw::CgiFeedResult a = parser.feed(std::string_view(out).substr(out_before));
        require(a.done && !a.error && parser.head().status == r.error->http_status);
        failed = true;
        failed_what = r.error->what;
        break;
      }
      if (r.consumed == 0) break;
    }
    // Never waits on a full input buffer without failing.
    require(failed || started || buffer.size() < limits.input_buffer_bytes);
    // Sometimes answer before the body is in, as a backend may.
    if (started && !responded && (cutter.piece_size() & 1)) {
      respond(codec, head_only, n * 997 % 70000, (mode & 2) != 0);
      responded = true;
    }
  }
  if (started) {
    // Everything up to the end of the body, nothing after it.
    const uint64_t whole = head_size(input) + expected;
    require(consumed == std::min<uint64_t>(whole, input.size()));
    require(ended == (input.size() >= whole));
    if (!responded) respond(codec, head_only, input.size() % 70000, (mode & 2) != 0);
  } else {
    require(consumed == 0);
  }
  return 0;
}
