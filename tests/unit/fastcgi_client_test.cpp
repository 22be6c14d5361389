#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "protocols/fastcgi_client.h"
#include "protocols/fastcgi_server.h"
#include "tests/support/split.h"

using gw::FastCgiClientDecoder;
using gw::Header;
using gw::StreamId;
namespace fcgi = gw::fcgi;

namespace {

template <size_t N>
std::string B(const char (&s)[N]) {
  return std::string(s, N - 1);
}

// Test-local record builder, independent of the code under test.
std::string rec(uint8_t type, StreamId id, std::string_view content, uint8_t padding = 0) {
  std::string s = {1,
                   static_cast<char>(type),
                   static_cast<char>(id >> 8),
                   static_cast<char>(id & 0xFF),
                   static_cast<char>(content.size() >> 8),
                   static_cast<char>(content.size() & 0xFF),
                   static_cast<char>(padding),
                   0};
  s.append(content);
  s.append(padding, '\x55');
  return s;
}

struct Decoded {
  std::vector<std::string> transcript;  // adjacent STDOUT/STDERR data of an id merged
  std::optional<gw::CodecError> error;
};

void record(const std::vector<fcgi::ClientEvent>& events, Decoded& d) {
  auto data = [&d](std::string tag, std::string_view bytes) {
    CHECK_FALSE(bytes.empty());
    if (d.transcript.empty() || d.transcript.back().rfind(tag, 0) != 0) d.transcript.push_back(tag);
    d.transcript.back().append(bytes);
  };
  for (const auto& e : events) {
    if (auto* o = std::get_if<fcgi::Stdout>(&e)) {
      data("stdout " + std::to_string(o->id) + ":", o->data);
    } else if (auto* r = std::get_if<fcgi::Stderr>(&e)) {
      data("stderr " + std::to_string(r->id) + ":", r->data);
    } else if (auto* se = std::get_if<fcgi::StdoutEnd>(&e)) {
      d.transcript.push_back("stdout-end " + std::to_string(se->id));
    } else if (auto* er = std::get_if<fcgi::EndRequest>(&e)) {
      d.transcript.push_back("end " + std::to_string(er->id) +
                             " app=" + std::to_string(er->app_status) +
                             " proto=" + std::to_string(er->protocol_status));
    } else if (auto* gv = std::get_if<fcgi::GetValuesResult>(&e)) {
      std::string s = "values";
      for (const auto& p : gv->pairs) s += " " + p.name + "=" + p.value;
      d.transcript.push_back(s);
    } else if (auto* u = std::get_if<fcgi::UnknownTypeReply>(&e)) {
      d.transcript.push_back("unknown-type " + std::to_string(u->type));
    }
  }
}

Decoded decode(const std::vector<std::string_view>& pieces) {
  FastCgiClientDecoder decoder;
  Decoded d;
  std::string buffer;
  for (auto piece : pieces) {
    buffer.append(piece);
    std::vector<fcgi::ClientEvent> events;
    auto res = decoder.feed(buffer, events);
    REQUIRE(res.consumed <= buffer.size());
    if (d.error) {
      CHECK(events.empty());
      CHECK(res.consumed == 0);
      CHECK(res.error.has_value());
      continue;
    }
    if (!res.error) CHECK(res.consumed == buffer.size());
    record(events, d);
    buffer.erase(0, res.consumed);
    d.error = res.error;
  }
  return d;
}

Decoded decode_all_ways(std::string_view input) {
  Decoded whole = decode({input});
  auto same = [&whole](const Decoded& d) {
    CHECK(d.transcript == whole.transcript);
    REQUIRE(d.error.has_value() == whole.error.has_value());
    if (d.error) CHECK(d.error->what == whole.error->what);
  };
  gw::test::for_each_split(input, [&](std::string_view a, std::string_view b) {
    same(decode({a, b}));
  });
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < input.size(); ++i) bytes.push_back(input.substr(i, 1));
  same(decode(bytes));
  return whole;
}

// (type, id, content length, padding) of each record in `s`.
std::vector<std::vector<size_t>> record_shapes(std::string_view s, std::string* content = nullptr) {
  std::vector<std::vector<size_t>> shapes;
  while (s.size() >= 8) {
    auto u = [&s](size_t i) { return static_cast<size_t>(static_cast<uint8_t>(s[i])); };
    size_t len = (u(4) << 8) | u(5);
    shapes.push_back({u(1), (u(2) << 8) | u(3), len, u(6)});
    if (content) content->append(s.substr(8, len));
    s.remove_prefix(8 + len + u(6));
  }
  CHECK(s.empty());
  return shapes;
}

}  // namespace

TEST_CASE("fastcgi client: encode_begin_request") {
  std::string out;
  fcgi::encode_begin_request(out, 1, fcgi::FCGI_RESPONDER, true);
  CHECK(out == B("\x01"                     // version
                 "\x01"                     // FCGI_BEGIN_REQUEST
                 "\x00\x01"                 // request id 1
                 "\x00\x08"                 // content length 8
                 "\x00"                     // padding length
                 "\x00"                     // reserved
                 "\x00\x01"                 // role FCGI_RESPONDER
                 "\x01"                     // flags FCGI_KEEP_CONN
                 "\x00\x00\x00\x00\x00"));  // reserved
  out.clear();
  fcgi::encode_begin_request(out, 0x1234, fcgi::FCGI_AUTHORIZER, false);
  CHECK(out == B("\x01\x01"
                 "\x12\x34"  // request id 0x1234
                 "\x00\x08\x00\x00"
                 "\x00\x02"  // role FCGI_AUTHORIZER
                 "\x00"      // flags: none
                 "\x00\x00\x00\x00\x00"));
}

TEST_CASE("fastcgi client: encode_params, one record and the empty one") {
  std::string out;
  fcgi::encode_params(out, 1, {{"REQUEST_METHOD", "GET"}, {"HTTP_X", std::string(128, 'v')}});
  std::string expected = B("\x01"      // version
                           "\x04"      // FCGI_PARAMS
                           "\x00\x01"  // request id 1
                           "\x00\x9e"  // content length 158
                           "\x00"      // padding length
                           "\x00"      // reserved
                           "\x0e"      // name length 14 (1 byte)
                           "\x03"      // value length 3 (1 byte)
                           "REQUEST_METHOD"
                           "GET"
                           "\x06"              // name length 6
                           "\x80\x00\x00\x80"  // value length 128 (4 bytes, top bit set)
                           "HTTP_X") +
                         std::string(128, 'v') +
                         B("\x01\x04\x00\x01"
                           "\x00\x00"  // content length 0: end of the params stream
                           "\x00\x00");
  CHECK(out == expected);
  out.clear();
  fcgi::encode_params(out, 1, {});
  CHECK(out == B("\x01\x04\x00\x01\x00\x00\x00\x00"));
}

TEST_CASE("fastcgi client: encode_params splits a long stream; pairs straddle records") {
  std::vector<Header> vars = {{"A", std::string(40000, 'a')}, {"B", std::string(40000, 'b')}};
  std::string out;
  fcgi::encode_params(out, 2, vars);
  std::string content;
  auto shapes = record_shapes(out, &content);
  using Shape = std::vector<size_t>;
  CHECK(shapes == std::vector<Shape>{{4, 2, 65535, 0}, {4, 2, 80012 - 65535, 0}, {4, 2, 0, 0}});
  CHECK(content == B("\x01\x80\x00\x9c\x40") + "A" + std::string(40000, 'a') +
                       B("\x01\x80\x00\x9c\x40") + "B" + std::string(40000, 'b'));
}

TEST_CASE("fastcgi client: encode_stdin, encode_stdin_end, encode_abort_request") {
  std::string out;
  fcgi::encode_stdin(out, 1, "");
  CHECK(out.empty());
  fcgi::encode_stdin(out, 1, "body");
  CHECK(out == B("\x01"      // version
                 "\x05"      // FCGI_STDIN
                 "\x00\x01"  // request id 1
                 "\x00\x04"  // content length 4
                 "\x00\x00"  // padding, reserved
                 "body"));
  out.clear();
  fcgi::encode_stdin(out, 9, std::string(70000, 's'));
  using Shape = std::vector<size_t>;
  CHECK(record_shapes(out) == std::vector<Shape>{{5, 9, 65535, 0}, {5, 9, 4465, 0}});
  out.clear();
  fcgi::encode_stdin_end(out, 1);
  fcgi::encode_abort_request(out, 1);
  CHECK(out == B("\x01\x05\x00\x01\x00\x00\x00\x00"     // FCGI_STDIN, empty: end of body
                 "\x01\x02\x00\x01\x00\x00\x00\x00"));  // FCGI_ABORT_REQUEST
}

TEST_CASE("fastcgi client: encode_get_values") {
  std::string out;
  fcgi::encode_get_values(out, {"FCGI_MAX_CONNS", "FCGI_MPXS_CONNS"});
  CHECK(out == B("\x01"      // version
                 "\x09"      // FCGI_GET_VALUES
                 "\x00\x00"  // request id 0 (management)
                 "\x00\x21"  // content length 33
                 "\x00\x00"  // padding, reserved
                 "\x0e\x00"  // name length 14, value length 0
                 "FCGI_MAX_CONNS"
                 "\x0f\x00"  // name length 15, value length 0
                 "FCGI_MPXS_CONNS"));
  out.clear();
  fcgi::encode_get_values(out, {});
  CHECK(out == B("\x01\x09\x00\x00\x00\x00\x00\x00"));
}

TEST_CASE("fastcgi client: decoding an application's answer at every split") {
  std::string input = rec(6, 1, "Status: 200 OK\r\n", 5) + rec(7, 1, "warn") +
                      rec(6, 1, "\r\nbody", 255) + rec(7, 1, "") + rec(6, 1, "") +
                      rec(3, 1,
                          B("\x00\x00\x01\x02"
                            "\x00"
                            "\x00\x00\x00"),
                          3) +
                      rec(10, 0,
                          B("\x0d\x02"
                            "FCGI_MAX_REQS"
                            "10"
                            "\x0f\x01"
                            "FCGI_MPXS_CONNS"
                            "0")) +
                      rec(11, 0, B("\x2a\x00\x00\x00\x00\x00\x00\x00")) +
                      rec(3, 2,
                          B("\x00\x00\x00\x00"
                            "\x03"
                            "\x00\x00\x00"));
  Decoded d = decode_all_ways(input);
  REQUIRE_FALSE(d.error);
  CHECK(d.transcript == std::vector<std::string>{
                            "stdout 1:Status: 200 OK\r\n",
                            "stderr 1:warn",
                            "stdout 1:\r\nbody",
                            "stdout-end 1",
                            "end 1 app=258 proto=0",
                            "values FCGI_MAX_REQS=10 FCGI_MPXS_CONNS=0",
                            "unknown-type 42",
                            "end 2 app=0 proto=3",
                        });
}

TEST_CASE("fastcgi client: STDOUT data is emitted as it arrives") {
  FastCgiClientDecoder decoder;
  std::vector<fcgi::ClientEvent> events;
  std::string record = rec(6, 3, "abcdef");
  auto res = decoder.feed(std::string_view(record).substr(0, 10), events);
  CHECK(res.consumed == 10);
  REQUIRE(events.size() == 1);
  CHECK(std::get<fcgi::Stdout>(events[0]).data == "ab");
}

TEST_CASE("fastcgi client: records an application must not send are errors") {
  auto expect_error = [](const std::string& input, std::string_view what) {
    CAPTURE(what);
    Decoded d = decode_all_ways(input + rec(6, 1, "after"));
    REQUIRE(d.error.has_value());
    CHECK(d.error->http_status == 502);
    CHECK(d.error->what.find(what) != std::string::npos);
    for (const auto& t : d.transcript) CHECK(t.find("after") == std::string::npos);
  };
  std::string bad_version = rec(6, 1, "x");
  bad_version[0] = 0;
  expect_error(bad_version, "version 0");
  expect_error(rec(1, 1, B("\0\x01\0\0\0\0\0\0")), "FCGI_BEGIN_REQUEST");
  expect_error(rec(2, 1, ""), "FCGI_ABORT_REQUEST");
  expect_error(rec(4, 1, ""), "FCGI_PARAMS");
  expect_error(rec(5, 1, ""), "FCGI_STDIN");
  expect_error(rec(8, 1, ""), "FCGI_DATA");
  expect_error(rec(9, 0, ""), "FCGI_GET_VALUES");
  expect_error(rec(12, 1, ""), "type 12");
  expect_error(rec(3, 1, B("\0\0\0\0\0\0\0")), "7 content bytes");
  expect_error(rec(3, 0, B("\0\0\0\0\0\0\0\0")), "request id 0");
  expect_error(rec(6, 0, "x"), "request id 0");
  expect_error(rec(10, 1, ""), "request id 1");
  expect_error(rec(11, 0, B("\x2a\0\0")), "3 content bytes");
  expect_error(rec(10, 0,
                   B("\x05\x00"
                     "AB")),
               "inside a name-value pair");
  expect_error(rec(10, 0,
                   B("\x01\x01"
                     "="
                     "1")),
               "'='");
}

TEST_CASE("fastcgi client: server encoder -> client decoder round trip") {
  // The web server's side, built with the client encoders.
  std::vector<Header> vars = {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/x"}};
  std::string input;
  fcgi::encode_begin_request(input, 1, fcgi::FCGI_RESPONDER, true);
  fcgi::encode_params(input, 1, vars);
  fcgi::encode_stdin_end(input, 1);
  fcgi::encode_begin_request(input, 2, fcgi::FCGI_RESPONDER, true);
  fcgi::encode_params(input, 2, vars);
  fcgi::encode_get_values(input, {"FCGI_MPXS_CONNS", "FCGI_OTHER"});
  input += rec(0x33, 0, "");
  fcgi::encode_begin_request(input, 3, fcgi::FCGI_FILTER, false);

  gw::FastCgiServerCodec codec(gw::Limits{});
  std::vector<gw::Event> events;
  std::string out;
  auto res = codec.feed(input, events, out);
  REQUIRE_FALSE(res.error);
  CHECK(events.size() == 3);  // two RequestStarted, one BodyEnd
  gw::ResponseHead head;
  head.status = 201;
  head.headers = {{"X-A", "b"}};
  std::string big(100000, 'z');
  codec.write_head(2, head, out);
  codec.write_head(1, gw::ResponseHead{}, out);
  codec.write_body(1, big, out);
  codec.write_body(2, "small", out);
  CHECK(codec.write_end(1, out));
  CHECK(codec.write_end(2, out));

  Decoded d = decode({out});
  REQUIRE_FALSE(d.error);
  CHECK(d.transcript == std::vector<std::string>{
                            "values FCGI_MPXS_CONNS=1",
                            "unknown-type 51",
                            "end 3 app=0 proto=3",
                            "stdout 2:Status: 201 Created\r\nX-A: b\r\n\r\n",
                            "stdout 1:Status: 200 OK\r\n\r\n" + big,
                            "stdout 2:small",
                            "stdout-end 1",
                            "end 1 app=0 proto=0",
                            "stdout-end 2",
                            "end 2 app=0 proto=0",
                        });
}
