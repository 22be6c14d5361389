// htpasswd / htdigest parsing and every password hash kind, against files
// made by Apache's htpasswd and htdigest and by `openssl passwd`
// (tests/vectors/auth/README.md).
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "dispatch/auth/auth_crypto.h"
#include "dispatch/auth/md5_crypt.h"
#include "dispatch/auth/password_file.h"
#include "dispatch/auth/password_hash.h"

namespace {

using namespace gw::auth;

std::string read_vector(const std::string& name) {
  std::ifstream f(std::string(GW_VECTORS_DIR) + "/auth/" + name, std::ios::binary);
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

HtpasswdFile parse_ok(std::string_view text, const PasswordFileLimits& limits = {}) {
  HtpasswdFile f;
  std::string error;
  REQUIRE(parse_htpasswd(text, limits, f, error));
  CHECK(error.empty());
  return f;
}

}  // namespace

TEST_CASE("auth htpasswd: every hash kind from the tools matches its password only") {
  HtpasswdFile f = parse_ok(read_vector("htpasswd"));
  CHECK(f.problems.count == 0);
  struct Case {
    const char* user;
    const char* password;
    HashKind kind;
  };
  const Case cases[] = {
      {"bcrypt", "bcrypt-secret", HashKind::Bcrypt},
      {"bcrypt2a", "bcrypt-secret", HashKind::Bcrypt},
      {"bcrypt2b", "bcrypt-secret", HashKind::Bcrypt},
      {"apr1", "apr1-secret", HashKind::Apr1},
      {"sha1", "sha1-secret", HashKind::Sha1},
      {"des", "des-sec", HashKind::Des},
      {"md5crypt", "md5crypt-secret", HashKind::Md5Crypt},
      {"sha256", "sha256-secret", HashKind::Sha256},
      {"sha512", "sha512-secret", HashKind::Sha512},
  };
  CHECK(f.hash_by_user.size() == std::size(cases));
  for (const auto& c : cases) {
    CAPTURE(c.user);
    const std::string* hash = f.find(c.user);
    REQUIRE(hash != nullptr);
    CHECK(hash_kind(*hash) == c.kind);
    CHECK(verify_password(c.password, *hash));
    std::string wrong = c.password;
    wrong.back() ^= 1;
    CHECK_FALSE(verify_password(wrong, *hash));
    CHECK_FALSE(verify_password("", *hash));
    CHECK_FALSE(verify_password(std::string(c.password) + "x", *hash));
  }
  // Traditional crypt only reads eight characters (why htpasswd -d warns);
  // this hash is `htpasswd -nbd u 12345678`.
  CHECK(verify_password("des-sec", *f.find("des")));
  CHECK(verify_password("12345678", "o/ijrVCXWaGjE"));
  CHECK(verify_password("12345678-and-more", "o/ijrVCXWaGjE"));
}

TEST_CASE("auth htpasswd: $apr1$ and $1$ follow the MD5-crypt algorithm") {
  // $1$ computed by libcrypt must equal ours: the same algorithm, another magic.
  CHECK(md5_crypt("md5crypt-secret", "$1$hMKsJk/3$") ==
        std::string("$1$hMKsJk/3$BzmpT.Zq59U62eZDfEu6J1"));
  CHECK(md5_crypt("apr1-secret", "$apr1$2gFE1GnH$anything") ==
        std::string("$apr1$2gFE1GnH$VOn9dawkJ.fgiS4XXqLf1/"));
  // Passwords longer than one MD5 block and empty ones: libcrypt agrees.
  for (std::string pw : {std::string(), std::string(17, 'p'), std::string(100, 'q')}) {
    CAPTURE(pw.size());
    std::optional<std::string> ours = md5_crypt(pw, "$1$saltsalt");
    REQUIRE(ours.has_value());
    CHECK(verify_password(pw, *ours));  // libcrypt's $1$
    std::string apr = "$apr1$" + ours->substr(3);
    CHECK(verify_password(pw, *md5_crypt(pw, apr)));
  }
  // The salt stops at 8 characters, as in the algorithm.
  CHECK(md5_crypt("x", "$1$123456789$")->substr(0, 12) == "$1$12345678$");
  CHECK_FALSE(md5_crypt("x", "$5$abc$").has_value());
}

TEST_CASE("auth htpasswd: unknown and malformed hashes never match") {
  CHECK(hash_kind("plaintext") == HashKind::Unknown);
  CHECK(hash_kind("$y$j9T$abc$def") == HashKind::Unknown);
  CHECK(hash_kind("$2x$05$abcdefghijklmnopqrstuu") == HashKind::Unknown);
  CHECK(hash_kind("") == HashKind::Unknown);
  CHECK_FALSE(verify_password("plaintext", "plaintext"));
  CHECK_FALSE(verify_password("", ""));
  // Shaped like bcrypt / SHA-crypt but broken: libcrypt refuses, no match.
  CHECK_FALSE(verify_password("bcrypt-secret", "$2y$05$short"));
  CHECK_FALSE(verify_password("x", "$6$"));
  CHECK_FALSE(verify_password("x", "{SHA}"));
  CHECK_FALSE(verify_password("x", "{SHA}not base64 at all"));
  // 13 characters outside the crypt alphabet are not DES.
  CHECK(hash_kind("c57wCVi7bG1M!") == HashKind::Unknown);
  // A NUL in the password cannot reach libcrypt.
  CHECK_FALSE(verify_password(std::string("des-sec\0x", 9), "c57wCVi7bG1MY"));
  // A huge password is refused before hashing.
  CHECK_FALSE(verify_password(std::string(5000, 'a'),
                              "{SHA}" + base64_encode(sha1_raw(std::string(5000, 'a')))));
}

TEST_CASE("auth htpasswd: {SHA} is base64 of SHA-1") {
  CHECK(base64_encode(sha1_raw("abc")) == "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
  CHECK(verify_password("abc", "{SHA}qZk+NkcGgWq6PiVxeFDCbJzQ2J0="));
  CHECK_FALSE(verify_password("abd", "{SHA}qZk+NkcGgWq6PiVxeFDCbJzQ2J0="));
}

TEST_CASE("auth htpasswd: comments, blank lines, CRLF, whitespace, extra fields") {
  HtpasswdFile f = parse_ok(
      "# users\r\n"
      "\r\n"
      "  alice:{SHA}qZk+NkcGgWq6PiVxeFDCbJzQ2J0=  \r\n"
      "\t# indented comment\n"
      "bob:hash:comment field\n"
      "   \n"
      "carol:c57wCVi7bG1MY");  // no final newline
  CHECK(f.problems.count == 0);
  CHECK(f.hash_by_user.size() == 3);
  CHECK(*f.find("alice") == "{SHA}qZk+NkcGgWq6PiVxeFDCbJzQ2J0=");
  CHECK(*f.find("bob") == "hash");
  CHECK(*f.find("carol") == "c57wCVi7bG1MY");
  CHECK(f.find("dave") == nullptr);
  CHECK(f.find("") == nullptr);
}

TEST_CASE("auth htpasswd: bad lines are skipped and reported without their content") {
  std::string long_line = "long:" + std::string(5000, 'x');
  HtpasswdFile f = parse_ok("nocolon\n:emptyuser\nempty:\nok:{SHA}a\nok:{SHA}b\nctl\x01:h\n" +
                            long_line + "\nlast:{SHA}c\n");
  CHECK(f.hash_by_user.size() == 2);
  CHECK(*f.find("ok") == "{SHA}a");  // first entry wins
  CHECK(*f.find("last") == "{SHA}c");
  REQUIRE(f.problems.lines.size() == 6);
  CHECK(f.problems.lines[0] == "line 1: no ':'");
  CHECK(f.problems.lines[1] == "line 2: empty user name");
  CHECK(f.problems.lines[2] == "line 3: empty hash");
  CHECK(f.problems.lines[3] == "line 5: user already listed, first entry kept");
  CHECK(f.problems.lines[4] == "line 6: control character");
  CHECK(f.problems.lines[5] == "line 7: longer than 4096 bytes");
  for (const auto& line : f.problems.lines) CHECK(line.find("xxxx") == std::string::npos);
}

TEST_CASE("auth htpasswd: limits on file size and on the number of problems reported") {
  PasswordFileLimits limits;
  limits.max_file_bytes = 20;
  limits.max_problems = 2;
  HtpasswdFile f;
  std::string error;
  CHECK_FALSE(parse_htpasswd(std::string(21, '#'), limits, f, error));
  CHECK(error == "larger than 20 bytes");
  error.clear();
  CHECK(parse_htpasswd(std::string(20, '#'), limits, f, error));
  f = parse_ok("a\nb\nc\nd\n", limits);
  CHECK(f.problems.count == 4);
  CHECK(f.problems.lines.size() == 2);
}

TEST_CASE("auth htdigest: the file made by htdigest") {
  HtdigestFile f;
  std::string error;
  REQUIRE(parse_htdigest(read_vector("htdigest"), {}, f, error));
  CHECK(f.problems.count == 0);
  CHECK(f.ha1_by_user_realm.size() == 3);
  REQUIRE(f.find("alice", "Trac Realm") != nullptr);
  CHECK(*f.find("alice", "Trac Realm") == "03224e5b13218dc95550989c4c224b5e");
  CHECK(*f.find("alice", "Other Realm") == "d5c90c9c27088abebe9fd69115a673b0");
  CHECK(*f.find("bob", "Trac Realm") == "027d9dc8afd4712359404ed8877992ed");
  CHECK(f.find("bob", "Other Realm") == nullptr);
  CHECK(f.find("carol", "Trac Realm") == nullptr);
}

TEST_CASE("auth htdigest: bad lines, uppercase hex, CRLF") {
  HtdigestFile f;
  std::string error;
  REQUIRE(
      parse_htdigest("# c\r\n"
                     "a:R:0123456789ABCDEF0123456789abcdef\r\n"
                     "b:R\n"
                     "c:R:0123\n"
                     "d:R:0123456789abcdef0123456789abcdeg\n"
                     ":R:0123456789abcdef0123456789abcdef\n"
                     "a:R:ffffffffffffffffffffffffffffffff\n"
                     "e::0123456789abcdef0123456789abcdef\n",
                     {}, f, error));
  CHECK(*f.find("a", "R") == "0123456789abcdef0123456789abcdef");
  CHECK(*f.find("e", "") == "0123456789abcdef0123456789abcdef");
  CHECK(f.ha1_by_user_realm.size() == 2);
  REQUIRE(f.problems.lines.size() == 5);
  CHECK(f.problems.lines[0] == "line 3: not user:realm:hash");
  CHECK(f.problems.lines[1] == "line 4: hash is not 32 hex digits");
  CHECK(f.problems.lines[2] == "line 5: hash is not 32 hex digits");
  CHECK(f.problems.lines[3] == "line 6: bad user or realm");
  CHECK(f.problems.lines[4] == "line 7: user already listed for this realm, first entry kept");
  PasswordFileLimits small;
  small.max_file_bytes = 4;
  CHECK_FALSE(parse_htdigest("12345", small, f, error));
}

TEST_CASE("auth htpasswd: base64 is strict") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_decode("Zg==") == std::optional<std::string>("f"));
  CHECK(base64_decode("Zg") == std::optional<std::string>("f"));
  CHECK(base64_decode("Zm8=") == std::optional<std::string>("fo"));
  CHECK(base64_decode("Zm9v") == std::optional<std::string>("foo"));
  CHECK(base64_decode("") == std::optional<std::string>(""));
  CHECK_FALSE(base64_decode("Zh==").has_value());   // non-zero trailing bits
  CHECK_FALSE(base64_decode("Z").has_value());      // one character cannot be
  CHECK_FALSE(base64_decode("Zg=").has_value());    // wrong padding
  CHECK_FALSE(base64_decode("Zm9v=").has_value());  // padding after a full group
  CHECK_FALSE(base64_decode("Zm 9v").has_value());
  CHECK_FALSE(base64_decode("Zm9-").has_value());
  CHECK(equal_constant_time("abc", "abc"));
  CHECK_FALSE(equal_constant_time("abc", "abd"));
  CHECK_FALSE(equal_constant_time("abc", "ab"));
  CHECK(equal_constant_time("", ""));
}
