// AjpServerCodec: captures of mod_jk, mod_proxy_ajp and lighttpd at every
// split point, hand-built packets for each field, attribute, limit and error
// path, the body flow (want_body, both end forms, the late unsolicited
// packet), the Ghostcat rules, and the response bytes.
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "protocols/ajp13_client.h"
#include "protocols/ajp13_server.h"
#include "tests/support/split.h"

using gw::AjpOptions;
using gw::AjpServerCodec;
using gw::Header;
using gw::Limits;

namespace {

// ---- Test-local packet builders, written independently of the code under test ----

std::string u16(size_t v) {
  return {static_cast<char>((v >> 8) & 0xFF), static_cast<char>(v & 0xFF)};
}
std::string str(std::string_view s) {
  return u16(s.size()) + std::string(s) + std::string(1, '\0');
}
const std::string kNull = "\xFF\xFF";
std::string byte(unsigned v) {
  return std::string(1, static_cast<char>(v));
}
// Web server -> container packet.
std::string pkt(std::string_view payload) {
  return "\x12\x34" + u16(payload.size()) + std::string(payload);
}
std::string body_pkt(std::string_view data) {
  return pkt(u16(data.size()) + std::string(data));
}
const std::string kCPing = std::string("\x12\x34\x00\x01\x0A", 5);
const std::string kEndJk = std::string("\x12\x34\x00\x00", 4);
const std::string kEndProxy = std::string("\x12\x34\x00\x02\x00\x00", 6);

// Container -> web server packets, as the tests expect them on the wire.
std::string out_pkt(std::string_view payload) {
  return "AB" + u16(payload.size()) + std::string(payload);
}
const std::string kCPong = std::string("AB\x00\x01\x09", 5);
std::string gbc(size_t n) {
  return out_pkt("\x06" + u16(n));
}
std::string end_response(bool reuse) {
  return out_pkt(std::string("\x05") + (reuse ? '\x01' : '\x00'));
}

// A FORWARD_REQUEST field by field, for packets no encoder would write.
struct RawForward {
  unsigned method = 2;
  std::string protocol = str("HTTP/1.1");
  std::string uri = str("/x");
  std::string remote_addr = str("10.0.0.1");
  std::string remote_host = kNull;
  std::string server_name = str("example.org");
  unsigned port = 80;
  unsigned ssl = 0;
  std::string headers = u16(0);
  std::string attributes;
  std::string terminator = "\xFF";

  std::string payload() const {
    return "\x02" + byte(method) + protocol + uri + remote_addr + remote_host + server_name +
           u16(port) + byte(ssl) + headers + attributes + terminator;
  }
  std::string packet() const { return pkt(payload()); }
};

// A well-formed request through the web-server-side encoder.
gw::ajp::ForwardRequest base_request() {
  gw::ajp::ForwardRequest f;
  f.req_uri = "/app/page";
  f.remote_addr = "192.0.2.7";
  f.server_name = "www.example.org";
  f.server_port = 443;
  f.headers = {{"Host", "www.example.org"}};
  return f;
}

std::string encode(const gw::ajp::ForwardRequest& f, size_t packet_size = 8192) {
  std::string out;
  REQUIRE(gw::ajp::encode_forward_request(out, f, packet_size));
  return out;
}

std::string describe(const gw::Request& r) {
  std::ostringstream s;
  s << r.method << " target=" << r.target << " path=" << r.path << " query=" << r.query
    << " sn=" << r.script_name << " pi=" << r.path_info << " proto=" << r.server_protocol
    << " cl=" << (r.content_length ? std::to_string(*r.content_length) : "?")
    << " remote=" << r.remote_addr << ":" << r.remote_port << " server=" << r.server_name << "/"
    << r.server_addr << ":" << r.server_port << " user=" << r.remote_user << "/" << r.auth_type
    << " https=" << r.https << " tls=" << r.ssl_protocol << "/" << r.ssl_cipher << "/"
    << r.ssl_session_id << "/" << r.ssl_key_size << "/" << r.ssl_client_cert.size()
    << " route=" << r.route << " origin=" << gw::protocol_name(r.origin);
  for (const auto& h : r.headers) s << " H[" << h.name << "=" << h.value << "]";
  for (const auto& p : r.params) s << " P[" << p.name << "=" << p.value << "]";
  return s.str();
}

// What the codec wrote, packet by packet, in words.
std::vector<std::string> decode_out(std::string_view out, size_t packet_size = 65536) {
  Limits limits;
  limits.ajp_packet_size = packet_size;
  gw::AjpClientDecoder decoder(limits);
  std::vector<gw::ajp::ClientEvent> events;
  auto res = decoder.feed(out, events);
  REQUIRE_FALSE(res.error);
  REQUIRE(res.consumed == out.size());
  std::vector<std::string> words;
  for (const auto& e : events) {
    if (auto* h = std::get_if<gw::ajp::SendHeaders>(&e)) {
      std::string w = "HEADERS " + std::to_string(h->head.status) + " " + h->head.reason;
      for (const auto& f : h->head.headers) w += " [" + f.name + ": " + f.value + "]";
      words.push_back(w);
    } else if (auto* b = std::get_if<gw::ajp::SendBodyChunk>(&e)) {
      words.push_back("BODY " + std::string(b->data));
    } else if (auto* g = std::get_if<gw::ajp::GetBodyChunk>(&e)) {
      words.push_back("GET_BODY " + std::to_string(g->requested));
    } else if (auto* end = std::get_if<gw::ajp::EndResponse>(&e)) {
      words.push_back(std::string("END reuse=") + (end->reuse ? "1" : "0"));
    } else {
      words.push_back("CPONG");
    }
  }
  return words;
}

// ---- The connection, played by the test ----

enum class Answer {
  None,       // never respond
  AtBodyEnd,  // respond once the body is complete
  AtStart,    // respond at once, before any body
};

struct Harness {
  Limits limits;
  AjpOptions options;
  Answer answer = Answer::AtBodyEnd;
  bool ask_body = true;  // call want_body after every pass, as the Connection does
};

struct Run {
  std::vector<std::string> transcript;
  std::vector<gw::RequestStarted> starts;
  std::vector<std::string> bodies;  // one per request
  std::string out;
  std::string rest;  // input left unconsumed at the end
  std::optional<gw::CodecError> error;
  bool closed = false;
};

void respond(AjpServerCodec& codec, Run& r) {
  gw::ResponseHead head;
  head.status = 200;
  head.headers = {{"Content-Type", "text/plain"}};
  codec.write_head(1, head, r.out);
  codec.write_body(1, "ok", r.out);
  bool keep = codec.write_end(1, r.out);
  r.transcript.push_back(keep ? "response keep" : "response close");
  r.closed = !keep;
}

void play(AjpServerCodec& codec, const std::vector<std::string_view>& pieces, const Harness& h,
          Run& r) {
  std::string buffer;
  bool answered = false;  // the current request was answered: its events are discarded
  for (auto piece : pieces) {
    buffer.append(piece);
    for (;;) {
      if (r.closed) break;
      std::vector<gw::Event> events;
      auto res = codec.feed(buffer, events, r.out);
      REQUIRE(res.consumed <= buffer.size());
      if (r.error) {
        CHECK(events.empty());
        CHECK(res.consumed == 0);
        CHECK(res.error.has_value());
        break;
      }
      for (auto& e : events) {
        if (auto* s = std::get_if<gw::RequestStarted>(&e)) {
          CHECK(s->stream == 1);
          r.transcript.push_back("start " + describe(s->request) +
                                 (s->reject_status ? " REJECT " + std::to_string(s->reject_status) +
                                                         " " + s->reject_reason
                                                   : std::string()));
          r.starts.push_back(*s);
          r.bodies.emplace_back();
          answered = false;
          if (h.answer == Answer::AtStart) {
            respond(codec, r);
            answered = true;
          }
        } else if (auto* d = std::get_if<gw::BodyData>(&e)) {
          CHECK_FALSE(d->data.empty());
          REQUIRE_FALSE(r.bodies.empty());
          if (answered) continue;
          if (r.transcript.empty() || !r.transcript.back().starts_with("body "))
            r.transcript.push_back("body ");
          r.transcript.back().append(d->data);
          r.bodies.back().append(d->data);
        } else if (std::get_if<gw::BodyEnd>(&e)) {
          if (answered) continue;
          r.transcript.push_back("end");
          if (h.answer == Answer::AtBodyEnd) {
            respond(codec, r);
            answered = true;
          }
        } else {
          FAIL("AJP has no StreamAborted");
        }
      }
      buffer.erase(0, res.consumed);
      if (res.error) {
        r.error = res.error;
        break;
      }
      size_t before = r.out.size();
      if (h.ask_body) codec.want_body(1, r.out);
      if (res.consumed == 0 && r.out.size() == before) break;
    }
  }
  r.rest = buffer;
}

Run run(const std::vector<std::string_view>& pieces, const Harness& h = Harness{}) {
  AjpServerCodec codec(h.limits, h.options);
  Run r;
  play(codec, pieces, h, r);
  return r;
}

void check_same(const Run& a, const Run& whole) {
  CHECK(a.transcript == whole.transcript);
  CHECK(a.out == whole.out);
  CHECK(a.rest == whole.rest);
  REQUIRE(a.error.has_value() == whole.error.has_value());
  if (a.error) {
    CHECK(a.error->http_status == whole.error->http_status);
    CHECK(a.error->what == whole.error->what);
  }
}

// Whole, at every two-way split and byte by byte: all must agree.
Run run_all_ways(std::string_view input, const Harness& h = Harness{}) {
  Run whole = run({input}, h);
  gw::test::for_each_split(input, [&](std::string_view a, std::string_view b) {
    check_same(run({a, b}, h), whole);
  });
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < input.size(); ++i) bytes.push_back(input.substr(i, 1));
  check_same(run(bytes, h), whole);
  return whole;
}

std::string read_vector(const std::string& name) {
  std::ifstream f(std::string(GW_VECTORS_DIR) + "/ajp13/" + name, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "missing vector " << name);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// The response the harness writes, as decode_out() words.
const std::vector<std::string> kOk = {"HEADERS 200 OK [Content-Type: text/plain]", "BODY ok",
                                      "END reuse=1"};

// The harness's response as bytes (only used with kOk).
std::string concat_out(const std::vector<std::string>& words) {
  REQUIRE(words == std::vector<std::string>{"HEADERS 200 OK [Content-Type: text/plain]", "BODY ok",
                                            "END reuse=1"});
  return out_pkt("\x04" + u16(200) + str("OK") + u16(1) + u16(0xA001) + str("text/plain")) +
         out_pkt("\x03" + u16(2) + "ok" + std::string(1, '\0')) + end_response(true);
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// One request through a fresh codec, whole; returns the run.
Run one(const std::string& input, const Harness& h = Harness{}) {
  return run({input}, h);
}

const gw::Request& request_of(const Run& r) {
  REQUIRE(r.starts.size() == 1);
  return r.starts[0].request;
}

}  // namespace

// ---------------------------------------------------------------------------
// Captures

namespace {

struct Capture {
  const char* file;
  const char* method;
  const char* target;
  const char* path;
  const char* query;
  std::optional<uint64_t> content_length;
  const char* remote_user;
  uint16_t remote_port;
  const char* server_addr;
  std::vector<Header> params;
  size_t headers;
  size_t body;  // bytes
  std::vector<std::string> out;
};

const std::vector<Header> kJkParams = {{"JK_LB_ACTIVATION", "ACT"}};

std::vector<Capture> good_captures() {
  return {
      {"apache-jk-ajp-get.bin", "GET", "/app/sub/path?x=1&y=%20z", "/app/sub/path", "x=1&y=%20z", 0,
       "", 56872, "127.0.0.1", kJkParams, 7, 0, kOk},
      {"apache-jk-ajp-proj-get.bin", "GET", "/proj/sub/path?x=1&y=%20z", "/proj/sub/path",
       "x=1&y=%20z", 0, "", 56888, "127.0.0.1", kJkParams, 7, 0, kOk},
      {"apache-jk-ajp-head.bin",
       "HEAD",
       "/app/h",
       "/app/h",
       "",
       0,
       "",
       48780,
       "127.0.0.1",
       kJkParams,
       4,
       0,
       {"HEADERS 200 OK [Content-Type: text/plain]", "END reuse=1"}},
      {"apache-jk-ajp-login.bin", "GET", "/login", "/login", "", 0, "alice", 48784, "127.0.0.1",
       kJkParams, 5, 0, kOk},
      {"apache-jk-ajp-post.bin", "POST", "/app/form", "/app/form", "", 3000, "", 56894, "127.0.0.1",
       kJkParams, 5, 3000, kOk},
      {"apache-jk-ajp-post-chunked.bin", "POST", "/app/up", "/app/up", "", std::nullopt, "", 48778,
       "127.0.0.1", kJkParams, 5, 5000, concat({"GET_BODY 8186", "GET_BODY 8186"}, kOk)},
      {"apache-proxy-ajp-get.bin",
       "GET",
       "/app/sub/path?x=1&y=%20z",
       "/app/sub/path",
       "x=1&y=%20z",
       0,
       "",
       55326,
       "127.0.0.1",
       {},
       6,
       0,
       kOk},
      {"apache-proxy-ajp-proj-get.bin",
       "GET",
       "/proj/sub/path?x=1&y=%20z",
       "/proj/sub/path",
       "x=1&y=%20z",
       0,
       "",
       55328,
       "127.0.0.1",
       {},
       6,
       0,
       kOk},
      {"apache-proxy-ajp-head.bin",
       "HEAD",
       "/app/h",
       "/app/h",
       "",
       0,
       "",
       47680,
       "127.0.0.1",
       {},
       3,
       0,
       {"HEADERS 200 OK [Content-Type: text/plain]", "END reuse=1"}},
      {"apache-proxy-ajp-login.bin",
       "GET",
       "/login",
       "/login",
       "",
       0,
       "alice",
       47686,
       "127.0.0.1",
       {},
       4,
       0,
       kOk},
      {"apache-proxy-ajp-post.bin",
       "POST",
       "/app/form",
       "/app/form",
       "",
       3000,
       "",
       47676,
       "127.0.0.1",
       {},
       5,
       3000,
       kOk},
      {"apache-proxy-ajp-post-chunked.bin",
       "POST",
       "/app/up",
       "/app/up",
       "",
       std::nullopt,
       "",
       47678,
       "127.0.0.1",
       {},
       5,
       5000,
       concat({"GET_BODY 8186", "GET_BODY 8186"}, kOk)},
      // lighttpd: req_uri is only the matched prefix, and an empty packet
      // follows each bodiless request (skipped once the response is done).
      {"lighttpd-ajp-get.bin",
       "GET",
       "/app?x=1&y=%20z",
       "/app",
       "x=1&y=%20z",
       0,
       "",
       0,
       "",
       {},
       7,
       0,
       kOk},
      {"lighttpd-ajp-proj-get.bin",
       "GET",
       "/proj?x=1&y=%20z",
       "/proj",
       "x=1&y=%20z",
       0,
       "",
       0,
       "",
       {},
       7,
       0,
       kOk},
      {"lighttpd-ajp-head.bin",
       "HEAD",
       "/app",
       "/app",
       "",
       0,
       "",
       0,
       "",
       {},
       4,
       0,
       {"HEADERS 200 OK [Content-Type: text/plain]", "END reuse=1"}},
      {"lighttpd-ajp-login.bin", "GET", "/login", "/login", "", 0, "alice", 0, "", {}, 5, 0, kOk},
      {"lighttpd-ajp-get-reused-first.bin",
       "GET",
       "/app?x=1&y=%20z",
       "/app",
       "x=1&y=%20z",
       0,
       "",
       0,
       "",
       {},
       4,
       0,
       kOk},
      {"lighttpd-ajp-get-reused.bin",
       "GET",
       "/app?x=2",
       "/app",
       "x=2",
       0,
       "",
       0,
       "",
       {},
       4,
       0,
       kOk},
  };
}

// The body bytes of a capture, cut out by its own packet headers.
std::string capture_body(const std::string& bytes) {
  std::string body;
  size_t pos = 0;
  bool first = true;
  while (pos + 4 <= bytes.size()) {
    size_t len = static_cast<uint8_t>(bytes[pos + 2]) * 256u + static_cast<uint8_t>(bytes[pos + 3]);
    if (!first && len >= 2) body += bytes.substr(pos + 6, len - 2);
    first = false;
    pos += 4 + len;
  }
  REQUIRE(pos == bytes.size());
  return body;
}

}  // namespace

TEST_CASE("ajp13 server: every capture at every split point, with its request fields") {
  for (const Capture& c : good_captures()) {
    CAPTURE(c.file);
    std::string input = read_vector(c.file);
    Run r = run_all_ways(input);
    REQUIRE_FALSE(r.error);
    CHECK(r.rest.empty());
    CHECK_FALSE(r.closed);
    const gw::Request& req = request_of(r);
    CHECK(r.starts[0].reject_status == 0);
    CHECK(req.origin == gw::Protocol::Ajp13);
    CHECK(req.method == c.method);
    CHECK(req.target == c.target);
    CHECK(req.path == c.path);
    CHECK(req.query == c.query);
    CHECK(req.script_name == "");
    CHECK(req.path_info == c.path);
    CHECK(req.server_protocol == "HTTP/1.1");
    CHECK(req.content_length == c.content_length);
    CHECK(req.remote_addr == "127.0.0.1");
    CHECK(req.remote_port == c.remote_port);
    CHECK(req.server_name == "127.0.0.1");
    CHECK(req.server_port == 18700);
    CHECK(req.server_addr == c.server_addr);
    CHECK(req.remote_user == c.remote_user);
    CHECK(req.auth_type == (std::string_view(c.remote_user).empty() ? "" : "Basic"));
    CHECK_FALSE(req.https);
    CHECK(req.headers.size() == c.headers);
    REQUIRE(req.header("Host"));
    CHECK(*req.header("Host") == "127.0.0.1:18700");
    CHECK(*req.header("User-Agent") == "capture-client/1.0");
    CHECK(req.params.size() == c.params.size());
    for (size_t i = 0; i < c.params.size() && i < req.params.size(); ++i) {
      CHECK(req.params[i].name == c.params[i].name);
      CHECK(req.params[i].value == c.params[i].value);
    }
    REQUIRE(r.bodies.size() == 1);
    CHECK(r.bodies[0].size() == c.body);
    if (c.body > 0) CHECK(r.bodies[0] == capture_body(input));
    CHECK(decode_out(r.out) == c.out);
  }
}

TEST_CASE("ajp13 server: capture headers keep their names and values") {
  Run jk = one(read_vector("apache-jk-ajp-get.bin"));
  std::vector<Header> expect = {{"Host", "127.0.0.1:18700"},
                                {"User-Agent", "capture-client/1.0"},
                                {"Accept", "*/*"},
                                {"Accept-Language", "en-US"},
                                {"Cookie", "session=abc123"},
                                {"X-Custom-Header", "hello"},
                                {"Content-Length", "0"}};
  const gw::Request& req = request_of(jk);
  REQUIRE(req.headers.size() == expect.size());
  for (size_t i = 0; i < expect.size(); ++i) {
    CHECK(req.headers[i].name == expect[i].name);
    CHECK(req.headers[i].value == expect[i].value);
  }
  // mod_proxy_ajp codes Accept-Language (0xA004): the HTTP spelling comes back.
  Run proxy = one(read_vector("apache-proxy-ajp-get.bin"));
  CHECK(request_of(proxy).headers[3].name == "Accept-Language");
  CHECK(request_of(proxy).header("Content-Length") == nullptr);
  // The chunked captures forward Transfer-Encoding; the length is unknown.
  Run chunked = one(read_vector("apache-jk-ajp-post-chunked.bin"));
  REQUIRE(request_of(chunked).header("Transfer-Encoding"));
  CHECK(*request_of(chunked).header("Content-Type") == "application/octet-stream");
}

TEST_CASE("ajp13 server: the chunked captures end with either empty-packet form") {
  for (const char* file : {"apache-jk-ajp-post-chunked.bin", "apache-proxy-ajp-post-chunked.bin"}) {
    CAPTURE(file);
    std::string input = read_vector(file);
    Run r = one(input);
    REQUIRE_FALSE(r.error);
    CHECK(r.transcript.back() == "response keep");
    CHECK(r.transcript[r.transcript.size() - 2] == "end");
    CHECK(r.bodies[0].starts_with("0000-abc"));
  }
  CHECK(read_vector("apache-jk-ajp-post-chunked.bin").ends_with(kEndJk));
  CHECK(read_vector("apache-proxy-ajp-post-chunked.bin").ends_with(kEndProxy));
}

TEST_CASE("ajp13 server: lighttpd's body packets without a chunk length fail cleanly") {
  struct Case {
    const char* file;
    size_t packet;
    size_t chunk;
  };
  // "da" = 0x6461 and "00" = 0x3030 are read as the chunk length.
  for (Case c : {Case{"lighttpd-ajp-post.bin", 3000, 0x6461},
                 Case{"lighttpd-ajp-post-chunked.bin", 5000, 0x3030}}) {
    CAPTURE(c.file);
    Run r = run_all_ways(read_vector(c.file));
    REQUIRE(r.error);
    CHECK(r.error->http_status == 400);
    CHECK(r.error->what == "body packet chunk length " + std::to_string(c.chunk) +
                               " does not match its packet length " + std::to_string(c.packet) +
                               " (expected " + std::to_string(c.packet - 2) + ")");
    REQUIRE(r.starts.size() == 1);
    CHECK(r.bodies[0].empty());  // not one byte of it taken as body
    CHECK(decode_out(r.out) == std::vector<std::string>{"HEADERS 400 Bad Request", "END reuse=0"});
  }
}

TEST_CASE("ajp13 server: CPING captures get a CPONG, before the request that follows") {
  for (const char* front : {"apache-jk-ajp", "apache-proxy-ajp"}) {
    for (const char* name : {"ping-get", "ping-get-reused-first", "ping-get-reused"}) {
      std::string base = std::string(front) + "-" + name;
      CAPTURE(base);
      std::string cping = read_vector(base + "-cping.bin");
      CHECK(cping == kCPing);
      Run r = run_all_ways(cping + read_vector(base + ".bin"));
      REQUIRE_FALSE(r.error);
      REQUIRE(r.starts.size() == 1);
      CHECK(decode_out(r.out) == concat({"CPONG"}, kOk));
    }
  }
}

TEST_CASE("ajp13 server: the reused-connection pairs, one after the other on one codec") {
  struct Pair {
    std::string first, second;
  };
  std::vector<Pair> pairs;
  for (const char* front : {"apache-jk-ajp", "apache-proxy-ajp", "lighttpd-ajp"}) {
    pairs.push_back({read_vector(std::string(front) + "-get-reused-first.bin"),
                     read_vector(std::string(front) + "-get-reused.bin")});
  }
  for (const char* front : {"apache-jk-ajp", "apache-proxy-ajp"}) {
    std::string p = std::string(front) + "-ping-get-reused";
    pairs.push_back({read_vector(p + "-first-cping.bin") + read_vector(p + "-first.bin"),
                     read_vector(p + "-cping.bin") + read_vector(p + ".bin")});
  }
  for (const Pair& p : pairs) {
    Run r = run_all_ways(p.first + p.second);
    REQUIRE_FALSE(r.error);
    CHECK(r.rest.empty());
    REQUIRE(r.starts.size() == 2);
    CHECK(r.starts[0].request.query == "x=1&y=%20z");
    CHECK(r.starts[1].request.query == "x=2");
    bool pinged = p.first.starts_with(kCPing);
    std::vector<std::string> expect = pinged ? concat({"CPONG"}, kOk) : kOk;
    expect = concat(expect, pinged ? concat({"CPONG"}, kOk) : kOk);
    CHECK(decode_out(r.out) == expect);
  }
}

// ---------------------------------------------------------------------------
// Forward Request fields

TEST_CASE("ajp13 server: every method code maps to its name") {
  const char* names[] = {"OPTIONS",
                         "GET",
                         "HEAD",
                         "POST",
                         "PUT",
                         "DELETE",
                         "TRACE",
                         "PROPFIND",
                         "PROPPATCH",
                         "MKCOL",
                         "COPY",
                         "MOVE",
                         "LOCK",
                         "UNLOCK",
                         "ACL",
                         "REPORT",
                         "VERSION-CONTROL",
                         "CHECKIN",
                         "CHECKOUT",
                         "UNCHECKOUT",
                         "SEARCH",
                         "MKWORKSPACE",
                         "UPDATE",
                         "LABEL",
                         "MERGE",
                         "BASELINE-CONTROL",
                         "MKACTIVITY"};
  for (unsigned code = 1; code <= 27; ++code) {
    CAPTURE(code);
    RawForward f;
    f.method = code;
    Run r = one(f.packet());
    REQUIRE_FALSE(r.error);
    CHECK(request_of(r).method == names[code - 1]);
    // The encoder picks the same code for the name.
    gw::ajp::ForwardRequest e = base_request();
    e.method = names[code - 1];
    CHECK(static_cast<uint8_t>(encode(e)[5]) == code);
  }
}

TEST_CASE("ajp13 server: invalid method codes are a 400 with a response") {
  for (unsigned code : {0u, 28u, 0x80u, 0xFEu}) {
    CAPTURE(code);
    RawForward f;
    f.method = code;
    Run r = run_all_ways(f.packet());
    REQUIRE(r.error);
    CHECK(r.error->http_status == 400);
    CHECK(r.error->what == "invalid method code " + std::to_string(code));
    CHECK(r.starts.empty());
    CHECK(r.out == out_pkt("\x04" + u16(400) + str("Bad Request") + u16(0)) + end_response(false));
  }
}

TEST_CASE("ajp13 server: stored_method carries methods without a code") {
  gw::ajp::ForwardRequest f = base_request();
  f.method = "PATCH";
  std::string packet = encode(f);
  CHECK(static_cast<uint8_t>(packet[5]) == 0xFF);
  Run r = run_all_ways(packet);
  REQUIRE_FALSE(r.error);
  CHECK(request_of(r).method == "PATCH");

  SUBCASE("0xFF without stored_method") {
    RawForward raw;
    raw.method = 0xFF;
    Run bad = one(raw.packet());
    REQUIRE(bad.error);
    CHECK(bad.error->what == "method code 0xFF without a stored_method attribute");
  }
  SUBCASE("stored_method next to a real code") {
    RawForward raw;
    raw.method = 2;
    raw.attributes = "\x0D" + str("DELETE");
    Run bad = one(raw.packet());
    REQUIRE(bad.error);
    CHECK(bad.error->what == "stored_method 'DELETE' with method code 2");
  }
  SUBCASE("stored_method that is not a token") {
    RawForward raw;
    raw.method = 0xFF;
    raw.attributes = "\x0D" + str("GET /x");
    Run bad = one(raw.packet());
    REQUIRE(bad.error);
    CHECK(bad.error->http_status == 400);
  }
}

TEST_CASE("ajp13 server: every attribute lands in its field") {
  gw::ajp::ForwardRequest f = base_request();
  f.is_ssl = true;
  f.remote_host = "client.example.net";
  f.context = "/ctx";
  f.servlet_path = "/servlet/../../etc";
  f.remote_user = "alice";
  f.auth_type = "Basic";
  f.query_string = "a=1&b=%2F";
  f.route = "node7";
  f.ssl_cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  f.ssl_cipher = "TLS_AES_256_GCM_SHA384";
  f.ssl_session = "a1b2c3";
  f.ssl_key_size = 256;
  f.attributes = {{"AJP_REMOTE_PORT", "51234"},
                  {"AJP_LOCAL_ADDR", "198.51.100.1"},
                  {"AJP_SSL_PROTOCOL", "TLSv1.3"},
                  {"JK_LB_ACTIVATION", "ACT"}};
  Run r = run_all_ways(encode(f));
  REQUIRE_FALSE(r.error);
  const gw::Request& req = request_of(r);
  CHECK(r.starts[0].reject_status == 0);
  CHECK(req.https);
  CHECK(req.remote_addr == "192.0.2.7");
  CHECK(req.remote_port == 51234);
  CHECK(req.server_name == "www.example.org");
  CHECK(req.server_addr == "198.51.100.1");
  CHECK(req.server_port == 443);
  CHECK(req.remote_user == "alice");
  CHECK(req.auth_type == "Basic");
  CHECK(req.query == "a=1&b=%2F");
  CHECK(req.target == "/app/page?a=1&b=%2F");
  // context and servlet_path are read and ignored: never a path.
  CHECK(req.path == "/app/page");
  CHECK(req.script_name == "");
  CHECK(req.path_info == "/app/page");
  CHECK(req.route == "node7");
  CHECK(req.ssl_client_cert == *f.ssl_cert);
  CHECK(req.ssl_cipher == "TLS_AES_256_GCM_SHA384");
  CHECK(req.ssl_session_id == "a1b2c3");
  CHECK(req.ssl_key_size == 256);
  CHECK(req.ssl_protocol == "TLSv1.3");
  REQUIRE(req.params.size() == 2);
  CHECK(req.params[0].name == "REMOTE_HOST");
  CHECK(req.params[0].value == "client.example.net");
  CHECK(req.params[1].name == "JK_LB_ACTIVATION");
  CHECK(req.params[1].value == "ACT");
}

TEST_CASE("ajp13 server: ssl_key_size is a 2-byte integer, not a string") {
  RawForward raw;
  raw.attributes = "\x0B" + u16(2048);
  Run r = one(raw.packet());
  REQUIRE_FALSE(r.error);
  CHECK(request_of(r).ssl_key_size == 2048);
  // The ajpv13a document's string form reads as the integer 3 followed by
  // '2' (0x32), which is no attribute code: an error, never a silent misread.
  raw.attributes = "\x0B" + str("256");
  Run bad = one(raw.packet());
  REQUIRE(bad.error);
  CHECK(bad.error->what == "unknown attribute code 50 at offset 53");
}

TEST_CASE("ajp13 server: coded and plain header names") {
  std::string headers = u16(16);
  const char* coded[] = {
      "Accept",     "Accept-Charset", "Accept-Encoding", "Accept-Language", "Authorization",
      "Connection", "Content-Type",   "Content-Length",  "Cookie",          "Cookie2",
      "Host",       "Pragma",         "Referer",         "User-Agent"};
  for (unsigned i = 1; i <= 14; ++i) {
    headers += u16(0xA000 + i) + str(i == 8 ? "0" : "v" + std::to_string(i));
  }
  headers += str("X-Plain") + str("p1");
  headers += str("content-length-ish") + str("p2");
  RawForward raw;
  raw.headers = headers;
  Run r = run_all_ways(raw.packet());
  REQUIRE_FALSE(r.error);
  const gw::Request& req = request_of(r);
  REQUIRE(req.headers.size() == 16);
  for (unsigned i = 1; i <= 14; ++i) {
    CHECK(req.headers[i - 1].name == coded[i - 1]);
    CHECK(req.headers[i - 1].value == (i == 8 ? "0" : "v" + std::to_string(i)));
  }
  CHECK(req.headers[14].name == "X-Plain");
  CHECK(req.headers[15].name == "content-length-ish");
  CHECK(req.content_length == std::optional<uint64_t>(0));

  for (unsigned code : {0xA000u, 0xA00Fu, 0xA0FFu}) {
    CAPTURE(code);
    raw.headers = u16(1) + u16(code) + str("x");
    Run bad = one(raw.packet());
    REQUIRE(bad.error);
    CHECK(bad.error->http_status == 400);
    CHECK(bad.error->what.starts_with("invalid request header code 0xA0"));
  }
}

TEST_CASE("ajp13 server: the request path is decoded exactly once, never resolved") {
  struct Case {
    const char* uri;
    const char* path;
  };
  // Dot segments and encoded slashes are kept as decoded: the router
  // refuses a path that is not normal, as it does for every front end, so
  // "/echo/..%2Fstatic" can never be resolved into another project.
  for (Case c :
       {Case{"/a%20b/c", "/a b/c"}, Case{"/a/./b//c/../d", "/a/./b//c/../d"},
        Case{"/dir/", "/dir/"}, Case{"/%252e%252e/x", "/%2e%2e/x"}, Case{"/a/%2e%2e/b", "/a/../b"},
        Case{"/x%2Fy", "/x/y"}, Case{"/echo/..%2Fstatic/s.css", "/echo/../static/s.css"}}) {
    CAPTURE(c.uri);
    gw::ajp::ForwardRequest f = base_request();
    f.req_uri = c.uri;
    Run r = one(encode(f));
    REQUIRE_FALSE(r.error);
    CHECK(request_of(r).target == c.uri);
    CHECK(request_of(r).path == c.path);
    CHECK(request_of(r).path_info == c.path);
  }
  for (const char* uri :
       {"/%00", "/a%zz", "/a%2", "relative", "%2Fx", "", "/a?b", "/a b", "/a\x7f"}) {
    CAPTURE(uri);
    gw::ajp::ForwardRequest f = base_request();
    f.req_uri = uri;
    Run r = run_all_ways(encode(f));
    REQUIRE(r.error);
    CHECK(r.error->http_status == 400);
    CHECK(r.starts.empty());
    CHECK(decode_out(r.out) == std::vector<std::string>{"HEADERS 400 Bad Request", "END reuse=0"});
  }
  gw::ajp::ForwardRequest f = base_request();
  f.query_string = "a=\r\nX: y";
  Run r = one(encode(f));
  REQUIRE(r.error);
  CHECK(r.error->http_status == 400);
}

// ---------------------------------------------------------------------------
// Ghostcat rules

namespace {

Harness with_secret(std::optional<std::string> secret) {
  Harness h;
  h.options.secret = std::move(secret);
  return h;
}

}  // namespace

TEST_CASE("ajp13 server: the secret, right, wrong, missing, of another length") {
  Harness h = with_secret("s3cr3t-value");
  gw::ajp::ForwardRequest f = base_request();
  f.headers.push_back({"Content-Length", "5"});

  SUBCASE("right") {
    f.secret = "s3cr3t-value";
    Run r = run_all_ways(encode(f) + body_pkt("hello"), h);
    REQUIRE_FALSE(r.error);
    CHECK(r.starts[0].reject_status == 0);
    CHECK(r.bodies[0] == "hello");
    CHECK(decode_out(r.out) == kOk);
  }
  struct Wrong {
    std::optional<std::string> sent;
    const char* reason;
  };
  for (const Wrong& w :
       {Wrong{"s3cr3t-valuf", "AJP secret does not match"},
        Wrong{"s3cr3t", "AJP secret does not match"},  // a prefix
        Wrong{"s3cr3t-value-and-more", "AJP secret does not match"},
        Wrong{"", "AJP secret does not match"}, Wrong{"S3CR3T-VALUE", "AJP secret does not match"},
        Wrong{std::nullopt, "AJP secret missing"}}) {
    CAPTURE(w.sent.value_or("<none>"));
    f.secret = w.sent;
    // The refusal still reads the body exactly, then closes the connection.
    Run r = run_all_ways(encode(f) + body_pkt("hello") + kCPing, h);
    REQUIRE_FALSE(r.error);
    REQUIRE(r.starts.size() == 1);
    CHECK(r.starts[0].reject_status == 403);
    CHECK(r.starts[0].reject_reason == w.reason);
    CHECK(r.bodies[0] == "hello");
    CHECK(r.transcript.back() == "response close");
    CHECK(decode_out(r.out) == std::vector<std::string>{"HEADERS 200 OK [Content-Type: text/plain]",
                                                        "BODY ok", "END reuse=0"});
    CHECK(r.rest == kCPing);  // nothing more is read on that connection
  }
}

TEST_CASE("ajp13 server: a secret sent when none is configured is ignored") {
  gw::ajp::ForwardRequest f = base_request();
  f.secret = "whatever";
  Run r = one(encode(f));
  REQUIRE_FALSE(r.error);
  CHECK(r.starts[0].reject_status == 0);
}

TEST_CASE("ajp13 server: a req_attribute off the allowlist refuses the request (Ghostcat)") {
  gw::ajp::ForwardRequest f = base_request();
  f.req_uri = "/app/index.txt";
  f.attributes = {{"AJP_REMOTE_PORT", "1"},
                  {"javax.servlet.include.request_uri", "/"},
                  {"javax.servlet.include.path_info", "/WEB-INF/web.xml"},
                  {"javax.servlet.include.servlet_path", "/"}};
  Run r = run_all_ways(encode(f));
  REQUIRE_FALSE(r.error);
  REQUIRE(r.starts.size() == 1);
  CHECK(r.starts[0].reject_status == 403);
  CHECK(r.starts[0].reject_reason ==
        "req_attribute 'javax.servlet.include.request_uri' is not allowed");
  const gw::Request& req = r.starts[0].request;
  CHECK(req.path == "/app/index.txt");
  CHECK(req.path_info == "/app/index.txt");
  CHECK(req.script_name == "");
  CHECK(req.target == "/app/index.txt");
  CHECK(req.params.empty());
  CHECK(r.closed);

  SUBCASE("a refused request with a body of unknown length still reads it all") {
    gw::ajp::ForwardRequest g = f;
    g.method = "POST";
    g.headers.push_back({"Transfer-Encoding", "chunked"});
    Run b = run_all_ways(encode(g) + body_pkt("abc") + body_pkt("def") + kEndProxy + kCPing);
    REQUIRE_FALSE(b.error);
    CHECK(b.starts[0].reject_status == 403);
    CHECK(b.bodies[0] == "abcdef");
    CHECK(decode_out(b.out) == std::vector<std::string>{"GET_BODY 8186", "GET_BODY 8186",
                                                        "GET_BODY 8186",
                                                        "HEADERS 200 OK [Content-Type: text/plain]",
                                                        "BODY ok", "END reuse=0"});
    CHECK(b.rest == kCPing);
  }
  SUBCASE("a wrong secret is named before a forbidden attribute") {
    Run s = one(encode(f), with_secret("k"));
    CHECK(s.starts[0].reject_reason == "AJP secret missing");
  }
}

TEST_CASE("ajp13 server: allowed extra attributes become params, named as sent") {
  gw::ajp::ForwardRequest f = base_request();
  f.attributes = {{"CERT_ISSUER", "CN=ca"}, {"JK_LB_ACTIVATION", "DIS"}, {"site", "b"}};
  Harness h;
  h.options.allowed_attributes = {"CERT_ISSUER", "site"};
  Run r = one(encode(f), h);
  REQUIRE_FALSE(r.error);
  CHECK(r.starts[0].reject_status == 0);
  const gw::Request& req = request_of(r);
  REQUIRE(req.params.size() == 3);
  CHECK(req.params[0].name == "CERT_ISSUER");
  CHECK(req.params[1].name == "JK_LB_ACTIVATION");
  CHECK(req.params[1].value == "DIS");
  CHECK(req.params[2].name == "site");
  // Names match exactly: another case is another name.
  f.attributes = {{"Site", "b"}};
  Run other = one(encode(f), h);
  CHECK(other.starts[0].reject_status == 403);
}

// ---------------------------------------------------------------------------
// Body flow

TEST_CASE("ajp13 server: unknown-length bodies over several packets, both end forms") {
  gw::ajp::ForwardRequest f = base_request();
  f.method = "PUT";
  f.headers.push_back({"Transfer-Encoding", "chunked"});
  std::string a(8186, 'a'), b(100, 'b');
  for (const std::string& end : {kEndJk, kEndProxy}) {
    CAPTURE(end.size());
    std::string input = encode(f) + body_pkt(a) + body_pkt(b) + end;
    Run r = run_all_ways(input);
    REQUIRE_FALSE(r.error);
    CHECK(request_of(r).content_length == std::nullopt);
    CHECK(r.bodies[0] == a + b);
    CHECK(decode_out(r.out) == concat({"GET_BODY 8186", "GET_BODY 8186", "GET_BODY 8186"}, kOk));
    CHECK(r.out.starts_with(gbc(8186) + gbc(8186) + gbc(8186)));
  }
}

TEST_CASE("ajp13 server: without want_body nothing past the request is read") {
  gw::ajp::ForwardRequest f = base_request();
  f.headers.push_back({"Transfer-Encoding", "chunked"});
  Harness h;
  h.ask_body = false;
  std::string tail = body_pkt("xyz") + kEndJk;
  Run r = run_all_ways(encode(f) + tail, h);
  REQUIRE_FALSE(r.error);
  CHECK(r.transcript.size() == 1);
  CHECK(r.rest == tail);
  CHECK(r.out.empty());
}

TEST_CASE("ajp13 server: a known length over several packets, asked for one at a time") {
  for (size_t packet_size : {size_t{8192}, size_t{65536}}) {
    CAPTURE(packet_size);
    size_t max = packet_size - 6;
    std::string body(max * 2 + 17, 'z');
    for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
    gw::ajp::ForwardRequest f = base_request();
    f.method = "POST";
    f.headers.push_back({"Content-Length", std::to_string(body.size())});
    std::string input = encode(f, packet_size);
    for (size_t pos = 0; pos < body.size(); pos += max) {
      REQUIRE(gw::ajp::encode_body_packet(input, body.substr(pos, max), packet_size));
    }
    Harness h;
    h.limits.ajp_packet_size = packet_size;
    Run r = packet_size == 8192 ? run_all_ways(input, h) : one(input, h);
    REQUIRE_FALSE(r.error);
    CHECK(r.bodies[0] == body);
    // The first packet came unasked; two more were asked for.
    CHECK(r.out.starts_with(gbc(max) + gbc(max)));
    CHECK(decode_out(r.out) ==
          concat({"GET_BODY " + std::to_string(max), "GET_BODY " + std::to_string(max)}, kOk));
  }
}

TEST_CASE("ajp13 server: want_body asks only when a packet may come") {
  gw::ajp::ForwardRequest f = base_request();
  f.method = "POST";
  f.headers.push_back({"Content-Length", "10"});
  AjpServerCodec codec(Limits{}, AjpOptions{});
  std::string out;
  codec.want_body(1, out);  // no request yet
  CHECK(out.empty());
  std::vector<gw::Event> events;
  std::string input = encode(f);
  CHECK(codec.feed(input, events, out).consumed == input.size());
  codec.want_body(1, out);  // the first packet is on its way unasked
  CHECK(out.empty());
  std::string part = body_pkt("01234");
  part.pop_back();  // 4 of 5 data bytes
  events.clear();
  CHECK(codec.feed(part, events, out).consumed == part.size());
  codec.want_body(1, out);  // mid-packet
  CHECK(out.empty());
  events.clear();
  CHECK(codec.feed("4", events, out).consumed == 1);
  codec.want_body(1, out);
  CHECK(out == gbc(8186));
  codec.want_body(1, out);  // already asked
  CHECK(out == gbc(8186));
  events.clear();
  std::string rest = body_pkt("56789");
  CHECK(codec.feed(rest, events, out).consumed == rest.size());
  REQUIRE(events.size() == 2);
  CHECK(std::holds_alternative<gw::BodyEnd>(events[1]));
  codec.want_body(1, out);  // complete
  CHECK(out == gbc(8186));
}

TEST_CASE("ajp13 server: the unsolicited first packet after an early response is drained") {
  gw::ajp::ForwardRequest post = base_request();
  post.method = "POST";
  post.headers.push_back({"Content-Length", "40"});
  // The body itself looks like a request: it must never be parsed as one.
  gw::ajp::ForwardRequest evil = base_request();
  evil.req_uri = "/admin";
  std::string smuggled = encode(evil);
  smuggled.resize(40, ' ');
  gw::ajp::ForwardRequest next = base_request();
  next.req_uri = "/next";
  std::string input = encode(post) + body_pkt(smuggled) + encode(next);

  Harness h;
  h.answer = Answer::AtStart;
  Run r = run_all_ways(input, h);
  REQUIRE_FALSE(r.error);
  REQUIRE(r.starts.size() == 2);
  CHECK(r.starts[0].request.path == "/app/page");
  CHECK(r.starts[1].request.path == "/next");
  CHECK(decode_out(r.out) == concat(kOk, kOk));

  SUBCASE("step by step") {
    AjpServerCodec codec(Limits{}, AjpOptions{});
    std::string out;
    std::vector<gw::Event> events;
    std::string fwd = encode(post);
    REQUIRE(codec.feed(fwd, events, out).consumed == fwd.size());
    REQUIRE(events.size() == 1);
    gw::ResponseHead head;
    codec.write_head(1, head, out);
    CHECK(codec.write_end(1, out));
    // Half of the late packet, then the rest with the next request.
    std::string late = body_pkt(smuggled);
    std::string first_half = late.substr(0, 20);
    events.clear();
    CHECK(codec.feed(first_half, events, out).consumed == 20);
    CHECK(events.empty());
    std::string second = late.substr(20) + encode(next);
    events.clear();
    auto res = codec.feed(second, events, out);
    CHECK_FALSE(res.error);
    CHECK(res.consumed == second.size());
    REQUIRE(events.size() == 2);  // RequestStarted(/next), BodyEnd
    CHECK(std::get<gw::RequestStarted>(events[0]).request.path == "/next");
  }
}

TEST_CASE("ajp13 server: a packet asked for before the response ended is drained too") {
  gw::ajp::ForwardRequest f = base_request();
  f.headers.push_back({"Transfer-Encoding", "chunked"});
  AjpServerCodec codec(Limits{}, AjpOptions{});
  std::string out;
  std::vector<gw::Event> events;
  std::string fwd = encode(f);
  REQUIRE(codec.feed(fwd, events, out).consumed == fwd.size());
  codec.want_body(1, out);
  CHECK(out == gbc(8186));
  gw::ResponseHead head;
  codec.write_head(1, head, out);
  CHECK(codec.write_end(1, out));
  std::string input = body_pkt("late data") + kCPing;
  events.clear();
  auto res = codec.feed(input, events, out);
  CHECK_FALSE(res.error);
  CHECK(res.consumed == input.size());
  CHECK(events.empty());
  CHECK(out.ends_with(kCPong));
}

TEST_CASE("ajp13 server: body errors") {
  gw::ajp::ForwardRequest f = base_request();
  f.method = "POST";
  f.headers.push_back({"Content-Length", "10"});
  std::string fwd = encode(f);

  SUBCASE("more data than Content-Length") {
    Run r = run_all_ways(fwd + body_pkt("0123456789A"));
    REQUIRE(r.error);
    CHECK(r.error->what == "body packet of 11 bytes goes past Content-Length 10 (0 received)");
    CHECK(r.bodies[0].empty());
    CHECK(decode_out(r.out) == std::vector<std::string>{"HEADERS 400 Bad Request", "END reuse=0"});
  }
  SUBCASE("an empty packet before Content-Length: the client went away") {
    for (const std::string& end : {kEndJk, kEndProxy}) {
      Run r = run_all_ways(fwd + body_pkt("0123") + end);
      REQUIRE(r.error);
      CHECK(r.error->what == "request body ended after 4 of 10 bytes (client aborted?)");
      CHECK(r.bodies[0] == "0123");
    }
  }
  SUBCASE("no error response once the head is out") {
    AjpServerCodec codec(Limits{}, AjpOptions{});
    std::string out;
    std::vector<gw::Event> events;
    REQUIRE(codec.feed(fwd, events, out).consumed == fwd.size());
    gw::ResponseHead head;
    codec.write_head(1, head, out);
    std::string before = out;
    events.clear();
    auto res = codec.feed(kEndJk, events, out);
    REQUIRE(res.error);
    CHECK(out == before);
    // No second response after the error (CVE-2022-1319): writes do nothing.
    codec.write_body(1, "x", out);
    CHECK_FALSE(codec.write_end(1, out));
    CHECK(out == before);
  }
  SUBCASE("a chunk length that disagrees with its packet") {
    std::string bad = pkt(u16(3) + "abcd");
    Run r = run_all_ways(fwd + bad);
    REQUIRE(r.error);
    CHECK(r.error->what ==
          "body packet chunk length 3 does not match its packet length 6 "
          "(expected 4)");
  }
  SUBCASE("a one-byte body packet") {
    Run r = one(fwd + pkt("\x01"));
    REQUIRE(r.error);
    CHECK(r.error->what == "body packet of 1 byte has no chunk length");
  }
  SUBCASE("a CPING while a body packet is awaited") {
    Run r = run_all_ways(fwd + kCPing);
    REQUIRE(r.error);
    CHECK(r.error->what == "CPING while a request is in progress");
  }
  SUBCASE("bad magic where a body packet is expected") {
    Run r = one(fwd + std::string("\x41\x42\x00\x02\x00\x00", 6));
    REQUIRE(r.error);
    CHECK(r.error->what ==
          "bad AJP packet magic 0x4142 (expected 0x1234) where a body packet "
          "was expected");
  }
  SUBCASE("a body packet over the packet size") {
    Run r = one(fwd + "\x12\x34" + u16(8189));
    REQUIRE(r.error);
    CHECK(r.error->what ==
          "body packet of 8193 bytes over the AJP packet size 8192 (the listener's packet_size / "
          "--ajp-packet-size)");
  }
}

TEST_CASE("ajp13 server: Content-Length and Transfer-Encoding rules") {
  auto with_headers = [](std::vector<Header> h) {
    gw::ajp::ForwardRequest f = base_request();
    f.method = "POST";
    for (auto& x : h) f.headers.push_back(x);
    return encode(f);
  };
  struct Case {
    std::vector<Header> headers;
    int status;
    const char* what;
  };
  for (const Case& c : {
           Case{{{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}},
                400,
                "both Content-Length and Transfer-Encoding"},
           Case{
               {{"Content-Length", "5"}, {"content-length", "5"}}, 400, "duplicate Content-Length"},
           Case{{{"Content-Length", "5x"}}, 400, "bad Content-Length: '5x'"},
           Case{{{"Content-Length", "-1"}}, 400, "bad Content-Length: '-1'"},
           Case{{{"Content-Length", "99999999999999999999999"}},
                400,
                "bad Content-Length: '99999999999999999999999'"},
       }) {
    CAPTURE(c.what);
    Run r = one(with_headers(c.headers));
    REQUIRE(r.error);
    CHECK(r.error->http_status == c.status);
    CHECK(r.error->what == c.what);
  }
  Harness small;
  small.limits.max_body_bytes = 100;
  Run big = run_all_ways(with_headers({{"Content-Length", "101"}}), small);
  REQUIRE(big.error);
  CHECK(big.error->http_status == 413);
  CHECK(decode_out(big.out) ==
        std::vector<std::string>{"HEADERS 413 Content Too Large", "END reuse=0"});
  Run fits =
      one(with_headers({{"Content-Length", "100"}}) + body_pkt(std::string(100, 'x')), small);
  CHECK_FALSE(fits.error);
  // Unknown length: counted as it arrives.
  Run over = run_all_ways(with_headers({{"Transfer-Encoding", "chunked"}}) +
                              body_pkt(std::string(60, 'x')) + body_pkt(std::string(41, 'y')),
                          small);
  REQUIRE(over.error);
  CHECK(over.error->http_status == 413);
  CHECK(over.bodies[0] == std::string(60, 'x'));
}

// ---------------------------------------------------------------------------
// Framing, strings, limits

TEST_CASE("ajp13 server: packet sizes") {
  SUBCASE("over the packet size: refused from the header alone") {
    AjpServerCodec codec(Limits{}, AjpOptions{});
    std::string out;
    std::vector<gw::Event> events;
    auto res = codec.feed(std::string("\x12\x34\x1F\xFD", 4), events, out);  // 8189 + 4
    REQUIRE(res.error);
    CHECK(res.error->what.starts_with("packet of 8193 bytes over the AJP packet size 8192"));
    CHECK(out.empty());  // no request yet: nothing to answer
  }
  SUBCASE("exactly the packet size is fine, for 8192 and 65536") {
    for (size_t size : {size_t{8192}, size_t{65536}}) {
      CAPTURE(size);
      RawForward raw;
      std::string value(size - 4 - raw.payload().size() - 2 - 2 - 3 - 1 - 3, 'v');
      raw.headers = u16(1) + str("X-Pad") + str(value);
      std::string packet = raw.packet();
      REQUIRE(packet.size() == size);
      Harness h;
      h.limits.ajp_packet_size = size;
      h.limits.value_bytes = 65536;
      h.limits.header_bytes = 65536;
      Run r = one(packet, h);
      CHECK_FALSE(r.error);
      CHECK(r.starts.size() == 1);
      // The same packet on a codec with the default size: accepted at 8192,
      // refused from its header at 65536, with nothing written.
      Harness defaults;
      defaults.limits.value_bytes = 65536;
      Run d = one(packet, defaults);
      CHECK(d.error.has_value() == (size != 8192));
      CHECK(d.out == (size == 8192 ? concat_out(kOk) : std::string()));
    }
  }
  SUBCASE("a partial packet waits") {
    std::string packet = encode(base_request());
    for (size_t n : {size_t{1}, size_t{3}, size_t{4}, packet.size() - 1}) {
      Run r = one(packet.substr(0, n));
      CHECK_FALSE(r.error);
      CHECK(r.rest.size() == n);
      CHECK(r.starts.empty());
    }
  }
}

TEST_CASE("ajp13 server: truncated and malformed Forward Requests") {
  std::string full = RawForward{}.payload();
  // Every cut of the payload is malformed (the declared length says so).
  for (size_t n = 1; n < full.size(); ++n) {
    CAPTURE(n);
    Run r = one(pkt(full.substr(0, n)));
    REQUIRE(r.error);
    CHECK(r.error->http_status == 400);
    CHECK(decode_out(r.out) == std::vector<std::string>{"HEADERS 400 Bad Request", "END reuse=0"});
  }
  struct Case {
    RawForward raw;
    const char* what;
  };
  RawForward past, nonul, nullproto, nul_inside, crlf, trailing, unknown_attr, null_value, bad_name,
      null_name;
  past.uri = u16(200) + "/x";
  nonul.uri = u16(2) + "/x" + "!";
  nullproto.protocol = kNull;
  nul_inside.uri = str(std::string("/a\0b", 4));
  crlf.headers = u16(1) + str("X-A") + str("a\r\nX-B: b");
  trailing.terminator = std::string("\xFF\x00", 2);
  unknown_attr.attributes = "\x0E" + str("x");
  null_value.headers = u16(1) + str("X-A") + kNull;
  bad_name.headers = u16(1) + str("X A") + str("v");
  null_name.headers = u16(1) + kNull + str("v");
  for (const Case& c : {
           Case{past,
                "FORWARD_REQUEST req_uri: string runs past the end of the packet at "
                "offset 13"},
           Case{nonul, "FORWARD_REQUEST req_uri: string without its NUL terminator at offset 13"},
           Case{nullproto, "FORWARD_REQUEST protocol is a null string"},
           Case{nul_inside, "FORWARD_REQUEST req_uri holds a control character: '/a\\x00b'"},
           Case{crlf,
                "FORWARD_REQUEST value of X-A holds a control character: "
                "'a\\x0d\\x0aX-B: b'"},
           Case{trailing, "1 bytes after the attribute terminator of FORWARD_REQUEST"},
           Case{unknown_attr, "unknown attribute code 14 at offset 50"},
           Case{null_value, "null value for request header X-A"},
           Case{bad_name, "request header name is not a token: 'X A'"},
           Case{null_name, "null request header name"},
       }) {
    CAPTURE(c.what);
    Run r = run_all_ways(c.raw.packet());
    REQUIRE(r.error);
    CHECK(r.error->http_status == 400);
    CHECK(r.error->what == c.what);
    CHECK(r.out == out_pkt("\x04" + u16(400) + str("Bad Request") + u16(0)) + end_response(false));
  }
}

TEST_CASE("ajp13 server: duplicate attributes are refused") {
  for (std::string attrs :
       {"\x05" + str("a") + "\x05" + str("b"), "\x03" + str("u") + "\x03" + str("v"),
        "\x0C" + str("s") + "\x0C" + str("s"), "\x0B" + u16(1) + "\x0B" + u16(1),
        "\x0A" + str("AJP_REMOTE_PORT") + str("1") + "\x0A" + str("AJP_REMOTE_PORT") + str("2")}) {
    RawForward raw;
    raw.attributes = attrs;
    Run r = one(raw.packet());
    REQUIRE(r.error);
    CHECK(r.error->what.starts_with("duplicate"));
  }
}

TEST_CASE("ajp13 server: header limits give 431") {
  Harness h;
  h.limits.header_count = 3;
  h.limits.name_bytes = 16;
  h.limits.value_bytes = 32;
  h.limits.header_bytes = 60;
  struct Case {
    std::string headers;
    std::string attributes;
    const char* what;
  };
  for (const Case& c : {
           Case{u16(4), "", "FORWARD_REQUEST has 4 headers, more than 3 (limits.header_count)"},
           Case{u16(1) + str(std::string(17, 'N')) + str("v"), "",
                "request header name over 16 bytes (limits.name_bytes): 'NNNNNNNNNNNNNNNNN'"},
           Case{u16(1) + str("X") + str(std::string(33, 'v')), "",
                "request header X over 32 bytes (limits.value_bytes)"},
           Case{
               u16(3) + str("A") + str(std::string(30, 'v')) + str("B") + str(std::string(30, 'v')),
               "", "request headers over 60 bytes (limits.header_bytes)"},
           Case{u16(0),
                "\x0A" + str("JK_LB_ACTIVATION") + str("1") + "\x0A" + str("JK_LB_ACTIVATION") +
                    str("2") + "\x0A" + str("JK_LB_ACTIVATION") + str("3") + "\x0A" +
                    str("JK_LB_ACTIVATION") + str("4"),
                "more than 3 req_attributes (limits.header_count)"},
           Case{u16(0), "\x03" + str(std::string(33, 'u')),
                "attribute remote_user over 32 bytes "
                "(limits.value_bytes)"},
       }) {
    CAPTURE(c.what);
    RawForward raw;
    raw.headers = c.headers;
    raw.attributes = c.attributes;
    Run r = run_all_ways(raw.packet(), h);
    REQUIRE(r.error);
    CHECK(r.error->http_status == 431);
    CHECK(r.error->what == c.what);
    CHECK(decode_out(r.out) ==
          std::vector<std::string>{"HEADERS 431 Request Header Fields Too Large", "END reuse=0"});
  }
}

TEST_CASE("ajp13 server: packets between requests") {
  struct Case {
    std::string input;
    const char* what;
  };
  for (const Case& c : {
           Case{pkt("\x07"), "SHUTDOWN packet: never acted on; closing the connection"},
           Case{pkt("\x08"), "AJP14 PING packet (type 8) is not supported"},
           Case{pkt("\x05\x01"), "unexpected packet type 5 (END_RESPONSE) between requests"},
           Case{pkt("\x63"), "unexpected packet type 99 between requests"},
           Case{pkt(std::string("\x0A\x00", 2)), "CPING with 2 payload bytes (expected 1)"},
           Case{"GET / HTTP/1.1\r\n\r\n",
                "bad AJP packet magic 0x4745 (expected 0x1234): an HTTP request on the AJP port"},
           Case{std::string("\x16\x03\x01\x02\x00", 5),
                "bad AJP packet magic 0x1603 (expected 0x1234): a TLS handshake on the AJP port"},
           Case{kCPing + pkt(std::string("\x00\x00", 2)),
                "unexpected packet type 0 between requests"},
       }) {
    CAPTURE(c.what);
    Run r = run_all_ways(c.input);
    REQUIRE(r.error);
    CHECK(r.error->http_status == 400);
    CHECK(r.error->what == c.what);
    // Before a request there is nobody to answer but the CPINGs.
    CHECK(r.out == (c.input.starts_with(kCPing) ? kCPong : ""));
  }
  // Empty packets between requests (lighttpd) are skipped; CPINGs answered.
  Run r = run_all_ways(kEndJk + kCPing + kEndJk + kCPing + encode(base_request()));
  REQUIRE_FALSE(r.error);
  CHECK(r.starts.size() == 1);
  CHECK(decode_out(r.out) == concat({"CPONG", "CPONG"}, kOk));
}

// ---------------------------------------------------------------------------
// Response bytes

namespace {

// A codec with one started GET (or HEAD) request whose body is complete.
struct Started {
  AjpServerCodec codec;
  std::string out;
  explicit Started(const char* method = "GET", size_t packet_size = 8192)
      : codec(
            [&] {
              Limits l;
              l.ajp_packet_size = packet_size;
              return l;
            }(),
            AjpOptions{}) {
    gw::ajp::ForwardRequest f = base_request();
    f.method = method;
    std::string in = encode(f);
    std::vector<gw::Event> events;
    auto res = codec.feed(in, events, out);
    REQUIRE_FALSE(res.error);
    REQUIRE(events.size() == 2);
  }
};

}  // namespace

TEST_CASE("ajp13 server: SEND_HEADERS bytes, coded names, dropped headers") {
  Started s;
  gw::ResponseHead head;
  head.status = 404;
  head.headers = {{"Content-Type", "text/html"},
                  {"content-language", "en"},
                  {"Content-Length", "12"},
                  {"Date", "d"},
                  {"Last-Modified", "m"},
                  {"Location", "/l"},
                  {"Set-Cookie", "a=1"},
                  {"Set-Cookie2", "b=2"},
                  {"Servlet-Engine", "s"},
                  {"Status", "404"},
                  {"WWW-Authenticate", "Basic"},
                  {"X-Plain", "p"},
                  {"Connection", "close, X-Hop"},
                  {"X-Hop", "dropped"},
                  {"Keep-Alive", "timeout=5"},
                  {"Transfer-Encoding", "chunked"},
                  {"TE", "trailers"},
                  {"Trailer", "X"},
                  {"Upgrade", "h2c"},
                  {"Proxy-Connection", "keep-alive"},
                  {"Bad Name", "v"},
                  {"X-Split", "a\r\nSet-Cookie: evil=1"},
                  {"X-Nul", std::string("a\0b", 3)}};
  s.codec.write_head(1, head, s.out);
  std::string expect = "\x04" + u16(404) + str("Not Found") + u16(12);
  const char* values[] = {"text/html", "en",  "12", "d",   "m",    "/l",
                          "a=1",       "b=2", "s",  "404", "Basic"};
  for (unsigned i = 0; i < 11; ++i) expect += u16(0xA001 + i) + str(values[i]);
  expect += str("X-Plain") + str("p");
  CHECK(s.out == out_pkt(expect));

  SUBCASE("the reason: given, empty, unsafe; a status out of range") {
    struct Case {
      int status;
      std::string reason;
      int sent;
      const char* sent_reason;
    };
    for (const Case& c :
         {Case{200, "Fine", 200, "Fine"}, Case{201, "", 201, "Created"},
          Case{200, "A\r\nB", 200, "OK"}, Case{0, "Zero", 500, "Internal Server Error"},
          Case{1000, "", 500, "Internal Server Error"}}) {
      Started t;
      gw::ResponseHead h;
      h.status = c.status;
      h.reason = c.reason;
      t.codec.write_head(1, h, t.out);
      CHECK(t.out == out_pkt("\x04" + u16(c.sent) + str(c.sent_reason) + u16(0)));
    }
  }
  SUBCASE("headers that would overflow the packet are left out") {
    Started t;
    gw::ResponseHead h;
    h.headers = {
        {"X-Big", std::string(8000, 'b')}, {"X-Too-Big", std::string(200, 'c')}, {"X-Small", "s"}};
    t.codec.write_head(1, h, t.out);
    CHECK(t.out.size() <= 8192);
    CHECK(t.out == out_pkt("\x04" + u16(200) + str("OK") + u16(2) + str("X-Big") +
                           str(std::string(8000, 'b')) + str("X-Small") + str("s")));
  }
}

TEST_CASE("ajp13 server: SEND_BODY_CHUNK split at the packet size, and END_RESPONSE") {
  for (size_t size : {size_t{8192}, size_t{65536}}) {
    CAPTURE(size);
    Started s("GET", size);
    gw::ResponseHead head;
    s.codec.write_head(1, head, s.out);
    s.out.clear();
    size_t max = size - 8;
    std::string body(max * 2 + 5, 'q');
    s.codec.write_body(1, body, s.out);
    s.codec.write_body(1, "", s.out);  // nothing for nothing
    std::string expect = out_pkt("\x03" + u16(max) + std::string(max, 'q') + '\0');
    expect += expect;
    expect += out_pkt("\x03" + u16(5) + "qqqqq" + '\0');
    CHECK(s.out == expect);
    s.out.clear();
    CHECK(s.codec.write_end(1, s.out));
    CHECK(s.out == std::string("AB\x00\x02\x05\x01", 6));
  }
}

TEST_CASE("ajp13 server: no body for HEAD, 204 and 304") {
  for (auto [method, status] :
       {std::pair{"HEAD", 200}, std::pair{"GET", 204}, std::pair{"GET", 304}}) {
    Started s(method);
    gw::ResponseHead head;
    head.status = status;
    head.headers = {{"Content-Length", "5"}};
    s.codec.write_head(1, head, s.out);
    std::string after_head = s.out;
    s.codec.write_body(1, "hello", s.out);
    CHECK(s.out == after_head);
    CHECK(s.codec.write_end(1, s.out));
    CHECK(s.out == after_head + end_response(true));
  }
}

TEST_CASE("ajp13 server: write_abort writes nothing and closes; writes out of turn do nothing") {
  Started s;
  gw::ResponseHead head;
  s.codec.write_head(1, head, s.out);
  std::string before = s.out;
  CHECK_FALSE(s.codec.write_abort(1, s.out));
  CHECK(s.out == before);
  s.codec.write_body(1, "x", s.out);
  CHECK_FALSE(s.codec.write_end(1, s.out));
  CHECK(s.out == before);
  std::vector<gw::Event> events;
  auto res = s.codec.feed(encode(base_request()), events, s.out);
  CHECK(res.consumed == 0);
  CHECK(events.empty());

  // write_end without a head: the connection closes, nothing is written.
  Started t;
  CHECK_FALSE(t.codec.write_end(1, t.out));
  CHECK(t.out.empty());

  // Nothing before a request.
  AjpServerCodec idle(Limits{}, AjpOptions{});
  std::string out;
  idle.write_head(1, head, out);
  idle.write_body(1, "x", out);
  CHECK_FALSE(idle.write_end(1, out));
  CHECK(out.empty());
}

TEST_CASE("ajp13 server: the packet size is clamped to 8192..65536") {
  Limits l;
  l.ajp_packet_size = 100;
  CHECK(AjpServerCodec(l, AjpOptions{}).packet_size() == 8192);
  l.ajp_packet_size = 1 << 20;
  CHECK(AjpServerCodec(l, AjpOptions{}).packet_size() == 65536);
  l.ajp_packet_size = 16384;
  CHECK(AjpServerCodec(l, AjpOptions{}).packet_size() == 16384);
}
