#include <doctest/doctest.h>

#include "protocols/path.h"

using gw::normalize_path;
using gw::percent_decode;

TEST_CASE("path: percent_decode") {
  CHECK(percent_decode("/a%20b") == std::optional<std::string>("/a b"));
  CHECK(percent_decode("/a+b") == std::optional<std::string>("/a+b"));
  CHECK(percent_decode("/%2f") == std::optional<std::string>("//"));
  CHECK_FALSE(percent_decode("/%2").has_value());
  CHECK_FALSE(percent_decode("/%").has_value());
  CHECK_FALSE(percent_decode("/%zz").has_value());
  CHECK_FALSE(percent_decode("/%00").has_value());
}

TEST_CASE("path: normalize_path") {
  CHECK(normalize_path("/") == std::optional<std::string>("/"));
  CHECK(normalize_path("/a//b/./c") == std::optional<std::string>("/a/b/c"));
  CHECK(normalize_path("/a/b/../c") == std::optional<std::string>("/a/c"));
  CHECK(normalize_path("/a/b/") == std::optional<std::string>("/a/b/"));
  CHECK(normalize_path("/a/..") == std::optional<std::string>("/"));
  CHECK_FALSE(normalize_path("/..").has_value());
  CHECK_FALSE(normalize_path("/a/../../etc/passwd").has_value());
  CHECK_FALSE(normalize_path("relative").has_value());
  CHECK_FALSE(normalize_path("").has_value());
}

TEST_CASE("path: percent_encode_path round-trips") {
  std::string raw = "/a b/\xc3\xa9?#%";
  CHECK(gw::percent_encode_path(raw) == "/a%20b/%C3%A9%3F%23%25");
  CHECK(percent_decode(gw::percent_encode_path(raw)) == std::optional<std::string>(raw));
}
