// libFuzzer target for FastCgiServerCodec.
//
// The whole input is the byte stream from the web server (so captures in
// tests/vectors/fastcgi are useful seeds); its first bytes also choose how
// it is cut into reads, whether the codec multiplexes and whether small
// limits are used. Invariants:
//  * feed() consumes at most its input, and all of it unless it fails;
//  * no events after an error; BodyData only for a started, unfinished
//    request, never empty; at most one RequestStarted per active id;
//  * everything written to `out` (the codec's own replies and a response for
//    every started request) decodes with FastCgiClientDecoder, and each
//    response decodes to exactly its head and body, then the empty STDOUT
//    and END_REQUEST{FCGI_REQUEST_COMPLETE}.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "protocols/cgi_params.h"
#include "protocols/fastcgi_client.h"
#include "protocols/fastcgi_server.h"

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

struct ActiveStream {
  bool head_only = false;
  bool body_ended = false;
};

// Decodes `bytes` whole; it must be well-formed.
std::vector<gw::fcgi::ClientEvent> decode_all(std::string_view bytes) {
  gw::FastCgiClientDecoder decoder;
  std::vector<gw::fcgi::ClientEvent> events;
  auto res = decoder.feed(bytes, events);
  require(!res.error && res.consumed == bytes.size());
  return events;
}

// Writes a response for `id` and checks that it decodes to what was written.
void respond(gw::FastCgiServerCodec& codec, gw::StreamId id, bool head_only, size_t body_size) {
  gw::ResponseHead head;
  head.status = 200 + static_cast<int>(body_size % 300);
  head.headers = {{"Content-Type", "text/plain"}, {"Connection", "close"}};
  std::string body(body_size, 'r');
  std::string out;
  codec.write_head(id, head, out);
  codec.write_body(id, body.substr(0, body_size / 3), out);
  codec.write_body(id, body.substr(body_size / 3), out);
  codec.write_end(id, out);
  std::string stdout_data;
  int ends = 0, end_requests = 0;
  for (const auto& e : decode_all(out)) {
    if (auto* s = std::get_if<gw::fcgi::Stdout>(&e)) {
      require(s->id == id && !s->data.empty());
      stdout_data.append(s->data);
    } else if (auto* se = std::get_if<gw::fcgi::StdoutEnd>(&e)) {
      require(se->id == id && end_requests == 0);
      ++ends;
    } else if (auto* er = std::get_if<gw::fcgi::EndRequest>(&e)) {
      require(er->id == id && ends == 1 && er->app_status == 0 &&
              er->protocol_status == gw::fcgi::FCGI_REQUEST_COMPLETE);
      ++end_requests;
    } else {
      abort();
    }
  }
  require(ends == 1 && end_requests == 1);
  require(stdout_data == gw::format_cgi_head(head) + (head_only ? std::string() : body));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  Cutter cutter{input.substr(0, 8)};
  uint8_t mode = size > 0 ? static_cast<uint8_t>(input[size - 1]) : 0;
  gw::Limits limits;
  if (mode & 2) {
    limits.header_bytes = 600;
    limits.header_count = 12;
    limits.name_bytes = 40;
    limits.value_bytes = 300;
    limits.streams_per_connection = 3;
    limits.max_body_bytes = 2000;
  }
  gw::FastCgiServerCodec codec(limits, (mode & 1) == 0);

  std::map<gw::StreamId, ActiveStream> active;
  std::string buffer;
  std::string replies;  // what feed() wrote on its own
  bool failed = false;
  size_t pos = 0;
  while (pos < input.size()) {
    size_t n = std::min(cutter.piece_size(), input.size() - pos);
    buffer.append(input.substr(pos, n));
    pos += n;
    std::vector<gw::Event> events;
    auto res = codec.feed(buffer, events, replies);
    require(res.consumed <= buffer.size());
    if (failed) {
      require(events.empty() && res.error.has_value());
      continue;
    }
    require(res.error.has_value() || res.consumed == buffer.size());
    for (const auto& e : events) {
      if (auto* s = std::get_if<gw::RequestStarted>(&e)) {
        require(!active.contains(s->stream));
        active[s->stream].head_only = s->request.method == "HEAD";
      } else if (auto* d = std::get_if<gw::BodyData>(&e)) {
        require(active.contains(d->stream) && !active[d->stream].body_ended && !d->data.empty());
      } else if (auto* b = std::get_if<gw::BodyEnd>(&e)) {
        require(active.contains(b->stream) && !active[b->stream].body_ended);
        active[b->stream].body_ended = true;
      } else if (auto* a = std::get_if<gw::StreamAborted>(&e)) {
        require(active.contains(a->stream));
        active[a->stream].body_ended = true;
      }
    }
    // A request the codec answered itself is reported with its reason.
    for (const auto& why : res.refused) require(!why.what.empty() && why.http_status >= 400);
    buffer.erase(0, res.consumed);
    failed = res.error.has_value();
    // Sometimes answer at once, so ids are freed and reused mid-stream.
    if (!failed && (cutter.piece_size() & 1)) {
      for (const auto& [id, s] : active) respond(codec, id, s.head_only, n * 997 % 70000);
      active.clear();
    }
  }
  decode_all(replies);
  for (const auto& [id, s] : active) respond(codec, id, s.head_only, id * 131u % 70000);
  return 0;
}
