// libFuzzer target for the SCGI client side.
//
// The last input byte picks the mode:
//  * even: the rest is a list of "name=value" items separated by '\n'
//    (names and values may hold NULs). The variables are encoded with
//    scgi::encode_request_head and
//     - split by hand, the netstring must hold exactly CONTENT_LENGTH, SCGI=1
//       and the variables the encoder may carry, in order;
//     - fed to ScgiServerCodec in pieces, they must give the Request that
//       request_from_cgi makes of those variables, and the body, or both
//       must refuse them alike (a duplicate name is the codec's refusal).
//  * odd: the rest is an SCGI app's response, fed to ScgiResponseReader in
//    pieces chosen by its first bytes, then EOF. Everything is consumed
//    unless it fails; the body passed on is exactly the bytes after the
//    head; ResponseEnd once at EOF when the head was complete.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "protocols/cgi_params.h"
#include "protocols/scgi_client.h"
#include "protocols/scgi_server.h"

namespace {

void require(bool ok) {
  if (!ok) abort();
}

size_t piece_size(std::string_view seed, size_t& next) {
  if (seed.empty()) return 1 << 20;
  auto b = static_cast<uint8_t>(seed[next++ % seed.size()]);
  return b < 16 ? 1 : b % 50 + 1;
}

// Every field of a Request, for comparing two of them.
std::string describe(const gw::Request& r) {
  std::ostringstream s;
  s << r.method << '|' << r.target << '|' << r.path << '|' << r.query << '|' << r.script_name << '|'
    << r.path_info << '|' << r.server_protocol << '|'
    << (r.content_length ? std::to_string(*r.content_length) : "?") << '|' << r.remote_addr << '|'
    << r.remote_port << '|' << r.server_name << '|' << r.server_addr << '|' << r.server_port << '|'
    << r.remote_user << '|' << r.auth_type << '|' << r.https << '|' << r.ssl_protocol << '|'
    << r.ssl_cipher << '|' << r.ssl_session_id << '|' << r.ssl_client_cert << '|' << r.ssl_key_size
    << '|' << r.route << '|' << gw::protocol_name(r.origin);
  for (const auto& h : r.headers) s << "|H" << h.name.size() << ':' << h.name << '=' << h.value;
  for (const auto& p : r.params) s << "|P" << p.name.size() << ':' << p.name << '=' << p.value;
  return s.str();
}

// The netstring split by hand: its variables, in order.
std::vector<gw::Header> split_netstring(std::string_view wire) {
  const size_t colon = wire.find(':');
  require(colon != std::string_view::npos && colon > 0);
  const std::string digits(wire.substr(0, colon));
  require(digits == "0" || digits[0] != '0');
  const size_t length = std::stoul(digits);
  require(wire.size() == colon + 1 + length + 1 && wire.back() == ',');
  std::string_view block = wire.substr(colon + 1, length);
  std::vector<gw::Header> vars;
  while (!block.empty()) {
    const size_t a = block.find('\0');
    require(a != std::string_view::npos);
    const size_t b = block.find('\0', a + 1);
    require(b != std::string_view::npos);
    vars.push_back({std::string(block.substr(0, a)), std::string(block.substr(a + 1, b - a - 1))});
    block.remove_prefix(b + 1);
  }
  return vars;
}

void round_trip_vars(std::string_view input) {
  std::vector<gw::Header> vars;
  while (!input.empty() && vars.size() < 64) {
    const size_t nl = input.find('\n');
    std::string_view item = input.substr(0, nl);
    input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
    const size_t eq = item.find('=');
    vars.push_back({std::string(item.substr(0, eq)),
                    eq == std::string_view::npos ? "" : std::string(item.substr(eq + 1))});
  }
  const uint64_t length = input.size() % 7 + vars.size();
  const std::string body(length, 'b');
  const std::string head = gw::scgi::encode_request_head(vars, length);

  // What the encoder may carry, in order, after its own two.
  std::vector<gw::Header> kept = {{"CONTENT_LENGTH", std::to_string(length)}, {"SCGI", "1"}};
  std::set<std::string> names = {"CONTENT_LENGTH", "SCGI"};
  bool duplicate = false;
  for (const auto& v : vars) {
    if (v.name == "CONTENT_LENGTH" || v.name == "SCGI") continue;
    if (!gw::valid_cgi_name(v.name) || v.value.find('\0') != std::string::npos) continue;
    if (!names.insert(v.name).second) duplicate = true;
    kept.push_back(v);
  }
  const std::vector<gw::Header> sent = split_netstring(head);
  require(sent.size() == kept.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    require(sent[i].name == kept[i].name && sent[i].value == kept[i].value);
  }

  gw::Limits limits;
  limits.header_bytes = limits.input_buffer_bytes = 1 << 24;
  limits.name_bytes = limits.value_bytes = 1 << 24;
  gw::ScgiServerCodec codec(limits);
  const std::string wire = head + body;
  std::string buffer, out;
  std::optional<gw::Request> got;
  std::optional<gw::CodecError> error;
  std::string received;
  size_t ends = 0, pos = 0, next = 0;
  while (pos < wire.size() && !error) {
    const size_t n = std::min(piece_size(head, next), wire.size() - pos);
    buffer.append(wire.substr(pos, n));
    pos += n;
    std::vector<gw::Event> events;
    gw::FeedResult r = codec.feed(buffer, events, out);
    require(r.consumed <= buffer.size());
    for (auto& ev : events) {
      if (auto* s = std::get_if<gw::RequestStarted>(&ev)) got = std::move(s->request);
      if (auto* d = std::get_if<gw::BodyData>(&ev)) received.append(d->data);
      if (std::holds_alternative<gw::BodyEnd>(ev)) ++ends;
    }
    buffer.erase(0, r.consumed);
    error = r.error;
  }
  gw::Request expected;
  auto expected_error = gw::request_from_cgi(kept, gw::Protocol::Scgi, true, expected);
  if (duplicate || expected_error) {
    require(error.has_value() && !got);
    if (!duplicate) require(error->what == expected_error->what);
    return;
  }
  require(!error && got && buffer.empty());
  require(describe(*got) == describe(expected));
  require(received == body && ends == 1);
}

void read_response(std::string_view input) {
  gw::ScgiResponseReader reader;
  std::string body;
  size_t starts = 0, pos = 0, next = 0, head_bytes = 0;
  bool failed = false;
  while (pos < input.size()) {
    const size_t n = std::min(piece_size(input.substr(0, 8), next), input.size() - pos);
    std::string_view piece = input.substr(pos, n);
    pos += n;
    std::vector<gw::scgi::ClientEvent> events;
    gw::FeedResult r = reader.feed(piece, events);
    if (failed) {
      require(r.error && r.consumed == 0 && events.empty());
      continue;
    }
    require(r.error ? r.consumed == 0 : r.consumed == piece.size());
    const bool started_before = starts == 1;
    size_t piece_body = 0;
    for (auto& ev : events) {
      if (std::holds_alternative<gw::scgi::ResponseStarted>(ev)) {
        require(starts++ == 0 && body.empty());
      } else if (auto* b = std::get_if<gw::scgi::ResponseBody>(&ev)) {
        require(starts == 1 && !b->data.empty());
        // The body is the tail of the piece: everything after the head.
        require(b->data.data() + b->data.size() == piece.data() + piece.size());
        piece_body += b->data.size();
        body.append(b->data);
      } else {
        abort();  // ResponseEnd only at EOF
      }
    }
    if (!r.error && !started_before) head_bytes += piece.size() - piece_body;
    if (started_before) require(piece_body == piece.size());
    failed = r.error.has_value();
    if (failed) require(r.error->http_status == 502);
  }
  std::vector<gw::scgi::ClientEvent> events;
  auto eof = reader.finish_eof(events);
  if (failed || starts == 0) {
    require(eof && events.empty() && !reader.done());
    return;
  }
  require(!eof && events.size() == 1 && std::holds_alternative<gw::scgi::ResponseEnd>(events[0]));
  require(reader.done());
  require(input.substr(head_bytes) == body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data), size - 1);
  if ((data[size - 1] & 1) == 0) {
    round_trip_vars(input);
  } else {
    read_response(input);
  }
  return 0;
}
