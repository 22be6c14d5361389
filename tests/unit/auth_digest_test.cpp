// Authorization header parsing (Basic and Digest), the Digest response
// (RFC 2617 and RFC 7616 examples), nonces, challenges.
#include <doctest/doctest.h>

#include <string>

#include "dispatch/auth/auth_crypto.h"
#include "dispatch/auth/auth_header.h"
#include "dispatch/auth/digest.h"

namespace {

using namespace gw::auth;

// RFC 7616 section 3.9.1, the MD5 example.
constexpr const char* kRfc7616 =
    "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", "
    "algorithm=MD5, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, "
    "cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, "
    "response=\"8ca523f5e9506fed4657c9700eebdbec\", "
    "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";

// RFC 2617 section 3.5.
constexpr const char* kRfc2617 = "Digest username=\"Mufasa\",\n realm=\"testrealm@host.com\"";

DigestCredentials parse_ok(std::string_view value) {
  std::string why;
  auto c = parse_digest(value, why);
  CAPTURE(why);
  REQUIRE(c.has_value());
  CHECK(why.empty());
  return *c;
}

std::string parse_error(std::string_view value) {
  std::string why;
  auto c = parse_digest(value, why);
  CHECK_FALSE(c.has_value());
  CHECK_FALSE(why.empty());
  return why;
}

}  // namespace

TEST_CASE("auth digest: the RFC 7616 MD5 example") {
  DigestCredentials c = parse_ok(kRfc7616);
  CHECK(c.username == "Mufasa");
  CHECK(c.realm == "http-auth@example.org");
  CHECK(c.uri == "/dir/index.html");
  CHECK(c.nonce == "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v");
  CHECK(c.nc == "00000001");
  CHECK(c.cnonce == "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ");
  CHECK(c.qop == "auth");
  CHECK(c.algorithm == "MD5");
  CHECK(c.has_opaque);
  CHECK(c.opaque == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS");
  std::string ha1 = digest_ha1("Mufasa", "http-auth@example.org", "Circle of Life");
  CHECK(digest_response(ha1, "GET", c) == "8ca523f5e9506fed4657c9700eebdbec");
  CHECK(digest_matches(ha1, "GET", c));
  CHECK_FALSE(digest_matches(ha1, "POST", c));
  CHECK_FALSE(
      digest_matches(digest_ha1("Mufasa", "http-auth@example.org", "Circle Of Life"), "GET", c));
  c.nc = "00000002";
  CHECK_FALSE(digest_matches(ha1, "GET", c));
}

TEST_CASE("auth digest: the RFC 2617 example, uppercase response accepted") {
  std::string value = std::string(kRfc2617) +
                      ", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", "
                      "qop=auth, nc=00000001, cnonce=\"0a4f113b\", "
                      "response=\"6629FAE49393A05397450978507C4EF1\", "
                      "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
  // Header values never hold a line break once unfolded: the example's
  // continuation lines are one line on the wire.
  value.replace(value.find('\n'), 1, "");
  DigestCredentials c = parse_ok(value);
  CHECK(c.algorithm.empty());
  CHECK(c.response == "6629fae49393a05397450978507c4ef1");
  std::string ha1 = digest_ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
  CHECK(digest_matches(ha1, "GET", c));
}

TEST_CASE("auth digest: htdigest's HA1 is what we compute") {
  // tests/vectors/auth/htdigest: alice / digest-secret in "Trac Realm".
  CHECK(digest_ha1("alice", "Trac Realm", "digest-secret") == "03224e5b13218dc95550989c4c224b5e");
}

TEST_CASE("auth digest: quoted strings, escapes, tokens, spacing, empty list elements") {
  DigestCredentials c = parse_ok(
      "digest ,username = \"a\\\"b\\\\c\" ,realm=\"r\\x\",nonce=n , ,uri=\"/p?q=\\\"1\\\"\","
      "response=0123456789abcdef0123456789ABCDEF,qop=\"auth\",nc=0000000a,cnonce=\"c n\","
      "unknown=\"ignored\",  ");
  CHECK(c.username == "a\"b\\c");
  CHECK(c.realm == "rx");
  CHECK(c.nonce == "n");
  CHECK(c.uri == "/p?q=\"1\"");
  CHECK(c.cnonce == "c n");
  CHECK(c.response == "0123456789abcdef0123456789abcdef");
  CHECK_FALSE(c.has_opaque);
  CHECK(scheme_of("DIGEST x=1") == Scheme::Digest);
}

TEST_CASE("auth digest: bad headers are refused with a reason") {
  const std::string ok_tail =
      "realm=\"r\", nonce=\"n\", uri=\"/\", response=\"0123456789abcdef0123456789abcdef\", "
      "qop=auth, nc=00000001, cnonce=\"c\"";
  CHECK(parse_error("Basic abc") == "not Digest credentials");
  CHECK(parse_error("Digest") == "not Digest credentials");
  CHECK(parse_error("Digestusername=\"a\"") == "not Digest credentials");
  CHECK(parse_error("Digest username=\"a\", " + ok_tail + ", username=\"b\"") ==
        "duplicate username");
  CHECK(parse_error("Digest USERNAME=\"a\", " + ok_tail + ", Username=\"b\"") ==
        "duplicate username");
  CHECK(parse_error("Digest " + ok_tail) == "Digest credentials without username");
  CHECK(parse_error("Digest username=\"a\" " + ok_tail) == "',' expected after username");
  CHECK(parse_error("Digest username=\"a, " + ok_tail) == "',' expected after username");
  CHECK(parse_error("Digest username=\"a\\") == "bad quoted string for username");
  CHECK(parse_error("Digest username=\"a\x01\", " + ok_tail) == "bad quoted string for username");
  CHECK(parse_error("Digest username=, " + ok_tail) == "empty value for username");
  CHECK(parse_error("Digest =\"a\", " + ok_tail) == "auth-param name expected");
  CHECK(parse_error("Digest username \"a\", " + ok_tail) == "'=' expected after username");
  CHECK(parse_error("Digest username*=UTF-8''a, " + ok_tail) ==
        "username* (RFC 8187 encoding) is not supported");
  CHECK(parse_error("Digest username=\"a\", algorithm=SHA-256, " + ok_tail) ==
        "Digest algorithm not supported");
  CHECK(parse_error("Digest username=\"a\", algorithm=MD5-sess, " + ok_tail) ==
        "Digest algorithm not supported");
  std::string no_qop = ok_tail;
  no_qop.replace(no_qop.find("qop=auth"), 8, "qop=auth-int");
  CHECK(parse_error("Digest username=\"a\", " + no_qop) == "Digest qop is not auth");
  std::string bad_nc = ok_tail;
  bad_nc.replace(bad_nc.find("nc=00000001"), 11, "nc=1");
  CHECK(parse_error("Digest username=\"a\", " + bad_nc) == "Digest nc is not 8 hex digits");
  std::string bad_resp = ok_tail;
  bad_resp.replace(bad_resp.find("0123456789abcdef0123456789abcdef"), 32, "xyz");
  CHECK(parse_error("Digest username=\"a\", " + bad_resp) ==
        "Digest response is not 32 hex digits");
  CHECK(parse_error("Digest username=\"\", " + ok_tail) ==
        "Digest credentials with an empty username, nonce, uri or cnonce");
  std::string many = "Digest username=\"a\", " + ok_tail;
  for (int i = 0; i < 30; ++i) many += ", x" + std::to_string(i) + "=1";
  CHECK(parse_error(many) == "too many auth-params");
  std::string huge = "Digest username=\"" + std::string(kMaxAuthorizationBytes, 'a') + "\"";
  CHECK(parse_error(huge) == "Authorization header too long");
}

TEST_CASE("auth digest: Basic credentials") {
  std::string why;
  auto c = parse_basic("Basic " + base64_encode("Aladdin:open sesame"), why);
  REQUIRE(c.has_value());
  CHECK(c->user == "Aladdin");
  CHECK(c->password == "open sesame");
  c = parse_basic("basic   " + base64_encode("u:p:with:colons") + "  ", why);
  REQUIRE(c.has_value());
  CHECK(c->user == "u");
  CHECK(c->password == "p:with:colons");
  c = parse_basic("Basic " + base64_encode(":"), why);
  REQUIRE(c.has_value());
  CHECK(c->user.empty());
  c = parse_basic("Basic " + base64_encode("caf\xc3\xa9:\xe2\x82\xac"), why);  // UTF-8 as is
  REQUIRE(c.has_value());
  CHECK(c->user == "caf\xc3\xa9");

  auto refused = [](std::string_view value) {
    std::string w;
    CHECK_FALSE(parse_basic(value, w).has_value());
    return w;
  };
  CHECK(refused("Basic " + base64_encode("nocolon")) == "Basic credentials without ':'");
  CHECK(refused("Basic !!!") == "Basic credentials are not base64");
  CHECK(refused("Basic QWxh ZGRpbg==") == "Basic credentials are not base64");
  CHECK(refused("Basic") == "not Basic credentials");
  CHECK(refused("Basic\tQQ==") == "not Basic credentials");
  CHECK(refused("Bearer abc") == "not Basic credentials");
  CHECK(refused("Basic " + std::string(kMaxAuthorizationBytes, 'Q')) ==
        "Authorization header too long");
  // The reason never carries the password.
  CHECK(refused("Basic " + base64_encode("secretpassword")).find("secret") == std::string::npos);
  CHECK(scheme_of("bAsIc x") == Scheme::Basic);
  CHECK(scheme_of("Bearer x") == Scheme::Other);
  CHECK(scheme_of("") == Scheme::Other);
}

TEST_CASE("auth digest: nonces are ours, for one realm, and expire") {
  const std::string key(32, 'k');
  std::string nonce = make_nonce(key, "R", 1000);
  CHECK(nonce.size() == 48);
  CHECK(nonce.substr(0, 16) == "00000000000003e8");
  CHECK(check_nonce(key, "R", nonce, 1000, 300) == NonceState::Valid);
  CHECK(check_nonce(key, "R", nonce, 1300, 300) == NonceState::Valid);
  CHECK(check_nonce(key, "R", nonce, 1301, 300) == NonceState::Stale);
  CHECK(check_nonce(key, "R", nonce, 999, 300) == NonceState::Invalid);  // from the future
  CHECK(check_nonce(key, "Other", nonce, 1000, 300) == NonceState::Invalid);
  CHECK(check_nonce(std::string(32, 'j'), "R", nonce, 1000, 300) == NonceState::Invalid);
  // Another time with the old MAC, a flipped MAC digit, wrong sizes, uppercase.
  std::string moved = make_nonce(key, "R", 999).substr(0, 16) + nonce.substr(16);
  CHECK(check_nonce(key, "R", moved, 1000, 300) == NonceState::Invalid);
  std::string flipped = nonce;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  CHECK(check_nonce(key, "R", flipped, 1000, 300) == NonceState::Invalid);
  CHECK(check_nonce(key, "R", nonce.substr(1), 1000, 300) == NonceState::Invalid);
  CHECK(check_nonce(key, "R", nonce + "0", 1000, 300) == NonceState::Invalid);
  std::string upper = nonce;
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (upper != nonce) CHECK(check_nonce(key, "R", upper, 1000, 300) == NonceState::Invalid);
  CHECK(check_nonce(key, "R", "", 1000, 300) == NonceState::Invalid);
  CHECK(process_key().size() == 32);
  CHECK(&process_key() == &process_key());
}

TEST_CASE("auth digest: challenges") {
  CHECK(basic_challenge("Trac") == "Basic realm=\"Trac\", charset=\"UTF-8\"");
  CHECK(basic_challenge("a \"b\" \\c\r\n") ==
        "Basic realm=\"a \\\"b\\\" \\\\c\", charset=\"UTF-8\"");
  CHECK(digest_challenge("R", "N", "O", false) ==
        "Digest realm=\"R\", qop=\"auth\", algorithm=MD5, nonce=\"N\", opaque=\"O\"");
  CHECK(digest_challenge("R", "N", "O", true) ==
        "Digest realm=\"R\", qop=\"auth\", algorithm=MD5, nonce=\"N\", opaque=\"O\", stale=true");
  // What we send parses back as auth-params.
  std::string echo = digest_challenge("a \"q\" realm", "N", "O", true);
  echo.replace(0, 6,
               "Digest username=\"u\", uri=\"/\", response=\"0123456789abcdef0123456789abcdef\", "
               "nc=00000001, cnonce=\"c\",");
  std::string why;
  auto c = parse_digest(echo, why);
  CAPTURE(why);
  REQUIRE(c.has_value());
  CHECK(c->realm == "a \"q\" realm");
}
