// How one project is protected by gatewayd's own authentication (tracd's
// --basic-auth and --auth, or "auth" in project.json).
#pragma once

#include <cstdint>
#include <string>

namespace gw {

struct AuthOptions {
  enum class Scheme {
    Basic,   // htpasswd file: bcrypt, SHA-256/512-crypt, $apr1$, {SHA}, crypt
    Digest,  // htdigest file, RFC 7616 Digest with MD5 and qop=auth
  };
  enum class Scope {
    Login,    // only the /login path below the project, as tracd does
    Project,  // every path of the project
  };
  Scheme scheme = Scheme::Basic;
  std::string file;   // absolute path of the htpasswd / htdigest file
  std::string realm;  // shown in the challenge; digest: must match the file's realm
  Scope scope = Scope::Login;
  uint32_t nonce_lifetime_s = 300;  // digest: a nonce older than this is stale

  bool operator==(const AuthOptions&) const = default;
};

}  // namespace gw
