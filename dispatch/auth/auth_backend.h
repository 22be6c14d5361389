// Authentication in front of a project's backend: HTTP Basic against an
// htpasswd file or Digest against an htdigest file, on the /login path
// (Scope::Login, tracd's behaviour) or on the whole project.
//
//  * A request the front end already authenticated (remote_user set: nginx
//    auth_basic or Apache over FastCGI/SCGI, AJP's remote_user) goes on as
//    is: the front end is trusted for REMOTE_USER as for every other CGI
//    variable, and a client cannot set it (headers only ever become HTTP_*).
//  * Good credentials: the request goes on with remote_user and auth_type
//    ("Basic" / "Digest") set and its Authorization header removed, so the
//    password never reaches the app. Credentials of our scheme are removed
//    outside the scope too: browsers send them to the whole directory of
//    /login, which is the whole project.
//  * Missing or wrong credentials: 401 with WWW-Authenticate; the body is
//    discarded. A password file that cannot be read: 500 (fails closed).
//  * Slow hashes (bcrypt, SHA-crypt, MD5-crypt) are checked on the thread
//    pool when a loop is given; successes are cached for five minutes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "dispatch/auth/auth_options.h"
#include "dispatch/backend.h"

struct uv_loop_s;

namespace gw {

// Wraps `inner` so that requests in `options.scope` must authenticate
// first. With a loop, slow password hashes are checked off the loop; without
// one (null), on it.
std::unique_ptr<Backend> wrap_auth(std::unique_ptr<Backend> inner, const AuthOptions& options,
                                   uv_loop_s* loop);

namespace auth {

struct AuthShared;

// The backend wrap_auth makes; its clock can be replaced for tests
// (milliseconds, monotonic).
class AuthBackend : public Backend {
 public:
  using Clock = std::function<uint64_t()>;
  AuthBackend(std::unique_ptr<Backend> inner, const AuthOptions& options, uv_loop_s* loop,
              Clock clock = {});
  ~AuthBackend() override;

  std::unique_ptr<Exchange> start(const Request& request, ResponseSink& sink) override;
  std::string_view kind() const override;
  void shutdown() override;
  void report(BackendReport& out) const override;

 private:
  std::shared_ptr<AuthShared> shared_;
};

}  // namespace auth
}  // namespace gw
