// libFuzzer target for FastCgiClientDecoder.
//
// The whole input is the byte stream from an application; its first bytes
// also choose how it is cut into reads. Invariants:
//  * feed() consumes at most its input, and all of it unless it fails;
//  * no events after an error; STDOUT/STDERR data is never empty;
//  * the events re-encode into records that decode to the same events
//    (STDOUT/STDERR data merged per id, since cuts move its boundaries).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "protocols/fastcgi_client.h"
#include "protocols/fastcgi_wire.h"

namespace {

namespace fcgi = gw::fcgi;

void require(bool ok) {
  if (!ok) abort();
}

// Events as text, adjacent data of one stream and id merged.
void describe(const std::vector<fcgi::ClientEvent>& events, std::vector<std::string>& out) {
  auto data = [&out](std::string tag, std::string_view bytes) {
    require(!bytes.empty());
    if (out.empty() || out.back().rfind(tag, 0) != 0) out.push_back(tag);
    out.back().append(bytes);
  };
  for (const auto& e : events) {
    if (auto* o = std::get_if<fcgi::Stdout>(&e)) {
      data("o" + std::to_string(o->id) + ":", o->data);
    } else if (auto* r = std::get_if<fcgi::Stderr>(&e)) {
      data("e" + std::to_string(r->id) + ":", r->data);
    } else if (auto* se = std::get_if<fcgi::StdoutEnd>(&e)) {
      out.push_back("O" + std::to_string(se->id));
    } else if (auto* er = std::get_if<fcgi::EndRequest>(&e)) {
      out.push_back("E" + std::to_string(er->id) + "/" + std::to_string(er->app_status) + "/" +
                    std::to_string(er->protocol_status));
    } else if (auto* gv = std::get_if<fcgi::GetValuesResult>(&e)) {
      std::string s = "V";
      for (const auto& p : gv->pairs)
        s += std::to_string(p.name.size()) + p.name + "=" + p.value + ";";
      out.push_back(s);
    } else if (auto* u = std::get_if<fcgi::UnknownTypeReply>(&e)) {
      out.push_back("U" + std::to_string(u->type));
    }
  }
}

void encode(const std::vector<fcgi::ClientEvent>& events, std::string& out) {
  for (const auto& e : events) {
    if (auto* o = std::get_if<fcgi::Stdout>(&e)) {
      fcgi::append_record(out, fcgi::FCGI_STDOUT, o->id, o->data);
    } else if (auto* r = std::get_if<fcgi::Stderr>(&e)) {
      fcgi::append_record(out, fcgi::FCGI_STDERR, r->id, r->data);
    } else if (auto* se = std::get_if<fcgi::StdoutEnd>(&e)) {
      fcgi::append_record(out, fcgi::FCGI_STDOUT, se->id, {});
    } else if (auto* er = std::get_if<fcgi::EndRequest>(&e)) {
      fcgi::append_end_request(out, er->id, er->app_status, er->protocol_status);
    } else if (auto* gv = std::get_if<fcgi::GetValuesResult>(&e)) {
      std::string body;
      for (const auto& p : gv->pairs) require(fcgi::append_pair(body, p.name, p.value));
      require(body.size() <= fcgi::kMaxContentLength);
      fcgi::append_record(out, fcgi::FCGI_GET_VALUES_RESULT, fcgi::FCGI_NULL_REQUEST_ID, body);
    } else if (auto* u = std::get_if<fcgi::UnknownTypeReply>(&e)) {
      fcgi::append_unknown_type(out, u->type);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view seed = input.substr(0, 8);
  gw::FastCgiClientDecoder decoder;
  std::vector<std::string> transcript;
  std::string reencoded;
  std::string buffer;
  bool failed = false;
  size_t pos = 0, cut = 0;
  while (pos < input.size()) {
    size_t n = 1;
    if (!seed.empty()) {
      auto b = static_cast<uint8_t>(seed[cut++ % seed.size()]);
      n = b < 16 ? 1 : b < 200 ? b % 40 + 1 : static_cast<size_t>(b) * 37;
    }
    n = std::min(n, input.size() - pos);
    buffer.append(input.substr(pos, n));
    pos += n;
    std::vector<fcgi::ClientEvent> events;
    auto res = decoder.feed(buffer, events);
    require(res.consumed <= buffer.size());
    if (failed) {
      require(events.empty() && res.error.has_value());
      continue;
    }
    require(res.error.has_value() || res.consumed == buffer.size());
    describe(events, transcript);
    encode(events, reencoded);  // before the buffer changes: events view into it
    buffer.erase(0, res.consumed);
    failed = res.error.has_value();
  }
  gw::FastCgiClientDecoder again;
  std::vector<fcgi::ClientEvent> events;
  auto res = again.feed(reencoded, events);
  require(!res.error && res.consumed == reencoded.size());
  std::vector<std::string> transcript2;
  describe(events, transcript2);
  require(transcript == transcript2);
  return 0;
}
