// project.json "auth": the project's own authentication, which replaces any
// --auth/--basic-auth from the command line.
//   "auth": {"type": "basic" | "digest", "file": "htpasswd", "realm": "...",
//            "scope": "login" | "project", "nonce_lifetime_s": 300}
// The file is resolved against the project directory and must exist when
// the configuration is loaded; later it is re-read when it changes.
#include <sys/stat.h>

#include <cerrno>

#include "gateway/config_project_parts.h"

namespace gw {

namespace {

bool has_control(const std::string& s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return true;
  }
  return false;
}

}  // namespace

std::optional<ConfigError> read_auth(const config_json::Obj& top, const std::string& dir,
                                     std::optional<AuthOptions>& out) {
  const config_json::Json* j = top.find("auth");
  if (!j) return std::nullopt;
  if (!j->is_object()) return top.error("auth", "must be an object");
  config_json::Obj o(*j, top.file(), top.child_path("auth"));
  if (auto e = o.only({"type", "file", "realm", "scope", "nonce_lifetime_s"})) return e;
  AuthOptions a;

  std::string type;
  if (!o.find("type")) return o.error("type", "is required (\"basic\" or \"digest\")");
  if (auto e = o.get_string("type", type)) return e;
  if (type == "basic") {
    a.scheme = AuthOptions::Scheme::Basic;
  } else if (type == "digest") {
    a.scheme = AuthOptions::Scheme::Digest;
  } else {
    return o.error("type", "must be \"basic\" or \"digest\"");
  }

  if (!o.find("file")) return o.error("file", "is required");
  std::string file;
  if (auto e = o.get_string("file", file)) return e;
  a.file = config_json::resolve_from(dir, file);
  struct stat st {};
  if (::stat(a.file.c_str(), &st) != 0) {
    return o.error("file", "cannot use '" + a.file + "': " + config_json::errno_text(errno));
  }
  if (!S_ISREG(st.st_mode)) return o.error("file", "'" + a.file + "' is not a regular file");

  if (!o.find("realm")) return o.error("realm", "is required");
  if (auto e = o.get_string("realm", a.realm)) return e;
  // The realm goes into a quoted header value; a digest realm also into the
  // htdigest lines, which cannot hold ':'.
  if (has_control(a.realm)) return o.error("realm", "must not hold control characters");
  if (a.scheme == AuthOptions::Scheme::Digest && a.realm.find(':') != std::string::npos) {
    return o.error("realm", "must not hold ':' (htdigest files cannot)");
  }

  std::string scope = "login";
  if (auto e = o.get_string("scope", scope)) return e;
  if (scope == "login") {
    a.scope = AuthOptions::Scope::Login;
  } else if (scope == "project") {
    a.scope = AuthOptions::Scope::Project;
  } else {
    return o.error("scope", "must be \"login\" or \"project\"");
  }

  uint64_t lifetime = a.nonce_lifetime_s;
  if (auto e = o.get_uint("nonce_lifetime_s", 1, 86400, lifetime)) return e;
  if (o.find("nonce_lifetime_s") && a.scheme != AuthOptions::Scheme::Digest) {
    return o.error("nonce_lifetime_s", "only applies to \"digest\"");
  }
  a.nonce_lifetime_s = static_cast<uint32_t>(lifetime);
  out = std::move(a);
  return std::nullopt;
}

}  // namespace gw
