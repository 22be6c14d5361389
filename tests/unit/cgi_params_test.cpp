#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "protocols/cgi_params.h"

using gw::Header;
using gw::Protocol;
using gw::Request;

namespace {

using Vars = std::vector<Header>;

Request map_ok(const Vars& vars, bool strict = false) {
  Request r;
  auto err = gw::request_from_cgi(vars, Protocol::FastCgi, strict, r);
  if (err) FAIL_CHECK("unexpected error: " << err->what);
  return r;
}

std::optional<gw::CodecError> map_err(const Vars& vars, bool strict = false) {
  Request r;
  return gw::request_from_cgi(vars, Protocol::Scgi, strict, r);
}

std::string headers_text(const std::vector<Header>& hs) {
  std::string s;
  for (const auto& h : hs) s += h.name + "=" + h.value + "\n";
  return s;
}

}  // namespace

TEST_CASE("cgi_params: nginx stock params (SCRIPT_NAME = whole path, no PATH_INFO)") {
  Request r = map_ok({
      {"QUERY_STRING", "x=1&y=%20z"},
      {"REQUEST_METHOD", "GET"},
      {"CONTENT_TYPE", ""},
      {"CONTENT_LENGTH", ""},
      {"SCRIPT_NAME", "/app/sub path"},
      {"REQUEST_URI", "/app/sub%20path?x=1&y=%20z"},
      {"SERVER_PROTOCOL", "HTTP/1.1"},
      {"REMOTE_ADDR", "127.0.0.1"},
      {"REMOTE_PORT", "38724"},
      {"REMOTE_USER", ""},
      {"SERVER_ADDR", "127.0.0.2"},
      {"SERVER_PORT", "18700"},
      {"SERVER_NAME", "example"},
      {"REDIRECT_STATUS", "200"},
      {"HTTP_HOST", "127.0.0.1"},
      {"HTTP_X_CUSTOM_HEADER", "hello"},
  });
  CHECK(r.origin == Protocol::FastCgi);
  CHECK(r.method == "GET");
  CHECK(r.target == "/app/sub%20path?x=1&y=%20z");
  CHECK(r.path == "/app/sub path");
  CHECK(r.query == "x=1&y=%20z");
  CHECK(r.script_name == "");
  CHECK(r.path_info == "/app/sub path");
  CHECK(r.server_protocol == "HTTP/1.1");
  CHECK_FALSE(r.content_length.has_value());
  CHECK(r.remote_addr == "127.0.0.1");
  CHECK(r.remote_port == 38724);
  CHECK(r.server_addr == "127.0.0.2");
  CHECK(r.server_port == 18700);
  CHECK(r.server_name == "example");
  CHECK(r.remote_user == "");
  CHECK_FALSE(r.https);
  CHECK(headers_text(r.headers) == "Host=127.0.0.1\nX-Custom-Header=hello\n");
  CHECK(headers_text(r.params) == "REDIRECT_STATUS=200\n");
}

TEST_CASE("cgi_params: SCRIPT_NAME equal to the path after normalisation counts as whole") {
  Request r = map_ok(
      {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/app//x/./y"}, {"SCRIPT_NAME", "/app/x/y"}});
  CHECK(r.path == "/app//x/./y");
  CHECK(r.script_name == "");
  CHECK(r.path_info == "/app//x/./y");
}

TEST_CASE("cgi_params: non-empty PATH_INFO is trusted with its SCRIPT_NAME") {
  SUBCASE("lighttpd prefix") {
    Request r = map_ok({{"REQUEST_METHOD", "GET"},
                        {"REQUEST_URI", "/app/sub/path?x=1"},
                        {"SCRIPT_NAME", "/app"},
                        {"PATH_INFO", "/sub/path"},
                        {"QUERY_STRING", "x=1"}});
    CHECK(r.script_name == "/app");
    CHECK(r.path_info == "/sub/path");
    CHECK(r.path == "/app/sub/path");
  }
  SUBCASE("caddy/h2o: empty SCRIPT_NAME") {
    Request r = map_ok({{"REQUEST_METHOD", "GET"},
                        {"REQUEST_URI", "/proj/sub/path"},
                        {"SCRIPT_NAME", ""},
                        {"PATH_INFO", "/proj/sub/path"}});
    CHECK(r.script_name == "");
    CHECK(r.path_info == "/proj/sub/path");
  }
}

TEST_CASE("cgi_params: SCRIPT_NAME that is not the whole path is kept without PATH_INFO") {
  Request r = map_ok({{"REQUEST_METHOD", "GET"},
                      {"REQUEST_URI", "/app/index.php"},
                      {"SCRIPT_NAME", "/app/other.php"},
                      {"PATH_INFO", ""}});
  CHECK(r.script_name == "/app/other.php");
  CHECK(r.path_info == "");
}

TEST_CASE("cgi_params: no SCRIPT_NAME and no PATH_INFO: the whole path is path_info") {
  Request r = map_ok({{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/a/b?q"}});
  CHECK(r.script_name == "");
  CHECK(r.path_info == "/a/b");
  CHECK(r.query == "q");
}

TEST_CASE("cgi_params: without REQUEST_URI the target is rebuilt and re-encoded") {
  Request r = map_ok({{"REQUEST_METHOD", "GET"},
                      {"SCRIPT_NAME", "/cgi-bin/x y"},
                      {"PATH_INFO", "/a?b"},
                      {"QUERY_STRING", "k=%20v"}});
  CHECK(r.target == "/cgi-bin/x%20y/a%3Fb?k=%20v");
  CHECK(r.path == "/cgi-bin/x y/a?b");
  CHECK(r.query == "k=%20v");
  CHECK(r.script_name == "/cgi-bin/x y");
  CHECK(r.path_info == "/a?b");

  Request bare = map_ok({{"REQUEST_METHOD", "GET"}, {"QUERY_STRING", ""}});
  CHECK(bare.target == "/");
  CHECK(bare.path == "/");
}

TEST_CASE("cgi_params: QUERY_STRING wins over the query of REQUEST_URI") {
  Request r = map_ok(
      {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/p?from=uri"}, {"QUERY_STRING", "from=qs"}});
  CHECK(r.query == "from=qs");
  CHECK(r.target == "/p?from=uri");
}

TEST_CASE("cgi_params: absolute-form REQUEST_URI yields its path") {
  Request r = map_ok({{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "http://host:8/a%2Fb?x"}});
  CHECK(r.path == "/a/b");
  CHECK(r.query == "x");
}

TEST_CASE("cgi_params: bad paths are rejected") {
  for (const char* uri : {"/a%zz", "/a%0", "/a%00b", "relative", "*"}) {
    CAPTURE(uri);
    auto err = map_err({{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", uri}});
    REQUIRE(err.has_value());
    CHECK(err->http_status == 400);
  }
}

TEST_CASE("cgi_params: REQUEST_METHOD is required and must be a token") {
  auto missing = map_err({{"REQUEST_URI", "/"}});
  REQUIRE(missing.has_value());
  CHECK(missing->http_status == 400);
  CHECK(missing->what == "REQUEST_METHOD missing");
  CHECK(map_err({{"REQUEST_METHOD", ""}, {"REQUEST_URI", "/"}}).has_value());
  CHECK(map_err({{"REQUEST_METHOD", "GE T"}, {"REQUEST_URI", "/"}}).has_value());
  CHECK_FALSE(map_err({{"REQUEST_METHOD", "M-SEARCH"}, {"REQUEST_URI", "/"}}).has_value());
}

TEST_CASE("cgi_params: CONTENT_LENGTH") {
  auto cl = [](const char* v, bool strict) {
    Request r;
    auto err = gw::request_from_cgi({{"REQUEST_METHOD", "POST"}, {"CONTENT_LENGTH", v}},
                                    Protocol::FastCgi, strict, r);
    return std::make_pair(err.has_value(), r.content_length);
  };
  CHECK(cl("0", false) == std::make_pair(false, std::optional<uint64_t>(0)));
  CHECK(cl("3000", false) == std::make_pair(false, std::optional<uint64_t>(3000)));
  CHECK(cl("0042", true) == std::make_pair(false, std::optional<uint64_t>(42)));
  CHECK(cl("18446744073709551615", false).first);  // 20 digits: refused, not wrapped
  CHECK(cl("9999999999999999999", false) ==
        std::make_pair(false, std::optional<uint64_t>(9999999999999999999ull)));
  // FastCGI: unknown length, the body runs to the empty STDIN record.
  CHECK(cl("", false) == std::make_pair(false, std::optional<uint64_t>()));
  CHECK(cl("-1", false) == std::make_pair(false, std::optional<uint64_t>()));
  CHECK(cl(" 5", false) == std::make_pair(false, std::optional<uint64_t>()));
  // SCGI: must be digits.
  CHECK(cl("", true).first);
  CHECK(cl("-1", true).first);
  CHECK(cl("5x", true).first);
  Request r;
  CHECK(gw::request_from_cgi({{"REQUEST_METHOD", "GET"}}, Protocol::Scgi, true, r).has_value());
  CHECK_FALSE(gw::request_from_cgi({{"REQUEST_METHOD", "GET"}}, Protocol::FastCgi, false, r));
  CHECK_FALSE(r.content_length.has_value());
}

TEST_CASE("cgi_params: Content-Type and Content-Length headers come from the CGI variables") {
  SUBCASE("caddy sends HTTP_CONTENT_TYPE and HTTP_CONTENT_LENGTH as well") {
    Request r = map_ok({{"REQUEST_METHOD", "POST"},
                        {"HTTP_CONTENT_TYPE", "text/plain"},
                        {"HTTP_CONTENT_LENGTH", "3000"},
                        {"CONTENT_TYPE", "application/x-www-form-urlencoded"},
                        {"CONTENT_LENGTH", "3000"}});
    CHECK(headers_text(r.headers) ==
          "Content-Type=application/x-www-form-urlencoded\nContent-Length=3000\n");
  }
  SUBCASE("HTTP_CONTENT_TYPE alone is the header; HTTP_CONTENT_LENGTH never frames") {
    Request r = map_ok({{"REQUEST_METHOD", "POST"},
                        {"HTTP_CONTENT_TYPE", "text/plain"},
                        {"HTTP_CONTENT_LENGTH", "99"},
                        {"CONTENT_LENGTH", "-1"}});
    CHECK(headers_text(r.headers) == "Content-Type=text/plain\n");
    CHECK_FALSE(r.content_length.has_value());
  }
}

TEST_CASE("cgi_params: HTTP_* become headers, HTTP_PROXY is dropped (httpoxy)") {
  Request r = map_ok({{"REQUEST_METHOD", "GET"},
                      {"HTTP_PROXY", "http://evil:3128"},
                      {"HTTP_X_FOO_BAR", "1"},
                      {"HTTP_ACCEPT_LANGUAGE", "en"},
                      {"HTTP_WEIRD.NAME", "2"},
                      {"HTTP_", "3"}});
  CHECK(headers_text(r.headers) == "X-Foo-Bar=1\nAccept-Language=en\n");
  CHECK(headers_text(r.params) == "HTTP_WEIRD.NAME=2\nHTTP_=3\n");
  CHECK(r.header("Proxy") == nullptr);
}

TEST_CASE("cgi_params: HTTPS and REQUEST_SCHEME") {
  for (const char* on : {"on", "ON", "1", "yes", "Yes"}) {
    CAPTURE(on);
    CHECK(map_ok({{"REQUEST_METHOD", "GET"}, {"HTTPS", on}}).https);
  }
  for (const char* off : {"off", "", "0", "no"}) {
    CAPTURE(off);
    CHECK_FALSE(map_ok({{"REQUEST_METHOD", "GET"}, {"HTTPS", off}}).https);
  }
  Request r = map_ok({{"REQUEST_METHOD", "GET"}, {"REQUEST_SCHEME", "https"}});
  CHECK(r.https);
  CHECK(headers_text(r.params) == "REQUEST_SCHEME=https\n");
}

TEST_CASE("cgi_params: identity and auth fields") {
  Request r = map_ok({{"REQUEST_METHOD", "GET"},
                      {"REMOTE_USER", "alice"},
                      {"AUTH_TYPE", "Basic"},
                      {"REMOTE_PORT", "70000"},
                      {"SERVER_PORT", "x"}});
  CHECK(r.remote_user == "alice");
  CHECK(r.auth_type == "Basic");
  CHECK(r.remote_port == 0);  // out of range: unknown
  CHECK(r.server_port == 0);
}

TEST_CASE("cgi_params: duplicates of routing and identity variables are rejected") {
  for (const char* name : {"REQUEST_METHOD", "REQUEST_URI", "SCRIPT_NAME", "PATH_INFO",
                           "QUERY_STRING", "CONTENT_LENGTH", "REMOTE_USER", "AUTH_TYPE", "HTTPS"}) {
    CAPTURE(name);
    Vars vars = {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/"}};
    if (std::string(name) != "REQUEST_METHOD" && std::string(name) != "REQUEST_URI") {
      vars.push_back({name, "/a"});
    }
    vars.push_back({name, "/b"});
    auto err = map_err(vars);
    REQUIRE(err.has_value());
    CHECK(err->http_status == 400);
    CHECK(err->what.find(name) != std::string::npos);
  }
}

TEST_CASE("cgi_params: other duplicates: the last one wins") {
  Request r = map_ok({{"REQUEST_METHOD", "GET"},
                      {"HTTP_X_A", "first"},
                      {"DOCUMENT_ROOT", "/one"},
                      {"HTTP_X_A", "second"},
                      {"DOCUMENT_ROOT", "/two"}});
  CHECK(headers_text(r.headers) == "X-A=second\n");
  CHECK(headers_text(r.params) == "DOCUMENT_ROOT=/two\n");
}

TEST_CASE("cgi_params: error messages quote values safely") {
  auto err = map_err({{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/a%zz\n\x01'"}});
  REQUIRE(err.has_value());
  CHECK(err->what == "REQUEST_URI path has a malformed escape or %00: '/a%zz\\x0a\\x01\\x27'");
  CHECK(gw::quote_for_log("abcdef", 3) == "'abc'...");
  CHECK(gw::quote_for_log("\xff\\") == "'\\xff\\x5c'");
}

TEST_CASE("cgi_params: cgi_from_request, byte-exact variable list") {
  Request r;
  r.method = "POST";
  r.target = "/proj/wiki/A%20B?x=1";
  r.path = "/proj/wiki/A B";
  r.query = "x=1";
  r.script_name = "/proj";
  r.path_info = "/wiki/A B";
  r.server_protocol = "HTTP/1.1";
  r.headers = {{"Host", "example.org"},        {"Content-Type", "text/plain"},
               {"Content-Length", "5"},        {"Proxy", "http://evil"},
               {"X_Forwarded-For", "spoofed"}, {"Cookie", "a=1"},
               {"Accept", "text/html"},        {"cookie", "b=2"},
               {"X-Forwarded-For", "10.0.0.1"}};
  r.content_length = 5;
  r.remote_addr = "10.0.0.1";
  r.remote_port = 4242;
  r.server_name = "example.org";
  r.server_port = 443;
  r.remote_user = "alice";
  r.auth_type = "Basic";
  r.https = true;
  gw::CgiContext ctx;
  ctx.document_root = "/srv/www";
  ctx.script_filename = "/srv/www/app.cgi";
  CHECK(headers_text(gw::cgi_from_request(r, ctx)) ==
        "CONTENT_LENGTH=5\n"
        "CONTENT_TYPE=text/plain\n"
        "DOCUMENT_ROOT=/srv/www\n"
        "GATEWAY_INTERFACE=CGI/1.1\n"
        "HTTPS=on\n"
        "PATH_INFO=/wiki/A B\n"
        "QUERY_STRING=x=1\n"
        "REMOTE_ADDR=10.0.0.1\n"
        "REMOTE_PORT=4242\n"
        "AUTH_TYPE=Basic\n"
        "REMOTE_USER=alice\n"
        "REQUEST_METHOD=POST\n"
        "REQUEST_URI=/proj/wiki/A%20B?x=1\n"
        "SCRIPT_FILENAME=/srv/www/app.cgi\n"
        "SCRIPT_NAME=/proj\n"
        "SERVER_NAME=example.org\n"
        "SERVER_PORT=443\n"
        "SERVER_PROTOCOL=HTTP/1.1\n"
        "SERVER_SOFTWARE=gatewayd\n"
        "HTTP_HOST=example.org\n"
        "HTTP_COOKIE=a=1; b=2\n"
        "HTTP_ACCEPT=text/html\n"
        "HTTP_X_FORWARDED_FOR=10.0.0.1\n");
}

TEST_CASE("cgi_params: cgi_from_request drops hop-by-hop headers and those Connection names") {
  Request r;
  r.method = "GET";
  r.target = "/p/x";
  r.path = "/p/x";
  r.script_name = "/p";
  r.path_info = "/x";
  r.headers = {{"Host", "example.org:8080"}, {"Connection", "keep-alive, X-Hop"},
               {"Keep-Alive", "timeout=5"},  {"Proxy-Connection", "keep-alive"},
               {"TE", "trailers"},           {"Transfer-Encoding", "chunked"},
               {"Upgrade", "websocket"},     {"X-Hop", "hop"},
               {"connection", " x-other ,"}, {"X-Other", "hop too"},
               {"Remote-User", "mallory"},   {"X-Kept", "end-to-end"}};
  std::string got = headers_text(gw::cgi_from_request(r, gw::CgiContext{}));
  std::string http_vars = got.substr(got.find("HTTP_"));
  CHECK(http_vars ==
        "HTTP_HOST=example.org:8080\n"
        "HTTP_REMOTE_USER=mallory\n"
        "HTTP_X_KEPT=end-to-end\n");
  // A client header is never the REMOTE_USER variable.
  CHECK(got.find("\nREMOTE_USER=") == std::string::npos);
}

TEST_CASE("cgi_params: cgi_from_request, minimal request omits optional variables") {
  Request r;
  r.method = "GET";
  r.target = "/";
  r.path = "/";
  r.path_info = "/";
  CHECK(headers_text(gw::cgi_from_request(r, gw::CgiContext{})) ==
        "GATEWAY_INTERFACE=CGI/1.1\n"
        "PATH_INFO=/\n"
        "QUERY_STRING=\n"
        "REMOTE_ADDR=\n"
        "REQUEST_METHOD=GET\n"
        "REQUEST_URI=/\n"
        "SCRIPT_NAME=\n"
        "SERVER_NAME=\n"
        "SERVER_PORT=0\n"
        "SERVER_PROTOCOL=HTTP/1.1\n"
        "SERVER_SOFTWARE=gatewayd\n");
}

TEST_CASE("cgi_params: request -> CGI -> request keeps what the CGI variables carry") {
  Request r;
  r.method = "PUT";
  r.target = "/app/x%2Fy?q=1";
  r.path = "/app/x/y";
  r.query = "q=1";
  r.script_name = "/app";
  r.path_info = "/x/y";
  r.server_protocol = "HTTP/1.0";
  r.headers = {{"Content-Type", "a/b"}, {"Content-Length", "7"}, {"X-Thing", "v"}};
  r.content_length = 7;
  r.remote_addr = "::1";
  r.remote_port = 1;
  r.server_name = "h";
  r.server_port = 80;
  r.https = true;
  Request back = map_ok(gw::cgi_from_request(r, gw::CgiContext{}));
  CHECK(back.method == r.method);
  CHECK(back.target == r.target);
  CHECK(back.path == r.path);
  CHECK(back.query == r.query);
  CHECK(back.script_name == r.script_name);
  CHECK(back.path_info == r.path_info);
  CHECK(back.server_protocol == r.server_protocol);
  CHECK(headers_text(back.headers) == headers_text(r.headers));
  CHECK(back.content_length == r.content_length);
  CHECK(back.remote_addr == r.remote_addr);
  CHECK(back.remote_port == r.remote_port);
  CHECK(back.server_name == r.server_name);
  CHECK(back.server_port == r.server_port);
  CHECK(back.https);
}

TEST_CASE("cgi_params: format_cgi_head") {
  gw::ResponseHead head;
  head.status = 404;
  head.headers = {{"Content-Type", "text/html"},
                  {"Connection", "close, X-Hop"},
                  {"X-Hop", "1"},
                  {"Keep-Alive", "timeout=5"},
                  {"Transfer-Encoding", "chunked"},
                  {"Status", "200 OK"},
                  {"Bad Name", "x"},
                  {"X-Split", "a\r\nSet-Cookie: evil"},
                  {"Set-Cookie", "a=1"}};
  CHECK(gw::format_cgi_head(head) ==
        "Status: 404 Not Found\r\n"
        "Content-Type: text/html\r\n"
        "Set-Cookie: a=1\r\n"
        "\r\n");
  head = {};
  head.status = 299;
  head.reason = "Fine";
  CHECK(gw::format_cgi_head(head) == "Status: 299 Fine\r\n\r\n");
  head.reason = "Bad\r\nX: y";
  CHECK(gw::format_cgi_head(head) == "Status: 299 Unknown\r\n\r\n");
  head.status = 42;
  head.reason = "Odd";
  CHECK(gw::format_cgi_head(head) == "Status: 500 Internal Server Error\r\n\r\n");
}
