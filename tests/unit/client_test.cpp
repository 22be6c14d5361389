// gatewayd-client: the command line and URL parser (every error message),
// the Request and CGI variables it builds, its request encoders (byte for
// byte, and through gatewayd's own server codecs), its response readers at
// every split point with every error they report, the latency histogram and
// the --bench report.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "gateway/client/bench_stats.h"
#include "gateway/client/endpoint.h"
#include "gateway/client/latency_histogram.h"
#include "gateway/client/options.h"
#include "gateway/client/request_plan.h"
#include "gateway/client/wire.h"
#include "protocols/ajp13_server.h"
#include "protocols/ajp13_wire.h"
#include "protocols/fastcgi_server.h"
#include "protocols/fastcgi_wire.h"
#include "protocols/http1_server.h"
#include "protocols/scgi_server.h"
#include "tests/support/split.h"

using gw::Header;
using gw::Protocol;
using namespace gw::client;

namespace {

template <size_t N>
std::string B(const char (&s)[N]) {
  return std::string(s, N - 1);
}

const std::string kAgent = "gatewayd-client/" GATEWAYD_VERSION;

struct Parsed {
  std::optional<UsageError> error;
  ClientOptions options;
};

Parsed parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"gatewayd-client"};
  argv.insert(argv.end(), args.begin(), args.end());
  Parsed p;
  p.error = parse_client_options(static_cast<int>(argv.size()), argv.data(), p.options);
  return p;
}

std::string error_of(std::initializer_list<const char*> args) {
  Parsed p = parse(args);
  return p.error ? p.error->message() : "(no error)";
}

ClientOptions options_of(std::initializer_list<const char*> args) {
  Parsed p = parse(args);
  INFO((p.error ? p.error->message() : ""));
  REQUIRE_FALSE(p.error);
  return p.options;
}

std::optional<std::string> var(const std::vector<Header>& vars, std::string_view name) {
  for (const Header& v : vars) {
    if (v.name == name) return v.value;
  }
  return std::nullopt;
}

size_t count(const std::vector<Header>& vars, std::string_view name) {
  return static_cast<size_t>(
      std::count_if(vars.begin(), vars.end(), [&](const Header& v) { return v.name == name; }));
}

RequestPlan plan_of(std::initializer_list<const char*> args,
                    std::optional<uint64_t> body_length = std::nullopt) {
  ClientOptions o = options_of(args);
  if (!body_length && o.body.kind == BodySpec::Kind::Text) body_length = o.body.value.size();
  return make_plan(o, body_length);
}

std::unique_ptr<RequestEncoder> encoder_of(const RequestPlan& plan) {
  std::string why;
  auto encoder = make_encoder(plan, why);
  INFO(why);
  REQUIRE(encoder);
  return encoder;
}

// The whole request as the client sends it: head, body, end marker.
std::string request_bytes(const RequestEncoder& encoder, std::string_view body) {
  std::string out = encoder.head();
  if (encoder.body_on_request()) {
    if (!body.empty()) encoder.encode_body(out, body);
    return out;
  }
  if (!body.empty()) encoder.encode_body(out, body);
  encoder.encode_body_end(out);
  return out;
}

// What one of gatewayd's server codecs made of the client's bytes.
struct ServerView {
  std::optional<gw::Request> request;
  int reject_status = 0;
  std::string body;
  int body_ends = 0;
  std::optional<gw::CodecError> error;
};

ServerView serve(gw::ServerCodec& codec, std::string_view bytes) {
  ServerView v;
  std::string buffer(bytes), out;
  for (int round = 0; round < 8 && !buffer.empty(); ++round) {
    std::vector<gw::Event> events;
    gw::FeedResult r = codec.feed(buffer, events, out);
    for (auto& ev : events) {
      if (auto* s = std::get_if<gw::RequestStarted>(&ev)) {
        v.request = std::move(s->request);
        v.reject_status = s->reject_status;
      }
      if (auto* b = std::get_if<gw::BodyData>(&ev)) v.body.append(b->data);
      if (std::holds_alternative<gw::BodyEnd>(ev)) ++v.body_ends;
    }
    buffer.erase(0, r.consumed);
    if (r.error) {
      v.error = r.error;
      break;
    }
  }
  return v;
}

// Everything a reader reported, with body and stderr pieces joined (they
// depend on how the input was split).
struct Transcript : ResponseSink {
  std::vector<std::string> heads;  // "404 Not Found|Content-Type: text/plain"
  std::optional<std::string> local_redirect;
  std::string body;
  std::string app_stderr;
  std::vector<size_t> wanted;
  std::vector<std::string> warnings;
  int ends = 0;
  bool reusable = false;
  std::optional<ClientError> error;
  size_t consumed = 0;

  void on_head(const gw::ResponseHead& head, const std::optional<std::string>& redirect) override {
    std::string h = std::to_string(head.status) + " " + head.reason;
    for (const Header& x : head.headers) h += "|" + x.name + ": " + x.value;
    heads.push_back(h);
    local_redirect = redirect;
  }
  void on_body(std::string_view data) override { body.append(data); }
  void on_end(bool r) override {
    ++ends;
    reusable = r;
  }
  void on_app_stderr(std::string_view data) override { app_stderr.append(data); }
  void on_body_wanted(size_t n) override { wanted.push_back(n); }
  void on_warning(std::string_view line) override { warnings.emplace_back(line); }

  // Everything, one fact a line, so that a failed comparison shows what differs.
  std::string text() const {
    std::string t;
    for (const auto& h : heads) t += "head " + h + "\n";
    if (local_redirect) t += "local redirect " + *local_redirect + "\n";
    t += "body " + body + "\nstderr " + app_stderr + "\n";
    for (size_t n : wanted) t += "wanted " + std::to_string(n) + "\n";
    for (const auto& w : warnings) t += "warning " + w + "\n";
    t += "ends " + std::to_string(ends) + (reusable ? " reusable" : "") + "\n";
    if (error)
      t += "error " + std::to_string(static_cast<int>(error->failure)) + " " + error->what + "\n";
    if (!error) t += "consumed " + std::to_string(consumed) + "\n";  // after an error: moot
    return t;
  }
};

// Plays the connection: each piece appended to the unused bytes and fed;
// then, if `eof`, the peer closes.
Transcript read_response(ResponseReader& reader, const std::vector<std::string_view>& pieces,
                         bool eof) {
  Transcript t;
  std::string pending;
  reader.start();
  for (auto piece : pieces) {
    pending.append(piece);
    ReadResult r = reader.feed(pending, t);
    REQUIRE(r.consumed <= pending.size());
    t.consumed += r.consumed;
    pending.erase(0, r.consumed);
    if (r.error) {
      t.error = r.error;
      return t;
    }
  }
  if (eof) t.error = reader.finish_eof(t);
  return t;
}

ReaderOptions reader_options(Protocol protocol, bool keep_conn = false,
                             std::string method = "GET") {
  ReaderOptions o;
  o.protocol = protocol;
  o.keep_conn = keep_conn;
  o.method = std::move(method);
  return o;
}

// The response read whole, then split at every point: always the same.
Transcript read_every_split(const ReaderOptions& options, std::string_view bytes, bool eof) {
  auto whole_reader = make_reader(options);
  Transcript whole = read_response(*whole_reader, {bytes}, eof);
  gw::test::for_each_split(bytes, [&](std::string_view a, std::string_view b) {
    auto reader = make_reader(options);
    Transcript t = read_response(*reader, {a, b}, eof);
    INFO("split at " << a.size());
    CHECK(t.text() == whole.text());
  });
  return whole;
}

Transcript read_once(const ReaderOptions& options, std::string_view bytes, bool eof) {
  auto reader = make_reader(options);
  return read_response(*reader, {bytes}, eof);
}

std::string what(const Transcript& t) {
  return t.error ? t.error->what : "(no error)";
}

// ---- FastCGI records and AJP packets, as an app or a container sends them.

std::string record(uint8_t type, uint16_t id, std::string_view content) {
  std::string out;
  gw::fcgi::append_record(out, type, id, content);
  return out;
}

std::string end_request(uint16_t id, uint32_t app_status, uint8_t protocol_status) {
  std::string out;
  gw::fcgi::append_end_request(out, id, app_status, protocol_status);
  return out;
}

std::string stdout_record(std::string_view data) {
  return record(gw::fcgi::FCGI_STDOUT, 1, data);
}

std::string send_headers(int status, std::vector<Header> headers) {
  gw::ResponseHead head;
  head.status = status;
  head.headers = std::move(headers);
  std::string out;
  gw::ajp::append_send_headers(out, head, 8192);
  return out;
}

std::string send_body(std::string_view data) {
  std::string out;
  gw::ajp::append_send_body(out, data, 8192);
  return out;
}

std::string end_response(bool reuse) {
  std::string out;
  gw::ajp::append_end_response(out, reuse);
  return out;
}

}  // namespace

// ===================================================================
// Command line: what it accepts

TEST_CASE("client: a URL gives protocol, address, Host, SERVER_NAME/PORT and target") {
  ClientOptions o = options_of({"fcgi://127.0.0.1:9000/index.php?x=1"});
  CHECK(o.protocol == Protocol::FastCgi);
  CHECK_FALSE(o.endpoint.address.is_unix);
  CHECK(o.endpoint.address.host == "127.0.0.1");
  CHECK(o.endpoint.address.port == 9000);
  CHECK(o.endpoint.authority == "127.0.0.1:9000");
  CHECK(o.endpoint.server_name == "127.0.0.1");
  CHECK(o.endpoint.server_port == 9000);
  CHECK(o.target == "/index.php?x=1");
  CHECK(o.method == "GET");
  CHECK(o.mode == ClientOptions::Mode::Request);
  CHECK(o.timeout_ms == 30000);

  // Default ports are gatewayd's, per scheme; no path means "/".
  ClientOptions s = options_of({"scgi://localhost"});
  CHECK(s.protocol == Protocol::Scgi);
  CHECK(s.endpoint.address.port == 4000);
  CHECK(s.endpoint.authority == "localhost");
  CHECK(s.target == "/");
  CHECK(options_of({"ajp://h/"}).endpoint.address.port == 8009);
  CHECK(options_of({"http://h/"}).endpoint.address.port == 80);
  CHECK(options_of({"FCGI://h/"}).endpoint.address.port == 8000);

  ClientOptions v6 = options_of({"ajp://[::1]/x"});
  CHECK(v6.endpoint.address.host == "::1");
  CHECK(v6.endpoint.authority == "[::1]");
  CHECK(v6.endpoint.server_name == "::1");
  CHECK(v6.endpoint.server_port == 8009);

  CHECK(options_of({"http://h:8080?q=1"}).target == "/?q=1");
  CHECK(options_of({"http://h/a#frag"}).target == "/a");
}

TEST_CASE("client: addresses without a scheme take --protocol; unix sockets too") {
  ClientOptions tcp = options_of({"--protocol=scgi", "127.0.0.1:4000", "/echo/x?y"});
  CHECK(tcp.protocol == Protocol::Scgi);
  CHECK(tcp.endpoint.address.host == "127.0.0.1");
  CHECK(tcp.endpoint.address.port == 4000);
  CHECK(tcp.endpoint.authority == "127.0.0.1:4000");
  CHECK(tcp.target == "/echo/x?y");

  ClientOptions v6 = options_of({"--protocol", "http", "[::1]:8080"});
  CHECK(v6.endpoint.address.host == "::1");
  CHECK(v6.endpoint.address.port == 8080);

  for (const char* text : {"unix:/run/gw.sock", "/run/gw.sock"}) {
    ClientOptions u = options_of({"--protocol=fcgi", text, "/p"});
    CHECK(u.endpoint.address.is_unix);
    CHECK(u.endpoint.address.path == "/run/gw.sock");
    CHECK(u.endpoint.authority == "localhost");
    CHECK(u.endpoint.server_port == 80);
    CHECK(u.target == "/p");
  }

  // Apache's form: the socket, then a URL for protocol, Host and target.
  ClientOptions a = options_of({"unix:/run/php.sock|fcgi://localhost/index.php"});
  CHECK(a.protocol == Protocol::FastCgi);
  CHECK(a.endpoint.address.is_unix);
  CHECK(a.endpoint.address.path == "/run/php.sock");
  CHECK(a.endpoint.authority == "localhost");
  CHECK(a.endpoint.server_port == 8000);
  CHECK(a.target == "/index.php");

  // "--" ends the options.
  CHECK(options_of({"--protocol=http", "--", "h:1", "/x"}).target == "/x");
}

TEST_CASE("client: request options, body kinds and optparse conventions") {
  ClientOptions o =
      options_of({"-iv", "-XPUT", "-H", "X-A: 1", "-HX-B:  two ", "--param=A=1", "--param",
                  "B=", "-d", "@/tmp/body", "--keep-conn", "-f", "fcgi://h/"});
  CHECK(o.include_head);
  CHECK(o.verbose);
  CHECK(o.fail_on_status);
  CHECK(o.keep_conn);
  CHECK(o.method == "PUT");
  REQUIRE(o.headers.size() == 2);
  CHECK(o.headers[0].name == "X-A");
  CHECK(o.headers[0].value == "1");
  CHECK(o.headers[1].name == "X-B");
  CHECK(o.headers[1].value == "two");
  REQUIRE(o.params.size() == 2);
  CHECK(o.params[0].name == "A");
  CHECK(o.params[0].value == "1");
  CHECK(o.params[1].name == "B");
  CHECK(o.params[1].value == "");
  CHECK(o.body.kind == BodySpec::Kind::File);
  CHECK(o.body.value == "/tmp/body");

  CHECK(options_of({"--data-binary=@-", "http://h/"}).body.kind == BodySpec::Kind::Stdin);
  ClientOptions empty = options_of({"-d", "", "http://h/"});
  CHECK(empty.body.kind == BodySpec::Kind::Text);
  CHECK(empty.body.value.empty());
  CHECK(empty.method == "POST");  // a body makes it a POST, as with curl
  CHECK(options_of({"--data=a=b", "http://h/"}).body.value == "a=b");

  CHECK(options_of({"--timeout=0.5", "http://h/"}).timeout_ms == 500);
  CHECK(options_of({"-m", "2", "http://h/"}).timeout_ms == 2000);
  CHECK(options_of({"--ajp-secret", "s", "--ajp-packet-size=65536", "ajp://h/"}).ajp_packet_size ==
        65536);
  CHECK(options_of({"--get", "fcgi://h/"}).mode == ClientOptions::Mode::GetValues);  // a prefix
  CHECK(options_of({"--cping", "ajp://h/"}).mode == ClientOptions::Mode::CPing);

  CHECK(parse({"--help", "--nope"}).options.action == ClientOptions::Action::Help);
  CHECK_FALSE(parse({"--help", "--nope"}).error);
  CHECK(parse({"--version"}).options.action == ClientOptions::Action::Version);
}

TEST_CASE("client: --bench options and their defaults") {
  ClientOptions d = options_of({"--bench", "fcgi://h/"});
  CHECK(d.mode == ClientOptions::Mode::Bench);
  CHECK(d.bench.connections == 8);
  CHECK_FALSE(d.bench.requests);
  CHECK(d.bench.duration_ms == 10000);  // always bounded
  CHECK_FALSE(d.bench.rate);

  ClientOptions n = options_of({"--bench", "-c4", "-n", "200", "fcgi://h/"});
  CHECK(n.bench.connections == 4);
  CHECK(n.bench.requests == 200);
  CHECK_FALSE(n.bench.duration_ms);  // the count bounds it

  ClientOptions t = options_of({"--bench", "-t", "1.5", "--rate=250.5", "-d", "@f", "http://h/"});
  CHECK(t.bench.duration_ms == 1500);
  CHECK(t.bench.rate == 250.5);
}

// ===================================================================
// Command line: every refusal, one line naming the flag

TEST_CASE("client: URL and address errors") {
  CHECK(error_of({}) == "command line: no URL or address given (see --help)");
  CHECK(error_of({"fcgi://h/", "/a", "/b"}) == "'/b': one URL-or-ADDRESS and one PATH at most");
  CHECK(error_of({"ftp://h/"}) ==
        "'ftp://h/': unknown URL scheme 'ftp' (use fcgi://, scgi://, ajp:// or http://)");
  CHECK(error_of({"https://h/"}) ==
        "'https://h/': https:// is not supported: gatewayd-client speaks plain HTTP/1.1 (use "
        "http://)");
  CHECK(error_of({"fcgi://u:p@h/"}) ==
        "'fcgi://u:p@h/': a user name or password in the URL is not sent anywhere: use -H "
        "'Authorization: ...' (or --param REMOTE_USER=... for FastCGI and SCGI)");
  CHECK(error_of({"fcgi://h:99999/"}) ==
        "'fcgi://h:99999/': '99999' is not a port number (1-65535)");
  CHECK(error_of({"fcgi://h:/"}) == "'fcgi://h:/': '' is not a port number (1-65535)");
  CHECK(error_of({"fcgi://::1:80/"}) ==
        "'fcgi://::1:80/': an IPv6 address needs brackets: [::1]:8000");
  CHECK(error_of({"fcgi://[::1/"}) == "'fcgi://[::1/': unterminated '[' in the host");
  CHECK(error_of({"fcgi:///x"}) == "'fcgi:///x': no host in the URL");
  CHECK(error_of({"fcgi://h\"/"}) == "'fcgi://h\"/': 'h\"' is not a host name");
  CHECK(error_of({"--protocol=fcgi", "localhost"}) ==
        "'localhost': not an address: give host:port, [v6]:port, unix:/path or a URL such as "
        "fcgi://127.0.0.1:8000/");
  CHECK(error_of({"unix:run/x.sock"}) ==
        "'unix:run/x.sock': a unix socket path must be absolute (unix:/path)");
  CHECK(error_of({"unix:/xx|nourl"}) ==
        "'unix:/xx|nourl': after '|' a URL is expected, such as fcgi://localhost/");
  std::string long_path = "unix:/" + std::string(120, 'x');
  CHECK(error_of({long_path.c_str()}) ==
        "'" + long_path + "': the unix socket path is longer than 107 bytes");
}

TEST_CASE("client: protocol and target errors") {
  CHECK(error_of({"--protocol=scgi", "fcgi://h/"}) ==
        "--protocol=scgi: contradicts the URL's fcgi://");
  CHECK(error_of({"--protocol=ftp", "h:1"}) ==
        "--protocol: 'ftp' is not one of fcgi, scgi, ajp, http");
  CHECK(error_of({"127.0.0.1:9000"}) ==
        "'127.0.0.1:9000': which protocol? Give --protocol=fcgi|scgi|ajp|http or a URL such as "
        "fcgi://127.0.0.1:8000/");
  CHECK(error_of({"fcgi://h/a", "/b"}) == "'/b': the URL has a path already");
  CHECK(error_of({"--protocol=fcgi", "h:1", "b"}) == "'b': the path must start with '/'");
  CHECK(error_of({"--protocol=fcgi", "h:1", "/a b"}) ==
        "'/a b': the path holds a space, a control character or a non-ASCII byte: "
        "percent-encode it (a space is %20)");
  CHECK(error_of({"--protocol=fcgi", "h:1", "/a%zz"}) ==
        "'/a%zz': the path has a malformed %-escape or %00");
  CHECK(error_of({"fcgi://h/a%00b"}) ==
        "'fcgi://h/a%00b': the path has a malformed %-escape or %00");
  CHECK(error_of({"--protocol=fcgi", "h:1", "/a#b"}) ==
        "'/a#b': '#' starts a fragment, which is never sent");
  CHECK(check_target("/a%20b?q=%zz") == std::nullopt);  // only the path is decoded
}

TEST_CASE("client: option errors") {
  CHECK(error_of({"--nope", "fcgi://h/"}) == "--nope: unknown option (see --help)");
  CHECK(error_of({"-Z", "fcgi://h/"}) == "-Z: unknown option (see --help)");
  CHECK(error_of({"--re", "x", "fcgi://h/"}) ==
        "--re: ambiguous option (could be --request, --requests)");
  CHECK(error_of({"fcgi://h/", "-X"}) == "-X: needs a value");
  CHECK(error_of({"-H", "-v", "fcgi://h/"}) == "-H: needs a value");
  CHECK(error_of({"--include=1", "fcgi://h/"}) == "--include: takes no value");
  CHECK(error_of({"-X", "GE T", "fcgi://h/"}) == "-X: 'GE T' is not a method name");
  CHECK(error_of({"-H", "NoColon", "fcgi://h/"}) == "-H: 'NoColon' is not 'Name: value'");
  CHECK(error_of({"-H", "Bad Name: 1", "fcgi://h/"}) ==
        "-H: 'Bad Name' is not a header name (no spaces, nothing before ':')");
  CHECK(error_of({"-H", "X: a\rb", "fcgi://h/"}) ==
        "-H: the value of X holds a control character (CR, LF, NUL)");
  CHECK(error_of({"-H", "content-length: 5", "fcgi://h/"}) ==
        "-H: Content-Length comes from the body (-d); to send a wrong one on purpose use "
        "--param CONTENT_LENGTH=N (FastCGI)");
  CHECK(error_of({"-H", "Connection: close", "fcgi://h/"}) ==
        "-H: Connection is managed by gatewayd-client (connection reuse is --keep-conn)");
  CHECK(error_of({"-H", "Transfer-Encoding: chunked", "http://h/"}) ==
        "-H: Transfer-Encoding is managed by gatewayd-client (connection reuse is --keep-conn)");
  CHECK(error_of({"-H", "Expect: 100-continue", "http://h/"}) ==
        "-H: Expect is not supported: the body is sent at once");
  CHECK(error_of({"--param", "X", "fcgi://h/"}) == "--param: 'X' is not NAME=VALUE");
  CHECK(error_of({"--param", "=1", "fcgi://h/"}) == "--param: '=1' is not NAME=VALUE");
  CHECK(error_of({"--param", "A=1", "http://h/"}) ==
        "--param: sets a CGI variable, which only FastCGI and SCGI carry (use -H)");
  CHECK(error_of({"--param", "A=1", "ajp://h/"}) ==
        "--param: sets a CGI variable, which only FastCGI and SCGI carry (use -H)");
  CHECK(error_of({"--param", "CONTENT_LENGTH=1", "scgi://h/"}) ==
        "--param: SCGI: CONTENT_LENGTH is sent by gatewayd-client itself");
  CHECK(error_of({"-d", "a", "-d", "b", "fcgi://h/"}) == "-d: a second body (give one -d)");
  CHECK(error_of({"-d", "@", "fcgi://h/"}) ==
        "-d: needs a file name after '@' (or @- for standard input)");
  CHECK(error_of({"-d", "@-", "scgi://h/"}) ==
        "-d @-: SCGI sends the body's length first: give a file (-d @FILE)");
  CHECK(error_of({"--keep-conn", "scgi://h/"}) ==
        "--keep-conn: SCGI carries one request per connection");
  CHECK(error_of({"--timeout", "0", "fcgi://h/"}) ==
        "--timeout: '0' is not a number of seconds (more than 0)");
  CHECK(error_of({"--timeout=abc", "fcgi://h/"}) ==
        "--timeout: 'abc' is not a number of seconds (more than 0)");
  CHECK(error_of({"-m", "inf", "fcgi://h/"}) ==
        "-m: 'inf' is not a number of seconds (more than 0)");
  CHECK(error_of({"--ajp-secret", "s", "fcgi://h/"}) ==
        "--ajp-secret: needs the AJP protocol (ajp:// or --protocol=ajp)");
  CHECK(error_of({"--ajp-packet-size=100", "ajp://h/"}) ==
        "--ajp-packet-size: '100' is not an AJP packet size (8192-65536)");
}

TEST_CASE("client: mode errors (--cping, --get-values, --bench)") {
  CHECK(error_of({"--cping", "fcgi://h/"}) ==
        "--cping: is an AJP message (ajp:// or --protocol=ajp)");
  CHECK(error_of({"--get-values", "ajp://h/"}) ==
        "--get-values: is a FastCGI record (fcgi:// or --protocol=fcgi)");
  CHECK(error_of({"--cping", "-d", "x", "ajp://h/"}) ==
        "-d: has no effect with --cping (it sends no request)");
  CHECK(error_of({"--get-values", "-i", "fcgi://h/"}) ==
        "-i: has no effect with --get-values (it sends no request)");
  CHECK(error_of({"--cping", "ajp://h", "/x"}) ==
        "PATH '/x': has no effect with --cping (it sends no request)");
  CHECK(error_of({"--bench", "--cping", "ajp://h/"}) == "--cping: cannot be combined with --bench");
  CHECK(error_of({"-c", "4", "fcgi://h/"}) == "-c: needs --bench");
  CHECK(error_of({"--rate=5", "fcgi://h/"}) == "--rate: needs --bench");
  CHECK(error_of({"--bench", "-i", "fcgi://h/"}) == "-i: cannot be combined with --bench");
  CHECK(error_of({"--bench", "-d", "@-", "fcgi://h/"}) ==
        "-d @-: --bench sends the body many times: give a file");
  CHECK(error_of({"--bench", "-c", "0", "fcgi://h/"}) ==
        "-c: '0' is not a number of connections (1-10000)");
  CHECK(error_of({"--bench", "-n", "0", "fcgi://h/"}) ==
        "-n: '0' is not a number of requests (1 or more)");
  CHECK(error_of({"--bench", "--rate=-1", "fcgi://h/"}) ==
        "--rate: '-1' is not a rate in requests per second (more than 0)");
}

// ===================================================================
// The request a web server would have sent

TEST_CASE("client: CGI variables are built like a web server's") {
  RequestPlan p = plan_of({"-H", "X-Trace: 7", "fcgi://127.0.0.1:9000/echo/a%20b?x=1"});
  const auto& v = p.cgi_vars;
  CHECK(var(v, "REQUEST_METHOD") == "GET");
  CHECK(var(v, "REQUEST_URI") == "/echo/a%20b?x=1");
  CHECK(var(v, "SCRIPT_NAME") == "");
  CHECK(var(v, "PATH_INFO") == "/echo/a b");
  CHECK(var(v, "QUERY_STRING") == "x=1");
  CHECK(var(v, "SERVER_NAME") == "127.0.0.1");
  CHECK(var(v, "SERVER_PORT") == "9000");
  CHECK(var(v, "SERVER_PROTOCOL") == "HTTP/1.1");
  CHECK(var(v, "REMOTE_ADDR") == "127.0.0.1");
  CHECK(var(v, "GATEWAY_INTERFACE") == "CGI/1.1");
  CHECK(var(v, "SERVER_SOFTWARE") == kAgent);
  CHECK(var(v, "HTTP_HOST") == "127.0.0.1:9000");
  CHECK(var(v, "HTTP_USER_AGENT") == kAgent);
  CHECK(var(v, "HTTP_X_TRACE") == "7");
  CHECK(var(v, "CONTENT_LENGTH") == std::nullopt);  // no body: none, as Apache sends a GET
  CHECK(var(v, "CONTENT_TYPE") == std::nullopt);
  CHECK_FALSE(p.has_body);
  CHECK(p.length == 0u);

  RequestPlan post = plan_of({"-d", "abc", "scgi://h/form"});
  CHECK(var(post.cgi_vars, "REQUEST_METHOD") == "POST");
  CHECK(var(post.cgi_vars, "CONTENT_LENGTH") == "3");
  CHECK(var(post.cgi_vars, "CONTENT_TYPE") == "application/x-www-form-urlencoded");
  CHECK(var(plan_of({"-d", "x", "-H", "Content-Type: text/plain", "fcgi://h/"}).cgi_vars,
            "CONTENT_TYPE") == "text/plain");

  // A pipe: no length at all.
  ClientOptions piped = options_of({"-d", "@-", "fcgi://h/"});
  CHECK(var(make_plan(piped, std::nullopt).cgi_vars, "CONTENT_LENGTH") == std::nullopt);
}

TEST_CASE("client: --param replaces or adds a variable; -H Host replaces the URL's") {
  RequestPlan p = plan_of({"--param", "SCRIPT_FILENAME=/srv/www/index.php", "--param",
                           "SCRIPT_NAME=/index.php", "--param", "SERVER_PORT=443", "-H",
                           "Host: example.org", "fcgi://127.0.0.1:9000/index.php"});
  CHECK(var(p.cgi_vars, "SCRIPT_FILENAME") == "/srv/www/index.php");
  CHECK(var(p.cgi_vars, "SCRIPT_NAME") == "/index.php");
  CHECK(count(p.cgi_vars, "SCRIPT_NAME") == 1);
  CHECK(var(p.cgi_vars, "SERVER_PORT") == "443");
  CHECK(count(p.cgi_vars, "SERVER_PORT") == 1);
  CHECK(var(p.cgi_vars, "HTTP_HOST") == "example.org");
  CHECK(count(p.request.headers, "Host") == 1);
  CHECK(count(p.cgi_vars, "HTTP_HOST") == 1);
}

// ===================================================================
// Request encoders

TEST_CASE("client: FastCGI request, byte for byte and through gatewayd's codec") {
  RequestPlan p = plan_of({"-d", "hello", "--keep-conn", "fcgi://h:1/echo/x?y=1"});
  auto e = encoder_of(p);
  std::string bytes = request_bytes(*e, "hello");
  // BEGIN_REQUEST id 1, RESPONDER, FCGI_KEEP_CONN.
  CHECK(bytes.substr(0, 16) ==
        B("\x01\x01\x00\x01\x00\x08\x00\x00\x00\x01\x01\x00\x00\x00\x00\x00"));
  // The body: one STDIN record, then the empty one.
  CHECK(bytes.size() > 32);
  CHECK(bytes.substr(bytes.size() - 21) ==
        B("\x01\x05\x00\x01\x00\x05\x00\x00hello\x01\x05\x00\x01\x00\x00\x00\x00"));
  gw::FastCgiServerCodec codec{gw::Limits{}};
  ServerView v = serve(codec, bytes);
  REQUIRE_FALSE(v.error);
  REQUIRE(v.request);
  CHECK(v.request->method == "POST");
  CHECK(v.request->target == "/echo/x?y=1");
  CHECK(v.request->path_info == "/echo/x");
  CHECK(v.request->query == "y=1");
  CHECK(v.request->content_length == 5u);
  CHECK(*v.request->header("Host") == "h:1");
  CHECK(v.body == "hello");
  CHECK(v.body_ends == 1);

  auto close_e = encoder_of(plan_of({"fcgi://h/"}));
  CHECK(close_e->head().substr(0, 16) ==
        B("\x01\x01\x00\x01\x00\x08\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"));
}

TEST_CASE("client: SCGI request through gatewayd's codec") {
  RequestPlan p = plan_of({"-d", "hello", "-H", "X-A: 1", "scgi://h/echo/x"});
  auto e = encoder_of(p);
  std::string bytes = request_bytes(*e, "hello");
  CHECK(bytes.find(B(":CONTENT_LENGTH\0"
                     "5\0SCGI\0"
                     "1\0")) != std::string::npos);
  CHECK(bytes.substr(bytes.size() - 6) == ",hello");
  gw::ScgiServerCodec codec{gw::Limits{}};
  ServerView v = serve(codec, bytes);
  REQUIRE_FALSE(v.error);
  REQUIRE(v.request);
  CHECK(v.request->method == "POST");
  CHECK(v.request->path_info == "/echo/x");
  CHECK(*v.request->header("X-A") == "1");
  CHECK(v.body == "hello");

  // A body of unknown length cannot be encoded for SCGI.
  ClientOptions piped = options_of({"-d", "@-", "fcgi://h/"});
  RequestPlan scgi_piped = make_plan(piped, std::nullopt);
  scgi_piped.protocol = Protocol::Scgi;
  std::string why;
  CHECK_FALSE(make_encoder(scgi_piped, why));
  CHECK(why == "SCGI sends the body's length first: the body must be a file or text");
}

TEST_CASE(
    "client: AJP request carries the secret, the body's first packet, no length without a body") {
  RequestPlan p = plan_of({"-d", "hello", "--ajp-secret", "s3cret", "ajp://h/echo/x?q=2"});
  auto e = encoder_of(p);
  CHECK(e->body_on_request());
  CHECK(e->max_body_piece() == 8186);
  std::string bytes = request_bytes(*e, "hello");
  CHECK(bytes.substr(bytes.size() - 11) == B("\x12\x34\x00\x07\x00\x05hello"));
  gw::AjpOptions good;
  good.secret = "s3cret";
  gw::AjpServerCodec codec{gw::Limits{}, good};
  ServerView v = serve(codec, bytes);
  REQUIRE_FALSE(v.error);
  REQUIRE(v.request);
  CHECK(v.reject_status == 0);
  CHECK(v.request->target == "/echo/x?q=2");
  CHECK(v.request->content_length == 5u);
  CHECK(v.body == "hello");
  CHECK(v.body_ends == 1);

  gw::AjpOptions other;
  other.secret = "other";
  gw::AjpServerCodec refusing{gw::Limits{}, other};
  CHECK(serve(refusing, bytes).reject_status == 403);

  // No body: no Content-Length, no Transfer-Encoding.
  auto get = encoder_of(plan_of({"ajp://h/x"}));
  CHECK(get->head().find("Content-Length") == std::string::npos);
  CHECK(get->head().find("Transfer-Encoding") == std::string::npos);
  std::string end;
  get->encode_body_end(end);
  CHECK(end == B("\x12\x34\x00\x00"));
  gw::AjpServerCodec plain{gw::Limits{}, gw::AjpOptions{}};
  ServerView g = serve(plain, get->head());
  REQUIRE(g.request);
  CHECK(g.request->content_length == 0u);

  // What does not fit in a packet is refused before anything is sent.
  std::string big = "X-Big: " + std::string(9000, 'b');
  RequestPlan too_big = plan_of({"-H", big.c_str(), "ajp://h/"});
  std::string why;
  CHECK_FALSE(make_encoder(too_big, why));
  CHECK(why ==
        "AJP: the request does not fit in one packet of 8192 bytes, or holds a value AJP cannot "
        "carry (--ajp-packet-size, up to 65536, must match the container's)");
  too_big.ajp_packet_size = 65536;
  CHECK(make_encoder(too_big, why));
}

TEST_CASE("client: HTTP request head, byte for byte") {
  auto post = encoder_of(plan_of({"-d", "hello", "http://127.0.0.1:8080/echo/x?y=1"}));
  CHECK(post->head() ==
        "POST /echo/x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: " + kAgent +
            "\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            "Content-Length: 5\r\nConnection: close\r\n\r\n");
  auto kept = encoder_of(plan_of({"--keep-conn", "http://h/"}));
  CHECK(kept->head() == "GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: " + kAgent + "\r\n\r\n");
  std::vector<std::string> lines;
  kept->describe(lines);
  CHECK(lines == std::vector<std::string>{"GET / HTTP/1.1", "Host: h", "User-Agent: " + kAgent});

  // Unknown length: chunked.
  ClientOptions piped = options_of({"-d", "@-", "http://h/up"});
  auto chunked = encoder_of(make_plan(piped, std::nullopt));
  CHECK(chunked->head().find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  std::string bytes = request_bytes(*chunked, "hello");
  CHECK(bytes.substr(chunked->head().size()) == "5\r\nhello\r\n0\r\n\r\n");
  gw::Http1ServerCodec codec{gw::Limits{}};
  ServerView v = serve(codec, bytes);
  REQUIRE_FALSE(v.error);
  REQUIRE(v.request);
  CHECK(v.request->content_length == std::nullopt);
  CHECK(v.body == "hello");
  CHECK(v.body_ends == 1);
}

// ===================================================================
// Response readers

TEST_CASE("client: FastCGI response at every split: head, body, STDERR, END_REQUEST") {
  std::string bytes =
      record(gw::fcgi::FCGI_STDERR, 1, "warn\n") +
      stdout_record("Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nmis") +
      stdout_record("sing") + stdout_record("") + end_request(1, 0, 0);
  for (bool keep : {false, true}) {
    Transcript t = read_every_split(reader_options(Protocol::FastCgi, keep), bytes, false);
    CHECK(what(t) == "(no error)");
    CHECK(t.heads == std::vector<std::string>{"404 Not Found|Content-Type: text/plain"});
    CHECK(t.body == "missing");
    CHECK(t.app_stderr == "warn\n");
    CHECK(t.ends == 1);
    CHECK(t.reusable == keep);
    CHECK(t.warnings.empty());
    CHECK(t.consumed == bytes.size());
  }
}

TEST_CASE("client: FastCGI reader reads a second response on a kept connection") {
  auto reader = make_reader(reader_options(Protocol::FastCgi, true));
  std::string one =
      stdout_record("Status: 200\r\n\r\none") + stdout_record("") + end_request(1, 0, 0);
  std::string two = stdout_record("\r\ntwo") + stdout_record("") + end_request(1, 0, 0);
  Transcript a = read_response(*reader, {one}, false);
  Transcript b = read_response(*reader, {two}, false);
  CHECK(a.body == "one");
  CHECK(b.body == "two");
  CHECK(b.heads == std::vector<std::string>{"200 "});
  CHECK(b.ends == 1);
}

TEST_CASE("client: FastCGI errors say which step failed") {
  auto options = reader_options(Protocol::FastCgi);
  std::string head = "Content-Type: text/plain\r\n\r\n";
  std::string body(120 - head.size(), 'b');
  Transcript cut = read_every_split(options, stdout_record(head + body), true);
  CHECK(cut.error->failure == Failure::Closed);
  CHECK(what(cut) ==
        "FastCGI: the app closed the connection before END_REQUEST after 120 bytes of STDOUT");
  CHECK(cut.body == body);  // what came is still delivered

  Transcript silent = read_once(options, "", true);
  CHECK(silent.error->failure == Failure::Closed);
  CHECK(what(silent) == "FastCGI: the app closed the connection without answering");

  Transcript busy = read_every_split(options, end_request(1, 7, gw::fcgi::FCGI_OVERLOADED), false);
  CHECK(busy.error->failure == Failure::Refused);
  CHECK(what(busy) ==
        "FastCGI: the app refused the request: END_REQUEST protocolStatus FCGI_OVERLOADED, "
        "appStatus 7");

  CHECK(what(read_once(options, end_request(1, 0, 0), false)) ==
        "FastCGI: END_REQUEST (protocolStatus FCGI_REQUEST_COMPLETE, appStatus 0) without any "
        "STDOUT: no response");
  CHECK(what(read_once(options, stdout_record("Content-Type") + end_request(1, 0, 0), false)) ==
        "FastCGI: END_REQUEST after 12 bytes of STDOUT that hold no complete response head");
  CHECK(what(read_once(options, record(gw::fcgi::FCGI_STDOUT, 2, "x"), false)) ==
        "FastCGI: STDOUT for request id 2 (the request was id 1)");
  CHECK(what(read_once(options, end_request(3, 0, 0), false)) ==
        "FastCGI: END_REQUEST for request id 3 (the request was id 1)");
  std::string done = stdout_record("\r\n") + stdout_record("") + end_request(1, 0, 0);
  CHECK(what(read_once(options, done + stdout_record("late"), false)) ==
        "FastCGI: STDOUT after END_REQUEST");
  CHECK(what(read_once(options, stdout_record("\r\n") + stdout_record("") + stdout_record("x"),
                       false)) ==
        "FastCGI: STDOUT data after the empty STDOUT record that ended the stream");
  std::string unknown(8, '\0');
  unknown[0] = 9;
  CHECK(what(read_once(options, record(gw::fcgi::FCGI_UNKNOWN_TYPE, 0, unknown), false)) ==
        "FastCGI: FCGI_UNKNOWN_TYPE for record type 9, which gatewayd-client did not send");
  Transcript bad_head = read_every_split(options, stdout_record("No colon here\r\n\r\n"), false);
  CHECK(bad_head.error->failure == Failure::Malformed);
  CHECK(what(bad_head).starts_with("FastCGI: STDOUT: "));
  std::string v2 = record(gw::fcgi::FCGI_STDOUT, 1, "x");
  v2[0] = 2;
  Transcript bad_version = read_once(options, v2, false);
  CHECK(bad_version.error->failure == Failure::Malformed);
  CHECK(what(bad_version) == "FastCGI: FastCGI record version 2 (only 1 is supported)");
}

TEST_CASE("client: FastCGI warnings and local redirects are reported, not failed") {
  auto options = reader_options(Protocol::FastCgi);
  Transcript no_end =
      read_every_split(options, stdout_record("\r\nok") + end_request(1, 0, 0), false);
  CHECK(what(no_end) == "(no error)");
  CHECK(no_end.ends == 1);
  CHECK(no_end.warnings ==
        std::vector<std::string>{"FastCGI: END_REQUEST came without the empty STDOUT record that "
                                 "ends the stream"});
  Transcript redirect = read_every_split(
      options,
      stdout_record("Location: /other?x\r\n\r\n") + stdout_record("") + end_request(1, 0, 0),
      false);
  CHECK(what(redirect) == "(no error)");
  CHECK(redirect.heads == std::vector<std::string>{"0 |Location: /other?x"});
  CHECK(redirect.local_redirect == "/other?x");
}

TEST_CASE("client: SCGI response ends when the app closes; errors name where it stopped") {
  auto options = reader_options(Protocol::Scgi);
  std::string bytes = "Status: 201 Created\r\nX-A: 1\r\n\r\nbody bytes";
  Transcript t = read_every_split(options, bytes, true);
  CHECK(what(t) == "(no error)");
  CHECK(t.heads == std::vector<std::string>{"201 Created|X-A: 1"});
  CHECK(t.body == "body bytes");
  CHECK(t.ends == 1);
  CHECK_FALSE(t.reusable);

  Transcript open = read_once(options, bytes, false);  // no EOF yet: not ended
  CHECK(open.ends == 0);
  CHECK(what(open) == "(no error)");

  Transcript silent = read_once(options, "", true);
  CHECK(silent.error->failure == Failure::Closed);
  CHECK(what(silent) == "SCGI: the app closed the connection without a response");
  Transcript cut = read_every_split(options, "Status: 200", true);
  CHECK(cut.error->failure == Failure::Closed);
  CHECK(what(cut) == "SCGI: the app closed the connection inside the response head after 11 bytes");
  Transcript bad = read_every_split(options, "Bad Header\r\n\r\n", true);
  CHECK(bad.error->failure == Failure::Malformed);
  CHECK(what(bad).starts_with("SCGI: "));
}

TEST_CASE("client: AJP response at every split, GET_BODY_CHUNK passed on, reuse honoured") {
  std::string flush;
  gw::ajp::append_flush(flush);
  std::string ask;
  gw::ajp::append_get_body_chunk(ask, 8186);
  std::string bytes = ask + send_headers(200, {{"Content-Type", "text/plain"}, {"X-A", "1"}}) +
                      send_body("hel") + flush + send_body("lo") + end_response(true);
  for (bool keep : {false, true}) {
    Transcript t = read_every_split(reader_options(Protocol::Ajp13, keep), bytes, false);
    CHECK(what(t) == "(no error)");
    CHECK(t.heads == std::vector<std::string>{"200 OK|Content-Type: text/plain|X-A: 1"});
    CHECK(t.body == "hello");
    CHECK(t.wanted == std::vector<size_t>{8186});
    CHECK(t.ends == 1);
    CHECK(t.reusable == keep);
    CHECK(t.consumed == bytes.size());
  }
  Transcript no_reuse = read_once(reader_options(Protocol::Ajp13, true),
                                  send_headers(204, {}) + end_response(false), false);
  CHECK(no_reuse.ends == 1);
  CHECK_FALSE(no_reuse.reusable);
}

TEST_CASE("client: AJP errors say which step failed") {
  auto options = reader_options(Protocol::Ajp13);
  CHECK(what(read_once(options, send_body("x"), false)) ==
        "AJP: SEND_BODY_CHUNK before SEND_HEADERS");
  CHECK(what(read_once(options, end_response(true), false)) ==
        "AJP: END_RESPONSE without SEND_HEADERS");
  CHECK(what(read_once(options, send_headers(200, {}) + send_headers(200, {}), false)) ==
        "AJP: a second SEND_HEADERS");
  std::string cpong;
  gw::ajp::append_cpong(cpong);
  CHECK(what(read_once(options, cpong, false)) == "AJP: a CPONG, but no CPING was sent");
  CHECK(what(read_once(options, send_headers(200, {}) + end_response(true) + send_body("x"),
                       false)) == "AJP: SEND_BODY_CHUNK after END_RESPONSE");
  Transcript magic = read_every_split(options, B("XY\x00\x01\x05"), false);
  CHECK(magic.error->failure == Failure::Malformed);
  CHECK(what(magic) == "AJP: bad packet magic 'XY' (expected \"AB\")");

  Transcript silent = read_once(options, "", true);
  CHECK(silent.error->failure == Failure::Closed);
  CHECK(what(silent) == "AJP: the container closed the connection without answering");
  std::string partial = send_headers(200, {});
  partial.resize(partial.size() - 1);
  CHECK(what(read_once(options, partial, true)) ==
        "AJP: the container closed the connection before SEND_HEADERS");
  Transcript cut = read_every_split(options, send_headers(200, {}) + send_body("12345"), true);
  CHECK(cut.error->failure == Failure::Closed);
  CHECK(what(cut) ==
        "AJP: the container closed the connection before END_RESPONSE after 5 bytes of body");
}

TEST_CASE("client: HTTP responses: length, chunked, close-delimited, HEAD, keep-alive") {
  std::string sized = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  for (bool keep : {false, true}) {
    Transcript t = read_every_split(reader_options(Protocol::Http, keep), sized, false);
    CHECK(what(t) == "(no error)");
    CHECK(t.heads == std::vector<std::string>{"200 OK|Content-Length: 5"});
    CHECK(t.body == "hello");
    CHECK(t.ends == 1);
    CHECK(t.reusable == keep);
  }
  // Nothing after the response is taken: the caller sees the surplus.
  Transcript surplus = read_once(reader_options(Protocol::Http, true), sized + "XYZ", false);
  CHECK(surplus.consumed == sized.size());

  Transcript chunked = read_every_split(
      reader_options(Protocol::Http, true),
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
      false);
  CHECK(chunked.body == "hello");
  CHECK(chunked.reusable);

  Transcript closing = read_every_split(reader_options(Protocol::Http, true),
                                        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello", true);
  CHECK(what(closing) == "(no error)");
  CHECK(closing.body == "hello");
  CHECK(closing.ends == 1);
  CHECK_FALSE(closing.reusable);

  Transcript head = read_every_split(reader_options(Protocol::Http, true, "HEAD"),
                                     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false);
  CHECK(head.ends == 1);
  CHECK(head.body.empty());
}

TEST_CASE("client: HTTP errors say which step failed") {
  auto options = reader_options(Protocol::Http);
  Transcript silent = read_once(options, "", true);
  CHECK(silent.error->failure == Failure::Closed);
  CHECK(what(silent) == "HTTP: the server closed the connection without a response");
  CHECK(what(read_every_split(options, "HTTP/1.1 200 OK\r\nX-A", true)) ==
        "HTTP: the server closed the connection inside the response head");
  CHECK(what(read_every_split(options, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe", true)) ==
        "HTTP: the server closed the connection before the end of the response after 2 bytes of "
        "body");
  Transcript twice = read_every_split(
      options, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", false);
  CHECK(twice.error->failure == Failure::Malformed);
  CHECK(what(twice).starts_with("HTTP: "));
}

TEST_CASE("client: readers say what they wait for, for timeout messages") {
  auto fcgi = make_reader(reader_options(Protocol::FastCgi));
  Transcript t;
  fcgi->start();
  CHECK(fcgi->waiting_for() == "the response (no STDOUT yet)");
  fcgi->feed(stdout_record("X-A: 1\r\n"), t);
  CHECK(fcgi->waiting_for() == "the end of the response head (8 bytes of STDOUT so far)");
  fcgi->feed(stdout_record("\r\nbody"), t);
  CHECK(fcgi->waiting_for() == "END_REQUEST (14 bytes of STDOUT so far)");

  auto ajp = make_reader(reader_options(Protocol::Ajp13));
  ajp->start();
  CHECK(ajp->waiting_for() == "SEND_HEADERS");
  ajp->feed(send_headers(200, {}) + send_body("abc"), t);
  CHECK(ajp->waiting_for() == "END_RESPONSE (3 bytes of body so far)");

  auto scgi = make_reader(reader_options(Protocol::Scgi));
  scgi->start();
  scgi->feed("\r\nab", t);
  CHECK(scgi->waiting_for() ==
        "the app to close the connection, which ends an SCGI response (2 bytes of body so far)");
}

// ===================================================================
// --bench: histogram and report

TEST_CASE("client: latency histogram buckets hold their values within 1/128") {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200000; ++i) {
    uint64_t v = rng() >> (rng() % 64);
    size_t b = LatencyHistogram::bucket_of(v);
    REQUIRE(b < LatencyHistogram::kBuckets);
    uint64_t upper = LatencyHistogram::bucket_upper(b);
    REQUIRE(upper >= v);
    REQUIRE(static_cast<double>(upper - v) <= static_cast<double>(v) / 128.0);
    if (b > 0) REQUIRE(LatencyHistogram::bucket_upper(b - 1) < v);  // and no lower bucket would
  }
  CHECK(LatencyHistogram::bucket_of(UINT64_MAX) == LatencyHistogram::kBuckets - 1);
  CHECK(LatencyHistogram::bucket_upper(LatencyHistogram::kBuckets - 1) == UINT64_MAX);
}

TEST_CASE("client: latency percentiles match the exact nearest rank within 1/128") {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(13.0, 1.0);  // around half a millisecond
  LatencyHistogram h;
  std::vector<uint64_t> values;
  for (int i = 0; i < 50000; ++i) {
    auto v = static_cast<uint64_t>(dist(rng));
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  CHECK(h.count() == values.size());
  CHECK(h.max() == values.back());
  for (double f : {0.0, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    size_t rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(f * values.size())));
    uint64_t exact = values[rank - 1];
    uint64_t got = h.percentile(f);
    INFO("fraction " << f);
    CHECK(got >= exact);
    CHECK(static_cast<double>(got - exact) <= static_cast<double>(exact) / 128.0);
  }
  CHECK(LatencyHistogram().percentile(0.5) == 0);
}

TEST_CASE("client: --bench report") {
  BenchStats s;
  // (m + 1) * 2^k - 1 is the upper bound of its bucket: reported exactly.
  for (int i = 0; i < 50; ++i) s.record_response(1048575, 200, false);
  for (int i = 0; i < 40; ++i) s.record_response(2097151, 200, false);
  for (int i = 0; i < 9; ++i) s.record_response(10485759, 404, false);
  s.record_response(10485759, 0, false);  // a local redirect
  s.elapsed_ns = 2'000'000'000;
  CHECK(s.failed() == 0);
  CHECK(format_bench_report("TITLE", s) ==
        "TITLE\n"
        "  100 responses in 2.000 s: 50.0 requests/s\n"
        "  latency p50 1.049 ms, p90 2.097 ms, p99 10.486 ms, max 10.486 ms\n"
        "  statuses: local redirect x 1, 200 x 90, 404 x 9\n"
        "  failed: 0\n");

  BenchStats f;
  f.record_response(1048575, 503, true);
  f.record_failure(ClientError{Failure::Connect, "FastCGI: cannot connect to x"});
  f.record_failure(ClientError{Failure::Connect, "FastCGI: cannot connect to y"});
  f.record_failure(ClientError{Failure::Timeout, "FastCGI: timed out"});
  f.elapsed_ns = 1'000'000'000;
  CHECK(f.failed() == 4);
  CHECK(format_bench_report("T", f) ==
        "T\n"
        "  1 responses in 1.000 s: 1.0 requests/s\n"
        "  latency p50 1.049 ms, p90 1.049 ms, p99 1.049 ms, max 1.049 ms\n"
        "  statuses: 503 x 1\n"
        "  failed: 4\n"
        "    connect x 2, the first: FastCGI: cannot connect to x\n"
        "    timeout x 1, the first: FastCGI: timed out\n"
        "    status x 1: responses whose status is not 2xx (--fail)\n");

  BenchStats none;
  none.record_failure(ClientError{Failure::Closed, "SCGI: closed"});
  CHECK(format_bench_report("T", none) ==
        "T\n  0 responses in 0.000 s: 0.0 requests/s\n  failed: 1\n"
        "    closed x 1, the first: SCGI: closed\n");
}

TEST_CASE("client: exit statuses are curl's") {
  CHECK(exit_status(Failure::Connect) == 7);
  CHECK(exit_status(Failure::Timeout) == 28);
  CHECK(exit_status(Failure::Resolve) == 6);
  CHECK(exit_status(Failure::Output) == 23);
  CHECK(exit_status(Failure::BodyInput) == 26);
  CHECK(exit_status(Failure::Malformed) == 1);
  CHECK(exit_status(Failure::Closed) == 1);
  CHECK(exit_status(Failure::Refused) == 1);
}
