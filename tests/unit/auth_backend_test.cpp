// The auth backend: scope, Basic and Digest through the whole exchange,
// checks on the thread pool with the body held meanwhile, cancel, the cache,
// files that change or vanish, requests the front end authenticated.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "dispatch/auth/auth_backend.h"
#include "dispatch/auth/auth_crypto.h"
#include "dispatch/auth/auth_header.h"
#include "dispatch/auth/digest.h"
#include "gateway/config.h"
#include "tests/support/recording_sink.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_loop.h"

namespace {

using gw::test::TempDir;

using gw::AuthOptions;
using gw::Request;
using gw::ResponseSink;
using gw::auth::AuthBackend;
using gw::test::RecordingSink;
using gw::test::TestLoop;
namespace fs = std::filesystem;

std::string read_vector(const std::string& name) {
  std::ifstream f(std::string(GW_VECTORS_DIR) + "/auth/" + name, std::ios::binary);
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// What the inner backend saw of one request.
struct Seen {
  Request request;
  std::string body;
  bool finished = false;
  bool cancelled = false;
};

// Answers 200 once the body is complete; records everything.
class InnerBackend : public gw::Backend {
 public:
  std::vector<std::shared_ptr<Seen>> seen;
  bool congest = false;

  class Ex : public gw::Exchange {
   public:
    Ex(std::shared_ptr<Seen> s, ResponseSink& sink, const bool& congest)
        : s_(std::move(s)), sink_(sink), congest_(congest) {}
    void send_body(std::string_view d) override { s_->body.append(d); }
    void finish_body() override {
      s_->finished = true;
      gw::ResponseHead head;
      head.status = 200;
      sink_.on_head(head);
      sink_.on_end();
    }
    bool body_congested() const override { return congest_; }
    void cancel() override { s_->cancelled = true; }

   private:
    std::shared_ptr<Seen> s_;
    ResponseSink& sink_;
    const bool& congest_;
  };

  std::unique_ptr<gw::Exchange> start(const Request& r, ResponseSink& sink) override {
    auto s = std::make_shared<Seen>();
    s->request = r;
    seen.push_back(s);
    return std::make_unique<Ex>(s, sink, congest);
  }
  std::string_view kind() const override { return "inner"; }
};

// A backend under test with a clock the test moves.
struct Fixture {
  TestLoop loop;
  TempDir dir;
  uint64_t now_ms = 1000000;
  InnerBackend* inner = nullptr;
  std::unique_ptr<AuthBackend> backend;
  AuthOptions options;

  void make(AuthOptions::Scheme scheme, const std::string& file_text,
            AuthOptions::Scope scope = AuthOptions::Scope::Login, bool with_loop = true) {
    options.scheme = scheme;
    options.file = dir.replace("passwords", file_text);
    options.realm = "Trac Realm";
    options.scope = scope;
    options.nonce_lifetime_s = 300;
    auto in = std::make_unique<InnerBackend>();
    inner = in.get();
    backend = std::make_unique<AuthBackend>(
        std::move(in), options, with_loop ? loop.get() : nullptr, [this] { return now_ms; });
  }
};

Request get(std::string path_info, std::vector<gw::Header> headers = {}) {
  Request r;
  r.method = "GET";
  r.script_name = "/proj";
  r.path_info = path_info;
  r.path = "/proj" + path_info;
  r.target = r.path;
  r.server_protocol = "HTTP/1.1";
  r.headers = {{"Host", "example.org"}};
  for (auto& h : headers) r.headers.push_back(h);
  return r;
}

gw::Header basic(const std::string& user, const std::string& password) {
  return {"Authorization", "Basic " + gw::auth::base64_encode(user + ":" + password)};
}

bool has_header(const Request& r, std::string_view name) {
  return r.header(name) != nullptr;
}

// Runs one request to its end (body `body`, then finish) and returns the sink.
std::unique_ptr<RecordingSink> run(Fixture& f, const Request& r, const std::string& body = "") {
  auto sink = std::make_unique<RecordingSink>();
  auto ex = f.backend->start(r, *sink);
  REQUIRE(ex != nullptr);
  if (!body.empty()) ex->send_body(body);
  ex->finish_body();
  CHECK(f.loop.run_until([&] { return sink->finished(); }));
  return sink;
}

std::string param_of(const std::string& challenge, const std::string& name) {
  size_t at = challenge.find(name + "=\"");
  if (at == std::string::npos) return "";
  at += name.size() + 2;
  return challenge.substr(at, challenge.find('"', at) - at);
}

std::string digest_header(const std::string& user, const std::string& password,
                          const std::string& realm, const std::string& nonce,
                          const std::string& opaque, const std::string& uri,
                          const std::string& method = "GET") {
  gw::auth::DigestCredentials c;
  c.username = user;
  c.realm = realm;
  c.nonce = nonce;
  c.uri = uri;
  c.qop = "auth";
  c.nc = "00000001";
  c.cnonce = "0a4f113b";
  std::string response =
      gw::auth::digest_response(gw::auth::digest_ha1(user, realm, password), method, c);
  return "Digest username=\"" + user + "\", realm=\"" + realm + "\", nonce=\"" + nonce +
         "\", uri=\"" + uri + "\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"" +
         response + "\", opaque=\"" + opaque + "\", algorithm=MD5";
}

}  // namespace

TEST_CASE("auth backend: login scope leaves other paths alone, minus our credentials") {
  Fixture f;
  f.make(AuthOptions::Scheme::Basic, read_vector("htpasswd"));
  auto sink = run(f, get("/wiki", {basic("sha1", "whatever"), {"X-Other", "1"}}));
  CHECK(sink->status() == 200);
  REQUIRE(f.inner->seen.size() == 1);
  const Request& seen = f.inner->seen[0]->request;
  CHECK(seen.remote_user.empty());
  CHECK_FALSE(has_header(seen, "Authorization"));  // never handed to the app
  CHECK(*seen.header("X-Other") == "1");
  // Another scheme is the app's own business.
  sink = run(f, get("/api", {{"Authorization", "Bearer tok"}}));
  CHECK(*f.inner->seen[1]->request.header("Authorization") == "Bearer tok");
  // "/loginx" is not "/login".
  sink = run(f, get("/loginx"));
  CHECK(sink->status() == 200);
  CHECK(sink->logs.empty());
}

TEST_CASE("auth backend: no credentials on /login gets the Basic challenge") {
  Fixture f;
  f.make(AuthOptions::Scheme::Basic, read_vector("htpasswd"));
  for (std::string path : {"/login", "/login/", "/login/x/y"}) {
    auto sink = run(f, get(path), "body that is thrown away");
    CHECK(sink->status() == 401);
    CHECK(sink->header("WWW-Authenticate") == "Basic realm=\"Trac Realm\", charset=\"UTF-8\"");
    CHECK(sink->body() == "401 Unauthorized\n");
    CHECK(sink->header("Content-Length") == "17");
    CHECK(sink->ended);
    CHECK(sink->logs.empty());  // a first request is normal, not an error
  }
  CHECK(f.inner->seen.empty());
}

TEST_CASE("auth backend: a fast hash passes at once with remote_user and no Authorization") {
  Fixture f;
  f.make(AuthOptions::Scheme::Basic, read_vector("htpasswd"));
  auto sink = std::make_unique<RecordingSink>();
  auto ex = f.backend->start(get("/login", {basic("sha1", "sha1-secret")}), *sink);
  REQUIRE(f.inner->seen.size() == 1);  // synchronously
  ex->send_body("abc");
  ex->send_body("def");
  ex->finish_body();
  CHECK(sink->status() == 200);
  const Seen& seen = *f.inner->seen[0];
  CHECK(seen.request.remote_user == "sha1");
  CHECK(seen.request.auth_type == "Basic");
  CHECK_FALSE(has_header(seen.request, "Authorization"));
  CHECK(*seen.request.header("Host") == "example.org");
  CHECK(seen.body == "abcdef");
  CHECK(seen.finished);
}

TEST_CASE("auth backend: every hash kind, right and wrong password") {
  Fixture f;
  f.make(AuthOptions::Scheme::Basic, read_vector("htpasswd"), AuthOptions::Scope::Project);
  const char* users[] = {"bcrypt", "bcrypt2a", "bcrypt2b", "apr1",  "sha1",
                         "des",    "md5crypt", "sha256",   "sha512"};
  for (std::string user : users) {
    CAPTURE(user);
    std::string pw =
        user == "des" ? "des-sec" : (user.starts_with("bcrypt") ? "bcrypt" : user) + "-secret";
    size_t before = f.inner->seen.size();
    auto sink = run(f, get("/x", {basic(user, pw)}));
    CHECK(sink->status() == 200);
    REQUIRE(f.inner->seen.size() == before + 1);
    CHECK(f.inner->seen.back()->request.remote_user == user);
    auto bad = run(f, get("/x", {basic(user, pw + "!")}));
    CHECK(bad->status() == 401);
    REQUIRE(bad->logs.size() == 1);
    CHECK(bad->logs[0] == "auth: user '" + user + "': wrong password");
    CHECK(f.inner->seen.size() == before + 1);
  }
}

TEST_CASE("auth backend: bcrypt runs off the loop; the body waits, then streams on") {
  Fixture f;
  f.make(AuthOptions::Scheme::Basic, read_vector("htpasswd"));
  RecordingSink sink;
  auto ex = f.backend->start(get("/login", {basic("bcrypt", "bcrypt-secret")}), sink);
  CHECK(f.inner->seen.empty());  // still checking
  CHECK_FALSE(sink.finished());
  std::string big(40000, 'a');
  ex->send_body(big);
  CHECK_FALSE(ex->body_congested());
  ex->send_body(big);
  CHECK(ex->body_congested());  // over the 64 KiB held while checking
  ex->finish_body();
  CHECK(f.loop.run_until([&] { return sink.finished(); }));
  REQUIRE(f.inner->seen.size() == 1);
  CHECK(f.inner->seen[0]->body == big + big);
  CHECK(f.inner->seen[0]->finished);
  CHECK(f.inner->seen[0]->request.remote_user == "bcrypt");
  CHECK(sink.drained == 1);  // the connection was told to read again
  CHECK(sink.status() == 200);

  // Cached: the same credentials pass synchronously now.
  RecordingSink again;
  auto ex2 = f.backend->start(get("/login", {basic("bcrypt", "bcrypt-secret")}), again);
  CHECK(f.inner->seen.size() == 2);
  ex2->finish_body();
  CHECK(again.status() == 200);
  // Another password for the same user is not.
  RecordingSink wrong;
  auto ex3 = f.backend->start(get("/login", {basic("bcrypt", "bcrypt-secreT")}), wrong);
  CHECK(f.inner->seen.size() == 2);
  ex3->finish_body();
  CHECK(f.loop.run_until([&] { return wrong.finished(); }));
  CHECK(wrong.status() == 401);
  CHECK(wrong.logs.size() == 1);
  CHECK(wrong.logs[0].find("secre") == std::string::npos);
}

TEST_CASE("auth backend: the cache expires and follows the file") {
  Fixture f;
  f.make(AuthOptions::Scheme::Basic, read_vector("htpasswd"));
  auto sink = run(f, get("/login", {basic("md5crypt", "md5crypt-secret")}));
  CHECK(sink->status() == 200);
  RecordingSink cached;
  auto ex = f.backend->start(get("/login", {basic("md5crypt", "md5crypt-secret")}), cached);
  CHECK(f.inner->seen.size() == 2);  // from the cache: synchronous
  f.now_ms += 5 * 60 * 1000;
  RecordingSink expired;
  auto ex2 = f.backend->start(get("/login", {basic("md5crypt", "md5crypt-secret")}), expired);
  CHECK(f.inner->seen.size() == 2);  // checked again on the pool
  ex2->finish_body();
  CHECK(f.loop.run_until([&] { return expired.finished(); }));
  CHECK(expired.status() == 200);
}

TEST_CASE("auth backend: cancel or destruction while the hash is computed") {
  Fixture f;
  f.make(AuthOptions::Scheme::Basic, read_vector("htpasswd"));
  {
    RecordingSink sink;
    auto ex = f.backend->start(get("/login", {basic("bcrypt", "bcrypt-secret")}), sink);
    ex->send_body("x");
    ex->cancel();
    sink.cancelled = true;
    f.loop.run_for(300);  // the job ends on its thread; nothing may follow
    CHECK(f.inner->seen.empty());
    CHECK_FALSE(sink.head.has_value());
    CHECK_FALSE(sink.error_status.has_value());
  }
  {
    RecordingSink sink;
    auto ex = f.backend->start(get("/login", {basic("sha512", "sha512-secret")}), sink);
    ex.reset();
    f.loop.run_for(300);
    CHECK(f.inner->seen.empty());
  }
  // The backend itself may go while a check runs (a project replaced).
  {
    RecordingSink sink;
    auto ex = f.backend->start(get("/login", {basic("sha256", "sha256-secret")}), sink);
    ex->finish_body();
    f.backend.reset();
    CHECK(f.loop.run_until([&] { return sink.finished(); }));
    CHECK(sink.status() == 200);
    REQUIRE(f.inner->seen.size() == 1);
    CHECK(f.inner->seen[0]->request.remote_user == "sha256");
  }
}

TEST_CASE("auth backend: cancel after the inner exchange started reaches it") {
  Fixture f;
  f.make(AuthOptions::Scheme::Basic, read_vector("htpasswd"));
  RecordingSink sink;
  auto ex = f.backend->start(get("/login", {basic("sha1", "sha1-secret")}), sink);
  REQUIRE(f.inner->seen.size() == 1);
  f.inner->congest = true;
  CHECK(ex->body_congested());
  ex->cancel();
  CHECK(f.inner->seen[0]->cancelled);
}

TEST_CASE("auth backend: without a loop slow hashes are checked inline") {
  Fixture f;
  f.make(AuthOptions::Scheme::Basic, read_vector("htpasswd"), AuthOptions::Scope::Login,
         /*with_loop=*/false);
  RecordingSink sink;
  auto ex = f.backend->start(get("/login", {basic("bcrypt", "bcrypt-secret")}), sink);
  CHECK(f.inner->seen.size() == 1);
}

TEST_CASE("auth backend: refused credentials are logged without the password") {
  Fixture f;
  f.make(AuthOptions::Scheme::Basic, read_vector("htpasswd"));
  struct Case {
    std::vector<gw::Header> headers;
    std::string log;
  };
  const Case cases[] = {
      {{basic("nobody", "pw-nobody")}, "auth: user 'nobody' not found"},
      {{{"Authorization", "Basic !!"}}, "auth: Basic credentials are not base64"},
      {{{"Authorization", "Digest username=\"x\""}}, "auth: client used another scheme than Basic"},
      {{basic("sha1", "sha1-secret"), basic("sha1", "sha1-secret")},
       "auth: more than one Authorization header"},
      {{basic("bad\x01user", "pw")}, "auth: user 'bad\\x01user' not found"},
  };
  for (const auto& c : cases) {
    auto sink = run(f, get("/login", c.headers));
    CHECK(sink->status() == 401);
    REQUIRE(sink->logs.size() == 1);
    CHECK(sink->logs[0] == c.log);
    CHECK(sink->logs[0].find("pw") == std::string::npos);
  }
  CHECK(f.inner->seen.empty());
}

TEST_CASE("auth backend: unknown hash kinds never match") {
  Fixture f;
  f.make(AuthOptions::Scheme::Basic,
         "plain:secret\nyes:$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd."
         "RhAtQ7\n");
  auto sink = run(f, get("/login", {basic("plain", "secret")}));
  CHECK(sink->status() == 401);
  CHECK(sink->logs.at(0) == "auth: user 'plain': hash of an unknown kind");
  sink = run(f, get("/login", {basic("yes", "secret")}));
  CHECK(sink->status() == 401);
}

TEST_CASE("auth backend: a request the front end authenticated passes as is") {
  Fixture f;
  f.make(AuthOptions::Scheme::Basic, read_vector("htpasswd"), AuthOptions::Scope::Project);
  Request r = get("/login", {basic("someone", "frontend-checked")});
  r.remote_user = "someone";
  r.auth_type = "Basic";
  auto sink = run(f, r);
  CHECK(sink->status() == 200);
  REQUIRE(f.inner->seen.size() == 1);
  CHECK(f.inner->seen[0]->request.remote_user == "someone");
  CHECK(has_header(f.inner->seen[0]->request, "Authorization"));  // the front end's choice
  // A "Remote-User" header is just a header: no identity.
  sink = run(f, get("/x", {{"Remote-User", "admin"}}));
  CHECK(sink->status() == 401);
}

TEST_CASE("auth backend: the file is re-read when it changes, at most once a second") {
  Fixture f;
  f.make(AuthOptions::Scheme::Basic, "alice:{SHA}qZk+NkcGgWq6PiVxeFDCbJzQ2J0=\n",
         AuthOptions::Scope::Project);
  CHECK(run(f, get("/", {basic("alice", "abc")}))->status() == 200);
  f.dir.replace("passwords", "bob:{SHA}qZk+NkcGgWq6PiVxeFDCbJzQ2J0=\n");
  f.now_ms += 500;  // within the second: not looked at yet
  CHECK(run(f, get("/", {basic("alice", "abc")}))->status() == 200);
  f.now_ms += 600;
  auto sink = run(f, get("/", {basic("alice", "abc")}));
  CHECK(sink->status() == 401);
  REQUIRE(sink->logs.size() == 2);
  CHECK(sink->logs[0] == "auth: reloaded " + f.options.file);
  CHECK(sink->logs[1] == "auth: user 'alice' not found");
  CHECK(run(f, get("/", {basic("bob", "abc")}))->status() == 200);
}

TEST_CASE("auth backend: a missing file answers 500, and recovers when it is back") {
  Fixture f;
  f.make(AuthOptions::Scheme::Basic, "alice:{SHA}qZk+NkcGgWq6PiVxeFDCbJzQ2J0=\n",
         AuthOptions::Scope::Project);
  fs::remove(f.options.file);
  auto sink = run(f, get("/", {basic("alice", "abc")}));
  CHECK(sink->error_status == 500);
  CHECK(sink->why.find("auth: cannot read " + f.options.file) == 0);
  REQUIRE(sink->logs.size() == 1);  // the change of state, once
  sink = run(f, get("/"));          // even without credentials: fail closed
  CHECK(sink->error_status == 500);
  f.now_ms += 2000;
  sink = run(f, get("/"));
  CHECK(sink->logs.empty());
  f.dir.replace("passwords", "alice:{SHA}qZk+NkcGgWq6PiVxeFDCbJzQ2J0=\nbroken\n");
  f.now_ms += 1000;
  sink = run(f, get("/", {basic("alice", "abc")}));
  CHECK(sink->status() == 200);
  REQUIRE(sink->logs.size() == 2);
  CHECK(sink->logs[0] == "auth: loaded " + f.options.file + " (1 lines skipped)");
  CHECK(sink->logs[1] == "auth: " + f.options.file + ": line 2: no ':'");
  CHECK(f.inner->seen.size() == 1);
}

TEST_CASE("auth backend: Digest from challenge to success, stale nonces, mismatches") {
  Fixture f;
  f.make(AuthOptions::Scheme::Digest, read_vector("htdigest"));
  auto first = run(f, get("/login"));
  CHECK(first->status() == 401);
  std::string challenge = first->header("WWW-Authenticate");
  CHECK(
      challenge.starts_with("Digest realm=\"Trac Realm\", qop=\"auth\", algorithm=MD5, nonce=\""));
  CHECK(challenge.find("stale") == std::string::npos);
  std::string nonce = param_of(challenge, "nonce");
  std::string opaque = param_of(challenge, "opaque");
  CHECK(nonce.size() == 48);
  CHECK(opaque.size() == 32);

  Request r = get("/login?next=%2Fwiki");
  r.path_info = "/login";
  r.target = "/proj/login?next=%2Fwiki";
  r.headers.push_back({"Authorization", digest_header("alice", "digest-secret", "Trac Realm", nonce,
                                                      opaque, r.target)});
  auto ok = run(f, r);
  CHECK(ok->status() == 200);
  REQUIRE(f.inner->seen.size() == 1);
  CHECK(f.inner->seen[0]->request.remote_user == "alice");
  CHECK(f.inner->seen[0]->request.auth_type == "Digest");
  CHECK_FALSE(has_header(f.inner->seen[0]->request, "Authorization"));

  auto refused = [&](const std::string& header, const std::string& log) {
    Request bad = get("/login", {{"Authorization", header}});
    auto sink = run(f, bad);
    CHECK(sink->status() == 401);
    REQUIRE(sink->logs.size() == 1);
    CHECK(sink->logs[0] == log);
    CHECK(sink->header("WWW-Authenticate").find("stale") == std::string::npos);
  };
  refused(digest_header("alice", "wrong", "Trac Realm", nonce, opaque, "/proj/login"),
          "auth: user 'alice': wrong password");
  refused(digest_header("alice", "other-secret", "Other Realm", nonce, opaque, "/proj/login"),
          "auth: Digest realm 'Other Realm' is not ours");
  refused(digest_header("alice", "digest-secret", "Trac Realm", nonce, opaque, "/proj/other"),
          "auth: Digest uri '/proj/other' is not the request target '/proj/login'");
  refused(digest_header("alice", "digest-secret", "Trac Realm", nonce, "0000", "/proj/login"),
          "auth: Digest opaque is not ours");
  refused(digest_header("alice", "digest-secret", "Trac Realm", std::string(48, '0'), opaque,
                        "/proj/login"),
          "auth: Digest nonce is not ours");
  refused(digest_header("carol", "x", "Trac Realm", nonce, opaque, "/proj/login"),
          "auth: user 'carol' not found");
  refused("Basic " + gw::auth::base64_encode("alice:digest-secret"),
          "auth: client used another scheme than Digest");
  CHECK(f.inner->seen.size() == 1);

  // The nonce grows old: a right response gets stale=true, a wrong one not.
  f.now_ms += 301 * 1000;
  auto stale =
      run(f, get("/login", {{"Authorization", digest_header("bob", "bob-secret", "Trac Realm",
                                                            nonce, opaque, "/proj/login")}}));
  CHECK(stale->status() == 401);
  std::string again = stale->header("WWW-Authenticate");
  CHECK(again.ends_with(", stale=true"));
  CHECK(stale->logs.empty());
  std::string fresh = param_of(again, "nonce");
  CHECK(fresh != nonce);
  refused(digest_header("bob", "wrong", "Trac Realm", nonce, opaque, "/proj/login"),
          "auth: user 'bob': wrong password");
  // Retried with the fresh nonce, as a client does.
  auto retried =
      run(f, get("/login", {{"Authorization", digest_header("bob", "bob-secret", "Trac Realm",
                                                            fresh, opaque, "/proj/login")}}));
  CHECK(retried->status() == 200);
  CHECK(f.inner->seen.back()->request.remote_user == "bob");
}

TEST_CASE("auth backend: a 401 waits for a congested client") {
  Fixture f;
  f.make(AuthOptions::Scheme::Basic, read_vector("htpasswd"));
  RecordingSink sink;
  sink.congested_now = true;
  auto ex = f.backend->start(get("/login"), sink);
  CHECK(sink.status() == 401);
  CHECK(sink.pieces.empty());
  CHECK_FALSE(sink.ended);
  sink.congested_now = false;
  ex->resume_response();
  CHECK(sink.body() == "401 Unauthorized\n");
  CHECK(sink.ended);
  ex->send_body("ignored");
  ex->finish_body();
  CHECK_FALSE(ex->body_congested());
}

// ---- project.json "auth" (gateway/config_auth.cpp) ----

namespace {

// Loads a project whose project.json is `json`; returns the error message or "".
std::string load_auth(const TempDir& dir, const std::string& json, gw::ProjectConfig& out) {
  fs::create_directories(fs::path(dir.path()) / "p");
  dir.replace("p/project.json", json);
  auto err = gw::load_project((fs::path(dir.path()) / "p").string(), out);
  return err ? err->message() : "";
}

}  // namespace

TEST_CASE("auth config: project.json \"auth\" is read and checked") {
  TempDir dir;
  dir.replace("p.htpasswd", "u:{SHA}x\n");
  fs::create_directories(fs::path(dir.path()) / "p");
  dir.replace("p/htdigest", "u:R:0123456789abcdef0123456789abcdef\n");
  const std::string backend = "\"backend\": {\"type\": \"echo\"}";
  gw::ProjectConfig p;
  CHECK(load_auth(dir, "{" + backend + "}", p) == "");
  CHECK_FALSE(p.auth.has_value());

  CHECK(load_auth(dir,
                  "{" + backend +
                      ", \"auth\": {\"type\": \"basic\", \"file\": \"../p.htpasswd\", "
                      "\"realm\": \"My Realm\"}}",
                  p) == "");
  REQUIRE(p.auth.has_value());
  CHECK(p.auth->scheme == AuthOptions::Scheme::Basic);
  CHECK(p.auth->file == dir.path() + "/p/../p.htpasswd");  // as written
  CHECK(p.auth->realm == "My Realm");
  CHECK(p.auth->scope == AuthOptions::Scope::Login);
  CHECK(p.auth->nonce_lifetime_s == 300);

  CHECK(load_auth(dir,
                  "{" + backend +
                      ", \"auth\": {\"type\": \"digest\", \"file\": \"htdigest\", \"realm\": "
                      "\"R\", \"scope\": \"project\", \"nonce_lifetime_s\": 60}}",
                  p) == "");
  REQUIRE(p.auth.has_value());
  CHECK(p.auth->scheme == AuthOptions::Scheme::Digest);
  CHECK(p.auth->file == dir.path() + "/p/htdigest");
  CHECK(p.auth->scope == AuthOptions::Scope::Project);
  CHECK(p.auth->nonce_lifetime_s == 60);

  const std::string file = (fs::path(dir.path()) / "p" / "project.json").string();
  auto error_of = [&](const std::string& auth) {
    gw::ProjectConfig q;
    return load_auth(dir, "{" + backend + ", \"auth\": " + auth + "}", q);
  };
  CHECK(error_of("[]") == file + ": auth: must be an object");
  CHECK(error_of("{\"file\": \"htdigest\", \"realm\": \"R\"}") ==
        file + ": auth.type: is required (\"basic\" or \"digest\")");
  CHECK(error_of("{\"type\": \"ntlm\", \"file\": \"htdigest\", \"realm\": \"R\"}") ==
        file + ": auth.type: must be \"basic\" or \"digest\"");
  CHECK(error_of("{\"type\": \"basic\", \"realm\": \"R\"}") == file + ": auth.file: is required");
  CHECK(error_of("{\"type\": \"basic\", \"file\": \"nope\", \"realm\": \"R\"}")
            .starts_with(file + ": auth.file: cannot use '"));
  CHECK(error_of("{\"type\": \"basic\", \"file\": \".\", \"realm\": \"R\"}")
            .ends_with("is not a regular file"));
  CHECK(error_of("{\"type\": \"basic\", \"file\": \"htdigest\"}") ==
        file + ": auth.realm: is required");
  CHECK(error_of("{\"type\": \"basic\", \"file\": \"htdigest\", \"realm\": \"a\\nb\"}") ==
        file + ": auth.realm: must not hold control characters");
  CHECK(error_of("{\"type\": \"digest\", \"file\": \"htdigest\", \"realm\": \"a:b\"}") ==
        file + ": auth.realm: must not hold ':' (htdigest files cannot)");
  CHECK(error_of("{\"type\": \"basic\", \"file\": \"htdigest\", \"realm\": \"R\", \"scope\": "
                 "\"all\"}") == file + ": auth.scope: must be \"login\" or \"project\"");
  CHECK(error_of("{\"type\": \"digest\", \"file\": \"htdigest\", \"realm\": \"R\", "
                 "\"nonce_lifetime_s\": 0}") ==
        file + ": auth.nonce_lifetime_s: must be an integer 1-86400");
  CHECK(error_of("{\"type\": \"basic\", \"file\": \"htdigest\", \"realm\": \"R\", "
                 "\"nonce_lifetime_s\": 10}") ==
        file + ": auth.nonce_lifetime_s: only applies to \"digest\"");
  CHECK(error_of("{\"type\": \"basic\", \"file\": \"htdigest\", \"realm\": \"R\", \"user\": 1}")
            .starts_with(file + ": auth.user: unknown key"));
}

TEST_CASE("auth backend: a flood of slow checks is bounded") {
  Fixture f;
  f.make(AuthOptions::Scheme::Basic, read_vector("htpasswd"));
  std::vector<std::unique_ptr<RecordingSink>> sinks;
  std::vector<std::unique_ptr<gw::Exchange>> exchanges;
  for (int i = 0; i < 33; ++i) {
    sinks.push_back(std::make_unique<RecordingSink>());
    exchanges.push_back(f.backend->start(
        get("/login", {basic("bcrypt", "guess-" + std::to_string(i))}), *sinks.back()));
    exchanges.back()->finish_body();
  }
  for (int i = 0; i < 32; ++i) CHECK_FALSE(sinks[i]->finished());
  CHECK(sinks[32]->error_status == 503);
  CHECK(sinks[32]->why == "auth: too many password checks in progress");
  CHECK(f.loop.run_until([&] {
    for (int i = 0; i < 32; ++i) {
      if (!sinks[i]->finished()) return false;
    }
    return true;
  }));
  for (int i = 0; i < 32; ++i) CHECK(sinks[i]->status() == 401);
  // Room again once they ended.
  auto sink = run(f, get("/login", {basic("bcrypt", "bcrypt-secret")}));
  CHECK(sink->status() == 200);
}
