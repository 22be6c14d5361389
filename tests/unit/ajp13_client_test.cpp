// The web-server side of AJP13: encoder bytes, the container-message decoder
// (every split point, every error), and round trips in both directions
// through AjpServerCodec.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "protocols/ajp13_client.h"
#include "protocols/ajp13_server.h"
#include "tests/support/split.h"

using gw::Header;
using gw::Limits;
namespace ajp = gw::ajp;

namespace {

std::string u16(size_t v) {
  return {static_cast<char>((v >> 8) & 0xFF), static_cast<char>(v & 0xFF)};
}
std::string str(std::string_view s) {
  return u16(s.size()) + std::string(s) + std::string(1, '\0');
}
std::string in_pkt(std::string_view payload) {
  return "\x12\x34" + u16(payload.size()) + std::string(payload);
}
std::string out_pkt(std::string_view payload) {
  return "AB" + u16(payload.size()) + std::string(payload);
}

struct Decoded {
  std::vector<std::string> words;
  std::optional<gw::CodecError> error;
  size_t left = 0;
};

std::string word(const ajp::ClientEvent& e) {
  if (auto* h = std::get_if<ajp::SendHeaders>(&e)) {
    std::string w = "HEADERS " + std::to_string(h->head.status) + " '" + h->head.reason + "'";
    for (const auto& f : h->head.headers) w += " [" + f.name + ": " + f.value + "]";
    return w;
  }
  if (auto* b = std::get_if<ajp::SendBodyChunk>(&e)) return "BODY '" + std::string(b->data) + "'";
  if (auto* g = std::get_if<ajp::GetBodyChunk>(&e))
    return "GET_BODY " + std::to_string(g->requested);
  if (auto* end = std::get_if<ajp::EndResponse>(&e)) {
    return std::string("END ") + (end->reuse ? "reuse" : "close");
  }
  return "CPONG";
}

Decoded decode(const std::vector<std::string_view>& pieces, const Limits& limits = Limits{}) {
  gw::AjpClientDecoder decoder(limits);
  Decoded d;
  std::string buffer;
  for (auto piece : pieces) {
    buffer.append(piece);
    std::vector<ajp::ClientEvent> events;
    auto res = decoder.feed(buffer, events);
    REQUIRE(res.consumed <= buffer.size());
    if (d.error) {
      CHECK(events.empty());
      CHECK(res.error.has_value());
      continue;
    }
    for (const auto& e : events) d.words.push_back(word(e));
    buffer.erase(0, res.consumed);
    d.error = res.error;
  }
  d.left = buffer.size();
  return d;
}

Decoded decode_all_ways(std::string_view input, const Limits& limits = Limits{}) {
  Decoded whole = decode({input}, limits);
  gw::test::for_each_split(input, [&](std::string_view a, std::string_view b) {
    Decoded d = decode({a, b}, limits);
    CHECK(d.words == whole.words);
    CHECK(d.left == whole.left);
    REQUIRE(d.error.has_value() == whole.error.has_value());
    if (d.error) CHECK(d.error->what == whole.error->what);
  });
  return whole;
}

}  // namespace

// ---------------------------------------------------------------------------
// Encoders

TEST_CASE("ajp13 client: FORWARD_REQUEST bytes, in mod_jk's attribute order") {
  ajp::ForwardRequest f;
  f.method = "POST";
  f.req_uri = "/a%20b";
  f.remote_addr = "10.1.2.3";
  f.server_name = "host";
  f.server_port = 8080;
  f.is_ssl = true;
  f.headers = {{"content-type", "text/plain"}, {"X-Thing", "1"}, {"Content-Length", "3"}};
  f.secret = "s";
  f.remote_user = "u";
  f.auth_type = "Basic";
  f.query_string = "q=1";
  f.route = "r";
  f.ssl_cert = "C";
  f.ssl_cipher = "X";
  f.ssl_session = "S";
  f.ssl_key_size = 128;
  f.attributes = {{"AJP_REMOTE_PORT", "5"}};
  std::string out = "prefix";
  REQUIRE(ajp::encode_forward_request(out, f));
  std::string payload =
      "\x02\x04" + str("HTTP/1.1") + str("/a%20b") + str("10.1.2.3") + "\xFF\xFF" + str("host") +
      u16(8080) + "\x01" + u16(3) + u16(0xA007) + str("text/plain") + str("X-Thing") + str("1") +
      u16(0xA008) + str("3") + "\x0C" + str("s") + "\x03" + str("u") + "\x04" + str("Basic") +
      "\x05" + str("q=1") + "\x06" + str("r") + "\x07" + str("C") + "\x08" + str("X") + "\x09" +
      str("S") + "\x0B" + u16(128) + "\x0A" + str("AJP_REMOTE_PORT") + str("5") + "\xFF";
  CHECK(out == "prefix" + in_pkt(payload));
}

TEST_CASE("ajp13 client: stored_method, context, servlet_path and method_code overrides") {
  ajp::ForwardRequest f;
  f.method = "PATCH";
  f.context = "/c";
  f.servlet_path = "/s";
  std::string out;
  REQUIRE(ajp::encode_forward_request(out, f));
  CHECK(static_cast<uint8_t>(out[5]) == 0xFF);
  CHECK(out.ends_with("\x01" + str("/c") + "\x02" + str("/s") + "\x0D" + str("PATCH") + "\xFF"));

  f.method_code = 0xFF;  // 0xFF with no stored_method: what a broken peer sends
  out.clear();
  REQUIRE(ajp::encode_forward_request(out, f));
  CHECK(out.ends_with("\x02" + str("/s") + "\xFF"));
  f.method_code = 2;
  f.stored_method = "DELETE";
  out.clear();
  REQUIRE(ajp::encode_forward_request(out, f));
  CHECK(static_cast<uint8_t>(out[5]) == 2);
  CHECK(out.ends_with("\x0D" + str("DELETE") + "\xFF"));
}

TEST_CASE("ajp13 client: what cannot be encoded is refused, leaving the output as it was") {
  ajp::ForwardRequest f;
  f.headers = {{"X-Big", std::string(8200, 'x')}};
  std::string out = "keep";
  CHECK_FALSE(ajp::encode_forward_request(out, f));
  CHECK(out == "keep");
  CHECK(ajp::encode_forward_request(out, f, 65536));
  // A name this long would read back as a 0xA0xx code.
  ajp::ForwardRequest g;
  g.headers = {{std::string(0xA000, 'n'), "v"}};
  out = "keep";
  CHECK_FALSE(ajp::encode_forward_request(out, g, 65536));
  CHECK(out == "keep");
  ajp::ForwardRequest h;
  h.query_string = std::string(0xFFFF, 'q');
  CHECK_FALSE(ajp::encode_forward_request(out, h, 65536));
  CHECK(out == "keep");
}

TEST_CASE("ajp13 client: body packets, both end forms, CPING") {
  std::string out;
  REQUIRE(ajp::encode_body_packet(out, "hello"));
  CHECK(out == std::string("\x12\x34\x00\x07\x00\x05hello", 11));
  out.clear();
  REQUIRE(ajp::encode_body_packet(out, std::string(8186, 'x')));
  CHECK(out.size() == 8192);
  CHECK_FALSE(ajp::encode_body_packet(out, std::string(8187, 'x')));
  CHECK(out.size() == 8192);
  CHECK(ajp::encode_body_packet(out, std::string(65530, 'x'), 65536));
  out.clear();
  ajp::encode_body_end(out, ajp::BodyEndForm::Empty);
  ajp::encode_body_end(out, ajp::BodyEndForm::ZeroChunk);
  ajp::encode_cping(out);
  CHECK(out == std::string("\x12\x34\x00\x00"
                           "\x12\x34\x00\x02\x00\x00"
                           "\x12\x34\x00\x01\x0A",
                           15));
}

// ---------------------------------------------------------------------------
// Decoder

TEST_CASE("ajp13 client: decoding a container's packets at every split point") {
  std::string input =
      out_pkt("\x04" + u16(200) + str("OK") + u16(3) + u16(0xA001) + str("text/html") + str("X-A") +
              str("1") + u16(0xA00B) + str("Basic")) +
      out_pkt("\x03" + u16(5) + "hello" + std::string(1, '\0')) +
      out_pkt("\x03" + u16(3) + "abc") +                 // no trailing NUL: mod_jk takes it
      out_pkt("\x03" + u16(0) + std::string(1, '\0')) +  // flush
      out_pkt("\x06" + u16(8186)) + out_pkt(std::string("\x05\x01", 2)) +
      out_pkt(std::string("\x05\x00", 2)) + out_pkt("\x09") +
      out_pkt("\x04" + u16(302) + "\xFF\xFF" + u16(0));  // null reason
  Decoded d = decode_all_ways(input);
  REQUIRE_FALSE(d.error);
  CHECK(d.left == 0);
  CHECK(d.words == std::vector<std::string>{
                       "HEADERS 200 'OK' [Content-Type: text/html] [X-A: 1] [WWW-Authenticate: "
                       "Basic]",
                       "BODY 'hello'", "BODY 'abc'", "BODY ''", "GET_BODY 8186", "END reuse",
                       "END close", "CPONG", "HEADERS 302 ''"});
  // A partial packet is left for later.
  Decoded part = decode({input.substr(0, 10)});
  CHECK_FALSE(part.error);
  CHECK(part.left == 10);
}

TEST_CASE("ajp13 client: malformed container packets") {
  struct Case {
    std::string input;
    const char* what;
  };
  for (const Case& c : {
           Case{"\x12\x34" + u16(1) + "\x09", "bad packet magic '\\x124' (expected \"AB\")"},
           Case{"AB" + u16(8189), "packet of 8193 bytes over the packet size 8192"},
           Case{"AB" + u16(0), "empty packet"},
           Case{out_pkt("\x02"), "unexpected packet type 2"},
           Case{out_pkt("\x03" + u16(9) + "abc"),
                "SEND_BODY_CHUNK length 9 does not match its 6-byte packet"},
           Case{out_pkt("\x03" + u16(2) + "abc"),
                "SEND_BODY_CHUNK length 2 does not match its 6-byte packet"},
           Case{out_pkt("\x03"), "SEND_BODY_CHUNK without a length"},
           Case{out_pkt("\x06" + u16(1) + "x"), "malformed GET_BODY_CHUNK"},
           Case{out_pkt("\x05"), "malformed END_RESPONSE"},
           Case{out_pkt(std::string("\x09\x00", 2)), "malformed CPONG"},
           Case{out_pkt("\x04" + u16(0) + str("") + u16(0)), "SEND_HEADERS without a valid status"},
           Case{out_pkt("\x04" + u16(200) + str("OK") + "\xFF\xFF"),
                "SEND_HEADERS without a header count"},
           Case{out_pkt("\x04" + u16(200) + u16(9) + "OK"),
                "SEND_HEADERS reason: string runs past the end of the packet"},
           Case{out_pkt("\x04" + u16(200) + str("OK") + u16(1) + u16(0xA00C) + str("v")),
                "invalid response header code 40972"},
           Case{out_pkt("\x04" + u16(200) + str("OK") + u16(1) + "\xFF\xFF" + str("v")),
                "SEND_HEADERS header name: null string"},
           Case{out_pkt("\x04" + u16(200) + str("OK") + u16(1) + str("X") + "\xFF\xFF"),
                "SEND_HEADERS value of 'X': null string"},
           Case{out_pkt("\x04" + u16(200) + str("OK") + u16(2) + str("X") + str("v")),
                "SEND_HEADERS ends inside its headers"},
           Case{out_pkt("\x04" + u16(200) + str("OK") + u16(0) + "z"),
                "bytes after the headers of SEND_HEADERS"},
       }) {
    CAPTURE(c.what);
    Decoded d = decode_all_ways(c.input);
    REQUIRE(d.error);
    CHECK(d.error->http_status == 502);
    CHECK(d.error->what == std::string("AJP container: ") + c.what);
  }
  Limits small;
  small.header_count = 1;
  Decoded d = decode(
      {out_pkt("\x04" + u16(200) + str("OK") + u16(2) + str("A") + str("1") + str("B") + str("2"))},
      small);
  REQUIRE(d.error);
  CHECK(d.error->what == "AJP container: SEND_HEADERS with 2 headers, more than 1");
}

// ---------------------------------------------------------------------------
// Round trips

namespace {

struct ServerSide {
  gw::AjpServerCodec codec;
  std::string out;
  std::vector<gw::RequestStarted> starts;
  std::string body;
  bool ended = false;

  explicit ServerSide(const Limits& limits = Limits{}, gw::AjpOptions options = {})
      : codec(limits, std::move(options)) {}

  void feed(std::string_view input) {
    std::string buffer(input);
    for (;;) {
      std::vector<gw::Event> events;
      auto res = codec.feed(buffer, events, out);
      REQUIRE_FALSE(res.error);
      for (auto& e : events) {
        if (auto* s = std::get_if<gw::RequestStarted>(&e)) starts.push_back(*s);
        if (auto* b = std::get_if<gw::BodyData>(&e)) body.append(b->data);
        if (std::get_if<gw::BodyEnd>(&e)) ended = true;
      }
      buffer.erase(0, res.consumed);
      size_t before = out.size();
      codec.want_body(1, out);
      if (res.consumed == 0 && out.size() == before) break;
    }
    CHECK(buffer.empty());
  }
};

}  // namespace

TEST_CASE("ajp13 client -> server: a Request survives the trip") {
  gw::Request r;
  r.method = "PROPFIND";
  r.target = "/dav/a%20b/?depth=1";
  r.server_protocol = "HTTP/1.0";
  r.headers = {{"Host", "dav.example"},
               {"Depth", "1"},
               {"Connection", "keep-alive"},
               {"Content-Length", "999"},
               {"Accept", "*/*"}};
  r.params = {{"REMOTE_HOST", "client.example"}};
  r.content_length = 11;
  r.remote_addr = "203.0.113.9";
  r.remote_port = 40000;
  r.server_name = "dav.example";
  r.server_addr = "203.0.113.1";
  r.server_port = 8443;
  r.remote_user = "bob";
  r.auth_type = "Digest";
  r.https = true;
  r.ssl_protocol = "TLSv1.2";
  r.ssl_cipher = "ECDHE-RSA-AES128-GCM-SHA256";
  r.ssl_session_id = "00ff";
  r.ssl_client_cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  r.ssl_key_size = 128;
  r.route = "w1";

  std::string input;
  REQUIRE(ajp::encode_forward_request(input, ajp::forward_request_for(r)));
  REQUIRE(ajp::encode_body_packet(input, "hello world"));
  ServerSide server;
  server.feed(input);
  REQUIRE(server.starts.size() == 1);
  const gw::Request& got = server.starts[0].request;
  CHECK(server.starts[0].reject_status == 0);
  CHECK(got.method == r.method);
  CHECK(got.target == r.target);
  CHECK(got.path == "/dav/a b/");
  CHECK(got.query == "depth=1");
  CHECK(got.server_protocol == r.server_protocol);
  // Hop-by-hop headers stay behind; the length is the body's, not a header's.
  REQUIRE(got.headers.size() == 4);
  CHECK(got.headers[0].name == "Host");
  CHECK(got.headers[1].name == "Depth");
  CHECK(got.headers[2].name == "Accept");
  CHECK(got.headers[3].name == "Content-Length");
  CHECK(got.headers[3].value == "11");
  CHECK(got.content_length == r.content_length);
  REQUIRE(got.params.size() == 1);
  CHECK(got.params[0].value == "client.example");
  CHECK(got.remote_addr == r.remote_addr);
  CHECK(got.remote_port == r.remote_port);
  CHECK(got.server_name == r.server_name);
  CHECK(got.server_addr == r.server_addr);
  CHECK(got.server_port == r.server_port);
  CHECK(got.remote_user == r.remote_user);
  CHECK(got.auth_type == r.auth_type);
  CHECK(got.https);
  CHECK(got.ssl_protocol == r.ssl_protocol);
  CHECK(got.ssl_cipher == r.ssl_cipher);
  CHECK(got.ssl_session_id == r.ssl_session_id);
  CHECK(got.ssl_client_cert == r.ssl_client_cert);
  CHECK(got.ssl_key_size == r.ssl_key_size);
  CHECK(got.route == r.route);
  CHECK(server.body == "hello world");
  CHECK(server.ended);
}

TEST_CASE("ajp13 client -> server: an unknown length goes out as Transfer-Encoding") {
  gw::Request r;
  r.method = "PATCH";
  r.target = "/up";
  r.content_length = std::nullopt;
  r.headers = {{"Transfer-Encoding", "chunked"}, {"Host", "h"}};
  ajp::ForwardRequest f = ajp::forward_request_for(r);
  std::string input;
  REQUIRE(ajp::encode_forward_request(input, f));
  REQUIRE(ajp::encode_body_packet(input, "part1"));
  REQUIRE(ajp::encode_body_packet(input, "part2"));
  ajp::encode_body_end(input, ajp::BodyEndForm::ZeroChunk);
  ServerSide server;
  server.feed(input);
  REQUIRE(server.starts.size() == 1);
  CHECK(server.starts[0].request.method == "PATCH");
  CHECK(server.starts[0].request.content_length == std::nullopt);
  CHECK(server.body == "part1part2");
  CHECK(server.ended);
  // The decoder reads the server's GET_BODY_CHUNKs.
  Decoded d = decode({server.out});
  CHECK(d.words == std::vector<std::string>{"GET_BODY 8186", "GET_BODY 8186", "GET_BODY 8186"});
}

TEST_CASE("ajp13 server -> client: the response decodes to what was written") {
  for (size_t size : {size_t{8192}, size_t{65536}}) {
    CAPTURE(size);
    Limits limits;
    limits.ajp_packet_size = size;
    ServerSide server(limits);
    ajp::ForwardRequest f;
    std::string input;
    REQUIRE(ajp::encode_forward_request(input, f, size));
    ajp::encode_cping(input);  // only after the response: waits in the buffer
    server.feed(input.substr(0, input.size() - 5));
    REQUIRE(server.ended);
    server.out.clear();

    gw::ResponseHead head;
    head.status = 201;
    head.reason = "Made";
    head.headers = {{"Content-Type", "application/json"},
                    {"Set-Cookie", "a=1"},
                    {"Set-Cookie", "b=2"},
                    {"X-Request-Id", "abc"},
                    {"Transfer-Encoding", "chunked"}};
    std::string body(size * 2 + 333, 'j');
    for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('0' + i % 10);
    server.codec.write_head(1, head, server.out);
    server.codec.write_body(1, body.substr(0, 100), server.out);
    server.codec.write_body(1, body.substr(100), server.out);
    CHECK(server.codec.write_end(1, server.out));
    server.feed(input.substr(input.size() - 5));

    gw::AjpClientDecoder decoder(limits);
    std::vector<ajp::ClientEvent> events;
    auto res = decoder.feed(server.out, events);
    REQUIRE_FALSE(res.error);
    REQUIRE(res.consumed == server.out.size());
    REQUIRE(events.size() >= 4);
    auto& h = std::get<ajp::SendHeaders>(events.front()).head;
    CHECK(h.status == 201);
    CHECK(h.reason == "Made");
    REQUIRE(h.headers.size() == 4);  // Transfer-Encoding dropped
    CHECK(h.headers[0].name == "Content-Type");
    CHECK(h.headers[1].value == "a=1");
    CHECK(h.headers[2].value == "b=2");
    CHECK(h.headers[3].name == "X-Request-Id");
    std::string got;
    size_t i = 1;
    for (; i < events.size(); ++i) {
      auto* chunk = std::get_if<ajp::SendBodyChunk>(&events[i]);
      if (!chunk) break;
      CHECK(chunk->data.size() <= size - 8);
      got.append(chunk->data);
    }
    CHECK(got == body);
    REQUIRE(i + 2 == events.size());
    CHECK(std::get<ajp::EndResponse>(events[i]).reuse);
    CHECK(std::holds_alternative<ajp::CPong>(events[i + 1]));
  }
}
