#include "dispatch/auth/password_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gw::auth {

namespace {

constexpr uint64_t kCheckIntervalMs = 1000;

int64_t nanoseconds(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string errno_text(int err) {
  return std::strerror(err);
}

}  // namespace

PasswordSource::PasswordSource(std::string path, Format format, PasswordFileLimits limits)
    : path_(std::move(path)), format_(format), limits_(limits) {}

void PasswordSource::refresh(uint64_t now_ms, std::vector<std::string>& log) {
  if (checked_ && now_ms - last_check_ms_ < kCheckIntervalMs && now_ms >= last_check_ms_) return;
  checked_ = true;
  last_check_ms_ = now_ms;
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    fail("cannot read " + path_ + ": " + errno_text(errno), log);
    return;
  }
  Identity id{st.st_dev, st.st_ino, st.st_size, nanoseconds(st.st_mtim), nanoseconds(st.st_ctim)};
  if (error_.empty() && generation_ != 0 && id == identity_) return;
  load(log);
}

void PasswordSource::fail(std::string why, std::vector<std::string>& log) {
  // Logged once per change of state, not once per request.
  if (why != error_) log.push_back(why);
  error_ = std::move(why);
  htpasswd_.reset();
  htdigest_.reset();
  identity_ = Identity{};
}

void PasswordSource::load(std::vector<std::string>& log) {
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    fail("cannot read " + path_ + ": " + errno_text(errno), log);
    return;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail("cannot read " + path_ + ": " + errno_text(err), log);
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("cannot use " + path_ + ": not a regular file", log);
    return;
  }
  if (static_cast<uint64_t>(st.st_size) > limits_.max_file_bytes) {
    ::close(fd);
    fail("cannot use " + path_ + ": larger than " + std::to_string(limits_.max_file_bytes) +
             " bytes",
         log);
    return;
  }
  // Read at most one byte past the limit: the file may grow after fstat.
  std::string text;
  text.resize(static_cast<size_t>(st.st_size) + 1);
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      fail("cannot read " + path_ + ": " + errno_text(err), log);
      return;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
    if (got == text.size() && text.size() <= limits_.max_file_bytes) {
      text.resize(std::min(text.size() * 2, limits_.max_file_bytes + 1));
    }
  }
  ::close(fd);
  text.resize(got);

  std::string why;
  const FileProblems* problems = nullptr;
  if (format_ == Format::Htpasswd) {
    auto parsed = std::make_shared<HtpasswdFile>();
    if (!parse_htpasswd(text, limits_, *parsed, why)) {
      fail("cannot use " + path_ + ": " + why, log);
      return;
    }
    problems = &parsed->problems;
    htpasswd_ = std::move(parsed);
  } else {
    auto parsed = std::make_shared<HtdigestFile>();
    if (!parse_htdigest(text, limits_, *parsed, why)) {
      fail("cannot use " + path_ + ": " + why, log);
      return;
    }
    problems = &parsed->problems;
    htdigest_ = std::move(parsed);
  }
  error_.clear();
  identity_ =
      Identity{st.st_dev, st.st_ino, st.st_size, nanoseconds(st.st_mtim), nanoseconds(st.st_ctim)};
  ++generation_;
  // The first load is what the admin configured: only changes and problems are news.
  if (generation_ > 1 || problems->count > 0) {
    std::string line = (generation_ == 1 ? "loaded " : "reloaded ") + path_;
    if (problems->count > 0) line += " (" + std::to_string(problems->count) + " lines skipped)";
    log.push_back(std::move(line));
  }
  for (const auto& p : problems->lines) log.push_back(path_ + ": " + p);
}

}  // namespace gw::auth
