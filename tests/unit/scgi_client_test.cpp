// SCGI client side: encode_request_head byte for byte and through
// ScgiServerCodec, and ScgiResponseReader at every split point.
#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocols/cgi_params.h"
#include "protocols/scgi_client.h"
#include "protocols/scgi_server.h"
#include "tests/support/split.h"

using gw::Header;
using gw::Limits;
using gw::ScgiResponseReader;
using gw::ScgiServerCodec;

namespace {

template <size_t N>
std::string B(const char (&s)[N]) {
  return std::string(s, N - 1);
}

// What ScgiServerCodec made of one input, fed in the given pieces.
struct Decoded {
  std::optional<gw::Request> request;
  std::string body;
  int body_ends = 0;
  size_t consumed = 0;
  std::optional<gw::CodecError> error;
};

Decoded decode(const std::vector<std::string_view>& pieces, const Limits& limits = Limits{}) {
  ScgiServerCodec codec(limits);
  Decoded d;
  std::string buffer, out;
  for (auto piece : pieces) {
    buffer.append(piece);
    std::vector<gw::Event> events;
    gw::FeedResult r = codec.feed(buffer, events, out);
    REQUIRE(r.consumed <= buffer.size());
    for (auto& ev : events) {
      if (auto* s = std::get_if<gw::RequestStarted>(&ev)) d.request = std::move(s->request);
      if (auto* b = std::get_if<gw::BodyData>(&ev)) d.body.append(b->data);
      if (std::holds_alternative<gw::BodyEnd>(ev)) ++d.body_ends;
    }
    buffer.erase(0, r.consumed);
    d.consumed += r.consumed;
    if (r.error) {
      d.error = r.error;
      break;
    }
  }
  return d;
}

// What a reader made of one response, fed in pieces, then EOF.
struct Read {
  std::vector<std::string> transcript;  // adjacent body pieces merged
  std::optional<gw::ResponseHead> head;
  std::optional<std::string> local_redirect;
  std::string body;
  std::optional<gw::CodecError> error;
};

void record(const std::vector<gw::scgi::ClientEvent>& events, Read& r) {
  for (const auto& e : events) {
    if (auto* s = std::get_if<gw::scgi::ResponseStarted>(&e)) {
      CHECK_FALSE(r.head.has_value());
      r.head = s->head;
      r.local_redirect = s->local_redirect;
      std::string line = "head " + std::to_string(s->head.status) + " " + s->head.reason;
      for (const auto& h : s->head.headers) line += " [" + h.name + ": " + h.value + "]";
      r.transcript.push_back(line);
    } else if (auto* b = std::get_if<gw::scgi::ResponseBody>(&e)) {
      CHECK(r.head.has_value());
      CHECK_FALSE(b->data.empty());
      if (r.transcript.empty() || !r.transcript.back().starts_with("body:"))
        r.transcript.push_back("body:");
      r.transcript.back().append(b->data);
      r.body.append(b->data);
    } else {
      CHECK(r.head.has_value());
      r.transcript.push_back("end");
    }
  }
}

Read read_response(const std::vector<std::string_view>& pieces, bool eof = true,
                   const Limits& limits = Limits{}) {
  ScgiResponseReader reader(limits);
  Read r;
  for (auto piece : pieces) {
    std::vector<gw::scgi::ClientEvent> events;
    gw::FeedResult res = reader.feed(piece, events);
    if (r.error) {
      CHECK(events.empty());
      CHECK(res.consumed == 0);
      CHECK(res.error.has_value());
      continue;
    }
    record(events, r);
    r.error = res.error;
    // The reader keeps nothing back: all is consumed unless it failed.
    CHECK(res.consumed == (res.error ? 0 : piece.size()));
  }
  if (eof && !r.error) {
    std::vector<gw::scgi::ClientEvent> events;
    r.error = reader.finish_eof(events);
    record(events, r);
    if (!r.error) {
      CHECK(reader.done());
      // Nothing after the end.
      std::vector<gw::scgi::ClientEvent> late;
      CHECK(reader.feed("late", late).consumed == 0);
      CHECK(late.empty());
      CHECK_FALSE(reader.finish_eof(late).has_value());
      CHECK(late.empty());
    }
  }
  return r;
}

// Whole, at every two-way split and byte by byte: all must agree.
Read read_all_ways(std::string_view input) {
  Read whole = read_response({input});
  auto same = [&](const Read& r) {
    CHECK(r.transcript == whole.transcript);
    REQUIRE(r.error.has_value() == whole.error.has_value());
    if (r.error) CHECK(r.error->what == whole.error->what);
  };
  gw::test::for_each_split(input, [&](std::string_view a, std::string_view b) {
    same(read_response({a, b}));
  });
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < input.size(); ++i) bytes.push_back(input.substr(i, 1));
  same(read_response(bytes));
  return whole;
}

}  // namespace

TEST_CASE("scgi client: the spec's example, byte for byte") {
  const std::string head = gw::scgi::encode_request_head(
      {{"REQUEST_METHOD", "POST"}, {"REQUEST_URI", "/deepthought"}}, 27);
  CHECK(head == B("70:"
                  "CONTENT_LENGTH\0"
                  "27\0"
                  "SCGI\0"
                  "1\0"
                  "REQUEST_METHOD\0"
                  "POST\0"
                  "REQUEST_URI\0"
                  "/deepthought\0"
                  ","));
  Decoded d = decode({head + "What is the answer to life?"});
  REQUIRE_FALSE(d.error.has_value());
  REQUIRE(d.request.has_value());
  CHECK(d.request->method == "POST");
  CHECK(d.request->path == "/deepthought");
  CHECK(d.body == "What is the answer to life?");
  CHECK(d.body_ends == 1);
}

TEST_CASE("scgi client: no variables, and the largest length") {
  CHECK(gw::scgi::encode_request_head({}, 0) == B("24:CONTENT_LENGTH\0"
                                                  "0\0"
                                                  "SCGI\0"
                                                  "1\0"
                                                  ","));
  CHECK(gw::scgi::encode_request_head({}, UINT64_MAX) == B("43:CONTENT_LENGTH\0"
                                                           "18446744073709551615\0"
                                                           "SCGI\0"
                                                           "1\0"
                                                           ","));
}

TEST_CASE("scgi client: CONTENT_LENGTH and SCGI are its own; unencodable variables are skipped") {
  const std::string head = gw::scgi::encode_request_head({{"CONTENT_LENGTH", "999"},
                                                          {"SCGI", "2"},
                                                          {"", "empty name"},
                                                          {B("A\0B"), "x"},
                                                          {"NUL_VALUE", B("a\0b")},
                                                          {"REQUEST_METHOD", "GET"},
                                                          {"EMPTY_VALUE", ""}},
                                                         0);
  CHECK(head == B("56:"
                  "CONTENT_LENGTH\0"
                  "0\0"
                  "SCGI\0"
                  "1\0"
                  "REQUEST_METHOD\0"
                  "GET\0"
                  "EMPTY_VALUE\0"
                  "\0"
                  ","));
}

TEST_CASE("scgi client: cgi_from_request's variables round trip through the server codec") {
  gw::Request original;
  original.method = "PUT";
  original.target = "/a%20b/c?q=1";
  original.path = "/a b/c";
  original.query = "q=1";
  original.path_info = "/a b/c";
  original.server_protocol = "HTTP/1.1";
  original.headers = {{"Host", "example.org"}, {"X-Trace", "t"}, {"Content-Type", "text/plain"}};
  original.remote_addr = "192.0.2.7";
  original.remote_port = 4711;
  original.remote_user = "bob";
  original.auth_type = "Basic";
  original.https = true;
  original.ssl_cipher = "TLS_AES_128_GCM_SHA256";
  const std::string body = "payload";
  original.content_length = body.size();
  const std::vector<Header> vars = gw::cgi_from_request(original, gw::CgiContext{});
  const std::string input = gw::scgi::encode_request_head(vars, body.size()) + body;
  gw::test::for_each_split(input, [&](std::string_view a, std::string_view b) {
    Decoded d = decode({a, b});
    REQUIRE_FALSE(d.error.has_value());
    REQUIRE(d.request.has_value());
    const gw::Request& r = *d.request;
    CHECK(r.origin == gw::Protocol::Scgi);
    CHECK(r.method == "PUT");
    CHECK(r.target == "/a%20b/c?q=1");
    CHECK(r.path == "/a b/c");
    CHECK(r.query == "q=1");
    CHECK(r.content_length == std::optional<uint64_t>(7));
    CHECK(r.remote_addr == "192.0.2.7");
    CHECK(r.remote_port == 4711);
    CHECK(r.remote_user == "bob");
    CHECK(r.auth_type == "Basic");
    CHECK(r.https);
    CHECK(r.ssl_cipher == "TLS_AES_128_GCM_SHA256");
    REQUIRE(r.header("X-Trace") != nullptr);
    CHECK(*r.header("X-Trace") == "t");
    REQUIRE(r.header("Host") != nullptr);
    CHECK(*r.header("Host") == "example.org");
    REQUIRE(r.header("Content-Type") != nullptr);
    CHECK(*r.header("Content-Type") == "text/plain");
    CHECK(d.body == body);
    CHECK(d.body_ends == 1);
    CHECK(d.consumed == input.size());
  });
}

TEST_CASE("scgi client: a name sent twice is refused by the server codec") {
  const std::string head =
      gw::scgi::encode_request_head({{"REQUEST_METHOD", "GET"}, {"REQUEST_METHOD", "GET"}}, 0);
  Decoded d = decode({head});
  REQUIRE(d.error.has_value());
  CHECK(d.error->what == "SCGI variable 'REQUEST_METHOD' appears twice");
}

TEST_CASE("scgi client: a response read until EOF, at every split point") {
  const std::string input =
      B("Status: 201 Created\r\n"
        "Content-Type: text/plain\n"
        "X-Empty:\r\n"
        "\r\n"
        "line 1\r\n"
        "\r\n"
        "line 2, with a NUL \0 in it");
  Read r = read_all_ways(input);
  REQUIRE_FALSE(r.error.has_value());
  REQUIRE(r.head.has_value());
  CHECK(r.head->status == 201);
  CHECK(r.head->reason == "Created");
  REQUIRE(r.head->headers.size() == 2);
  CHECK(r.head->headers[0].name == "Content-Type");
  CHECK(r.head->headers[0].value == "text/plain");
  CHECK(r.head->headers[1].name == "X-Empty");
  CHECK(r.head->headers[1].value == "");
  CHECK_FALSE(r.local_redirect.has_value());
  CHECK(r.body == B("line 1\r\n\r\nline 2, with a NUL \0 in it"));
  REQUIRE(r.transcript.size() == 3);
  CHECK(r.transcript.back() == "end");
}

TEST_CASE("scgi client: response heads without a body, with a status line, or a redirect") {
  Read empty_body = read_all_ways("Content-Type: text/html\r\n\r\n");
  REQUIRE(empty_body.head.has_value());
  CHECK(empty_body.head->status == 200);
  CHECK(empty_body.body.empty());
  CHECK(empty_body.transcript ==
        std::vector<std::string>{"head 200  [Content-Type: text/html]", "end"});

  Read status_line = read_all_ways("HTTP/1.1 404 Not Found\r\n\r\ngone");
  REQUIRE(status_line.head.has_value());
  CHECK(status_line.head->status == 404);
  CHECK(status_line.body == "gone");

  Read local = read_all_ways("Location: /elsewhere?x=1\r\n\r\nignored");
  REQUIRE(local.head.has_value());
  CHECK(local.head->status == 0);
  CHECK(local.local_redirect == std::optional<std::string>("/elsewhere?x=1"));
  CHECK(local.body == "ignored");  // passed on; the caller discards it

  Read client = read_all_ways("Location: https://example.org/\r\n\r\n");
  REQUIRE(client.head.has_value());
  CHECK(client.head->status == 302);
  CHECK_FALSE(client.local_redirect.has_value());
}

TEST_CASE("scgi client: EOF before the head is complete is a 502") {
  for (std::string_view cut :
       {"", "Status: 200 OK", "Status: 200 OK\r\n", "Status: 200 OK\r\n\r"}) {
    CAPTURE(std::string(cut));
    Read r = read_response({cut});
    REQUIRE(r.error.has_value());
    CHECK(r.error->http_status == 502);
    CHECK(r.error->what == (cut.empty()
                                ? "SCGI app closed the connection without a response"
                                : "SCGI app closed the connection inside its response head"));
    CHECK_FALSE(r.head.has_value());
  }
  // Without EOF the same bytes just wait.
  Read waiting = read_response({"Status: 200 OK\r\n"}, /*eof=*/false);
  CHECK_FALSE(waiting.error.has_value());
  CHECK(waiting.transcript.empty());
}

TEST_CASE("scgi client: a malformed head is the parser's 502, and final") {
  ScgiResponseReader reader;
  std::vector<gw::scgi::ClientEvent> events;
  gw::FeedResult r = reader.feed("no colon here\r\n\r\nbody", events);
  REQUIRE(r.error.has_value());
  CHECK(r.error->http_status == 502);
  CHECK(r.consumed == 0);
  CHECK(events.empty());
  gw::FeedResult again = reader.feed("Status: 200 OK\r\n\r\n", events);
  REQUIRE(again.error.has_value());
  CHECK(again.error->what == r.error->what);
  CHECK(events.empty());
  auto eof = reader.finish_eof(events);
  REQUIRE(eof.has_value());
  CHECK(eof->what == r.error->what);
  CHECK(events.empty());
  CHECK_FALSE(reader.started());
  CHECK_FALSE(reader.done());
}

TEST_CASE("scgi client: the response head is bounded by limits.header_bytes") {
  Limits limits;
  limits.header_bytes = 64;
  const std::string head = "X-Long: " + std::string(100, 'v') + "\r\n";
  Read r = read_response({head}, /*eof=*/false, limits);
  REQUIRE(r.error.has_value());
  CHECK(r.error->http_status == 502);
}
