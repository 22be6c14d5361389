// Fuzz target for CgiResponseParser. The first byte picks the limits and the
// piece sizes; the rest is the backend's output, fed the way a caller does
// (append, feed, drop what was consumed). Invariants: consumed never exceeds
// the input; done and errors are final; piecewise feeding ends exactly like
// one whole feed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/cgi_response.h"

namespace {

struct Outcome {
  bool done = false;
  std::optional<gw::CodecError> error;
  std::string body;
};

void check(bool ok) {
  if (!ok) std::abort();
}

Outcome run(std::string_view input, size_t piece, const gw::Limits& limits, gw::ResponseHead& head,
            std::optional<std::string>& local_redirect) {
  gw::CgiResponseParser parser(limits);
  Outcome o;
  std::string buffer;
  for (size_t pos = 0; pos < input.size(); pos += piece) {
    buffer.append(input.substr(pos, piece));
    auto r = parser.feed(buffer);
    check(r.consumed <= buffer.size());
    if (o.error) {  // an error is final
      check(r.error.has_value() && r.consumed == 0 && !r.done && r.error->what == o.error->what);
      continue;
    }
    if (o.done) {  // so is done
      check(r.done && r.consumed == 0 && !r.error);
      continue;
    }
    check(!(r.done && r.error));
    if (r.error) check(r.error->http_status == 502);
    buffer.erase(0, r.consumed);
    o.done = r.done;
    o.error = r.error;
  }
  if (o.done) {
    head = parser.head();
    local_redirect = parser.local_redirect();
    o.body = buffer;
    // A local redirect has no status of its own; anything else has a valid one.
    check(local_redirect ? head.status == 0 : head.status >= 100 && head.status <= 999);
    for (const auto& h : head.headers) {
      check(h.value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
      check(!gw::iequals(h.name, "Status"));
    }
  }
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  uint8_t control = data[0];
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  gw::Limits limits;
  if (control & 0x80) {  // small limits, so the limit paths are reached
    limits.header_bytes = 96;
    limits.header_count = 4;
    limits.name_bytes = 16;
    limits.value_bytes = 32;
  }
  size_t piece = (control & 0x3f) + 1;

  gw::ResponseHead whole_head, piece_head;
  std::optional<std::string> whole_local, piece_local;
  Outcome whole = run(input, input.size() + 1, limits, whole_head, whole_local);
  Outcome pieces = run(input, piece, limits, piece_head, piece_local);
  check(whole.done == pieces.done);
  check(whole.error.has_value() == pieces.error.has_value());
  if (whole.error) check(whole.error->what == pieces.error->what);
  if (whole.done) {
    check(whole.body == pieces.body);
    check(whole_local == piece_local);
    check(whole_head.status == piece_head.status && whole_head.reason == piece_head.reason);
    check(whole_head.headers.size() == piece_head.headers.size());
    for (size_t i = 0; i < whole_head.headers.size(); ++i) {
      check(whole_head.headers[i].name == piece_head.headers[i].name);
      check(whole_head.headers[i].value == piece_head.headers[i].value);
    }
  }
  return 0;
}
