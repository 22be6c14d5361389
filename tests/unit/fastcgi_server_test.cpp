#include <doctest/doctest.h>

#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "protocols/fastcgi_client.h"
#include "protocols/fastcgi_server.h"
#include "tests/support/split.h"

using gw::FastCgiServerCodec;
using gw::Header;
using gw::Limits;
using gw::StreamId;

namespace {

// Byte strings from literals that contain NUL bytes.
template <size_t N>
std::string B(const char (&s)[N]) {
  return std::string(s, N - 1);
}

// Test-local record builders, written independently of the code under test.
std::string rec(uint8_t type, StreamId id, std::string_view content, uint8_t padding = 0) {
  std::string s;
  s.push_back(1);
  s.push_back(static_cast<char>(type));
  s.push_back(static_cast<char>(id >> 8));
  s.push_back(static_cast<char>(id & 0xFF));
  s.push_back(static_cast<char>(content.size() >> 8));
  s.push_back(static_cast<char>(content.size() & 0xFF));
  s.push_back(static_cast<char>(padding));
  s.push_back(0);
  s.append(content);
  s.append(padding, '\xAA');
  return s;
}

std::string begin(StreamId id, bool keep_conn, uint16_t role = 1) {
  std::string body = {static_cast<char>(role >> 8),
                      static_cast<char>(role & 0xFF),
                      static_cast<char>(keep_conn ? 1 : 0),
                      0,
                      0,
                      0,
                      0,
                      0};
  return rec(1, id, body);
}

std::string len_prefix(size_t n, bool force_long = false) {
  if (n <= 127 && !force_long) return std::string(1, static_cast<char>(n));
  return {static_cast<char>(((n >> 24) & 0x7F) | 0x80), static_cast<char>((n >> 16) & 0xFF),
          static_cast<char>((n >> 8) & 0xFF), static_cast<char>(n & 0xFF)};
}

std::string pair(std::string_view name, std::string_view value) {
  return len_prefix(name.size()) + len_prefix(value.size()) + std::string(name) +
         std::string(value);
}

std::string pairs(const std::vector<Header>& vars) {
  std::string s;
  for (const auto& v : vars) s += pair(v.name, v.value);
  return s;
}

// PARAMS content in one record, then the empty PARAMS record.
std::string params(StreamId id, const std::vector<Header>& vars) {
  return rec(4, id, pairs(vars)) + rec(4, id, "");
}

const std::vector<Header> kGet = {{"REQUEST_METHOD", "GET"},
                                  {"REQUEST_URI", "/app/x?y=1"},
                                  {"SCRIPT_NAME", "/app/x"},
                                  {"QUERY_STRING", "y=1"}};

std::vector<Header> post_vars(std::string_view content_length) {
  return {{"REQUEST_METHOD", "POST"},
          {"REQUEST_URI", "/form"},
          {"CONTENT_LENGTH", std::string(content_length)}};
}

std::string describe(const gw::Request& r) {
  std::ostringstream s;
  s << r.method << " target=" << r.target << " path=" << r.path << " query=" << r.query
    << " sn=" << r.script_name << " pi=" << r.path_info << " proto=" << r.server_protocol
    << " cl=" << (r.content_length ? std::to_string(*r.content_length) : "?")
    << " remote=" << r.remote_addr << ":" << r.remote_port << " server=" << r.server_name << "/"
    << r.server_addr << ":" << r.server_port << " user=" << r.remote_user << "/" << r.auth_type
    << " https=" << r.https << " origin=" << gw::protocol_name(r.origin);
  for (const auto& h : r.headers) s << " H[" << h.name << "=" << h.value << "]";
  for (const auto& p : r.params) s << " P[" << p.name << "=" << p.value << "]";
  return s.str();
}

struct Run {
  std::vector<std::string> transcript;  // events, adjacent BodyData of a stream merged
  std::vector<std::pair<StreamId, gw::Request>> requests;
  std::map<StreamId, std::string> bodies;
  std::string out;
  std::optional<gw::CodecError> error;
  std::vector<std::string> refused;  // FeedResult::refused, "STATUS what"
};

void record_events(const std::vector<gw::Event>& events, Run& r) {
  for (const auto& e : events) {
    if (auto* s = std::get_if<gw::RequestStarted>(&e)) {
      r.transcript.push_back("start " + std::to_string(s->stream) + " " + describe(s->request));
      r.requests.emplace_back(s->stream, s->request);
    } else if (auto* d = std::get_if<gw::BodyData>(&e)) {
      CHECK_FALSE(d->data.empty());
      std::string tag = "body " + std::to_string(d->stream) + ":";
      if (r.transcript.empty() || !r.transcript.back().starts_with(tag))
        r.transcript.push_back(tag);
      r.transcript.back().append(d->data);
      r.bodies[d->stream].append(d->data);
    } else if (auto* b = std::get_if<gw::BodyEnd>(&e)) {
      r.transcript.push_back("end " + std::to_string(b->stream));
    } else if (auto* a = std::get_if<gw::StreamAborted>(&e)) {
      r.transcript.push_back("aborted " + std::to_string(a->stream));
    }
  }
}

// Plays the connection: appends each piece to its buffer, feeds the buffer
// and drops what was consumed.
void feed_pieces(FastCgiServerCodec& codec, const std::vector<std::string_view>& pieces, Run& r) {
  std::string buffer;
  for (auto piece : pieces) {
    buffer.append(piece);
    std::vector<gw::Event> events;
    auto res = codec.feed(buffer, events, r.out);
    REQUIRE(res.consumed <= buffer.size());
    if (r.error) {
      CHECK(events.empty());
      CHECK(res.consumed == 0);
      CHECK(res.error.has_value());
      continue;
    }
    // The codec never holds input back: every byte is consumed or it failed.
    if (!res.error) CHECK(res.consumed == buffer.size());
    record_events(events, r);
    for (const auto& why : res.refused) {
      r.refused.push_back(std::to_string(why.http_status) + " " + why.what);
    }
    buffer.erase(0, res.consumed);
    r.error = res.error;
  }
}

Run run(const std::vector<std::string_view>& pieces, const Limits& limits = Limits{},
        bool multiplex = true) {
  FastCgiServerCodec codec(limits, multiplex);
  Run r;
  feed_pieces(codec, pieces, r);
  return r;
}

void check_same(const Run& a, const Run& whole) {
  CHECK(a.transcript == whole.transcript);
  CHECK(a.refused == whole.refused);
  CHECK(a.out == whole.out);
  REQUIRE(a.error.has_value() == whole.error.has_value());
  if (a.error) {
    CHECK(a.error->http_status == whole.error->http_status);
    CHECK(a.error->what == whole.error->what);
  }
}

// Whole, at every two-way split and byte by byte: all must agree.
Run run_all_ways(std::string_view input, const Limits& limits = Limits{}, bool multiplex = true) {
  Run whole = run({input}, limits, multiplex);
  gw::test::for_each_split(input, [&](std::string_view a, std::string_view b) {
    check_same(run({a, b}, limits, multiplex), whole);
  });
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < input.size(); ++i) bytes.push_back(input.substr(i, 1));
  check_same(run(bytes, limits, multiplex), whole);
  return whole;
}

std::string read_vector(const std::string& name) {
  std::ifstream f(std::string(GW_VECTORS_DIR) + "/fastcgi/" + name, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "missing vector " << name);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST_CASE("fastcgi server: GET, then a byte-exact response with head and body in one record") {
  std::string input = begin(1, true) + params(1, kGet) + rec(5, 1, "");
  Run r = run_all_ways(input);
  REQUIRE_FALSE(r.error);
  CHECK(r.out.empty());
  REQUIRE(r.transcript.size() == 2);
  CHECK(r.transcript[1] == "end 1");
  REQUIRE(r.requests.size() == 1);
  const gw::Request& req = r.requests[0].second;
  CHECK(req.origin == gw::Protocol::FastCgi);
  CHECK(req.method == "GET");
  CHECK(req.path == "/app/x");
  CHECK(req.script_name == "");
  CHECK(req.path_info == "/app/x");
  CHECK(req.query == "y=1");

  FastCgiServerCodec codec(Limits{});
  Run again;
  feed_pieces(codec, {input}, again);
  std::string out;
  gw::ResponseHead head;
  head.headers = {{"Content-Type", "text/plain"},
                  {"Connection", "keep-alive"},
                  {"Transfer-Encoding", "chunked"}};
  codec.write_head(1, head, out);
  codec.write_body(1, "hi", out);
  CHECK(codec.write_end(1, out));
  CHECK(codec.active_streams() == 0);
  CHECK(out == B("\x01"      // version
                 "\x06"      // FCGI_STDOUT
                 "\x00\x01"  // request id 1
                 "\x00\x2e"  // content length 46
                 "\x00"      // padding length
                 "\x00"      // reserved
                 "Status: 200 OK\r\n"
                 "Content-Type: text/plain\r\n"
                 "\r\n"
                 "hi"
                 "\x01"              // version
                 "\x06"              // FCGI_STDOUT, empty: end of stream
                 "\x00\x01"          // request id 1
                 "\x00\x00"          // content length 0
                 "\x00"              // padding length
                 "\x00"              // reserved
                 "\x01"              // version
                 "\x03"              // FCGI_END_REQUEST
                 "\x00\x01"          // request id 1
                 "\x00\x08"          // content length 8
                 "\x00"              // padding length
                 "\x00"              // reserved
                 "\x00\x00\x00\x00"  // appStatus 0
                 "\x00"              // FCGI_REQUEST_COMPLETE
                 "\x00\x00\x00"));   // reserved
}

TEST_CASE("fastcgi server: write_end without a head still ends the request") {
  FastCgiServerCodec codec(Limits{});
  Run r;
  feed_pieces(codec, {begin(7, false) + params(7, kGet)}, r);
  REQUIRE(r.requests.size() == 1);
  std::string out;
  CHECK_FALSE(codec.write_end(7, out));              // no FCGI_KEEP_CONN: the connection closes
  CHECK(out == B("\x01\x06\x00\x07\x00\x00\x00\x00"  // STDOUT end
                 "\x01\x03\x00\x07\x00\x08\x00\x00"
                 "\x00\x00\x00\x00\x00\x00\x00\x00"));  // END
}

TEST_CASE("fastcgi server: KEEP_CONN decides write_end's answer, and ids are reused") {
  for (bool keep : {true, false}) {
    CAPTURE(keep);
    FastCgiServerCodec codec(Limits{});
    Run r;
    feed_pieces(codec, {begin(1, keep) + params(1, kGet) + rec(5, 1, "")}, r);
    std::string out;
    CHECK(codec.write_end(1, out) == keep);
    feed_pieces(codec, {begin(1, keep) + params(1, kGet) + rec(5, 1, "")}, r);
    REQUIRE_FALSE(r.error);
    CHECK(r.requests.size() == 2);
  }
}

TEST_CASE("fastcgi server: HEAD responses carry no body") {
  FastCgiServerCodec codec(Limits{});
  Run r;
  feed_pieces(codec, {begin(1, true) + params(1, {{"REQUEST_METHOD", "HEAD"}}) + rec(5, 1, "")}, r);
  std::string out;
  gw::ResponseHead head;
  head.headers = {{"Content-Length", "5"}};
  codec.write_head(1, head, out);
  codec.write_body(1, "hello", out);
  CHECK(out == rec(6, 1, "Status: 200 OK\r\nContent-Length: 5\r\n\r\n"));
}

TEST_CASE("fastcgi server: write_body splits into records of at most 65535 bytes") {
  FastCgiServerCodec codec(Limits{});
  Run r;
  feed_pieces(codec, {begin(1, true) + params(1, kGet) + rec(5, 1, "")}, r);
  std::string out;
  codec.write_head(1, gw::ResponseHead{}, out);  // 18 bytes
  std::string body(70000, 'b');
  codec.write_body(1, body, out);
  std::string head = "Status: 200 OK\r\n\r\n";
  std::string expect = rec(6, 1, head + body.substr(0, 65535 - head.size())) +
                       rec(6, 1, body.substr(65535 - head.size()));
  CHECK(out == expect);
  // A write after the caller took the bytes opens a new record.
  out.clear();
  codec.write_body(1, "x", out);
  codec.write_body(1, "y", out);
  CHECK(out == rec(6, 1, "xy"));
  // Another stream's record in between is not grown.
  std::string tail = out;
  out.push_back('\0');
  codec.write_body(1, "z", out);
  CHECK(out == tail + std::string(1, '\0') + rec(6, 1, "z"));
}

TEST_CASE("fastcgi server: captured requests from real front ends") {
  struct Case {
    const char* file;
    const char* method;
    const char* path;
    const char* script_name;
    const char* path_info;
    const char* query;
    std::optional<uint64_t> content_length;
    size_t body;
    bool keep_conn;
  };
  const std::optional<uint64_t> unknown;
  const Case cases[] = {
      {"nginx-fcgi-get.bin", "GET", "/app/sub/path", "", "/app/sub/path", "x=1&y=%20z", unknown, 0,
       false},
      {"nginx-fcgi-proj-get.bin", "GET", "/proj/sub/path", "/proj", "/sub/path", "x=1&y=%20z",
       unknown, 0, false},
      {"nginx-fcgi-post.bin", "POST", "/app/form", "", "/app/form", "", 3000, 3000, false},
      {"nginx-fcgi-post-chunked.bin", "POST", "/app/up", "", "/app/up", "", 5000, 5000, false},
      {"nginx-fcgi-head.bin", "HEAD", "/app/h", "", "/app/h", "", unknown, 0, false},
      {"nginx-fcgi-login.bin", "GET", "/login", "", "/login", "", unknown, 0, false},
      {"nginx-fcgi-keepconn-get.bin", "GET", "/app/sub/path", "", "/app/sub/path", "x=1&y=%20z",
       unknown, 0, true},
      {"nginx-fcgi-keepconn-get-reused-first.bin", "GET", "/app/sub/path", "", "/app/sub/path",
       "x=1&y=%20z", unknown, 0, true},
      {"nginx-fcgi-keepconn-get-reused.bin", "GET", "/app/sub/path", "", "/app/sub/path", "x=2",
       unknown, 0, true},
      {"lighttpd-fcgi-get.bin", "GET", "/app/sub/path", "/app", "/sub/path", "x=1&y=%20z", 0, 0,
       false},
      {"lighttpd-fcgi-proj-get.bin", "GET", "/proj/sub/path", "/proj", "/sub/path", "x=1&y=%20z", 0,
       0, false},
      {"lighttpd-fcgi-post.bin", "POST", "/app/form", "/app", "/form", "", 3000, 3000, false},
      {"lighttpd-fcgi-post-chunked.bin", "POST", "/app/up", "/app", "/up", "", 5000, 5000, false},
      {"lighttpd-fcgi-head.bin", "HEAD", "/app/h", "/app", "/h", "", 0, 0, false},
      {"lighttpd-fcgi-login.bin", "GET", "/login", "", "/login", "", 0, 0, false},
      {"lighttpd-spawn-fcgi-get.bin", "GET", "/app/sub/path", "/app", "/sub/path", "x=1&y=%20z", 0,
       0, false},
      {"lighttpd-spawn-fcgi-proj-get.bin", "GET", "/proj/sub/path", "/proj", "/sub/path",
       "x=1&y=%20z", 0, 0, false},
      {"lighttpd-spawn-fcgi-post.bin", "POST", "/app/form", "/app", "/form", "", 3000, 3000, false},
      {"lighttpd-spawn-fcgi-post-chunked.bin", "POST", "/app/up", "/app", "/up", "", 5000, 5000,
       false},
      {"lighttpd-spawn-fcgi-head.bin", "HEAD", "/app/h", "/app", "/h", "", 0, 0, false},
      {"lighttpd-spawn-fcgi-login.bin", "GET", "/login", "", "/login", "", 0, 0, false},
      {"apache-proxy-fcgi-get.bin", "GET", "/app/sub/path", "", "/app/sub/path", "x=1&y=%20z",
       unknown, 0, false},
      {"apache-proxy-fcgi-proj-get.bin", "GET", "/proj/sub/path", "", "/proj/sub/path",
       "x=1&y=%20z", unknown, 0, false},
      {"apache-proxy-fcgi-post.bin", "POST", "/app/form", "", "/app/form", "", 3000, 3000, false},
      {"apache-proxy-fcgi-post-chunked.bin", "POST", "/app/up", "", "/app/up", "", 5000, 5000,
       false},
      {"apache-proxy-fcgi-head.bin", "HEAD", "/app/h", "", "/app/h", "", unknown, 0, false},
      {"apache-proxy-fcgi-login.bin", "GET", "/login", "", "/login", "", unknown, 0, false},
      {"apache-fcgid-fcgi-get.bin", "GET", "/app/sub/path", "", "/app/sub/path", "x=1&y=%20z", 0, 0,
       false},
      {"apache-fcgid-fcgi-proj-get.bin", "GET", "/proj/sub/path", "/proj", "/sub/path",
       "x=1&y=%20z", 0, 0, false},
      {"apache-fcgid-fcgi-post.bin", "POST", "/app/form", "", "/app/form", "", 3000, 3000, false},
      {"apache-fcgid-fcgi-post-chunked.bin", "POST", "/app/up", "", "/app/up", "", 5000, 5000,
       false},
      {"apache-fcgid-fcgi-head.bin", "HEAD", "/app/h", "", "/app/h", "", 0, 0, false},
      {"apache-fcgid-fcgi-login.bin", "GET", "/login", "", "/login", "", 0, 0, false},
      {"h2o-fcgi-get.bin", "GET", "/app/sub/path", "", "/app/sub/path", "x=1&y=%20z", unknown, 0,
       false},
      {"h2o-fcgi-proj-get.bin", "GET", "/proj/sub/path", "", "/proj/sub/path", "x=1&y=%20z",
       unknown, 0, false},
      {"h2o-fcgi-post.bin", "POST", "/app/form", "", "/app/form", "", 3000, 3000, false},
      {"h2o-fcgi-post-chunked.bin", "POST", "/app/up", "", "/app/up", "", 5000, 5000, false},
      {"h2o-fcgi-head.bin", "HEAD", "/app/h", "", "/app/h", "", unknown, 0, false},
      {"h2o-fcgi-login.bin", "GET", "/login", "", "/login", "", unknown, 0, false},
      {"caddy-fcgi-get.bin", "GET", "/app/sub/path", "", "/app/sub/path", "x=1&y=%20z", 0, 0,
       false},
      {"caddy-fcgi-proj-get.bin", "GET", "/proj/sub/path", "/proj", "/sub/path", "x=1&y=%20z", 0, 0,
       false},
      {"caddy-fcgi-post.bin", "POST", "/app/form", "", "/app/form", "", 3000, 3000, false},
      {"caddy-fcgi-post-chunked.bin", "POST", "/app/up", "", "/app/up", "", unknown, 5000, false},
      {"caddy-fcgi-head.bin", "HEAD", "/app/h", "", "/app/h", "", 0, 0, false},
      {"caddy-fcgi-login.bin", "GET", "/login", "", "/login", "", 0, 0, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.file);
    std::string input = read_vector(c.file);
    Run r = run_all_ways(input);
    REQUIRE_FALSE(r.error);
    CHECK(r.out.empty());
    REQUIRE(r.requests.size() == 1);
    CHECK(r.requests[0].first == 1);
    const gw::Request& req = r.requests[0].second;
    CHECK(req.method == c.method);
    CHECK(req.path == c.path);
    CHECK(req.script_name == c.script_name);
    CHECK(req.path_info == c.path_info);
    CHECK(req.query == c.query);
    CHECK(req.content_length == c.content_length);
    CHECK(r.bodies[1].size() == c.body);
    CHECK(r.transcript.back() == "end 1");
    CHECK(req.header("Proxy") == nullptr);
    CHECK(req.server_port == 18700);
    CHECK(req.remote_addr == "127.0.0.1");
    if (std::string_view(c.file).find("login") != std::string_view::npos &&
        std::string_view(c.file).find("h2o") == std::string_view::npos) {
      CHECK(req.remote_user == "alice");
    }
    // write_end's answer follows FCGI_KEEP_CONN.
    FastCgiServerCodec codec(Limits{});
    Run once;
    feed_pieces(codec, {input}, once);
    std::string out;
    CHECK(codec.write_end(1, out) == c.keep_conn);
  }
}

TEST_CASE("fastcgi server: captured bodies arrive intact") {
  std::string body = run({read_vector("nginx-fcgi-post.bin")}).bodies[1];
  REQUIRE(body.size() == 3000);
  CHECK(body.starts_with("data="));
  CHECK(run({read_vector("caddy-fcgi-post-chunked.bin")}).bodies[1] ==
        run({read_vector("lighttpd-fcgi-post-chunked.bin")}).bodies[1]);
}

TEST_CASE("fastcgi server: request body bytes are emitted before their record is complete") {
  FastCgiServerCodec codec(Limits{});
  Run r;
  std::string head = begin(1, true) + params(1, post_vars("10"));
  std::string stdin_rec = rec(5, 1, "0123456789");
  feed_pieces(codec, {head + stdin_rec.substr(0, 8 + 4)}, r);
  CHECK(r.bodies[1] == "0123");
  feed_pieces(codec, {stdin_rec.substr(12) + rec(5, 1, "")}, r);
  CHECK(r.bodies[1] == "0123456789");
  CHECK(r.transcript.back() == "end 1");
}

TEST_CASE("fastcgi server: padding of 0..255 bytes is skipped on every record") {
  for (int pad : {0, 1, 7, 8, 200, 255}) {
    CAPTURE(pad);
    auto p = static_cast<uint8_t>(pad);
    std::string input = rec(1, 1, B("\x00\x01\x01\x00\x00\x00\x00\x00"), p) +
                        rec(4, 1, pairs(post_vars("3")), p) + rec(4, 1, "", p) +
                        rec(5, 1, "abc", p) + rec(5, 1, "", p) +
                        rec(9, 0, pair("FCGI_MAX_REQS", ""), p);
    Run r = run(std::vector<std::string_view>{input});
    REQUIRE_FALSE(r.error);
    CHECK(r.bodies[1] == "abc");
    CHECK(r.transcript.back() == "end 1");
    CHECK(r.out == rec(10, 0, pair("FCGI_MAX_REQS", "64")));
  }
  std::string padded =
      begin(1, true) + rec(4, 1, pairs(kGet), 255) + rec(4, 1, "", 3) + rec(5, 1, "", 255);
  CHECK_FALSE(run_all_ways(padded).error);
}

TEST_CASE("fastcgi server: name-value pairs and length prefixes may straddle records") {
  std::string stream = pairs(
      {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/s"}, {"HTTP_X_LONG", std::string(300, 'v')}});
  Run reference = run({begin(1, true) + params(1, {{"REQUEST_METHOD", "GET"},
                                                   {"REQUEST_URI", "/s"},
                                                   {"HTTP_X_LONG", std::string(300, 'v')}})});
  REQUIRE(reference.requests.size() == 1);
  for (size_t cut = 1; cut < stream.size(); ++cut) {
    CAPTURE(cut);
    std::string input = begin(1, true) + rec(4, 1, stream.substr(0, cut)) +
                        rec(4, 1, stream.substr(cut)) + rec(4, 1, "");
    Run r = run({input});
    REQUIRE_FALSE(r.error);
    CHECK(r.transcript == reference.transcript);
  }
  // One byte per record.
  std::string input = begin(1, true);
  for (char c : stream) input += rec(4, 1, std::string(1, c));
  input += rec(4, 1, "");
  CHECK(run_all_ways(input).transcript == reference.transcript);
}

TEST_CASE("fastcgi server: 1- and 4-byte lengths, and the 4-byte form for short lengths") {
  Limits roomy;
  roomy.header_bytes = 4 * 1024 * 1024;
  for (size_t n : {size_t{0}, size_t{1}, size_t{127}, size_t{128}, size_t{65535}, size_t{65536}}) {
    CAPTURE(n);
    std::string value(n, 'x');
    std::string input = begin(1, true);
    gw::fcgi::encode_params(input, 1, {{"REQUEST_METHOD", "GET"}, {"HTTP_X_V", value}});
    Run r = run({input}, roomy);
    REQUIRE_FALSE(r.error);
    REQUIRE(r.requests.size() == 1);
    const std::string* got = r.requests[0].second.header("X-V");
    REQUIRE(got != nullptr);
    CHECK(*got == value);
  }
  std::string long_form = len_prefix(14, true) + len_prefix(3, true) + "REQUEST_METHODGET";
  Run r = run_all_ways(begin(1, true) + rec(4, 1, long_form) + rec(4, 1, ""));
  REQUIRE(r.requests.size() == 1);
  CHECK(r.requests[0].second.method == "GET");
}

// The answer a request over a params limit gets, as the codec writes it.
std::string answer_431(StreamId id) {
  std::string body = "431 Request Header Fields Too Large\n";
  return rec(6, id,
             "Status: 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\n"
             "Content-Length: " +
                 std::to_string(body.size()) + "\r\n\r\n" + body) +
         rec(6, id, "") + rec(3, id, B("\0\0\0\0\0\0\0\0"));
}

TEST_CASE("fastcgi server: a 1 MiB value needs a raised value limit") {
  std::string value(1024 * 1024, 'm');
  std::string input = begin(1, false);
  gw::fcgi::encode_params(input, 1, {{"REQUEST_METHOD", "GET"}, {"HTTP_X_BIG", value}});
  Limits limits;
  limits.header_bytes = 2 * 1024 * 1024;
  Run refused = run({input}, limits);
  REQUIRE(refused.error.has_value());
  CHECK(refused.error->http_status == 431);
  CHECK(refused.error->what.find("value of 1048576 bytes") != std::string::npos);
  CHECK(refused.requests.empty());
  CHECK(refused.out == answer_431(1));

  limits.value_bytes = 1024 * 1024;
  Run accepted = run({input}, limits);
  REQUIRE_FALSE(accepted.error);
  REQUIRE(accepted.requests.size() == 1);
  CHECK(accepted.requests[0].second.header("X-Big")->size() == value.size());
}

// A request over a params limit gets 431 on its own id: with FCGI_KEEP_CONN
// the connection carries on (the request's later records are ignored),
// without it the answer is followed by an error that closes it.
TEST_CASE("fastcgi server: params limits") {
  struct Over {
    const char* what;
    Limits limits;
    std::vector<Header> vars;
    const char* reason;
  };
  Limits total, count, name;
  total.header_bytes = 100;
  // Each limit leaves room for the follow-up request (kGet).
  count.header_count = 4;
  name.name_bytes = 14;
  const std::vector<Over> cases = {
      {"total bytes",
       total,
       {{"REQUEST_METHOD", "GET"}, {"HTTP_X", std::string(90, 'a')}},
       "params exceed 100 bytes"},
      {"pair count",
       count,
       {{"REQUEST_METHOD", "GET"}, {"A", "1"}, {"B", "2"}, {"C", "3"}, {"D", "4"}},
       "more than 4 pairs"},
      {"name length",
       name,
       {{"REQUEST_METHOD", "GET"}, {"HTTP_X_ABCDEFGH", "1"}},
       "name of 15 bytes"},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.what));
    Run kept = run_all_ways(begin(1, true) + params(1, c.vars) + rec(5, 1, "late") + rec(5, 1, "") +
                                begin(2, true) + params(2, kGet),
                            c.limits);
    REQUIRE_FALSE_MESSAGE(kept.error, (kept.error ? kept.error->what : ""));
    CHECK(kept.out == answer_431(1));
    REQUIRE(kept.requests.size() == 1);
    CHECK(kept.requests[0].first == 2);
    CHECK(kept.transcript.size() == 1);
    // Nothing closes, so the refusal reaches the error log this way.
    REQUIRE(kept.refused.size() == 1);
    CHECK(kept.refused[0].starts_with("431 FastCGI request id 1: "));
    CHECK(kept.refused[0].find(c.reason) != std::string::npos);

    Run closed = run_all_ways(begin(1, false) + params(1, c.vars), c.limits);
    REQUIRE(closed.error.has_value());
    CHECK(closed.error->http_status == 431);
    CHECK(closed.error->what.find(c.reason) != std::string::npos);
    CHECK(closed.out == answer_431(1));
  }
  SUBCASE("huge declared lengths fail before any allocation (CVE-2025-23016)") {
    std::string evil = B("\xff\xff\xff\xff\xff\xff\xff\xff") + "x";
    Run r = run_all_ways(begin(1, false) + rec(4, 1, evil));
    REQUIRE(r.error.has_value());
    CHECK(r.error->http_status == 431);
    CHECK(r.out == answer_431(1));
  }
}

TEST_CASE("fastcgi server: malformed pairs close the connection") {
  for (const std::string& bad :
       {pair("A=B", "1"), pair(std::string("A\0B", 3), "1"), pair("A\nB", "1"), pair("", "1"),
        pair("HTTP_X", std::string("a\0b", 3))}) {
    Run r = run_all_ways(begin(1, true) + rec(4, 1, bad) + rec(4, 1, ""));
    REQUIRE(r.error.has_value());
    CHECK(r.requests.empty());
  }
  Run cut =
      run({begin(1, true) + rec(4, 1, pair("REQUEST_METHOD", "GET").substr(0, 5)) + rec(4, 1, "")});
  REQUIRE(cut.error.has_value());
  CHECK(cut.error->what.find("inside a name-value pair") != std::string::npos);
}

TEST_CASE("fastcgi server: GET_VALUES is answered with the names understood") {
  std::string query = pair("FCGI_MAX_CONNS", "") + pair("FCGI_MAX_REQS", "") +
                      pair("FCGI_MPXS_CONNS", "") + pair("OTHER", "");
  Limits limits;
  limits.max_connections = 100;
  limits.streams_per_connection = 10;
  Run mpx = run_all_ways(rec(9, 0, query), limits, true);
  CHECK(mpx.out == B("\x01"      // version
                     "\x0a"      // FCGI_GET_VALUES_RESULT
                     "\x00\x00"  // request id 0 (management)
                     "\x00\x36"  // content length 54
                     "\x00"      // padding length
                     "\x00"      // reserved
                     "\x0e\x03"
                     "FCGI_MAX_CONNS"
                     "100"
                     "\x0d\x02"
                     "FCGI_MAX_REQS"
                     "10"
                     "\x0f\x01"
                     "FCGI_MPXS_CONNS"
                     "1"));
  Run single = run({rec(9, 0, pair("FCGI_MPXS_CONNS", ""))}, limits, false);
  CHECK(single.out == B("\x01\x0a\x00\x00\x00\x12\x00\x00"
                        "\x0f\x01"
                        "FCGI_MPXS_CONNS"
                        "0"));
  Run none = run({rec(9, 0, pair("OTHER", ""))});
  CHECK(none.out == B("\x01\x0a\x00\x00\x00\x00\x00\x00"));
  CHECK_FALSE(none.error);
}

TEST_CASE("fastcgi server: unknown management types get FCGI_UNKNOWN_TYPE") {
  Run r =
      run_all_ways(rec(0x2A, 0, "ignored", 3) + rec(1, 0, B("\x00\x01\x00\x00\x00\x00\x00\x00")));
  CHECK_FALSE(r.error);
  CHECK(r.out == B("\x01"                          // version
                   "\x0b"                          // FCGI_UNKNOWN_TYPE
                   "\x00\x00"                      // request id 0
                   "\x00\x08"                      // content length 8
                   "\x00"                          // padding length
                   "\x00"                          // reserved
                   "\x2a"                          // the type we did not understand
                   "\x00\x00\x00\x00\x00\x00\x00"  // reserved
                   "\x01\x0b\x00\x00\x00\x08\x00\x00"
                   "\x01"  // BEGIN_REQUEST on id 0 is no management record
                   "\x00\x00\x00\x00\x00\x00\x00"));
}

TEST_CASE("fastcgi server: roles other than RESPONDER get FCGI_UNKNOWN_ROLE") {
  for (uint16_t role : {uint16_t{2}, uint16_t{3}, uint16_t{0}, uint16_t{0x100}}) {
    CAPTURE(role);
    Run r = run_all_ways(begin(5, true, role) + params(5, kGet) + rec(5, 5, "data") +
                         rec(5, 5, "") + begin(5, true) + params(5, kGet));
    REQUIRE_FALSE(r.error);
    CHECK(r.out == B("\x01"              // version
                     "\x03"              // FCGI_END_REQUEST
                     "\x00\x05"          // request id 5
                     "\x00\x08"          // content length 8
                     "\x00"              // padding length
                     "\x00"              // reserved
                     "\x00\x00\x00\x00"  // appStatus 0
                     "\x03"              // FCGI_UNKNOWN_ROLE
                     "\x00\x00\x00"));   // reserved
    // The refused id's records were ignored; the next BEGIN starts afresh.
    REQUIRE(r.requests.size() == 1);
    CHECK(r.transcript.size() == 1);
  }
}

TEST_CASE("fastcgi server: two multiplexed ids interleaved") {
  std::string input = begin(1, true) + begin(2, false) + rec(4, 2, pairs(post_vars("6"))) +
                      rec(4, 1, pairs(post_vars("4"))) + rec(4, 1, "") + rec(5, 1, "ab") +
                      rec(4, 2, "") + rec(5, 2, "xyz") + rec(5, 1, "cd") + rec(5, 2, "uvw") +
                      rec(5, 2, "") + rec(5, 1, "");
  Run r = run_all_ways(input);
  REQUIRE_FALSE(r.error);
  REQUIRE(r.requests.size() == 2);
  CHECK(r.requests[0].first == 1);
  CHECK(r.requests[1].first == 2);
  CHECK(r.bodies[1] == "abcd");
  CHECK(r.bodies[2] == "xyzuvw");
  REQUIRE(r.transcript.size() == 8);
  CHECK(r.transcript[0].starts_with("start 1 POST"));
  CHECK(r.transcript[2].starts_with("start 2 POST"));
  CHECK(r.transcript == std::vector<std::string>{r.transcript[0], "body 1:ab", r.transcript[2],
                                                 "body 2:xyz", "body 1:cd", "body 2:uvw", "end 2",
                                                 "end 1"});

  FastCgiServerCodec codec(Limits{});
  Run fed;
  feed_pieces(codec, {input}, fed);
  CHECK(codec.active_streams() == 2);
  std::string out;
  codec.write_head(2, gw::ResponseHead{}, out);
  codec.write_head(1, gw::ResponseHead{}, out);
  codec.write_body(2, "two", out);
  codec.write_body(1, "one", out);
  CHECK_FALSE(codec.write_end(2, out));
  CHECK(codec.write_end(1, out));
  std::string head = "Status: 200 OK\r\n\r\n";
  CHECK(out == rec(6, 2, head) + rec(6, 1, head) + rec(6, 2, "two") + rec(6, 1, "one") +
                   rec(6, 2, "") + rec(3, 2, B("\0\0\0\0\0\0\0\0")) + rec(6, 1, "") +
                   rec(3, 1, B("\0\0\0\0\0\0\0\0")));
}

TEST_CASE("fastcgi server: without multiplexing a second id gets FCGI_CANT_MPX_CONN") {
  Run r = run_all_ways(begin(1, true) + begin(2, true) + params(2, kGet) + params(1, kGet),
                       Limits{}, false);
  REQUIRE_FALSE(r.error);
  CHECK(r.out == rec(3, 2,
                     B("\x00\x00\x00\x00"
                       "\x01"
                       "\x00\x00\x00")));  // FCGI_CANT_MPX_CONN
  REQUIRE(r.requests.size() == 1);
  CHECK(r.requests[0].first == 1);
}

TEST_CASE("fastcgi server: over streams_per_connection a new id gets FCGI_OVERLOADED") {
  Limits limits;
  limits.streams_per_connection = 2;
  Run r = run_all_ways(begin(1, true) + begin(2, true) + begin(3, true), limits);
  REQUIRE_FALSE(r.error);
  CHECK(r.out == rec(3, 3,
                     B("\x00\x00\x00\x00"
                       "\x02"
                       "\x00\x00\x00")));  // FCGI_OVERLOADED
  CHECK(r.refused == std::vector<std::string>{
                         "503 FastCGI request id 3: FCGI_OVERLOADED: 2 requests in flight on this "
                         "connection (limits.streams_per_connection)"});
}

TEST_CASE("fastcgi server: ABORT_REQUEST") {
  SUBCASE("after the request started: StreamAborted, write_end still ends it") {
    FastCgiServerCodec codec(Limits{});
    Run r;
    feed_pieces(codec,
                {begin(1, true) + params(1, post_vars("10")) + rec(5, 1, "abc") + rec(2, 1, "") +
                 rec(5, 1, "ignored")},
                r);
    REQUIRE_FALSE(r.error);
    CHECK(r.transcript.back() == "aborted 1");
    CHECK(r.bodies[1] == "abc");
    std::string out;
    CHECK(codec.write_end(1, out));
    CHECK(out == rec(6, 1, "") + rec(3, 1, B("\0\0\0\0\0\0\0\0")));
  }
  SUBCASE("before the params ended: answered by the codec") {
    Run keep =
        run_all_ways(begin(1, true) + rec(4, 1, pair("A", "b")) + rec(2, 1, "") + params(1, kGet));
    CHECK_FALSE(keep.error);
    CHECK(keep.transcript.empty());
    CHECK(keep.out == rec(6, 1, "") + rec(3, 1, B("\0\0\0\0\0\0\0\0")));
    Run close = run_all_ways(begin(1, false) + rec(2, 1, ""));
    CHECK(close.error.has_value());
    CHECK(close.out == keep.out);
  }
  SUBCASE("for an inactive id: ignored") {
    Run r = run_all_ways(rec(2, 9, ""));
    CHECK_FALSE(r.error);
    CHECK(r.out.empty());
    CHECK(r.transcript.empty());
  }
}

TEST_CASE("fastcgi server: write_abort") {
  FastCgiServerCodec codec(Limits{});
  Run r;
  feed_pieces(codec, {begin(1, true) + params(1, kGet) + begin(2, true) + params(2, kGet)}, r);
  std::string out;
  codec.write_head(1, gw::ResponseHead{}, out);
  out.clear();
  CHECK(codec.write_abort(1, out));  // id 2 is still active: end just this one
  CHECK(out == rec(6, 1, "") + rec(3, 1,
                                   B("\x00\x00\x00\x01"
                                     "\x00"
                                     "\x00\x00\x00")));
  out.clear();
  CHECK_FALSE(codec.write_abort(2, out));  // alone: the caller closes the connection
  CHECK(out.empty());
  CHECK(codec.active_streams() == 0);
}

TEST_CASE("fastcgi server: body length against CONTENT_LENGTH") {
  SUBCASE("longer: connection error") {
    Run r = run_all_ways(begin(1, true) + params(1, post_vars("3")) + rec(5, 1, "ab") +
                         rec(5, 1, "cd"));
    REQUIRE(r.error.has_value());
    CHECK(r.error->what.find("more than its CONTENT_LENGTH of 3 bytes") != std::string::npos);
    CHECK(r.bodies[1] == "ab");
  }
  SUBCASE("shorter: the front end gave up") {
    Run r =
        run_all_ways(begin(1, true) + params(1, post_vars("3")) + rec(5, 1, "ab") + rec(5, 1, ""));
    REQUIRE_FALSE(r.error);
    CHECK(r.transcript.back() == "aborted 1");
  }
  SUBCASE("unknown: runs to the empty STDIN record") {
    Run r = run_all_ways(begin(1, true) + params(1, post_vars("-1")) + rec(5, 1, "abcdef") +
                         rec(5, 1, ""));
    REQUIRE_FALSE(r.error);
    CHECK(r.bodies[1] == "abcdef");
    CHECK(r.transcript.back() == "end 1");
  }
  SUBCASE("over max_body_bytes") {
    Limits limits;
    limits.max_body_bytes = 4;
    Run unknown =
        run_all_ways(begin(1, true) + params(1, post_vars("")) + rec(5, 1, "abcde"), limits);
    REQUIRE(unknown.error.has_value());
    CHECK(unknown.error->http_status == 413);
    Run declared = run_all_ways(begin(1, true) + params(1, post_vars("5")) + rec(5, 1, "abcde") +
                                    rec(5, 1, "") + begin(1, true),
                                limits);
    REQUIRE_FALSE(declared.error);
    CHECK(declared.requests.empty());
    CHECK(declared.out.starts_with(rec(6, 1, "").substr(0, 4)));
    CHECK(declared.out.find("Status: 413 Content Too Large\r\n") != std::string::npos);
  }
}

TEST_CASE("fastcgi server: params that do not map get a CGI error response") {
  std::vector<Header> no_method = {{"REQUEST_URI", "/x"}};
  std::string local =
      "Status: 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\r\n"
      "400 Bad Request\n";
  std::string answer = rec(6, 3, local) + rec(6, 3, "") + rec(3, 3, B("\0\0\0\0\0\0\0\0"));
  SUBCASE("KEEP_CONN: the connection carries on") {
    Run r = run_all_ways(begin(3, true) + params(3, no_method) + rec(5, 3, "late") + rec(5, 3, "") +
                         begin(3, true) + params(3, kGet));
    REQUIRE_FALSE(r.error);
    CHECK(r.out == answer);
    REQUIRE(r.requests.size() == 1);
    CHECK(r.transcript.size() == 1);
  }
  SUBCASE("no KEEP_CONN: the answer, then an error to close the connection") {
    Run r = run_all_ways(begin(3, false) + params(3, no_method));
    REQUIRE(r.error.has_value());
    CHECK(r.error->http_status == 400);
    CHECK(r.error->what == "FastCGI request id 3: REQUEST_METHOD missing");
    CHECK(r.out == answer);
  }
}

TEST_CASE("fastcgi server: protocol errors close the connection") {
  auto expect_error = [](const std::string& input, std::string_view what) {
    CAPTURE(what);
    Run r = run_all_ways(input);
    REQUIRE(r.error.has_value());
    CHECK(r.error->what.find(what) != std::string::npos);
    return r;
  };
  std::string bad_version = rec(1, 1, B("\0\x01\x01\0\0\0\0\0"));
  bad_version[0] = 2;
  expect_error(bad_version, "version 2");
  expect_error(begin(1, true) + rec(5, 1, "body"), "before its params ended");
  expect_error(begin(1, true) + params(1, kGet) + rec(4, 1, ""), "FCGI_PARAMS after the end");
  expect_error(begin(1, true) + params(1, kGet) + rec(5, 1, "") + rec(5, 1, "x"),
               "after its stdin ended");
  expect_error(begin(1, true) + begin(1, true), "already active");
  expect_error(rec(1, 1, B("\0\x01\x01\0\0\0")), "6 content bytes");
  expect_error(begin(1, true) + rec(6, 1, "x"), "unexpected FCGI_STDOUT");
  expect_error(begin(1, true) + rec(3, 1, B("\0\0\0\0\0\0\0\0")), "unexpected FCGI_END_REQUEST");
  expect_error(begin(1, true) + rec(8, 1, "x"), "unexpected FCGI_DATA");
  expect_error(begin(1, true) + rec(0x30, 1, ""), "type 48");
  // Events before the error are kept; none come after it.
  Run r = expect_error(
      begin(1, true) + params(1, post_vars("1")) + bad_version + begin(2, true) + params(2, kGet),
      "version 2");
  CHECK(r.requests.size() == 1);
}

TEST_CASE("fastcgi server: records for inactive ids are ignored") {
  Run r = run_all_ways(rec(4, 4, pairs(kGet)) + rec(5, 4, "x") + rec(6, 4, "y") + rec(3, 4, "z") +
                       rec(0x40, 4, "?", 9));
  CHECK_FALSE(r.error);
  CHECK(r.out.empty());
  CHECK(r.transcript.empty());
}

TEST_CASE("fastcgi server: STDIN after write_end is dropped") {
  FastCgiServerCodec codec(Limits{});
  Run r;
  std::string body_rec = rec(5, 1, "0123456789");
  feed_pieces(codec, {begin(1, true) + params(1, post_vars("20")) + body_rec.substr(0, 10)}, r);
  std::string out;
  CHECK(codec.write_end(1, out));
  feed_pieces(codec,
              {body_rec.substr(10) + rec(5, 1, "abcdefghij") + rec(5, 1, "") + begin(1, true) +
               params(1, kGet)},
              r);
  REQUIRE_FALSE(r.error);
  CHECK(r.bodies[1] == "01");
  CHECK(r.requests.size() == 2);
}

TEST_CASE("fastcgi server: client encoder -> server decoder round trip") {
  std::vector<Header> vars = {{"REQUEST_METHOD", "PUT"},
                              {"REQUEST_URI", "/r%C3%A9p/x?k=v"},
                              {"SCRIPT_NAME", "/r\xc3\xa9p"},
                              {"PATH_INFO", "/x"},
                              {"QUERY_STRING", "k=v"},
                              {"CONTENT_LENGTH", "70000"},
                              {"CONTENT_TYPE", "application/octet-stream"},
                              {"HTTPS", "on"},
                              {"HTTP_X_LONG", std::string(200, 'L')},
                              {"DOCUMENT_ROOT", "/srv"}};
  std::string body;
  for (int i = 0; i < 70000; ++i) body.push_back(static_cast<char>('a' + i % 26));
  std::string input;
  gw::fcgi::encode_begin_request(input, 300, gw::fcgi::FCGI_RESPONDER, true);
  gw::fcgi::encode_params(input, 300, vars);
  gw::fcgi::encode_stdin(input, 300, body);
  gw::fcgi::encode_stdin_end(input, 300);
  Run r = run({input});
  REQUIRE_FALSE(r.error);
  REQUIRE(r.requests.size() == 1);
  CHECK(r.requests[0].first == 300);
  const gw::Request& req = r.requests[0].second;
  CHECK(req.method == "PUT");
  CHECK(req.path == "/r\xc3\xa9p/x");
  CHECK(req.script_name == "/r\xc3\xa9p");
  CHECK(req.path_info == "/x");
  CHECK(req.https);
  CHECK(req.content_length == std::optional<uint64_t>(70000));
  CHECK(*req.header("X-Long") == std::string(200, 'L'));
  CHECK(r.bodies[300] == body);
  CHECK(r.transcript.back() == "end 300");
}
