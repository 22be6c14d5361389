#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "protocols/scgi_client.h"
#include "protocols/scgi_server.h"
#include "tests/support/split.h"

using gw::Header;
using gw::Limits;
using gw::ScgiServerCodec;

namespace {

std::string vector_file(const std::string& name) {
  std::ifstream f(std::string(GW_VECTORS_DIR) + "/scgi/" + name, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "missing vector " << name);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// A netstring built by hand, independently of the code under test.
std::string netstring(const std::vector<Header>& vars, std::string_view body = {}) {
  std::string block;
  for (const auto& v : vars) {
    block += v.name;
    block.push_back('\0');
    block += v.value;
    block.push_back('\0');
  }
  return std::to_string(block.size()) + ":" + block + "," + std::string(body);
}

std::vector<Header> get_vars(std::string length = "0") {
  return {{"CONTENT_LENGTH", length},
          {"SCGI", "1"},
          {"REQUEST_METHOD", "GET"},
          {"REQUEST_URI", "/app/x?y=1"},
          {"QUERY_STRING", "y=1"}};
}

// What a codec produced from one input, fed the way a Connection feeds it:
// the unconsumed rest is kept and fed again with the next piece.
struct Outcome {
  std::optional<gw::Request> request;
  std::string body;
  int body_ends = 0;
  size_t consumed = 0;
  std::optional<gw::CodecError> error;
  std::string out;
  int events_after_error = 0;
};

Outcome run(ScgiServerCodec& codec, const std::vector<std::string_view>& pieces) {
  Outcome o;
  std::string buffer;
  for (std::string_view piece : pieces) {
    buffer.append(piece);
    for (;;) {
      std::vector<gw::Event> events;
      gw::FeedResult r = codec.feed(buffer, events, o.out);
      REQUIRE(r.consumed <= buffer.size());
      if (o.error) o.events_after_error += static_cast<int>(events.size());
      for (auto& ev : events) {
        if (auto* s = std::get_if<gw::RequestStarted>(&ev)) {
          CHECK(s->stream == 1);
          CHECK_FALSE(o.request.has_value());
          o.request = std::move(s->request);
        } else if (auto* d = std::get_if<gw::BodyData>(&ev)) {
          o.body.append(d->data);
        } else if (std::get_if<gw::BodyEnd>(&ev)) {
          ++o.body_ends;
        }
      }
      buffer.erase(0, r.consumed);
      o.consumed += r.consumed;
      if (r.error) {
        o.error = r.error;
        return o;
      }
      if (r.consumed == 0) break;
    }
  }
  return o;
}

Outcome run_whole(std::string_view input, const Limits& limits = Limits{}) {
  ScgiServerCodec codec(limits);
  return run(codec, {input});
}

void check_error(std::string_view input, int status, std::string_view what_part,
                 const Limits& limits = Limits{}) {
  CAPTURE(std::string(input));
  Outcome o = run_whole(input, limits);
  REQUIRE(o.error.has_value());
  CHECK(o.error->http_status == status);
  CHECK_MESSAGE(o.error->what.find(what_part) != std::string::npos, o.error->what);
  CHECK_FALSE(o.request.has_value());
  // The web server in front gets a CGI answer with the same status.
  CHECK(o.out.rfind("Status: " + std::to_string(status) + " ", 0) == 0);
}

const std::string* header(const gw::Request& r, std::string_view name) {
  return r.header(name);
}

}  // namespace

TEST_CASE("scgi server: every capture, at every split point") {
  struct Case {
    const char* file;
    const char* method;
    const char* target;
    const char* script_name;
    const char* path_info;
    uint64_t content_length;
    const char* remote_user;
  };
  const Case cases[] = {
      {"nginx-scgi-get.bin", "GET", "/app/sub/path?x=1&y=%20z", "", "/app/sub/path", 0, ""},
      {"nginx-scgi-proj-get.bin", "GET", "/proj/sub/path?x=1&y=%20z", "/proj", "/sub/path", 0, ""},
      {"nginx-scgi-post.bin", "POST", "/app/form", "", "/app/form", 3000, ""},
      {"nginx-scgi-post-chunked.bin", "POST", "/app/up", "", "/app/up", 5000, ""},
      {"nginx-scgi-head.bin", "HEAD", "/app/h", "", "/app/h", 0, ""},
      {"nginx-scgi-login.bin", "GET", "/login", "", "/login", 0, "alice"},
      {"lighttpd-scgi-get.bin", "GET", "/app/sub/path?x=1&y=%20z", "/app", "/sub/path", 0, ""},
      {"lighttpd-scgi-proj-get.bin", "GET", "/proj/sub/path?x=1&y=%20z", "/proj", "/sub/path", 0,
       ""},
      {"lighttpd-scgi-post.bin", "POST", "/app/form", "/app", "/form", 3000, ""},
      {"lighttpd-scgi-post-chunked.bin", "POST", "/app/up", "/app", "/up", 5000, ""},
      {"lighttpd-scgi-head.bin", "HEAD", "/app/h", "/app", "/h", 0, ""},
      {"lighttpd-scgi-login.bin", "GET", "/login", "", "/login", 0, "alice"},
      {"apache-proxy-scgi-get.bin", "GET", "/app/sub/path?x=1&y=%20z", "", "/app/sub/path", 0, ""},
      {"apache-proxy-scgi-proj-get.bin", "GET", "/proj/sub/path?x=1&y=%20z", "", "/proj/sub/path",
       0, ""},
      {"apache-proxy-scgi-post.bin", "POST", "/app/form", "", "/app/form", 3000, ""},
      {"apache-proxy-scgi-head.bin", "HEAD", "/app/h", "", "/app/h", 0, ""},
      {"apache-proxy-scgi-login.bin", "GET", "/login", "", "/login", 0, "alice"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.file);
    const std::string input = vector_file(c.file);
    const Outcome whole = run_whole(input);
    REQUIRE_FALSE(whole.error.has_value());
    REQUIRE(whole.request.has_value());
    const gw::Request& r = *whole.request;
    CHECK(r.origin == gw::Protocol::Scgi);
    CHECK(r.method == c.method);
    CHECK(r.target == c.target);
    CHECK(r.script_name == c.script_name);
    CHECK(r.path_info == c.path_info);
    CHECK(r.content_length == std::optional<uint64_t>(c.content_length));
    CHECK(r.remote_user == c.remote_user);
    CHECK(whole.body.size() == c.content_length);
    CHECK(whole.body_ends == 1);
    CHECK(whole.consumed == input.size());  // the body ends the input exactly
    if (std::string_view(c.target).find("?x=1") != std::string_view::npos) {
      CHECK(r.query == "x=1&y=%20z");
      CHECK(header(r, "X-Custom-Header") != nullptr);
      CHECK(header(r, "Cookie") != nullptr);
      CHECK(header(r, "Accept-Language") != nullptr);
    }
    if (c.content_length > 0) CHECK(header(r, "Content-Length") != nullptr);
    gw::test::for_each_split(input, [&](std::string_view a, std::string_view b) {
      ScgiServerCodec codec{Limits{}};
      Outcome split = run(codec, {a, b});
      REQUIRE_FALSE(split.error.has_value());
      REQUIRE(split.request.has_value());
      CHECK(split.request->target == r.target);
      CHECK(split.request->script_name == r.script_name);
      CHECK(split.request->headers.size() == r.headers.size());
      CHECK(split.request->params.size() == r.params.size());
      CHECK(split.body == whole.body);
      CHECK(split.body_ends == 1);
      CHECK(split.consumed == input.size());
    });
  }
}

TEST_CASE("scgi server: the spec's example") {
  const std::string input = netstring({{"CONTENT_LENGTH", "27"},
                                       {"SCGI", "1"},
                                       {"REQUEST_METHOD", "POST"},
                                       {"REQUEST_URI", "/deepthought"}},
                                      "What is the answer to life?");
  CHECK(input.substr(0, 3) == "70:");
  Outcome o = run_whole(input);
  REQUIRE(o.request.has_value());
  CHECK(o.request->method == "POST");
  CHECK(o.request->path == "/deepthought");
  CHECK(o.body == "What is the answer to life?");
  CHECK(o.body_ends == 1);
}

TEST_CASE("scgi server: the body is streamed and nothing after it is consumed") {
  const std::string body(100000, 'b');
  const std::string input = netstring(get_vars(std::to_string(body.size())), body) + "extra";
  ScgiServerCodec codec{Limits{}};
  std::string out;
  std::vector<gw::Event> events;
  // The head and the first body bytes in one read: both consumed at once.
  const size_t head = input.find(',') + 1;
  gw::FeedResult r = codec.feed(std::string_view(input).substr(0, head + 10), events, out);
  CHECK(r.consumed == head + 10);
  REQUIRE(events.size() == 2);
  CHECK(std::get<gw::BodyData>(events[1]).data == std::string(10, 'b'));
  size_t pos = head + 10;
  std::string seen(10, 'b');
  while (pos < input.size()) {
    events.clear();
    r = codec.feed(std::string_view(input).substr(pos), events, out);
    REQUIRE_FALSE(r.error.has_value());
    if (r.consumed == 0) break;
    for (auto& ev : events) {
      if (auto* d = std::get_if<gw::BodyData>(&ev)) seen.append(d->data);
    }
    pos += r.consumed;
  }
  CHECK(seen == body);
  CHECK(input.substr(pos) == "extra");  // one request per connection
  CHECK(out.empty());
}

TEST_CASE("scgi server: netstring errors") {
  check_error(":", 400, "no length before ':'");
  check_error("05:abcde,", 400, "leading zero");
  check_error("00:,", 400, "leading zero");
  Limits huge;  // so that the digit count, not the size, is what fails
  huge.header_bytes = huge.input_buffer_bytes = size_t{1} << 40;
  check_error("123456789:", 431, "more than 8 digits", huge);
  check_error("12a:", 400, "length holds 'a'");
  check_error("GET / HTTP/1.1\r\n", 400, "length holds 'G'");
  check_error("-1:", 400, "length holds '-'");
  std::string no_comma = netstring(get_vars());
  no_comma.back() = ';';
  check_error(no_comma, 400, "is not followed by ','");
  check_error("0:,", 400, "does not start with CONTENT_LENGTH");
  check_error(std::string("5:abcd\0,", 8), 400, "has no value");
  check_error(std::string("3:ab\0,", 6), 400, "has no value");
  check_error(std::string("4:a\0bc,", 7), 400, "does not end with NUL");
  check_error(std::string("4:\0x\0\0,", 7), 400, "an empty name");
}

TEST_CASE("scgi server: an oversized block is refused before it is buffered") {
  Limits limits;
  limits.header_bytes = 1000;
  // The first digits already show the block cannot fit.
  check_error("1001", 431, "over the limit of 1000", limits);
  check_error("99999", 431, "limits.header_bytes", limits);
  ScgiServerCodec codec(limits);
  std::string out;
  std::vector<gw::Event> events;
  CHECK_FALSE(codec.feed("100", events, out).error.has_value());  // may still fit
  // The input buffer bounds the block too: it must wait there whole.
  Limits small_buffer;
  small_buffer.input_buffer_bytes = 2000;
  check_error("5000:", 431, "over the limit of 1990", small_buffer);
}

TEST_CASE("scgi server: variable errors") {
  auto with = [](std::vector<Header> vars) { return netstring(vars); };
  check_error(with({{"SCGI", "1"}, {"CONTENT_LENGTH", "0"}, {"REQUEST_METHOD", "GET"}}), 400,
              "does not start with CONTENT_LENGTH");
  check_error(with({{"CONTENT_LENGTH", ""}, {"SCGI", "1"}, {"REQUEST_METHOD", "GET"}}), 400,
              "CONTENT_LENGTH '' is not a number");
  check_error(with({{"CONTENT_LENGTH", "12a"}, {"SCGI", "1"}, {"REQUEST_METHOD", "GET"}}), 400,
              "CONTENT_LENGTH '12a' is not a number");
  check_error(with({{"CONTENT_LENGTH", "-1"}, {"SCGI", "1"}, {"REQUEST_METHOD", "GET"}}), 400,
              "is not a number");
  check_error(with({{"CONTENT_LENGTH", "0"}, {"REQUEST_METHOD", "GET"}}), 400, "no SCGI=1");
  check_error(with({{"CONTENT_LENGTH", "0"}, {"SCGI", "2"}, {"REQUEST_METHOD", "GET"}}), 400,
              "SCGI version '2' is not 1");
  check_error(with({{"CONTENT_LENGTH", "0"},
                    {"SCGI", "1"},
                    {"REQUEST_METHOD", "GET"},
                    {"HTTP_X", "a"},
                    {"HTTP_X", "b"}}),
              400, "'HTTP_X' appears twice");
  check_error(with({{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}}), 400, "REQUEST_METHOD");
}

TEST_CASE("scgi server: header limits") {
  Limits limits;
  limits.header_count = 4;
  std::vector<Header> vars = get_vars();
  check_error(netstring(vars), 400 + 31, "limits.header_count", limits);
  limits = Limits{};
  limits.name_bytes = 8;
  check_error(netstring(get_vars()), 431, "limits.name_bytes", limits);
  limits = Limits{};
  limits.value_bytes = 5;
  vars.push_back({"HTTP_X", "123456"});
  check_error(netstring(vars), 431, "limits.value_bytes", limits);
}

TEST_CASE("scgi server: CONTENT_LENGTH over max_body_bytes is 413") {
  Limits limits;
  limits.max_body_bytes = 10;
  check_error(netstring(get_vars("11")), 413, "limits.max_body_bytes", limits);
  CHECK_FALSE(run_whole(netstring(get_vars("10"), "0123456789"), limits).error.has_value());
}

TEST_CASE("scgi server: response bytes") {
  ScgiServerCodec codec{Limits{}};
  Outcome o = run(codec, {netstring(get_vars())});
  REQUIRE(o.request.has_value());
  std::string out;
  gw::ResponseHead head;
  head.status = 404;
  head.headers = {{"Content-Type", "text/plain"}, {"Transfer-Encoding", "chunked"}};
  codec.write_head(1, head, out);
  codec.write_body(1, "gone", out);
  CHECK_FALSE(codec.write_end(1, out));
  CHECK(out == "Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\ngone");
  CHECK_FALSE(codec.write_abort(1, out));
}

TEST_CASE("scgi server: HEAD gets no body") {
  std::vector<Header> vars = get_vars();
  vars[2].value = "HEAD";
  ScgiServerCodec codec{Limits{}};
  Outcome o = run(codec, {netstring(vars)});
  REQUIRE(o.request.has_value());
  std::string out;
  gw::ResponseHead head;
  head.headers = {{"Content-Length", "4"}};
  codec.write_head(1, head, out);
  codec.write_body(1, "body", out);
  CHECK_FALSE(codec.write_end(1, out));
  CHECK(out == "Status: 200 OK\r\nContent-Length: 4\r\n\r\n");
}

TEST_CASE("scgi server: after an error nothing more happens") {
  ScgiServerCodec codec{Limits{}};
  Outcome o = run(codec, {"x1:"});
  REQUIRE(o.error.has_value());
  std::string out;
  std::vector<gw::Event> events;
  gw::FeedResult r = codec.feed(netstring(get_vars()), events, out);
  CHECK(r.consumed == 0);
  CHECK(events.empty());
  codec.write_head(1, gw::ResponseHead{}, out);
  codec.write_body(1, "x", out);
  CHECK(out.empty());
}

TEST_CASE("scgi client: the spec's example, byte for byte") {
  std::string head = gw::scgi::encode_request_head(
      {{"REQUEST_METHOD", "POST"}, {"REQUEST_URI", "/deepthought"}}, 27);
  CHECK(head == std::string("70:CONTENT_LENGTH\0"
                            "27\0SCGI\0"
                            "1\0REQUEST_METHOD\0POST\0"
                            "REQUEST_URI\0/deepthought\0,",
                            74));
}

TEST_CASE("scgi client: CONTENT_LENGTH and SCGI are its own; unencodable variables are skipped") {
  std::string head = gw::scgi::encode_request_head({{"CONTENT_LENGTH", "999"},
                                                    {"SCGI", "2"},
                                                    {"", "empty name"},
                                                    {std::string("A\0B", 3), "x"},
                                                    {"NUL_VALUE", std::string("a\0b", 3)},
                                                    {"REQUEST_METHOD", "GET"}},
                                                   0);
  CHECK(head == std::string("43:CONTENT_LENGTH\0"
                            "0\0SCGI\0"
                            "1\0REQUEST_METHOD\0GET\0,",
                            47));
}

TEST_CASE("scgi client: round trip through the server codec") {
  std::vector<Header> vars = {{"REQUEST_METHOD", "PUT"},
                              {"REQUEST_URI", "/a%20b/c?q=1"},
                              {"QUERY_STRING", "q=1"},
                              {"HTTP_X_TRACE", "t"},
                              {"REMOTE_USER", "bob"},
                              {"HTTPS", "on"},
                              {"SSL_CIPHER", "TLS_AES_128_GCM_SHA256"}};
  const std::string body = "payload";
  const std::string input = gw::scgi::encode_request_head(vars, body.size()) + body;
  gw::test::for_each_split(input, [&](std::string_view a, std::string_view b) {
    ScgiServerCodec codec{Limits{}};
    Outcome o = run(codec, {a, b});
    REQUIRE(o.request.has_value());
    CHECK(o.request->method == "PUT");
    CHECK(o.request->path == "/a b/c");
    CHECK(o.request->query == "q=1");
    CHECK(o.request->remote_user == "bob");
    CHECK(o.request->https);
    CHECK(o.request->ssl_cipher == "TLS_AES_128_GCM_SHA256");
    REQUIRE(header(*o.request, "X-Trace") != nullptr);
    CHECK(*header(*o.request, "X-Trace") == "t");
    CHECK(o.body == body);
    CHECK(o.body_ends == 1);
  });
}
