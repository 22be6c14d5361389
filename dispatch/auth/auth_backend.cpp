// Placeholder: replaced by the authentication backend.
#include "dispatch/auth/auth_backend.h"

namespace gw {

std::unique_ptr<Backend> wrap_auth(std::unique_ptr<Backend> inner, const AuthOptions&) {
  return inner;
}

}  // namespace gw
