// PrettyJson must write exactly what nlohmann's dump(2, ' ', false, replace)
// writes for the same document: the echo backend's answer depends on it.
#include "dispatch/backends/pretty_json.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

using Json = nlohmann::ordered_json;
using namespace std::literals;

std::string dumped(const Json& j) {
  return j.dump(2, ' ', false, Json::error_handler_t::replace);
}

// Strings with everything the escaping has to get right.
const std::vector<std::string> kStrings = {
    "",
    "plain",
    "quote \" backslash \\ slash /",
    "\b\f\n\r\t",
    std::string("nul \0 one \x01 us \x1f del \x7f"sv),
    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",  // valid UTF-8, kept
    "bad \xff byte",                              // replaced
    "cut \xe2\x82",                               // truncated sequence
    "overlong \xc0\xaf and lone \x80",
};

}  // namespace

TEST_CASE("pretty_json: every string as nlohmann writes it") {
  for (const std::string& s : kStrings) {
    CAPTURE(s);
    std::string out;
    gw::PrettyJson j(out);
    j.value(s);
    CHECK(out == Json(s).dump(2, ' ', false, Json::error_handler_t::replace));
  }
}

TEST_CASE("pretty_json: nested objects and arrays, empty ones, scalars") {
  Json expected = Json::object();
  expected["s"] = "x";
  expected["n"] = uint64_t{18446744073709551615u};
  expected["zero"] = uint64_t{0};
  expected["t"] = true;
  expected["f"] = false;
  expected["null"] = nullptr;
  expected["empty_array"] = Json::array();
  expected["empty_object"] = Json::object();
  expected["pairs"] = Json::array({Json::array({"a", "1"}), Json::array({"b\n", ""})});
  expected["nested"] = Json::object({{"inner", Json::array({uint64_t{1}, Json::object()})}});
  expected["last"] = "end";

  std::string out;
  gw::PrettyJson j(out);
  j.begin_object();
  j.member("s", "x");
  j.member("n", uint64_t{18446744073709551615u});
  j.member("zero", uint64_t{0});
  j.member("t", true);
  j.member("f", false);
  j.key("null");
  j.null();
  j.key("empty_array");
  j.begin_array();
  j.end_array();
  j.key("empty_object");
  j.begin_object();
  j.end_object();
  j.key("pairs");
  j.begin_array();
  for (auto [a, b] : {std::pair{"a", "1"}, std::pair{"b\n", ""}}) {
    j.begin_array();
    j.value(a);
    j.value(b);
    j.end_array();
  }
  j.end_array();
  j.key("nested");
  j.begin_object();
  j.key("inner");
  j.begin_array();
  j.value(uint64_t{1});
  j.begin_object();
  j.end_object();
  j.end_array();
  j.end_object();
  CHECK(j.depth() == 1);

  // The echo's way: a second writer continues the open object.
  gw::PrettyJson more(out);
  more.reopen_object();
  more.member("last", "end");
  more.end_object();
  CHECK(more.depth() == 0);
  CHECK(out == dumped(expected));
}

TEST_CASE("pretty_json: an empty object at the top") {
  std::string out;
  gw::PrettyJson j(out);
  j.begin_object();
  j.end_object();
  CHECK(out == "{}");
}
