// Where spawned app instances listen: a private runtime directory for their
// unix sockets, a listening unix socket gatewayd binds for an app that gets
// it as fd 0, and a free TCP port on 127.0.0.1 for an app told its {port}.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

namespace gw {

// A directory of mode 0700 made with mkdtemp under $TMPDIR (or /tmp when
// that is unset or too long for socket paths); removed, with whatever is
// left in it, by the destructor.
class RuntimeDir {
 public:
  // Null with the reason in `error` when it cannot be made.
  static std::unique_ptr<RuntimeDir> create(std::string& error);
  ~RuntimeDir();
  RuntimeDir(const RuntimeDir&) = delete;
  RuntimeDir& operator=(const RuntimeDir&) = delete;

  const std::string& path() const { return path_; }
  // Lets `uid` create its own sockets in the directory (an app that binds
  // {socket} itself under another user). Returns an error text or "".
  std::string hand_to(uid_t uid, gid_t gid);

 private:
  explicit RuntimeDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// A listening unix socket bound at `path` (replacing a stale file), close-on-
// exec in gatewayd (the child gets its own copy as fd 0). -1 with the reason
// in `error`.
int listen_unix_socket(const std::string& path, std::string& error);

// A TCP port on 127.0.0.1 that was free a moment ago: bound to port 0, read
// back and closed. Between that close and the app's bind another process
// may take it; the app then fails to listen, which counts as a failed start
// and the next start gets a new port. 0 with the reason in `error`.
uint16_t pick_free_port(std::string& error);

}  // namespace gw
