// A password file kept in memory and read again when it changes on disk:
// checked with stat() at most once a second; a different inode, device,
// size, mtime or ctime means re-read. A file that cannot be read, is not a
// regular file or is too large leaves the source in error (requests get a
// 500: authentication fails closed), never with the previous content.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dispatch/auth/password_file.h"

namespace gw::auth {

class PasswordSource {
 public:
  enum class Format { Htpasswd, Htdigest };
  PasswordSource(std::string path, Format format, PasswordFileLimits limits = {});

  // Brings the content up to date (at most one stat per second of now_ms)
  // and appends to `log` what is worth a log line: the file was (re)loaded
  // with its problems, or cannot be used.
  void refresh(uint64_t now_ms, std::vector<std::string>& log);

  // Empty when usable; otherwise why not (path and reason).
  const std::string& error() const { return error_; }
  // The content; null before the first successful load or in error.
  std::shared_ptr<const HtpasswdFile> htpasswd() const { return htpasswd_; }
  std::shared_ptr<const HtdigestFile> htdigest() const { return htdigest_; }
  uint64_t generation() const { return generation_; }  // bumped by every load

 private:
  struct Identity {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool operator==(const Identity&) const = default;
  };
  void load(std::vector<std::string>& log);
  void fail(std::string why, std::vector<std::string>& log);

  std::string path_;
  Format format_;
  PasswordFileLimits limits_;
  bool checked_ = false;
  uint64_t last_check_ms_ = 0;
  Identity identity_;
  std::string error_;
  std::shared_ptr<const HtpasswdFile> htpasswd_;
  std::shared_ptr<const HtdigestFile> htdigest_;
  uint64_t generation_ = 0;
};

}  // namespace gw::auth
