// The static backend: serves the files of one directory tree.
//
// Security model. The path comes from the network, so every request is
// checked here even though the codec decodes and the router normalises it
// first: a path with a NUL byte or one that gw::normalize_path refuses is a
// 404, and every file is resolved with realpath() (all symlinks on the way)
// and must lie inside realpath(root). A symlink that leads out of the tree is
// a 404 and a line in the error log; one that stays inside (a linked
// directory, a linked file) is followed. After opening, the descriptor's own
// path (/proc/self/fd) is checked again, so a directory swapped for a symlink
// between the check and the open() cannot lead outside either. Only regular
// files are opened (never FIFOs or devices). Hidden names (".well-known")
// are served like any other; ".." cannot survive normalisation.
//
// HTTP behaviour: GET and HEAD (others: 405 with Allow); a directory without
// a trailing slash is redirected (301) to the slash form, one with a slash
// serves its first existing index file (no listings); strong ETag
// "<hex mtime ns>-<hex size>", Last-Modified, If-None-Match and
// If-Modified-Since (304), one byte range (206/416; several ranges get the
// whole file, as RFC 9110 allows), If-Range. Request bodies are ignored.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dispatch/backend.h"

namespace gw {

class StaticBackend : public Backend {
 public:
  // `root`: absolute directory. It is resolved again for every request, so
  // a deployment that swaps a "current -> release-N" symlink is followed at
  // once. `index`: file names tried, in order, for a directory ("index.html").
  StaticBackend(std::string root, std::vector<std::string> index);

  std::unique_ptr<Exchange> start(const Request& request, ResponseSink& sink) override;
  std::string_view kind() const override { return "static"; }

 private:
  std::string root_;
  std::vector<std::string> index_;
};

// HTTP helpers of the static backend, public for the tests.
namespace static_files {

// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"); "" if `t` is out of range.
std::string format_http_date(time_t t);

// Parses an IMF-fixdate. The obsolete RFC 850 and asctime forms are not
// accepted: a condition we cannot read is ignored, which only costs a full
// response.
std::optional<time_t> parse_http_date(std::string_view s);

// If-None-Match: does the list (or "*") match `etag` by weak comparison?
// A malformed list matches nothing.
bool etag_list_matches(std::string_view list, std::string_view etag);

struct RangeResult {
  enum class Kind {
    Ignore,         // no usable single range: serve the whole file (200)
    Single,         // serve [first, last] (206)
    Unsatisfiable,  // 416 with "Content-Range: bytes */size"
  };
  Kind kind = Kind::Ignore;
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
};

// Interprets a Range header value for a representation of `size` bytes.
RangeResult parse_range(std::string_view header, uint64_t size);

// One file chosen by someone else than the client (a backend's X-Sendfile).
struct ChosenFile {
  // Absolute, decoded path. A path that is not absolute, holds a NUL or
  // climbs above "/" is refused before the file system is asked.
  std::string path;
  // Absolute directories; the file's realpath (every symlink followed) must
  // lie inside one of them, each resolved again for this request.
  std::vector<std::string> allowed_dirs;
  // The status the backend answered. 200 gets the full rules (304, 206,
  // 416); any other status is sent as it is with the whole file.
  int status = 200;
  // Headers sent along with the file (and with a 304). The caller has
  // removed those the file decides: Content-Length, Content-Range, ETag,
  // Last-Modified, Accept-Ranges. A Content-Type here wins over the one
  // the file name gives.
  std::vector<Header> headers;
  // Prefix of the error-log lines ("sendfile").
  std::string log_tag = "sendfile";
};

// Serves `file` for `request` (only its method and headers are read), as the
// static backend serves a file. A refused path, a missing file, one outside
// `allowed_dirs`, a directory or a non-regular file: 404 and a line in the
// error log naming the path (the client never sees it); unreadable: 403;
// other errors: 500.
std::unique_ptr<Exchange> serve_chosen_file(const Request& request, ResponseSink& sink,
                                            const ChosenFile& file);

// A short text answer ("404 Not Found\n") with `status`; no body for HEAD.
std::unique_ptr<Exchange> respond_status(const Request& request, ResponseSink& sink, int status);

}  // namespace static_files

}  // namespace gw
