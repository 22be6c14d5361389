// The router: picks the project for a request and fixes SCRIPT_NAME and
// PATH_INFO so that the backend sees the same values whichever web server
// sent the request. Pure: no I/O, no filesystem; tested with plain values.
//
// Steps (tracd's dispatch_request, protocols.md sections 5.4 and 6):
//  1. Mount prefix. With a base path (--base-path) the request's decoded path
//     must lie below it (else NotFound): script_name = base path, path_info =
//     the rest. This overrides the front end's own split, which is how
//     lighttpd's root-mount quirk (SCRIPT_NAME "/app", PATH_INFO "/sub/path")
//     and fronts that send no split (Apache mod_proxy_*, h2o under a prefix)
//     are fixed. Without one, the Request's script_name/path_info (as
//     protocols/cgi_params normalised them) are trusted.
//  2. Validation (every mode). BadRequest unless script_name is "" or a
//     normalised path without a trailing '/', and path_info is "" or a
//     normalised path: no "//", no "." or ".." segment, no NUL or backslash
//     anywhere. Backends may therefore join path_info below a directory
//     without resolving it again.
//  3. Single project (--single-env): Project 0, script_name/path_info as is.
//  4. Parent-directory mode: the first path_info segment is the project name.
//     None (path_info "" or "/") → Index. A name starting with '.' →
//     BadRequest (hidden directories are never projects). A name equal
//     (case-sensitive) to one of `names` → Project: script_name += "/name",
//     path_info = the rest ("" when the path ends at the name, as Trac
//     does). Any other → NotFound. The name is only compared with the known
//     list, never joined to a directory, so no path can reach a directory
//     that is not a project.
// Dot-files below a project ("/app/.git") are the backend's business.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/request.h"

namespace gw {

enum class RouteKind {
  Project,     // serve `project` with script_name/path_info
  Index,       // the project list; links start at script_name
  NotFound,    // 404; `why` for the error log
  Redirect,    // 3xx to `location`; not produced by route_request today
  BadRequest,  // 400; `why` for the error log
};

struct Route {
  RouteKind kind = RouteKind::NotFound;
  size_t project = 0;       // index into `names` (0 in single mode)
  std::string script_name;  // decoded; "" or "/a/b"
  std::string path_info;    // decoded; "" or "/..."
  std::string location;     // for Redirect
  // Why a request was refused, for the error log. Request bytes in it are
  // escaped (\xNN for control bytes), so a client cannot forge log lines.
  std::string why;
};

// `names`: the known project names in parent-directory mode (ignored when
// `single`). `base_path`: the listener's mount prefix when configured; ""
// and "/" both mean the root, surrounding slashes are ignored ("trac/" is
// "/trac"). The path matched against it is req.path, or script_name +
// path_info when the front end sent no request URI.
Route route_request(const Request& req, const std::vector<std::string>& names, bool single,
                    const std::optional<std::string>& base_path);

struct ProjectSummary {
  std::string name;
  std::string description;
};

// The project index page: a small self-contained HTML document (no external
// assets) listing `projects` in the given order, each linking to
// script_name + "/" + name + "/" (percent-encoded). Every name and
// description is HTML-escaped.
std::string render_project_index(const std::vector<ProjectSummary>& projects,
                                 std::string_view script_name);

// The link to project `name` from the index page: `encoded_base` (the
// script_name, percent_encode_path'ed once per page) + "/" + name + "/",
// the name percent-encoded as one segment.
std::string project_link(std::string_view encoded_base, std::string_view name);

// Escapes & < > " ' for HTML text and attribute values.
std::string html_escape(std::string_view text);

}  // namespace gw
