// Placeholder: replaced by the X-Sendfile backend.
#include "dispatch/backends/sendfile.h"

namespace gw {

std::unique_ptr<Backend> wrap_sendfile(std::unique_ptr<Backend> inner, const SendfileOptions&) {
  return inner;
}

}  // namespace gw
