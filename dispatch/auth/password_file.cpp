#include "dispatch/auth/password_file.h"

namespace gw::auth {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool has_control(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return true;
  }
  return false;
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Calls on_line(number, content) for each line that is neither blank nor a
// comment, and reports lines over the limit.
template <typename OnLine>
void for_each_line(std::string_view text, const PasswordFileLimits& limits, FileProblems& problems,
                   OnLine on_line) {
  size_t number = 0;
  while (!text.empty()) {
    ++number;
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (line.size() > limits.max_line_bytes) {
      problems.add(number, "longer than " + std::to_string(limits.max_line_bytes) + " bytes",
                   limits);
      continue;
    }
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    on_line(number, line);
  }
}

bool too_large(std::string_view text, const PasswordFileLimits& limits, std::string& error) {
  if (text.size() <= limits.max_file_bytes) return false;
  error = "larger than " + std::to_string(limits.max_file_bytes) + " bytes";
  return true;
}

}  // namespace

void FileProblems::add(size_t line, std::string what, const PasswordFileLimits& limits) {
  ++count;
  if (lines.size() < limits.max_problems) {
    lines.push_back("line " + std::to_string(line) + ": " + std::move(what));
  }
}

const std::string* HtpasswdFile::find(std::string_view user) const {
  auto it = hash_by_user.find(std::string(user));
  return it == hash_by_user.end() ? nullptr : &it->second;
}

const std::string* HtdigestFile::find(std::string_view user, std::string_view realm) const {
  std::string key(user);
  key.push_back('\0');
  key.append(realm);
  auto it = ha1_by_user_realm.find(key);
  return it == ha1_by_user_realm.end() ? nullptr : &it->second;
}

bool parse_htpasswd(std::string_view text, const PasswordFileLimits& limits, HtpasswdFile& out,
                    std::string& error) {
  out = HtpasswdFile{};
  if (too_large(text, limits, error)) return false;
  for_each_line(text, limits, out.problems, [&](size_t number, std::string_view line) {
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      out.problems.add(number, "no ':'", limits);
      return;
    }
    std::string_view user = line.substr(0, colon);
    std::string_view hash = line.substr(colon + 1);
    // Anything after a second ':' is not part of the hash (Apache reads it so).
    hash = hash.substr(0, hash.find(':'));
    if (user.empty()) {
      out.problems.add(number, "empty user name", limits);
      return;
    }
    if (has_control(user) || has_control(hash)) {
      out.problems.add(number, "control character", limits);
      return;
    }
    if (hash.empty()) {
      out.problems.add(number, "empty hash", limits);
      return;
    }
    if (!out.hash_by_user.emplace(std::string(user), std::string(hash)).second) {
      out.problems.add(number, "user already listed, first entry kept", limits);
    }
  });
  return true;
}

bool parse_htdigest(std::string_view text, const PasswordFileLimits& limits, HtdigestFile& out,
                    std::string& error) {
  out = HtdigestFile{};
  if (too_large(text, limits, error)) return false;
  for_each_line(text, limits, out.problems, [&](size_t number, std::string_view line) {
    // The realm may not hold ':' (htdigest refuses it), so the fields split
    // at the first two and the HA1 is what is left.
    size_t c1 = line.find(':');
    size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) {
      out.problems.add(number, "not user:realm:hash", limits);
      return;
    }
    std::string_view user = line.substr(0, c1);
    std::string_view realm = line.substr(c1 + 1, c2 - c1 - 1);
    std::string_view ha1 = line.substr(c2 + 1);
    if (user.empty() || has_control(user) || has_control(realm)) {
      out.problems.add(number, "bad user or realm", limits);
      return;
    }
    bool hex = ha1.size() == 32;
    for (char c : ha1) hex = hex && is_hex(c);
    if (!hex) {
      out.problems.add(number, "hash is not 32 hex digits", limits);
      return;
    }
    std::string key(user);
    key.push_back('\0');
    key.append(realm);
    std::string lower(ha1);
    for (char& c : lower) {
      if (c >= 'A' && c <= 'F') c = static_cast<char>(c + 32);
    }
    if (!out.ha1_by_user_realm.emplace(std::move(key), std::move(lower)).second) {
      out.problems.add(number, "user already listed for this realm, first entry kept", limits);
    }
  });
  return true;
}

}  // namespace gw::auth
