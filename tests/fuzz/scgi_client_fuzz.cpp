// libFuzzer target for scgi::encode_request_head, checked by decoding with
// ScgiServerCodec: variables built from the input (NUL-separated names and
// values) must come back as the Request the same variables give through
// request_from_cgi, or both must refuse them alike.
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "protocols/cgi_params.h"
#include "protocols/scgi_client.h"
#include "protocols/scgi_server.h"

namespace {

void require(bool ok) {
  if (!ok) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // "name=value" items separated by '\n'; the encoder must skip what it
  // cannot carry (empty names, NULs) and the two variables it owns.
  std::vector<gw::Header> vars;
  while (!input.empty() && vars.size() < 64) {
    size_t nl = input.find('\n');
    std::string_view item = input.substr(0, nl);
    input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
    size_t eq = item.find('=');
    vars.push_back({std::string(item.substr(0, eq)),
                    eq == std::string_view::npos ? "" : std::string(item.substr(eq + 1))});
  }
  const uint64_t length = size % 7;
  const std::string body(length, 'b');
  const std::string wire = gw::scgi::encode_request_head(vars, length) + body;

  // What the encoder should have kept, as the codec would see it.
  std::vector<gw::Header> kept = {{"CONTENT_LENGTH", std::to_string(length)}, {"SCGI", "1"}};
  std::set<std::string> names = {"CONTENT_LENGTH", "SCGI"};
  bool duplicate = false;
  for (const auto& v : vars) {
    if (v.name.empty() || v.name == "CONTENT_LENGTH" || v.name == "SCGI") continue;
    if (v.name.find('\0') != std::string::npos || v.value.find('\0') != std::string::npos) {
      continue;
    }
    if (!names.insert(v.name).second) duplicate = true;
    kept.push_back(v);
  }

  gw::Limits limits;
  limits.header_bytes = limits.input_buffer_bytes = 1 << 20;
  limits.name_bytes = limits.value_bytes = 1 << 20;
  gw::ScgiServerCodec codec(limits);
  std::vector<gw::Event> events;
  std::string out;
  gw::FeedResult r = codec.feed(wire, events, out);
  gw::Request expected;
  auto expected_error = gw::request_from_cgi(kept, gw::Protocol::Scgi, true, expected);
  if (duplicate || expected_error) {
    require(r.error.has_value() && events.empty());
    return 0;
  }
  require(!r.error && r.consumed == wire.size());
  require(!events.empty());
  auto* started = std::get_if<gw::RequestStarted>(&events.front());
  require(started != nullptr);
  const gw::Request& got = started->request;
  require(
      got.method == expected.method && got.target == expected.target && got.path == expected.path &&
      got.query == expected.query && got.headers.size() == expected.headers.size() &&
      got.params.size() == expected.params.size() && got.content_length == expected.content_length);
  std::string received;
  for (auto& ev : events) {
    if (auto* d = std::get_if<gw::BodyData>(&ev)) received.append(d->data);
  }
  require(received == body);
  return 0;
}
