// Fuzz target for route_request. Input: one flag byte (single mode, base
// path set, request path set), then fields separated by 0xff: script_name,
// path_info, path, base_path, then project names. Invariants: a Project
// route's path_info has no ".." segment, script_name + path_info is a
// normalised path, and in parent-directory mode script_name ends with the
// chosen project's name.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dispatch/router.h"
#include "protocols/path.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

std::vector<std::string> split_fields(std::string_view in) {
  std::vector<std::string> out;
  for (;;) {
    size_t sep = in.find('\xff');
    out.emplace_back(in.substr(0, sep));
    if (sep == std::string_view::npos) return out;
    in.remove_prefix(sep + 1);
  }
}

bool has_dotdot_segment(std::string_view p) {
  return p == ".." || p.starts_with("../") || p.ends_with("/..") ||
         p.find("/../") != std::string_view::npos;
}

void check_normalised(std::string_view script_name, std::string_view path_info) {
  std::string joined = std::string(script_name) + std::string(path_info);
  if (joined.empty()) joined = "/";
  auto normal = gw::normalize_path(joined);
  check(normal.has_value() && *normal == joined);
  check(joined.find('\\') == std::string::npos && joined.find('\0') == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  uint8_t flags = data[0];
  auto fields = split_fields(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  fields.resize(std::max<size_t>(fields.size(), 4));
  gw::Request req;
  req.script_name = fields[0];
  req.path_info = fields[1];
  if (flags & 4) req.path = fields[2];
  std::optional<std::string> base;
  if (flags & 2) base = fields[3];
  std::vector<std::string> names(fields.begin() + 4, fields.end());
  bool single = flags & 1;

  gw::Route r = gw::route_request(req, names, single, base);
  switch (r.kind) {
    case gw::RouteKind::Project:
      check(!has_dotdot_segment(r.path_info));
      check_normalised(r.script_name, r.path_info);
      check(r.path_info.empty() || r.path_info.front() == '/');
      if (single) {
        check(r.project == 0);
      } else {
        check(r.project < names.size());
        check(r.script_name.ends_with("/" + names[r.project]));
        check(names[r.project].front() != '.');
      }
      break;
    case gw::RouteKind::Index:
      check(!single);
      check(r.path_info.empty() || r.path_info == "/");
      check_normalised(r.script_name, r.path_info);
      // The page must never carry raw markup from a name.
      {
        std::vector<gw::ProjectSummary> list;
        for (size_t i = 0; i < names.size() && i < 8; ++i) list.push_back({names[i], names[i]});
        std::string page = gw::render_project_index(list, r.script_name);
        check(page.find("<script") == std::string::npos);
      }
      break;
    case gw::RouteKind::NotFound:
    case gw::RouteKind::BadRequest:
      check(!r.why.empty());
      check(r.why.find('\n') == std::string::npos);
      break;
    case gw::RouteKind::Redirect:
      check(false);  // not produced today
      break;
  }
  return 0;
}
