// ScgiServerCodec: captures of nginx, lighttpd and Apache fed at every split
// point, each error path with its status, `what` and CGI answer, and the
// response bytes.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "protocols/cgi_params.h"
#include "protocols/scgi_server.h"
#include "tests/support/split.h"

using gw::Header;
using gw::Limits;
using gw::ScgiServerCodec;

namespace {

// Byte strings from literals that contain NUL bytes.
template <size_t N>
std::string B(const char (&s)[N]) {
  return std::string(s, N - 1);
}

std::string read_vector(const std::string& name) {
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

std::vector<Header> get_vars(std::string length = "0", std::string method = "GET") {
  return {{"CONTENT_LENGTH", std::move(length)},
          {"SCGI", "1"},
          {"REQUEST_METHOD", std::move(method)},
          {"REQUEST_URI", "/app/x?y=1"},
          {"QUERY_STRING", "y=1"}};
}

// The capture client's bodies: numbered 68-byte lines, cut at the length.
std::string body_pattern(std::string_view prefix, size_t size) {
  std::string s(prefix);
  for (int i = 0; s.size() < size; ++i) {
    std::string num = std::to_string(i);
    s += std::string(4 - std::min<size_t>(4, num.size()), '0') + num;
    s += "-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.\n";
  }
  s.resize(size);
  return s;
}

std::string describe(const gw::Request& r) {
  std::ostringstream s;
  s << r.method << " target=" << r.target << " path=" << r.path << " query=" << r.query
    << " sn=" << r.script_name << " pi=" << r.path_info
    << " cl=" << (r.content_length ? std::to_string(*r.content_length) : "?")
    << " user=" << r.remote_user << " origin=" << gw::protocol_name(r.origin);
  for (const auto& h : r.headers) s << " H[" << h.name << "=" << h.value << "]";
  for (const auto& p : r.params) s << " P[" << p.name << "=" << p.value << "]";
  return s.str();
}

// What a codec made of one input, fed the way a Connection feeds it.
struct Run {
  std::vector<std::string> transcript;  // events, adjacent BodyData merged
  std::optional<gw::Request> request;
  std::string body;
  int body_ends = 0;
  size_t consumed = 0;
  std::string out;
  std::optional<gw::CodecError> error;
};

void record_events(const std::vector<gw::Event>& events, Run& r) {
  for (const auto& e : events) {
    if (auto* s = std::get_if<gw::RequestStarted>(&e)) {
      CHECK(s->stream == 1);
      CHECK(s->reject_status == 0);
      CHECK_FALSE(r.request.has_value());
      r.transcript.push_back("start " + describe(s->request));
      r.request = s->request;
    } else if (auto* d = std::get_if<gw::BodyData>(&e)) {
      CHECK(d->stream == 1);
      CHECK_FALSE(d->data.empty());
      CHECK(r.request.has_value());
      CHECK(r.body_ends == 0);
      if (r.transcript.empty() || !r.transcript.back().starts_with("body:"))
        r.transcript.push_back("body:");
      r.transcript.back().append(d->data);
      r.body.append(d->data);
    } else if (auto* b = std::get_if<gw::BodyEnd>(&e)) {
      CHECK(b->stream == 1);
      CHECK(r.request.has_value());
      ++r.body_ends;
      r.transcript.push_back("end");
    } else {
      FAIL("SCGI has no StreamAborted");
    }
  }
}

// Appends each piece to a buffer, feeds it until nothing more is consumed
// and drops what was consumed, checking the FeedResult contract on the way.
void feed_pieces(ScgiServerCodec& codec, const std::vector<std::string_view>& pieces, Run& r) {
  std::string buffer;
  for (auto piece : pieces) {
    buffer.append(piece);
    for (;;) {
      std::vector<gw::Event> events;
      const size_t out_before = r.out.size();
      gw::FeedResult res = codec.feed(buffer, events, r.out);
      REQUIRE(res.consumed <= buffer.size());
      if (r.error) {
        // After an error: the same error, nothing consumed, no event, no output.
        CHECK(events.empty());
        CHECK(res.consumed == 0);
        REQUIRE(res.error.has_value());
        CHECK(res.error->what == r.error->what);
        CHECK(r.out.size() == out_before);
        break;
      }
      if (res.error) CHECK(res.consumed == 0);
      record_events(events, r);
      buffer.erase(0, res.consumed);
      r.consumed += res.consumed;
      r.error = res.error;
      if (res.error || res.consumed == 0) break;
    }
  }
}

Run run(const std::vector<std::string_view>& pieces, const Limits& limits = Limits{}) {
  ScgiServerCodec codec(limits);
  Run r;
  feed_pieces(codec, pieces, r);
  return r;
}

void check_same(const Run& a, const Run& whole) {
  CHECK(a.transcript == whole.transcript);
  CHECK(a.consumed == whole.consumed);
  CHECK(a.out == whole.out);
  REQUIRE(a.error.has_value() == whole.error.has_value());
  if (a.error) {
    CHECK(a.error->http_status == whole.error->http_status);
    CHECK(a.error->what == whole.error->what);
  }
}

// Whole, at every two-way split and byte by byte: all must agree.
Run run_all_ways(std::string_view input, const Limits& limits = Limits{}) {
  Run whole = run({input}, limits);
  gw::test::for_each_split(input, [&](std::string_view a, std::string_view b) {
    check_same(run({a, b}, limits), whole);
  });
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < input.size(); ++i) bytes.push_back(input.substr(i, 1));
  check_same(run(bytes, limits), whole);
  return whole;
}

// The CGI answer feed() writes for an error, spelled out here.
std::string answer(const char* status_line, const char* body) {
  return std::string("Status: ") + status_line +
         "\r\n"
         "Content-Type: text/plain; charset=utf-8\r\n"
         "Content-Length: " +
         std::to_string(strlen(body)) + "\r\n\r\n" + body;
}

// An input that must fail the same way however it is split.
void check_error(std::string_view input, int status, std::string_view what,
                 const Limits& limits = Limits{}) {
  CAPTURE(std::string(input));
  Run r = run_all_ways(input, limits);
  REQUIRE(r.error.has_value());
  CHECK(r.error->http_status == status);
  CHECK(r.error->what == what);
  CHECK_FALSE(r.request.has_value());
  CHECK(r.transcript.empty());
  CHECK(r.consumed == 0);
  const std::string line = std::to_string(status) + " " +
                           std::string(status == 400   ? "Bad Request"
                                       : status == 413 ? "Content Too Large"
                                                       : "Request Header Fields Too Large");
  CHECK(r.out == answer(line.c_str(), (line + "\n").c_str()));
}

std::string header_value(const gw::Request& r, std::string_view name) {
  const std::string* v = r.header(name);
  return v ? *v : "(none)";
}

}  // namespace

TEST_CASE("scgi server: captures of nginx, lighttpd and Apache, at every split point") {
  struct Case {
    const char* file;
    const char* method;
    const char* target;
    const char* path;
    const char* query;
    const char* script_name;
    const char* path_info;
    uint64_t content_length;
    const char* remote_user;
    const char* auth_type;
    const char* body_prefix;  // the capture client's form bodies start with "data="
    const char* content_type;
  };
  const char* q = "x=1&y=%20z";
  const char* form = "application/x-www-form-urlencoded";
  const char* octets = "application/octet-stream";
  const Case cases[] = {
      {"nginx-scgi-get.bin", "GET", "/app/sub/path?x=1&y=%20z", "/app/sub/path", q, "",
       "/app/sub/path", 0, "", "", "", nullptr},
      {"nginx-scgi-proj-get.bin", "GET", "/proj/sub/path?x=1&y=%20z", "/proj/sub/path", q, "/proj",
       "/sub/path", 0, "", "", "", nullptr},
      {"nginx-scgi-post.bin", "POST", "/app/form", "/app/form", "", "", "/app/form", 3000, "", "",
       "data=", form},
      {"nginx-scgi-post-chunked.bin", "POST", "/app/up", "/app/up", "", "", "/app/up", 5000, "", "",
       "", octets},
      {"nginx-scgi-head.bin", "HEAD", "/app/h", "/app/h", "", "", "/app/h", 0, "", "", "", nullptr},
      {"nginx-scgi-login.bin", "GET", "/login", "/login", "", "", "/login", 0, "alice", "", "",
       nullptr},
      {"lighttpd-scgi-get.bin", "GET", "/app/sub/path?x=1&y=%20z", "/app/sub/path", q, "/app",
       "/sub/path", 0, "", "", "", nullptr},
      {"lighttpd-scgi-proj-get.bin", "GET", "/proj/sub/path?x=1&y=%20z", "/proj/sub/path", q,
       "/proj", "/sub/path", 0, "", "", "", nullptr},
      {"lighttpd-scgi-post.bin", "POST", "/app/form", "/app/form", "", "/app", "/form", 3000, "",
       "", "data=", form},
      {"lighttpd-scgi-post-chunked.bin", "POST", "/app/up", "/app/up", "", "/app", "/up", 5000, "",
       "", "", octets},
      {"lighttpd-scgi-head.bin", "HEAD", "/app/h", "/app/h", "", "/app", "/h", 0, "", "", "",
       nullptr},
      // SCRIPT_NAME is the whole path and there is no PATH_INFO.
      {"lighttpd-scgi-login.bin", "GET", "/login", "/login", "", "", "/login", 0, "alice", "Basic",
       "", nullptr},
      {"apache-proxy-scgi-get.bin", "GET", "/app/sub/path?x=1&y=%20z", "/app/sub/path", q, "",
       "/app/sub/path", 0, "", "", "", nullptr},
      {"apache-proxy-scgi-proj-get.bin", "GET", "/proj/sub/path?x=1&y=%20z", "/proj/sub/path", q,
       "", "/proj/sub/path", 0, "", "", "", nullptr},
      {"apache-proxy-scgi-post.bin", "POST", "/app/form", "/app/form", "", "", "/app/form", 3000,
       "", "", "data=", form},
      {"apache-proxy-scgi-head.bin", "HEAD", "/app/h", "/app/h", "", "", "/app/h", 0, "", "", "",
       nullptr},
      {"apache-proxy-scgi-login.bin", "GET", "/login", "/login", "", "", "/login", 0, "alice",
       "Basic", "", nullptr},
  };
  for (const auto& c : cases) {
    CAPTURE(c.file);
    const std::string input = read_vector(c.file);
    Run r = run_all_ways(input);
    REQUIRE_FALSE(r.error.has_value());
    REQUIRE(r.request.has_value());
    CHECK(r.out.empty());
    const gw::Request& req = *r.request;
    CHECK(req.origin == gw::Protocol::Scgi);
    CHECK(req.method == c.method);
    CHECK(req.target == c.target);
    CHECK(req.path == c.path);
    CHECK(req.query == c.query);
    CHECK(req.script_name == c.script_name);
    CHECK(req.path_info == c.path_info);
    CHECK(req.content_length == std::optional<uint64_t>(c.content_length));
    CHECK(req.remote_user == c.remote_user);
    CHECK(req.auth_type == c.auth_type);
    CHECK(req.server_protocol == "HTTP/1.1");
    CHECK(req.remote_addr == "127.0.0.1");
    CHECK(req.server_port == 18700);
    CHECK(header_value(req, "User-Agent") == "capture-client/1.0");
    CHECK(header_value(req, "Content-Length") == std::to_string(c.content_length));
    if (c.content_type) CHECK(header_value(req, "Content-Type") == c.content_type);
    if (std::string_view(c.query) == q) {
      CHECK(header_value(req, "Cookie") == "session=abc123");
      CHECK(header_value(req, "X-Custom-Header") == "hello");
      CHECK(header_value(req, "Accept-Language") == "en-US");
    }
    CHECK(r.body == body_pattern(c.body_prefix, c.content_length));
    CHECK(r.body_ends == 1);
    CHECK(r.transcript.back() == "end");
    CHECK(r.consumed == input.size());  // the body ends the capture exactly

    // Bytes after the body are not part of the request and stay unconsumed.
    Run more = run_all_ways(input + "5:extra");
    check_same(more, r);
  }
}

TEST_CASE("scgi server: the spec's example") {
  const std::string input =
      B("70:"
        "CONTENT_LENGTH\0"
        "27\0"
        "SCGI\0"
        "1\0"
        "REQUEST_METHOD\0"
        "POST\0"
        "REQUEST_URI\0"
        "/deepthought\0"
        ","
        "What is the answer to life?");
  Run r = run_all_ways(input);
  REQUIRE_FALSE(r.error.has_value());
  REQUIRE(r.request.has_value());
  CHECK(r.request->method == "POST");
  CHECK(r.request->target == "/deepthought");
  CHECK(r.request->path == "/deepthought");
  CHECK(r.request->content_length == std::optional<uint64_t>(27));
  CHECK(r.body == "What is the answer to life?");
  CHECK(r.transcript.size() == 3);
  CHECK(r.transcript.back() == "end");
}

TEST_CASE("scgi server: body bytes are emitted as they arrive, and nothing after them") {
  const std::string body(100000, 'b');
  const std::string head = netstring(get_vars(std::to_string(body.size()), "POST"));
  ScgiServerCodec codec{Limits{}};
  std::string out;
  std::vector<gw::Event> events;
  // The head and the first body bytes in one read: both consumed at once.
  const std::string first = head + body.substr(0, 10);
  gw::FeedResult r = codec.feed(first, events, out);
  REQUIRE_FALSE(r.error.has_value());
  CHECK(r.consumed == first.size());
  REQUIRE(events.size() == 2);
  CHECK(std::get<gw::BodyData>(events[1]).data == body.substr(0, 10));
  // Then reads of 4096 bytes with another request's bytes after the body.
  const std::string rest = body.substr(10) + netstring(get_vars());
  size_t pos = 0;
  std::string seen = body.substr(0, 10);
  int ends = 0;
  while (pos < rest.size()) {
    events.clear();
    std::string_view read = std::string_view(rest).substr(pos, 4096);
    r = codec.feed(read, events, out);
    REQUIRE_FALSE(r.error.has_value());
    if (r.consumed == 0) break;
    for (auto& ev : events) {
      if (auto* d = std::get_if<gw::BodyData>(&ev)) {
        // A view into this read, not a copy.
        CHECK(d->data.data() >= read.data());
        CHECK(d->data.data() + d->data.size() <= read.data() + read.size());
        seen.append(d->data);
      }
      if (std::holds_alternative<gw::BodyEnd>(ev)) ++ends;
      CHECK_FALSE(std::holds_alternative<gw::RequestStarted>(ev));
    }
    pos += r.consumed;
  }
  CHECK(seen == body);
  CHECK(ends == 1);
  CHECK(pos == body.size() - 10);  // one request per connection: the second stays
  CHECK(out.empty());
  events.clear();
  CHECK(codec.feed(std::string_view(rest).substr(pos), events, out).consumed == 0);
  CHECK(events.empty());
}

TEST_CASE("scgi server: a request without a body ends at once") {
  Run r = run_all_ways(netstring(get_vars("0")));
  REQUIRE_FALSE(r.error.has_value());
  REQUIRE(r.transcript.size() == 2);
  CHECK(r.transcript[1] == "end");
  CHECK(r.body.empty());
}

TEST_CASE("scgi server: a head not complete yet is waited for") {
  const std::string input = netstring(get_vars("3", "POST"), "abc");
  const size_t head = input.size() - 3;
  for (size_t n = 0; n < head; ++n) {
    CAPTURE(n);
    Run r = run({std::string_view(input).substr(0, n)});
    CHECK_FALSE(r.error.has_value());
    CHECK(r.consumed == 0);
    CHECK(r.transcript.empty());
  }
}

TEST_CASE("scgi server: netstring errors") {
  check_error("05:abcde,", 400, "SCGI netstring length '05'... has a leading zero");
  check_error("00:,", 400, "SCGI netstring length '00'... has a leading zero");
  Limits huge;  // so that the digit count, not the size, is what fails
  huge.header_bytes = huge.input_buffer_bytes = size_t{1} << 40;
  check_error("123456789:", 431, "SCGI netstring length '123456789'... has more than 8 digits",
              huge);
  check_error("12a:", 400, "SCGI netstring length '12' is followed by 'a', not a digit or ':'");
  check_error("-1:", 400, "SCGI request does not start with a netstring length: '-'");
  check_error(":,", 400, "SCGI request does not start with a netstring length: ':'");
  check_error("GET / HTTP/1.1\r\n", 400,
              "SCGI request does not start with a netstring length: 'G'");
  // Missing ':'.
  check_error(B("4,ab\0\0,"), 400,
              "SCGI netstring length '4' is followed by ',', not a digit or ':'");
  check_error(B("4\0ab\0\0,"), 400,
              "SCGI netstring length '4' is followed by '\\x00', not a digit or ':'");
  // Missing ','.
  std::string no_comma = netstring(get_vars());
  no_comma.back() = ';';
  check_error(no_comma, 400, "SCGI netstring of 83 bytes is followed by ';', not ','");
  check_error(no_comma.substr(0, no_comma.size() - 1) + std::string(1, '\0'), 400,
              "SCGI netstring of 83 bytes is followed by '\\x00', not ','");
  // A length that is one too short puts the block's last NUL where ',' belongs.
  std::string short_len = netstring(get_vars());
  REQUIRE(short_len.substr(0, 3) == "83:");
  short_len.replace(0, 2, "82");
  check_error(short_len, 400, "SCGI netstring of 82 bytes is followed by '\\x00', not ','");
}

TEST_CASE("scgi server: header block structure errors") {
  check_error("0:,", 400, "SCGI header block is empty (no CONTENT_LENGTH)");
  // Odd number of fields.
  check_error(B("5:abcd\0,"), 400,
              "SCGI header block: 'abcd' has no value (an odd number of fields)");
  check_error(B("22:CONTENT_LENGTH\0"
                "0\0SCGI\0,"),
              400, "SCGI header block: 'SCGI' has no value (an odd number of fields)");
  check_error(B("4:a\0bc,"), 400, "SCGI header block does not end with NUL");
  check_error(B("3:a\0b,"), 400, "SCGI header block does not end with NUL");
  // Empty names, first and later.
  check_error(B("4:\0x\0\0,"), 400, "SCGI header block: variable 1 has an empty name");
  std::vector<Header> vars = get_vars();
  vars.push_back({"", "v"});
  check_error(netstring(vars), 400, "SCGI header block: variable 6 has an empty name");
}

TEST_CASE("scgi server: variable errors") {
  check_error(netstring({{"SCGI", "1"}, {"CONTENT_LENGTH", "0"}, {"REQUEST_METHOD", "GET"}}), 400,
              "SCGI header block starts with 'SCGI', not CONTENT_LENGTH");
  check_error(netstring({{"REQUEST_METHOD", "GET"}, {"SCGI", "1"}}), 400,
              "SCGI header block starts with 'REQUEST_METHOD', not CONTENT_LENGTH");
  // Case matters: the name is CONTENT_LENGTH exactly.
  check_error(netstring({{"content_length", "0"}, {"SCGI", "1"}, {"REQUEST_METHOD", "GET"}}), 400,
              "SCGI header block starts with 'content_length', not CONTENT_LENGTH");
  check_error(netstring(get_vars("")), 400, "SCGI CONTENT_LENGTH '' is not a number");
  check_error(netstring(get_vars("12a")), 400, "SCGI CONTENT_LENGTH '12a' is not a number");
  check_error(netstring(get_vars("-1")), 400, "SCGI CONTENT_LENGTH '-1' is not a number");
  check_error(netstring(get_vars(" 5")), 400, "SCGI CONTENT_LENGTH ' 5' is not a number");
  check_error(netstring(get_vars("00000000000000000001")), 400,
              "CONTENT_LENGTH too large: '00000000000000000001'");
  check_error(netstring({{"CONTENT_LENGTH", "0"}, {"REQUEST_METHOD", "GET"}}), 400,
              "SCGI header block has no SCGI variable");
  check_error(netstring({{"CONTENT_LENGTH", "0"}, {"SCGI", "2"}, {"REQUEST_METHOD", "GET"}}), 400,
              "SCGI version '2' is not 1");
  check_error(netstring({{"CONTENT_LENGTH", "0"}, {"SCGI", ""}, {"REQUEST_METHOD", "GET"}}), 400,
              "SCGI version '' is not 1");
  check_error(netstring({{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}, {"SCGI", "1"}}), 400,
              "SCGI variable 'SCGI' appears twice");
  check_error(netstring({{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}, {"CONTENT_LENGTH", "5"}}), 400,
              "SCGI variable 'CONTENT_LENGTH' appears twice");
  std::vector<Header> dup = get_vars();
  dup.push_back({"HTTP_X", "a"});
  dup.push_back({"HTTP_X", "b"});
  check_error(netstring(dup), 400, "SCGI variable 'HTTP_X' appears twice");
  // A name a CGI environment would read differently is refused, as FastCGI does.
  for (const std::string& name :
       {std::string("A=B"), std::string("A\x01B"), std::string("A\x7f")}) {
    std::vector<Header> vars = get_vars();
    vars.push_back({name, "x"});
    check_error(
        netstring(vars), 400,
        "SCGI variable name " + gw::quote_for_log(name) + " contains '=' or a control character");
  }
  // The CGI mapping's own refusals come through unchanged.
  check_error(netstring({{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}}), 400, "REQUEST_METHOD missing");
  check_error(netstring({{"CONTENT_LENGTH", "0"},
                         {"SCGI", "1"},
                         {"REQUEST_METHOD", "GET"},
                         {"REQUEST_URI", "/a%00b"}}),
              400, "REQUEST_URI path has a malformed escape or %00: '/a%00b'");
  // Front-end bytes are quoted, never copied raw into the log.
  check_error(netstring({{"CONTENT_LENGTH", "0"}, {"SCGI", "1\r\nX"}}), 400,
              "SCGI version '1\\x0d\\x0aX' is not 1");
}

TEST_CASE("scgi server: the block bound, at the limit and refused before it is buffered") {
  Limits limits;
  limits.header_bytes = 1000;
  // A block of exactly 1000 bytes passes.
  std::vector<Header> vars = get_vars();
  REQUIRE(netstring(vars).substr(0, 3) == "83:");
  const size_t base = 83;
  vars.push_back({"HTTP_X_PAD", std::string(1000 - base - 12, 'p')});
  const std::string fits = netstring(vars);
  REQUIRE(fits.substr(0, 5) == "1000:");
  CHECK_FALSE(run({fits}, limits).error.has_value());
  // One byte more is refused with its fourth digit: no block byte is needed.
  vars.back().value.push_back('p');
  const std::string over = netstring(vars);
  REQUIRE(over.substr(0, 5) == "1001:");
  const char* what =
      "SCGI header block of at least 1001 bytes is over the limit of 1000 "
      "(limits.header_bytes)";
  check_error(over, 431, what, limits);
  check_error("1001", 431, what, limits);
  check_error("99999", 431,
              "SCGI header block of at least 9999 bytes is over the limit of 1000 "
              "(limits.header_bytes)",
              limits);
  Run partial = run({"100"}, limits);  // may still be 100 bytes
  CHECK_FALSE(partial.error.has_value());
  CHECK(partial.consumed == 0);
  // The default limit.
  check_error("65537", 431,
              "SCGI header block of at least 65537 bytes is over the limit of 65536 "
              "(limits.header_bytes)");
  // The input buffer bounds the block too: it must wait there whole.
  Limits small_buffer;
  small_buffer.input_buffer_bytes = 2000;
  check_error("1991:", 431,
              "SCGI header block of at least 1991 bytes is over the limit of 1990 "
              "(limits.input_buffer_bytes)",
              small_buffer);
}

TEST_CASE("scgi server: variable count and size limits") {
  Limits limits;
  limits.header_count = 5;
  std::vector<Header> vars = get_vars();  // 5 variables
  CHECK_FALSE(run({netstring(vars)}, limits).error.has_value());
  vars.push_back({"HTTP_X", "1"});
  check_error(netstring(vars), 431,
              "SCGI header block has more than 5 variables (limits.header_count)", limits);

  limits = Limits{};
  limits.name_bytes = 14;  // CONTENT_LENGTH and REQUEST_METHOD fit exactly
  CHECK_FALSE(run({netstring(get_vars())}, limits).error.has_value());
  vars = get_vars();
  vars.push_back({"HTTP_X_TOO_LONG", "1"});
  check_error(netstring(vars), 431,
              "SCGI variable name 'HTTP_X_TOO_LONG' is longer than 14 bytes (limits.name_bytes)",
              limits);

  limits = Limits{};
  limits.value_bytes = 10;  // "/app/x?y=1" fits exactly
  CHECK_FALSE(run({netstring(get_vars())}, limits).error.has_value());
  vars = get_vars();
  vars.push_back({"HTTP_X", "12345678901"});
  check_error(netstring(vars), 431,
              "SCGI variable 'HTTP_X' has a value of 11 bytes, over 10 (limits.value_bytes)",
              limits);
}

TEST_CASE("scgi server: CONTENT_LENGTH over max_body_bytes is 413") {
  Limits limits;
  limits.max_body_bytes = 10;
  check_error(netstring(get_vars("11", "POST"), "01234567890"), 413,
              "SCGI CONTENT_LENGTH 11 is over limits.max_body_bytes (10)", limits);
  Run ok = run_all_ways(netstring(get_vars("10", "POST"), "0123456789"), limits);
  CHECK_FALSE(ok.error.has_value());
  CHECK(ok.body == "0123456789");
  // 0: unlimited.
  limits.max_body_bytes = 0;
  Run big = run({netstring(get_vars("99999999999", "POST"))}, limits);
  CHECK_FALSE(big.error.has_value());
  REQUIRE(big.request.has_value());
  CHECK(big.request->content_length == std::optional<uint64_t>(99999999999));
  CHECK(big.body_ends == 0);
}

TEST_CASE("scgi server: the CGI answers written for errors, byte for byte") {
  CHECK(run({"x"}).out == B("Status: 400 Bad Request\r\n"
                            "Content-Type: text/plain; charset=utf-8\r\n"
                            "Content-Length: 16\r\n"
                            "\r\n"
                            "400 Bad Request\n"));
  CHECK(run({"123456"}).out == B("Status: 431 Request Header Fields Too Large\r\n"
                                 "Content-Type: text/plain; charset=utf-8\r\n"
                                 "Content-Length: 36\r\n"
                                 "\r\n"
                                 "431 Request Header Fields Too Large\n"));
  Limits limits;
  limits.max_body_bytes = 1;
  CHECK(run({netstring(get_vars("2", "POST"))}, limits).out ==
        B("Status: 413 Content Too Large\r\n"
          "Content-Type: text/plain; charset=utf-8\r\n"
          "Content-Length: 22\r\n"
          "\r\n"
          "413 Content Too Large\n"));
}

TEST_CASE("scgi server: after an error, nothing more") {
  ScgiServerCodec codec{Limits{}};
  std::string out;
  std::vector<gw::Event> events;
  gw::FeedResult first = codec.feed("x1:", events, out);
  REQUIRE(first.error.has_value());
  const std::string answer_written = out;
  CHECK_FALSE(answer_written.empty());
  gw::FeedResult again = codec.feed(netstring(get_vars()), events, out);
  CHECK(again.consumed == 0);
  REQUIRE(again.error.has_value());
  CHECK(again.error->what == first.error->what);
  CHECK(events.empty());
  codec.write_head(1, gw::ResponseHead{}, out);
  codec.write_body(1, "x", out);
  CHECK_FALSE(codec.write_end(1, out));
  CHECK(out == answer_written);
}

TEST_CASE("scgi server: response head and body, byte for byte") {
  ScgiServerCodec codec{Limits{}};
  Run r;
  feed_pieces(codec, {netstring(get_vars())}, r);
  REQUIRE(r.request.has_value());
  std::string out;
  gw::ResponseHead head;
  head.status = 404;
  head.headers = {{"Content-Type", "text/plain"},
                  {"Transfer-Encoding", "chunked"},
                  {"Connection", "close"},
                  {"Set-Cookie", "a=1"}};
  codec.write_head(1, head, out);
  codec.write_body(1, "go", out);
  codec.write_body(1, "", out);
  codec.write_body(1, "ne", out);
  CHECK_FALSE(codec.write_end(1, out));
  CHECK(out == B("Status: 404 Not Found\r\n"
                 "Content-Type: text/plain\r\n"
                 "Set-Cookie: a=1\r\n"
                 "\r\n"
                 "gone"));
  // Nothing after the end.
  codec.write_body(1, "late", out);
  codec.write_head(1, head, out);
  CHECK(out.ends_with("gone"));
}

TEST_CASE("scgi server: the response may start while the request body still arrives") {
  ScgiServerCodec codec{Limits{}};
  Run r;
  feed_pieces(codec, {netstring(get_vars("4", "POST"), "ab")}, r);
  REQUIRE(r.request.has_value());
  CHECK(r.body_ends == 0);
  std::string out;
  gw::ResponseHead head;
  head.reason = "Fine";
  codec.write_head(1, head, out);
  codec.write_head(1, head, out);  // once only
  codec.write_body(1, "x", out);
  CHECK(out == B("Status: 200 Fine\r\n\r\nx"));
}

TEST_CASE("scgi server: HEAD gets the head only") {
  ScgiServerCodec codec{Limits{}};
  Run r;
  feed_pieces(codec, {netstring(get_vars("0", "HEAD"))}, r);
  REQUIRE(r.request.has_value());
  std::string out;
  gw::ResponseHead head;
  head.headers = {{"Content-Length", "4"}};
  codec.write_head(1, head, out);
  codec.write_body(1, "body", out);
  CHECK_FALSE(codec.write_end(1, out));
  CHECK(out == B("Status: 200 OK\r\n"
                 "Content-Length: 4\r\n"
                 "\r\n"));
}

TEST_CASE("scgi server: write_abort and writes without a request") {
  ScgiServerCodec idle{Limits{}};
  std::string out;
  idle.write_head(1, gw::ResponseHead{}, out);
  idle.write_body(1, "x", out);
  CHECK(out.empty());

  ScgiServerCodec codec{Limits{}};
  Run r;
  feed_pieces(codec, {netstring(get_vars())}, r);
  codec.write_head(1, gw::ResponseHead{}, out);
  codec.write_body(1, "part", out);
  CHECK_FALSE(codec.write_abort(1, out));
  codec.write_body(1, "more", out);
  CHECK(out == B("Status: 200 OK\r\n\r\npart"));
}
