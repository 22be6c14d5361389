#include "dispatch/auth/auth_backend.h"

#include <openssl/crypto.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "dispatch/auth/auth_crypto.h"
#include "dispatch/auth/auth_header.h"
#include "dispatch/auth/digest.h"
#include "dispatch/auth/password_hash.h"
#include "dispatch/auth/password_source.h"
#include "dispatch/auth/verify_cache.h"
#include "gateway/io/work.h"
#include "protocols/cgi_params.h"

namespace gw {

namespace auth {

namespace {

constexpr size_t kCacheEntries = 1024;
constexpr uint64_t kCacheTtlMs = 5 * 60 * 1000;
// Body bytes held while a password is checked on the pool; above it the
// connection is asked to stop reading.
constexpr size_t kPendingBodyBytes = 64 * 1024;
// Password checks on the pool at once per project: beyond it a flood of
// wrong bcrypt passwords gets 503 instead of starving the pool.
constexpr size_t kMaxChecksInFlight = 32;

uint64_t steady_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

bool in_scope(const AuthOptions& options, const Request& request) {
  if (options.scope == AuthOptions::Scope::Project) return true;
  std::string_view p = request.path_info;
  return p == "/login" || p.starts_with("/login/");
}

Scheme our_scheme(const AuthOptions& options) {
  return options.scheme == AuthOptions::Scheme::Basic ? Scheme::Basic : Scheme::Digest;
}

void strip_credentials(Request& request, Scheme scheme) {
  std::erase_if(request.headers, [scheme](const Header& h) {
    return iequals(h.name, "Authorization") && scheme_of(h.value) == scheme;
  });
}

bool has_credentials(const Request& request, Scheme scheme) {
  for (const auto& h : request.headers) {
    if (iequals(h.name, "Authorization") && scheme_of(h.value) == scheme) return true;
  }
  return false;
}

}  // namespace

struct AuthShared {
  AuthShared(std::unique_ptr<Backend> inner_backend, const AuthOptions& o, uv_loop_s* l,
             AuthBackend::Clock c)
      : options(o),
        loop(l),
        clock(c ? std::move(c) : AuthBackend::Clock(steady_ms)),
        inner(std::move(inner_backend)),
        source(o.file, o.scheme == AuthOptions::Scheme::Basic ? PasswordSource::Format::Htpasswd
                                                              : PasswordSource::Format::Htdigest),
        cache(kCacheEntries, kCacheTtlMs),
        opaque(to_hex(random_bytes(16))) {}

  AuthOptions options;
  uv_loop_s* loop;
  AuthBackend::Clock clock;
  // Shared with pending exchanges: one still checking a password when the
  // project is replaced can still hand its request on.
  std::shared_ptr<Backend> inner;
  PasswordSource source;
  VerifyCache cache;
  std::string opaque;
  size_t checks_in_flight = 0;
};

namespace {

// A password check on the pool: owns copies of what it needs, never the
// exchange (which may be gone when the check ends).
struct Check {
  std::string password;
  std::string hash;
  bool ok = false;
  ~Check() { OPENSSL_cleanse(password.data(), password.size()); }
};

class AuthExchange : public Exchange {
 public:
  AuthExchange(std::shared_ptr<AuthShared> shared, ResponseSink& sink)
      : shared_(std::move(shared)), sink_(sink) {}
  ~AuthExchange() override { end_check(); }

  void begin(const Request& request);

  void send_body(std::string_view data) override {
    if (inner_) {
      inner_->send_body(data);
    } else if (state_ == State::Checking) {
      pending_body_.append(data);
    }
  }
  void finish_body() override {
    if (inner_) {
      inner_->finish_body();
    } else {
      body_finished_ = true;
    }
  }
  bool body_congested() const override {
    if (inner_) return inner_->body_congested();
    if (state_ != State::Checking) return false;
    bool full = pending_body_.size() >= kPendingBodyBytes;
    if (full) told_congested_ = true;
    return full;
  }
  void resume_response() override {
    if (inner_) {
      inner_->resume_response();
    } else if (state_ == State::Answering) {
      pump_answer();
    }
  }
  void cancel() override {
    state_ = State::Done;
    end_check();
    pending_body_.clear();
    request_ = Request{};
    if (inner_) inner_->cancel();
  }

 private:
  enum class State { Starting, Checking, Passed, Answering, Done };

  void check_basic(const Request& request);
  void check_digest(const Request& request);
  void pass(const Request& original, std::string user, std::string_view auth_type);
  void challenge(bool stale = false);
  void refuse(std::string_view why) {
    sink_.log_error("auth: " + std::string(why));
    challenge();
  }
  void answer(ResponseHead head, std::string body);
  void pump_answer();
  void fail(int status, std::string why);
  void end_check() {
    if (check_running_) {
      check_running_ = false;
      --shared_->checks_in_flight;
    }
    work_.reset();
  }
  void on_check_done(std::string user, uint64_t generation);

  std::shared_ptr<AuthShared> shared_;
  ResponseSink& sink_;
  State state_ = State::Starting;
  Request request_;  // kept only while a check runs
  std::unique_ptr<Exchange> inner_;
  std::string pending_body_;
  bool body_finished_ = false;
  mutable bool told_congested_ = false;
  std::shared_ptr<Check> check_;
  std::unique_ptr<io::Work> work_;
  bool check_running_ = false;
  std::string answer_body_;
  bool answer_sent_ = false;
};

void AuthExchange::begin(const Request& request) {
  AuthShared& s = *shared_;
  uint64_t now = s.clock();
  std::vector<std::string> log;
  s.source.refresh(now, log);
  for (const auto& line : log) sink_.log_error("auth: " + line);
  if (!s.source.error().empty()) {
    fail(500, "auth: " + s.source.error());
    return;
  }
  const std::string* value = nullptr;
  int count = 0;
  for (const auto& h : request.headers) {
    if (iequals(h.name, "Authorization")) {
      value = &h.value;
      ++count;
    }
  }
  if (count == 0) {
    challenge();  // a browser's first request: not worth a log line
    return;
  }
  if (count > 1) {
    refuse("more than one Authorization header");
    return;
  }
  Scheme scheme = scheme_of(*value);
  if (scheme != our_scheme(s.options)) {
    refuse(std::string("client used another scheme than ") +
           (our_scheme(s.options) == Scheme::Basic ? "Basic" : "Digest"));
    return;
  }
  if (scheme == Scheme::Basic) {
    check_basic(request);
  } else {
    check_digest(request);
  }
}

void AuthExchange::check_basic(const Request& request) {
  AuthShared& s = *shared_;
  std::string why;
  std::optional<BasicCredentials> creds = parse_basic(*request.header("Authorization"), why);
  if (!creds) {
    refuse(why);
    return;
  }
  std::shared_ptr<const HtpasswdFile> file = s.source.htpasswd();
  const std::string* hash = file ? file->find(creds->user) : nullptr;
  if (!hash) {
    refuse("user " + quote_for_log(creds->user) + " not found");
    return;
  }
  HashKind kind = hash_kind(*hash);
  if (kind == HashKind::Unknown) {
    refuse("user " + quote_for_log(creds->user) + ": hash of an unknown kind");
    return;
  }
  uint64_t now = s.clock();
  if (s.cache.contains(creds->user, creds->password, *hash, now)) {
    pass(request, creds->user, "Basic");
    return;
  }
  if (!is_slow(kind) || s.loop == nullptr) {
    if (verify_password(creds->password, *hash)) {
      s.cache.insert(creds->user, creds->password, *hash, now);
      pass(request, creds->user, "Basic");
    } else {
      refuse("user " + quote_for_log(creds->user) + ": wrong password");
    }
    return;
  }
  if (s.checks_in_flight >= kMaxChecksInFlight) {
    fail(503, "auth: too many password checks in progress");
    return;
  }
  // Off the loop: the request (and the body arriving meanwhile) wait here.
  state_ = State::Checking;
  request_ = request;
  check_ = std::make_shared<Check>();
  check_->password = creds->password;
  check_->hash = *hash;
  ++s.checks_in_flight;
  check_running_ = true;
  std::shared_ptr<Check> job = check_;
  work_ = std::make_unique<io::Work>(
      s.loop, [job] { job->ok = verify_password(job->password, job->hash); },
      [this, user = creds->user, generation = s.source.generation()]() mutable {
        on_check_done(std::move(user), generation);
      });
}

void AuthExchange::on_check_done(std::string user, uint64_t generation) {
  end_check();
  std::shared_ptr<Check> check = std::move(check_);
  if (state_ != State::Checking) return;
  AuthShared& s = *shared_;
  if (!check->ok) {
    refuse("user " + quote_for_log(user) + ": wrong password");
    return;
  }
  // A file reloaded meanwhile may hold another hash: the entry would then
  // simply never match, but there is no point adding it.
  if (generation == s.source.generation()) {
    s.cache.insert(user, check->password, check->hash, s.clock());
  }
  Request request = std::move(request_);
  request_ = Request{};
  pass(request, std::move(user), "Basic");
}

void AuthExchange::check_digest(const Request& request) {
  AuthShared& s = *shared_;
  std::string why;
  std::optional<DigestCredentials> c = parse_digest(*request.header("Authorization"), why);
  if (!c) {
    refuse(why);
    return;
  }
  if (c->realm != s.options.realm) {
    refuse("Digest realm " + quote_for_log(c->realm) + " is not ours");
    return;
  }
  if (c->uri != request.target) {
    refuse("Digest uri " + quote_for_log(c->uri) + " is not the request target " +
           quote_for_log(request.target));
    return;
  }
  if (c->has_opaque && c->opaque != s.opaque) {
    refuse("Digest opaque is not ours");
    return;
  }
  NonceState nonce = check_nonce(process_key(), s.options.realm, c->nonce, s.clock() / 1000,
                                 s.options.nonce_lifetime_s);
  if (nonce == NonceState::Invalid) {
    refuse("Digest nonce is not ours");
    return;
  }
  std::shared_ptr<const HtdigestFile> file = s.source.htdigest();
  const std::string* ha1 = file ? file->find(c->username, s.options.realm) : nullptr;
  if (!ha1) {
    refuse("user " + quote_for_log(c->username) + " not found");
    return;
  }
  if (!digest_matches(*ha1, request.method, *c)) {
    refuse("user " + quote_for_log(c->username) + ": wrong password");
    return;
  }
  // Stale only with the right response (RFC 7616 3.3): the client then
  // retries with a fresh nonce without asking its user again.
  if (nonce == NonceState::Stale) {
    challenge(/*stale=*/true);
    return;
  }
  pass(request, c->username, "Digest");
}

void AuthExchange::pass(const Request& original, std::string user, std::string_view auth_type) {
  bool was_checking = state_ == State::Checking;
  state_ = State::Passed;
  Request request = original;
  request.remote_user = std::move(user);
  request.auth_type = std::string(auth_type);
  std::erase_if(request.headers, [](const Header& h) { return iequals(h.name, "Authorization"); });
  std::shared_ptr<Backend> inner_backend = shared_->inner;
  inner_ = inner_backend->start(request, sink_);
  if (!was_checking) return;
  // Hand on what arrived during the check.
  if (!pending_body_.empty()) {
    std::string body = std::move(pending_body_);
    pending_body_.clear();
    inner_->send_body(body);
  }
  if (body_finished_) inner_->finish_body();
  if (told_congested_ && !inner_->body_congested()) sink_.on_body_drained();
}

void AuthExchange::challenge(bool stale) {
  const AuthShared& s = *shared_;
  ResponseHead head;
  head.status = 401;
  if (s.options.scheme == AuthOptions::Scheme::Basic) {
    head.headers.push_back({"WWW-Authenticate", basic_challenge(s.options.realm)});
  } else {
    std::string nonce = make_nonce(process_key(), s.options.realm, s.clock() / 1000);
    head.headers.push_back(
        {"WWW-Authenticate", digest_challenge(s.options.realm, nonce, s.opaque, stale)});
  }
  answer(std::move(head), "401 Unauthorized\n");
}

void AuthExchange::answer(ResponseHead head, std::string body) {
  bool was_checking = state_ == State::Checking;
  state_ = State::Answering;
  request_ = Request{};
  pending_body_.clear();
  // The connection may be waiting for us to take more body: let it go on
  // (the rest is discarded) before the response ends our use of the sink.
  if (was_checking && told_congested_) sink_.on_body_drained();
  head.headers.push_back({"Content-Type", "text/plain; charset=utf-8"});
  head.headers.push_back({"Content-Length", std::to_string(body.size())});
  head.headers.push_back({"Cache-Control", "no-store"});
  answer_body_ = std::move(body);
  sink_.on_head(std::move(head));
  pump_answer();
}

void AuthExchange::pump_answer() {
  if (state_ != State::Answering || answer_sent_ || sink_.congested()) return;
  answer_sent_ = true;
  sink_.on_body(answer_body_);
  if (state_ != State::Answering) return;  // cancelled from inside on_body
  state_ = State::Done;
  answer_body_.clear();
  sink_.on_end();
}

void AuthExchange::fail(int status, std::string why) {
  bool was_checking = state_ == State::Checking;
  state_ = State::Done;
  request_ = Request{};
  pending_body_.clear();
  if (was_checking && told_congested_) sink_.on_body_drained();
  sink_.on_error(status, why);
}

}  // namespace

AuthBackend::AuthBackend(std::unique_ptr<Backend> inner, const AuthOptions& options,
                         uv_loop_s* loop, Clock clock)
    : shared_(std::make_shared<AuthShared>(std::move(inner), options, loop, std::move(clock))) {}

AuthBackend::~AuthBackend() = default;

std::unique_ptr<Exchange> AuthBackend::start(const Request& request, ResponseSink& sink) {
  const AuthOptions& options = shared_->options;
  // Authenticated by the front end, or outside what we protect.
  if (!request.remote_user.empty() || !in_scope(options, request)) {
    if (request.remote_user.empty() && has_credentials(request, our_scheme(options))) {
      Request copy = request;
      strip_credentials(copy, our_scheme(options));
      return shared_->inner->start(copy, sink);
    }
    return shared_->inner->start(request, sink);
  }
  auto exchange = std::make_unique<AuthExchange>(shared_, sink);
  exchange->begin(request);
  return exchange;
}

std::string_view AuthBackend::kind() const {
  return shared_->inner->kind();
}

void AuthBackend::shutdown() {
  shared_->inner->shutdown();
}

void AuthBackend::report(BackendReport& out) const {
  shared_->inner->report(out);
}

}  // namespace auth

std::unique_ptr<Backend> wrap_auth(std::unique_ptr<Backend> inner, const AuthOptions& options,
                                   uv_loop_s* loop) {
  return std::make_unique<auth::AuthBackend>(std::move(inner), options, loop);
}

}  // namespace gw
