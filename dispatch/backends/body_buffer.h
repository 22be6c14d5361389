// Request buffering ("buffer_body" in project.json): the whole request body
// is read before the app sees the request, in memory up to a threshold and
// in an unlinked temporary file beyond it. A slow upload then ties up a
// connection to gatewayd, never an app process or a connection to the app,
// and the app always gets a CONTENT_LENGTH (chunked uploads included, which
// PHP-FPM and many WSGI servers need).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "dispatch/backend.h"

namespace gw {

struct BodyBufferOptions {
  size_t memory_bytes = 64 * 1024;  // kept in memory; past it, the whole body goes to a file
  std::string temp_dir = "/tmp";    // where the temporary files are made (O_TMPFILE)
  bool operator==(const BodyBufferOptions&) const = default;
};

// Wraps `inner`: a request with a body (Content-Length above 0, or of
// unknown length) starts on `inner` only once its body is complete, with
// content_length set to the body's size; the body is then fed to `inner` as
// fast as it takes it. A request without a body goes straight to `inner`.
// When the temporary file cannot be made or written the request gets 500
// (logged).
std::unique_ptr<Backend> wrap_body_buffer(std::unique_ptr<Backend> inner,
                                          BodyBufferOptions options);

}  // namespace gw
