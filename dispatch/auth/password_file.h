// Parsers for the two password file formats: htpasswd ("user:hash") and
// htdigest ("user:realm:HA1"). Pure: the text in, entries and a list of
// problems out. Lines may end in LF or CRLF; blank lines and lines starting
// with '#' are skipped; surrounding whitespace is ignored, as Apache does.
// A malformed line is skipped and reported; the first entry of a user wins.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gw::auth {

struct PasswordFileLimits {
  size_t max_file_bytes = 8 * 1024 * 1024;  // a larger file is refused whole
  size_t max_line_bytes = 4096;             // a longer line is skipped
  size_t max_problems = 20;                 // reported, beyond that only counted
};

struct FileProblems {
  std::vector<std::string> lines;  // "line 3: no ':'" (never a hash or password)
  size_t count = 0;
  void add(size_t line, std::string what, const PasswordFileLimits& limits);
};

struct HtpasswdFile {
  std::unordered_map<std::string, std::string> hash_by_user;
  FileProblems problems;
  // The hash of `user`, or nullptr.
  const std::string* find(std::string_view user) const;
};

struct HtdigestFile {
  // Key: user + '\0' + realm; value: HA1 as 32 lowercase hex digits.
  std::unordered_map<std::string, std::string> ha1_by_user_realm;
  FileProblems problems;
  const std::string* find(std::string_view user, std::string_view realm) const;
};

// False (with `error` set) only for a file over max_file_bytes.
bool parse_htpasswd(std::string_view text, const PasswordFileLimits& limits, HtpasswdFile& out,
                    std::string& error);
bool parse_htdigest(std::string_view text, const PasswordFileLimits& limits, HtdigestFile& out,
                    std::string& error);

}  // namespace gw::auth
