#include <doctest/doctest.h>

#include "tests/support/recording_sink.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "dispatch/backends/echo.h"
#include "tests/support/split.h"

namespace {

using gw::Header;
using gw::Request;
using gw::ResponseHead;
using Json = nlohmann::ordered_json;
using FakeSink = gw::test::RecordingSink;

Request sample_request() {
  Request r;
  r.origin = gw::Protocol::FastCgi;
  r.method = "POST";
  r.target = "/proj/a%20b/c?x=1&y";
  r.path = "/proj/a b/c";
  r.query = "x=1&y";
  r.script_name = "/proj";
  r.path_info = "/a b/c";
  r.server_protocol = "HTTP/1.1";
  r.headers = {
      {"Host", "example.org"}, {"Content-Type", "text/plain"}, {"X-Dup", "1"}, {"X-Dup", "2"}};
  r.params = {{"SERVER_SOFTWARE", "nginx/1.22.1"}, {"DOCUMENT_ROOT", "/srv/www"}};
  r.content_length = 3;
  r.remote_addr = "192.0.2.7";
  r.remote_port = 51234;
  r.server_name = "example.org";
  r.server_addr = "198.51.100.1";
  r.server_port = 443;
  r.remote_user = "alice";
  r.auth_type = "Basic";
  r.https = true;
  return r;
}

constexpr const char* kSha256Abc =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* kSha256Empty =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

}  // namespace

TEST_CASE("echo: answers only after the whole body, with every field") {
  gw::EchoBackend backend("demo");
  CHECK(backend.kind() == "echo");
  FakeSink sink;
  auto ex = backend.start(sample_request(), sink);
  ex->send_body("a");
  ex->send_body("bc");
  CHECK_FALSE(sink.head.has_value());
  ex->finish_body();

  REQUIRE(sink.head.has_value());
  CHECK(sink.head->status == 200);
  CHECK(sink.header("Content-Type") == "application/json");
  CHECK(sink.header("Cache-Control") == "no-store");
  CHECK(sink.ended);
  std::string body = sink.body();
  CHECK(sink.header("Content-Length") == std::to_string(body.size()));

  Json j = Json::parse(body);
  std::vector<std::string> keys;
  for (const auto& item : j.items()) keys.push_back(item.key());
  const std::vector<std::string> expected_keys = {
      "project",     "origin",         "method",      "target",          "path",
      "script_name", "path_info",      "query",       "server_protocol", "headers",
      "params",      "content_length", "remote_addr", "remote_port",     "server_name",
      "server_addr", "server_port",    "remote_user", "auth_type",       "https",
      "body_length", "body_sha256"};
  CHECK(keys == expected_keys);

  CHECK(j["project"] == "demo");
  CHECK(j["origin"] == "fcgi");
  CHECK(j["method"] == "POST");
  CHECK(j["target"] == "/proj/a%20b/c?x=1&y");
  CHECK(j["path"] == "/proj/a b/c");
  CHECK(j["script_name"] == "/proj");
  CHECK(j["path_info"] == "/a b/c");
  CHECK(j["query"] == "x=1&y");
  CHECK(j["server_protocol"] == "HTTP/1.1");
  CHECK(j["headers"] == Json::parse(R"([["Host","example.org"],["Content-Type","text/plain"],)"
                                    R"(["X-Dup","1"],["X-Dup","2"]])"));
  CHECK(j["params"] ==
        Json::parse(R"([["SERVER_SOFTWARE","nginx/1.22.1"],["DOCUMENT_ROOT","/srv/www"]])"));
  CHECK(j["content_length"] == 3);
  CHECK(j["remote_addr"] == "192.0.2.7");
  CHECK(j["remote_port"] == 51234);
  CHECK(j["server_name"] == "example.org");
  CHECK(j["server_addr"] == "198.51.100.1");
  CHECK(j["server_port"] == 443);
  CHECK(j["remote_user"] == "alice");
  CHECK(j["auth_type"] == "Basic");
  CHECK(j["https"] == true);
  CHECK(j["body_length"] == 3);
  CHECK(j["body_sha256"] == kSha256Abc);
}

TEST_CASE("echo: body digest is the same however the body is split") {
  gw::test::for_each_split("abc", [](std::string_view a, std::string_view b) {
    gw::EchoBackend backend("p");
    FakeSink sink;
    auto ex = backend.start(sample_request(), sink);
    ex->send_body(a);
    ex->send_body(b);
    ex->finish_body();
    Json j = Json::parse(sink.body());
    CHECK(j["body_length"] == 3);
    CHECK(j["body_sha256"] == kSha256Abc);
  });
}

TEST_CASE("echo: a million-byte body in a thousand pieces") {
  gw::EchoBackend backend("p");
  FakeSink sink;
  Request r = sample_request();
  r.content_length.reset();
  auto ex = backend.start(r, sink);
  std::string piece(1000, 'a');
  for (int i = 0; i < 1000; ++i) ex->send_body(piece);
  ex->finish_body();
  Json j = Json::parse(sink.body());
  CHECK(j["body_length"] == 1000000);
  // FIPS 180-2 test vector: one million 'a'.
  CHECK(j["body_sha256"] == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("echo: content_length null when unknown, number when known") {
  gw::EchoBackend backend("p");
  Request r = sample_request();
  SUBCASE("unknown") {
    r.content_length.reset();
    FakeSink sink;
    auto ex = backend.start(r, sink);
    ex->finish_body();
    Json j = Json::parse(sink.body());
    CHECK(j["content_length"].is_null());
    CHECK(j["body_length"] == 0);
    CHECK(j["body_sha256"] == kSha256Empty);
  }
  SUBCASE("zero") {
    r.content_length = 0;
    FakeSink sink;
    auto ex = backend.start(r, sink);
    ex->finish_body();
    Json j = Json::parse(sink.body());
    CHECK(j["content_length"].is_number_unsigned());
    CHECK(j["content_length"] == 0);
  }
}

TEST_CASE("echo: HEAD gets the same head") {
  gw::EchoBackend backend("p");
  Request r = sample_request();
  r.method = "HEAD";
  r.content_length.reset();
  FakeSink sink;
  auto ex = backend.start(r, sink);
  ex->finish_body();
  REQUIRE(sink.head.has_value());
  CHECK(sink.head->status == 200);
  CHECK(sink.header("Content-Type") == "application/json");
  CHECK(sink.header("Content-Length") == std::to_string(sink.body().size()));
  CHECK(Json::parse(sink.body())["method"] == "HEAD");
}

TEST_CASE("echo: bytes that are not UTF-8 are replaced, not fatal") {
  gw::EchoBackend backend("p");
  Request r = sample_request();
  r.headers = {{"X-Latin1", "caf\xe9"}};
  FakeSink sink;
  auto ex = backend.start(r, sink);
  ex->finish_body();
  REQUIRE(sink.ended);
  CHECK(Json::parse(sink.body())["headers"][0][1] == "caf\xef\xbf\xbd");
}

TEST_CASE("echo: output pauses while the sink is congested") {
  gw::EchoBackend backend("p");
  Request r = sample_request();
  r.headers.push_back({"X-Big", std::string(150 * 1024, 'x')});  // > two pieces of JSON
  FakeSink sink;
  auto ex = backend.start(r, sink);
  sink.congested_now = true;
  ex->finish_body();
  REQUIRE(sink.head.has_value());
  CHECK(sink.pieces.empty());
  ex->resume_response();  // still congested: nothing
  CHECK(sink.pieces.empty());

  sink.congested_now = false;
  sink.congest_after_each_piece = true;
  ex->resume_response();
  CHECK(sink.pieces.size() == 1);
  CHECK(sink.pieces[0].size() == 64 * 1024);
  CHECK_FALSE(sink.ended);
  while (!sink.ended && sink.pieces.size() < 10) {
    sink.congested_now = false;
    ex->resume_response();
  }
  CHECK(sink.ended);
  CHECK(sink.pieces.size() == 3);
  CHECK(sink.header("Content-Length") == std::to_string(sink.body().size()));
  CHECK(Json::parse(sink.body())["headers"][4][1].get<std::string>().size() == 150 * 1024);
}

TEST_CASE("echo: nothing reaches the sink after cancel") {
  gw::EchoBackend backend("p");
  FakeSink sink;
  SUBCASE("before the body ends") {
    auto ex = backend.start(sample_request(), sink);
    ex->send_body("ab");
    ex->cancel();
    ex->send_body("c");
    ex->finish_body();
    ex->resume_response();
    CHECK_FALSE(sink.head.has_value());
    CHECK(sink.pieces.empty());
    CHECK_FALSE(sink.finished());
  }
  SUBCASE("while congested mid-response") {
    auto ex = backend.start(sample_request(), sink);
    sink.congested_now = true;
    ex->finish_body();
    REQUIRE(sink.head.has_value());
    ex->cancel();
    sink.congested_now = false;
    ex->resume_response();
    CHECK(sink.pieces.empty());
    CHECK_FALSE(sink.finished());
  }
}
