// libFuzzer target for AjpServerCodec.
//
// The whole input is the byte stream from the web server (so the captures in
// tests/vectors/ajp13 are useful seeds); its first bytes also choose how it
// is cut into reads, and its last byte the packet size, small limits, a
// required secret, and when responses are written (at the start of a
// request, at the end of its body, or after the stream). Invariants:
//  * feed() consumes at most its input; no events after an error, and the
//    error repeats; at most one request at a time; BodyData only inside a
//    started, unfinished body, never empty; with a known length the body is
//    exactly Content-Length bytes at BodyEnd;
//  * want_body() writes nothing or exactly one GET_BODY_CHUNK asking for
//    packet_size - 6, and never a second before a body packet arrived;
//  * everything written decodes with AjpClientDecoder: each response to
//    exactly its head, its body (none for HEAD, 204, 304) in chunks of at
//    most packet_size - 8, and one END_RESPONSE whose reuse flag is what
//    write_end returned (0 for a refused request).
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "protocols/ajp13_client.h"
#include "protocols/ajp13_server.h"

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

std::vector<gw::ajp::ClientEvent> decode_all(std::string_view bytes, const gw::Limits& limits) {
  gw::AjpClientDecoder decoder(limits);
  std::vector<gw::ajp::ClientEvent> events;
  auto res = decoder.feed(bytes, events);
  require(!res.error && res.consumed == bytes.size());
  return events;
}

struct Active {
  bool head_only = false;
  bool rejected = false;
  std::optional<uint64_t> length;
  uint64_t received = 0;
  bool body_ended = false;
};

// Writes a response and checks that it decodes to what was written. Returns
// whether the connection may go on. `failed`: the feed that started the
// request also failed (the Connection still sees the events first); then the
// codec, which answered the error itself, must write nothing more.
bool respond(gw::AjpServerCodec& codec, const Active& a, size_t body_size, bool abort_it,
             const gw::Limits& limits, bool failed) {
  gw::ResponseHead head;
  head.status = 200 + static_cast<int>(body_size % 300);
  head.headers = {{"Content-Type", "text/plain"}, {"Connection", "close"}, {"X-N", "1"}};
  std::string body(body_size, 'r');
  std::string out;
  codec.write_head(1, head, out);
  codec.write_body(1, body.substr(0, body_size / 3), out);
  codec.write_body(1, body.substr(body_size / 3), out);
  if (abort_it) {
    size_t before = out.size();
    require(!codec.write_abort(1, out));
    require(out.size() == before);
  }
  bool keep = abort_it ? false : codec.write_end(1, out);
  require(!(keep && a.rejected));
  if (failed) {
    require(out.empty() && !keep);
    return false;
  }
  bool no_body = a.head_only || head.status == 204 || head.status == 304;
  std::string got;
  int heads = 0, ends = 0;
  for (const auto& e : decode_all(out, limits)) {
    if (auto* h = std::get_if<gw::ajp::SendHeaders>(&e)) {
      require(heads == 0 && h->head.status == head.status && h->head.headers.size() == 2);
      ++heads;
    } else if (auto* b = std::get_if<gw::ajp::SendBodyChunk>(&e)) {
      require(heads == 1 && ends == 0 && !b->data.empty());
      require(b->data.size() <= limits.ajp_packet_size - 8);
      got.append(b->data);
    } else if (auto* end = std::get_if<gw::ajp::EndResponse>(&e)) {
      require(heads == 1 && ends == 0 && end->reuse == keep);
      ++ends;
    } else {
      abort();
    }
  }
  require(heads == 1 && ends == (abort_it ? 0 : 1));
  require(got == (no_body ? std::string() : body));
  return keep;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  Cutter cutter{input.substr(0, 8)};
  uint8_t mode = size > 0 ? static_cast<uint8_t>(input[size - 1]) : 0;
  gw::Limits limits;
  limits.ajp_packet_size = (mode & 1) ? 65536 : 8192;
  if (mode & 2) {
    limits.header_bytes = 600;
    limits.header_count = 12;
    limits.name_bytes = 40;
    limits.value_bytes = 300;
    limits.max_body_bytes = 20000;
  }
  gw::AjpOptions options;
  if (mode & 4) options.secret = "fuzz-secret";
  if (mode & 8) options.allowed_attributes = {"CERT_ISSUER", "x"};
  int answer = (mode >> 4) & 3;  // 0: at body end, 1: at start, 2: after the stream, 3: abort
  gw::AjpServerCodec codec(limits, options);
  const uint16_t ask = static_cast<uint16_t>(limits.ajp_packet_size - 6);

  std::optional<Active> active;
  std::string buffer;
  std::string replies;  // CPONGs, GET_BODY_CHUNKs, error answers
  std::optional<gw::CodecError> failed;
  bool closed = false;
  bool asked = false;  // a GET_BODY_CHUNK went out and no body byte came since
  size_t pos = 0;
  bool feed_failed = false;
  auto answer_now = [&](size_t body_size) {
    closed = !respond(codec, *active, body_size, answer == 3, limits, feed_failed);
    active.reset();
    asked = false;
  };
  while (pos < input.size() && !closed) {
    size_t n = std::min(cutter.piece_size(), input.size() - pos);
    buffer.append(input.substr(pos, n));
    pos += n;
    for (;;) {
      std::vector<gw::Event> events;
      size_t replies_before = replies.size();
      auto res = codec.feed(buffer, events, replies);
      require(res.consumed <= buffer.size());
      if (failed) {
        require(events.empty() && res.error && res.consumed == 0 &&
                replies.size() == replies_before);
        break;
      }
      bool answered = false;
      feed_failed = res.error.has_value();
      for (const auto& e : events) {
        if (auto* s = std::get_if<gw::RequestStarted>(&e)) {
          require(!active && s->stream == 1);
          require(s->reject_status == 0 || s->reject_status == 403);
          require(s->request.path.starts_with('/') && s->request.path_info == s->request.path);
          require(s->request.script_name.empty());
          active =
              Active{s->request.method == "HEAD", s->reject_status != 0, s->request.content_length};
          asked = false;
          if (answer == 1) {
            answer_now(n * 31 % 20000);
            answered = true;
          }
        } else if (auto* d = std::get_if<gw::BodyData>(&e)) {
          if (answered) continue;  // the Connection drops what comes after its answer
          require(active && !active->body_ended && !d->data.empty());
          active->received += d->data.size();
          if (active->length) require(active->received <= *active->length);
          asked = false;
        } else if (std::get_if<gw::BodyEnd>(&e)) {
          if (answered) continue;
          require(active && !active->body_ended);
          if (active->length) require(active->received == *active->length);
          active->body_ended = true;
          if (answer == 0 || answer == 3) {
            answer_now(n * 997 % 70000);
            answered = true;
          }
        } else {
          abort();
        }
      }
      buffer.erase(0, res.consumed);
      if (res.error) {
        failed = res.error;
        require(res.error->http_status >= 400 && res.error->http_status <= 431);
        break;
      }
      if (closed) break;
      size_t before = replies.size();
      codec.want_body(1, replies);
      if (replies.size() != before) {
        require(active && !active->body_ended && !asked);
        std::string gbc = replies.substr(before);
        auto ev = decode_all(gbc, limits);
        require(ev.size() == 1 && std::get<gw::ajp::GetBodyChunk>(ev[0]).requested == ask);
        asked = true;
      }
      if (res.consumed == 0 && replies.size() == before) break;
    }
  }
  decode_all(replies, limits);
  if (active && !failed && !closed) respond(codec, *active, 12345, answer == 3, limits, false);
  return 0;
}
