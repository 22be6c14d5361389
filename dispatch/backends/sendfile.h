// X-Sendfile and X-Accel-Redirect answers from a backend.
//
// An app that wants a large or protected file sent answers with an empty
// body and a header naming the file: "X-Sendfile: /srv/files/a.pdf" (also
// lighttpd's "X-LIGHTTPD-send-file") or "X-Accel-Redirect: /protected/a.pdf"
// (a URI, mapped to a file through SendfileOptions::locations).
//
// Serve: gatewayd answers with the file itself, with the static backend's
// rules (conditional GET, one Range, ETag; dispatch/backends/static_files.h),
// only if its realpath lies inside an allowed directory; anything else is a
// 404 with the reason in the error log. The backend's status and its other
// headers are kept (Content-Type too, when it gave one): 200 (and 206) get
// the file's conditional and range rules, another status the whole file; a
// 204 or 304 cannot carry one and passes without the header. Content-Length,
// Content-Range, ETag, Last-Modified, Accept-Ranges and the X- headers are
// the file's business. The backend's own body is read and thrown away, so
// an upstream connection ends in a known state and a CGI process exits as it
// would; the response ends when both the file is sent and the backend has
// finished.
//
// Pass: the header goes on to the front end, renamed (and converted between
// path and URI through `locations`) when the front end expects the other
// form; the response is otherwise untouched.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dispatch/backend.h"
#include "dispatch/backends/mount_options.h"

namespace gw {

// Wraps `inner` so that its X-Sendfile / X-Accel-Redirect answers are
// served or handed on as `options` say. Mode::Off returns `inner`.
std::unique_ptr<Backend> wrap_sendfile(std::unique_ptr<Backend> inner,
                                       const SendfileOptions& options);

// The conversions, public for the tests.
namespace sendfile {

// "X-Sendfile", "X-Accel-Redirect", "X-LIGHTTPD-send-file".
std::string_view header_name(SendfileOptions::Form form);

// An X-Sendfile value: percent-decoded (as lighttpd and mod_xsendfile read
// it), then normalised. nullopt: not absolute, a bad escape, a NUL, or ".."
// above "/".
std::optional<std::string> path_from_header(std::string_view value);

// An X-Accel-Redirect URI ("/protected/a.pdf?x"): the query dropped, the
// path decoded and normalised, then mapped through the longest matching
// location prefix (segment boundary) to a file path. nullopt when no
// location holds it or the URI is malformed (a named location "@x" too).
std::optional<std::string> uri_to_path(const std::vector<SendfileLocation>& locations,
                                       std::string_view uri);

// The other way: a normalised absolute file path to a percent-encoded URI,
// through the location whose directory holds it (the longest). nullopt
// when none does.
std::optional<std::string> path_to_uri(const std::vector<SendfileLocation>& locations,
                                       std::string_view path);

}  // namespace sendfile

}  // namespace gw
