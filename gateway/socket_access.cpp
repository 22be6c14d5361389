#include "gateway/socket_access.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gw {

namespace {

// A decimal id ("33"), as chown(1) takes one; nullopt for anything else.
std::optional<uint32_t> numeric_id(const std::string& text) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v >= UINT32_MAX) return std::nullopt;  // (uid_t)-1 means "unchanged" to chown
  return static_cast<uint32_t>(v);
}

std::optional<uid_t> resolve_uid(const std::string& owner) {
  if (struct passwd* pw = getpwnam(owner.c_str())) return pw->pw_uid;
  if (auto id = numeric_id(owner)) return static_cast<uid_t>(*id);
  return std::nullopt;
}

std::optional<gid_t> resolve_gid(const std::string& group) {
  if (struct group* gr = getgrnam(group.c_str())) return gr->gr_gid;
  if (auto id = numeric_id(group)) return static_cast<gid_t>(*id);
  return std::nullopt;
}

std::string user_name(uid_t uid) {
  if (struct passwd* pw = getpwuid(uid)) return pw->pw_name;
  return std::to_string(uid);
}

std::string group_name(gid_t gid) {
  if (struct group* gr = getgrgid(gid)) return gr->gr_name;
  return std::to_string(gid);
}

// Every group of `name` (primary `gid` included), as the kernel will see
// them once the web server has called initgroups().
std::vector<gid_t> groups_of(const char* name, gid_t gid) {
  int n = 32;
  std::vector<gid_t> out;
  for (int attempt = 0; attempt < 8; ++attempt) {
    out.resize(static_cast<size_t>(n));
    int want = n;
    if (getgrouplist(name, gid, out.data(), &want) >= 0) {
      out.resize(static_cast<size_t>(want));
      return out;
    }
    if (want <= n || want > 65536) break;
    n = want;
  }
  return {gid};
}

std::string octal_mode(uint32_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0%03o", mode & 07777u);
  return buf;
}

// A path as a shell word: unchanged when it has only safe characters.
std::string shell_word(const std::string& s) {
  bool safe = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::strchr("/._-+:@%,=", c) != nullptr;
  });
  if (safe) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Which permission bits apply to `client` for a file: the owner's, the
// group's or everyone else's (the kernel looks no further than the first
// class that matches).
enum class Class { Owner, Group, Other };

Class class_of(uid_t file_uid, gid_t file_gid, const SocketClient& client) {
  if (client.uid && *client.uid == file_uid) return Class::Owner;
  if (std::find(client.gids.begin(), client.gids.end(), file_gid) != client.gids.end()) {
    return Class::Group;
  }
  return Class::Other;
}

// `rwx` is 4, 2 or 1; the bit of that permission for the class.
uint32_t bit_for(Class c, uint32_t rwx) {
  switch (c) {
    case Class::Owner:
      return rwx << 6;
    case Class::Group:
      return rwx << 3;
    case Class::Other:
      break;
  }
  return rwx;
}

std::string attributes(uid_t uid, gid_t gid, uint32_t mode) {
  return "owner " + user_name(uid) + ", group " + group_name(gid) + ", mode " + octal_mode(mode);
}

// The least-privilege way to let `client` search `dir`: its own class's x
// bit; else hand a directory whose group bits nobody uses to the client's
// group; only then x for everyone.
std::string directory_fix(const std::string& dir, const struct stat& st,
                          const SocketClient& client) {
  const std::string word = shell_word(dir);
  switch (class_of(st.st_uid, st.st_gid, client)) {
    case Class::Owner:
      return "chmod u+x " + word;
    case Class::Group:
      return "chmod g+x " + word;
    case Class::Other:
      break;
  }
  if ((st.st_mode & 070) == 0 && client.fix_gid) {
    return "chgrp " + shell_word(group_name(*client.fix_gid)) + " " + word + " && chmod g+x " +
           word;
  }
  return "chmod o+x " + word;
}

std::string parent_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::optional<SocketClient> socket_client(const std::string& owner, const std::string& group,
                                          std::string& error) {
  error.clear();
  if (!owner.empty()) {
    SocketClient c;
    if (struct passwd* pw = getpwnam(owner.c_str())) {
      c.uid = pw->pw_uid;
      c.label = "user " + std::string(pw->pw_name);
      c.gids = groups_of(pw->pw_name, pw->pw_gid);
      c.fix_gid = pw->pw_gid;
    } else if (auto id = numeric_id(owner)) {
      c.uid = static_cast<uid_t>(*id);
      if (struct passwd* by_id = getpwuid(c.uid.value())) {
        c.label = "user " + std::string(by_id->pw_name);
        c.gids = groups_of(by_id->pw_name, by_id->pw_gid);
        c.fix_gid = by_id->pw_gid;
      } else {
        c.label = "user " + owner;  // an id without an account: no groups known
      }
    } else {
      error = "socket owner '" + owner + "': no such user";
      return std::nullopt;
    }
    return c;
  }
  if (!group.empty()) {
    auto gid = resolve_gid(group);
    if (!gid) {
      error = "socket group '" + group + "': no such group";
      return std::nullopt;
    }
    SocketClient c;
    c.label = "group " + group_name(*gid);
    c.gids = {*gid};
    c.fix_gid = *gid;
    return c;
  }
  return std::nullopt;
}

std::string check_socket_access(const std::string& socket_path, const SocketFile& file,
                                const SocketClient& client) {
  if (client.uid && *client.uid == 0) return "";  // root passes every permission check
  const std::string head = socket_path + ": " + client.label + " cannot reach the socket: ";
  const std::string dir = parent_of(socket_path);
  char* real = realpath(dir.c_str(), nullptr);
  if (!real) return head + "directory " + dir + ": " + std::strerror(errno);
  const std::string resolved(real);
  std::free(real);

  // "/", then each longer prefix down to the socket's own directory.
  std::vector<std::string> dirs = {"/"};
  for (size_t pos = 1; pos <= resolved.size(); ++pos) {
    if (pos == resolved.size() || resolved[pos] == '/') {
      if (pos > 1) dirs.push_back(resolved.substr(0, pos));
    }
  }
  for (const std::string& d : dirs) {
    struct stat st;
    if (stat(d.c_str(), &st) != 0) return head + "directory " + d + ": " + std::strerror(errno);
    Class c = class_of(st.st_uid, st.st_gid, client);
    if ((st.st_mode & bit_for(c, 1)) != 0) continue;
    return head + "directory " + d + " (" + attributes(st.st_uid, st.st_gid, st.st_mode) +
           ") gives " + client.label +
           " no search (x) permission; fix: " + directory_fix(d, st, client);
  }

  Class c = class_of(file.uid, file.gid, client);
  uint32_t write_bit = bit_for(c, 2);
  if ((file.mode & write_bit) != 0) return "";
  std::string mode = octal_mode(file.mode | write_bit);
  return socket_path + ": " + client.label + " cannot connect: the socket (" +
         attributes(file.uid, file.gid, file.mode) + ") gives " + client.label +
         " no write permission; fix: --socket-mode=" + mode + " (\"socket_mode\": \"" + mode +
         "\" in a config file)";
}

std::string socket_access_warning(const ListenerConfig& listener) {
  if (listener.unix_path.empty() || listener.inherited_fd0 || listener.inherited_fd >= 0) return "";
  std::string error;
  auto client = socket_client(listener.socket_owner, listener.socket_group, error);
  if (!client) return error.empty() ? "" : listener.unix_path + ": " + error;
  struct stat st;
  if (stat(listener.unix_path.c_str(), &st) != 0) {
    return listener.unix_path + ": cannot check who can reach the socket: " + std::strerror(errno);
  }
  return check_socket_access(listener.unix_path,
                             SocketFile{st.st_uid, st.st_gid, st.st_mode & 0777u}, *client);
}

std::vector<std::string> predicted_socket_access_warnings(const ServerConfig& config) {
  std::vector<std::string> out;
  for (const ListenerConfig& l : config.listeners) {
    if (l.unix_path.empty() || l.inherited_fd0 || l.inherited_fd >= 0) continue;
    std::string error;
    auto client = socket_client(l.socket_owner, l.socket_group, error);
    if (!client) {
      if (!error.empty()) out.push_back(l.unix_path + ": " + error);
      continue;
    }
    // As the listener will make it: bound under the umask, then chmod and
    // chown. (The client is the socket's owner or its group, so the group a
    // set-group-id directory would give the file never decides.)
    SocketFile file;
    file.mode = l.socket_mode ? (*l.socket_mode & 0777u) : (0777u & ~config.umask);
    file.uid = geteuid();
    file.gid = getegid();
    if (!l.socket_owner.empty()) {
      if (auto uid = resolve_uid(l.socket_owner)) file.uid = *uid;
    }
    if (!l.socket_group.empty()) {
      if (auto gid = resolve_gid(l.socket_group)) file.gid = *gid;
    }
    std::string warning = check_socket_access(l.unix_path, file, *client);
    if (!warning.empty()) out.push_back(std::move(warning));
  }
  return out;
}

}  // namespace gw
