#include "dispatch/backends/static_files.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include "dispatch/backends/mime.h"
#include "protocols/path.h"

// A file body goes to the sink in one of two ways. When the sink can send
// files (ResponseSink::can_send_file: a plain HTTP/1.1 listener without TLS
// and a Content-Length body) it gets the descriptor with on_file() and the
// bytes go from the file to the socket with sendfile(2), with no copy through
// user space. Otherwise (TLS, and the FastCGI, SCGI and AJP13 framings, which
// wrap every piece of body in records or packets) the body is read with
// pread() into a user-space buffer and handed to the sink piece by piece.

namespace gw {

namespace {

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

namespace static_files {

namespace {

constexpr const char* kDayNames[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonthNames[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Exactly `width` decimal digits at s[pos...].
std::optional<int> fixed_number(std::string_view s, size_t pos, size_t width) {
  int value = 0;
  for (size_t i = pos; i < pos + width; ++i) {
    if (!is_digit(s[i])) return std::nullopt;
    value = value * 10 + (s[i] - '0');
  }
  return value;
}

template <size_t N>
int name_index(std::string_view name, const char* const (&names)[N]) {
  for (size_t i = 0; i < N; ++i) {
    if (name == names[i]) return static_cast<int>(i);
  }
  return -1;
}

// A non-empty run of digits, saturating at UINT64_MAX (a huge position is
// still a position, just beyond every file).
std::optional<uint64_t> parse_u64(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t value = 0;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    uint64_t d = static_cast<uint64_t>(c - '0');
    value = value > (kMax - d) / 10 ? kMax : value * 10 + d;
  }
  return value;
}

RangeResult parse_one_range(std::string_view spec, uint64_t size) {
  using Kind = RangeResult::Kind;
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return {};
  if (dash == 0) {  // suffix-range: the last n bytes
    auto n = parse_u64(spec.substr(1));
    if (!n) return {};
    if (*n == 0 || size == 0) return {Kind::Unsatisfiable};
    return {Kind::Single, *n >= size ? 0 : size - *n, size - 1};
  }
  auto first = parse_u64(spec.substr(0, dash));
  if (!first) return {};
  uint64_t last = std::numeric_limits<uint64_t>::max();
  if (dash + 1 < spec.size()) {
    auto parsed = parse_u64(spec.substr(dash + 1));
    if (!parsed || *parsed < *first) return {};  // invalid: ignored
    last = *parsed;
  }
  if (*first >= size) return {Kind::Unsatisfiable};
  return {Kind::Single, *first, std::min(last, size - 1)};
}

}  // namespace

std::string format_http_date(time_t t) {
  struct tm tm {};
  if (gmtime_r(&t, &tm) == nullptr || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) return {};
  // "Sun, 06 Nov 1994 08:49:37 GMT", digit by digit: snprintf cost more than
  // the rest of a small file's answer. Names from our own tables, not
  // strftime's %a/%b, which follow the locale.
  auto digits = [](char* at, int value, int width) {
    for (int i = width - 1; i >= 0; --i, value /= 10) at[i] = static_cast<char>('0' + value % 10);
  };
  char buf[29];
  std::memcpy(buf, kDayNames[tm.tm_wday], 3);
  std::memcpy(buf + 3, ", ", 2);
  digits(buf + 5, tm.tm_mday, 2);
  buf[7] = ' ';
  std::memcpy(buf + 8, kMonthNames[tm.tm_mon], 3);
  buf[11] = ' ';
  digits(buf + 12, tm.tm_year + 1900, 4);
  buf[16] = ' ';
  digits(buf + 17, tm.tm_hour, 2);
  buf[19] = ':';
  digits(buf + 20, tm.tm_min, 2);
  buf[22] = ':';
  digits(buf + 23, tm.tm_sec, 2);
  std::memcpy(buf + 25, " GMT", 4);
  return std::string(buf, sizeof buf);
}

std::optional<time_t> parse_http_date(std::string_view s) {
  // "Sun, 06 Nov 1994 08:49:37 GMT": every field at a fixed offset.
  if (s.size() != 29 || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT") {
    return std::nullopt;
  }
  if (name_index(s.substr(0, 3), kDayNames) < 0) return std::nullopt;
  int month = name_index(s.substr(8, 3), kMonthNames);
  auto day = fixed_number(s, 5, 2);
  auto year = fixed_number(s, 12, 4);
  auto hour = fixed_number(s, 17, 2);
  auto minute = fixed_number(s, 20, 2);
  auto second = fixed_number(s, 23, 2);
  if (month < 0 || !day || !year || !hour || !minute || !second) return std::nullopt;
  if (*day < 1 || *day > 31 || *hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
  struct tm tm {};
  tm.tm_year = *year - 1900;
  tm.tm_mon = month;
  tm.tm_mday = *day;
  tm.tm_hour = *hour;
  tm.tm_min = *minute;
  tm.tm_sec = *second;
  return timegm(&tm);
}

bool etag_list_matches(std::string_view list, std::string_view etag) {
  if (etag.starts_with("W/")) etag.remove_prefix(2);
  size_t i = 0;
  while (true) {
    while (i < list.size() && (list[i] == ' ' || list[i] == '\t' || list[i] == ',')) ++i;
    if (i == list.size()) return false;
    if (list[i] == '*') return true;
    if (list.substr(i, 2) == "W/") i += 2;  // weak comparison ignores the flag
    if (i >= list.size() || list[i] != '"') return false;
    size_t close = list.find('"', i + 1);
    if (close == std::string_view::npos) return false;
    if (list.substr(i, close - i + 1) == etag) return true;
    i = close + 1;
  }
}

RangeResult parse_range(std::string_view header, uint64_t size) {
  header = trim_ows(header);
  size_t eq = header.find('=');
  if (eq == std::string_view::npos || !iequals(trim_ows(header.substr(0, eq)), "bytes")) return {};
  // 1#range-spec: empty list elements are allowed and skipped.
  std::string_view set = header.substr(eq + 1);
  std::string_view only;
  size_t count = 0;
  while (true) {
    size_t comma = set.find(',');
    std::string_view element = trim_ows(set.substr(0, comma));
    if (!element.empty()) {
      only = element;
      ++count;
    }
    if (comma == std::string_view::npos) break;
    set.remove_prefix(comma + 1);
  }
  // Several ranges would need multipart/byteranges; the whole file is an
  // allowed answer and what clients handle best.
  if (count != 1) return {};
  return parse_one_range(only, size);
}

}  // namespace static_files

namespace {

using static_files::RangeResult;

constexpr size_t kReadBytes = 64 * 1024;

// Owns one file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  explicit operator bool() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

std::string errno_text(int err) {
  return std::strerror(err);
}

// One response in progress. A small text body (error pages, redirects) is
// held in memory; a file body is read piece by piece from `fd_` and only
// while the sink is not congested.
class StaticExchange : public Exchange {
 public:
  explicit StaticExchange(ResponseSink& sink) : sink_(sink) {}

  ResponseSink& sink() { return sink_; }

  // A complete response with a short text/plain body ("404 Not Found").
  void respond_text(int status, std::vector<Header> extra, bool head_only) {
    ResponseHead head;
    head.status = status;
    head.headers = std::move(extra);
    text_ = std::to_string(status) + " " + std::string(reason_phrase(status)) + "\n";
    head.headers.push_back({"Content-Type", "text/plain; charset=utf-8"});
    head.headers.push_back({"Content-Length", std::to_string(text_.size())});
    begin(std::move(head), head_only ? 0 : text_.size());
  }

  // A response without a body at all (304).
  void respond_empty(ResponseHead head) { begin(std::move(head), 0); }

  // `length` bytes of `fd` from `offset`.
  void respond_file(ResponseHead head, Fd fd, uint64_t offset, uint64_t length, bool head_only) {
    if (!head_only && length > 0) {
      fd_ = std::move(fd);
      offset_ = offset;
    }
    begin(std::move(head), head_only ? 0 : length);
  }

  void fail(int status, std::string_view why) {
    finish();
    sink_.on_error(status, why);
  }

  void send_body(std::string_view) override {}  // request bodies are ignored
  void finish_body() override {}
  void resume_response() override { pump(); }
  void cancel() override { finish(); }

 private:
  void begin(ResponseHead head, uint64_t body_length) {
    remaining_ = body_length;
    writing_ = true;
    sink_.on_head(std::move(head));
    pump();
  }

  // Releases the file and the buffer; the sink is not called again.
  void finish() {
    writing_ = false;
    fd_.reset();
    buffer_ = std::string();
    text_ = std::string();
  }

  void pump() {
    if (!writing_ || pumping_) return;
    pumping_ = true;
    while (writing_ && remaining_ > 0 && !sink_.congested()) {
      if (!fd_) {  // the in-memory text body, small enough for one piece
        remaining_ = 0;
        sink_.on_body(text_);
        continue;
      }
      if (sink_.can_send_file()) {
        // The sink sends the rest from the file to the socket itself.
        const uint64_t length = remaining_;
        remaining_ = 0;
        sink_.on_file(fd_.release(), offset_, length);
        continue;
      }
      size_t want = remaining_ < kReadBytes ? static_cast<size_t>(remaining_) : kReadBytes;
      // Only as large as this read: a small file must not pay for a 64 KiB fill.
      if (buffer_.size() < want) buffer_.resize(want);
      ssize_t n = ::pread(fd_.get(), buffer_.data(), want, static_cast<off_t>(offset_));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int err = errno;
        pumping_ = false;
        fail(500, n < 0 ? "static: pread: " + errno_text(err)
                        : std::string("static: file shrank while being served"));
        return;
      }
      offset_ += static_cast<uint64_t>(n);
      remaining_ -= static_cast<uint64_t>(n);
      sink_.on_body(std::string_view(buffer_.data(), static_cast<size_t>(n)));
    }
    pumping_ = false;
    // cancel() may have come from inside on_body(): then writing_ is false.
    if (writing_ && remaining_ == 0) {
      finish();
      sink_.on_end();
    }
  }

  ResponseSink& sink_;
  Fd fd_;
  uint64_t offset_ = 0;
  uint64_t remaining_ = 0;
  std::string buffer_;
  std::string text_;
  bool writing_ = false;
  bool pumping_ = false;
};

// --- Resolving a path safely -------------------------------------------------

struct Lookup {
  enum class Kind { File, Directory, NotFound, Forbidden, Outside, Error } kind = Kind::NotFound;
  std::string resolved;  // realpath of the file or directory
  Fd fd;                 // File only
  struct stat st {};     // File only
  int error = 0;         // Error only
};

Lookup::Kind kind_for_errno(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ELOOP:
    case ENAMETOOLONG:
      return Lookup::Kind::NotFound;
    case EACCES:
    case EPERM:
      return Lookup::Kind::Forbidden;
    default:
      return Lookup::Kind::Error;
  }
}

Lookup failed(int err) {
  Lookup l;
  l.kind = kind_for_errno(err);
  l.error = err;
  return l;
}

std::optional<std::string> real_path(const std::string& path) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (resolved == nullptr) return std::nullopt;
  std::string out(resolved);
  std::free(resolved);
  return out;
}

bool inside_root(std::string_view root_real, std::string_view path) {
  if (root_real == "/") return path.starts_with('/');
  return path == root_real || (path.starts_with(root_real) && path.size() > root_real.size() &&
                               path[root_real.size()] == '/');
}

bool inside_any(const std::vector<std::string>& roots_real, std::string_view path) {
  for (const auto& root : roots_real) {
    if (inside_root(root, path)) return true;
  }
  return false;
}

// Where the kernel says an open descriptor leads. nullopt when /proc is not
// mounted (then the realpath() check before the open stands alone).
std::optional<std::string> fd_path(int fd) {
  // On the stack: this runs for every file served, and a zero-filled 4 KiB
  // string cost more than the readlink.
  char link[32] = "/proc/self/fd/";
  constexpr size_t kPrefix = sizeof "/proc/self/fd/" - 1;
  *std::to_chars(link + kPrefix, link + sizeof link - 1, fd).ptr = '\0';
  char target[4096];
  ssize_t n = ::readlink(link, target, sizeof target);
  if (n < 0 || static_cast<size_t>(n) >= sizeof target) return std::nullopt;
  return std::string(target, static_cast<size_t>(n));
}

// Resolves `candidate` (a root + a normalised path) and opens it if it is
// a regular file inside one of the roots (each already a realpath).
Lookup look_up(const std::vector<std::string>& roots_real, const std::string& candidate) {
  auto resolved = real_path(candidate);
  if (!resolved) return failed(errno);
  Lookup l;
  if (!inside_any(roots_real, *resolved)) {
    l.kind = Lookup::Kind::Outside;
    l.resolved = std::move(*resolved);
    return l;
  }
  struct stat st {};
  if (::stat(resolved->c_str(), &st) != 0) return failed(errno);
  if (S_ISDIR(st.st_mode)) {
    l.kind = Lookup::Kind::Directory;
    l.resolved = std::move(*resolved);
    return l;
  }
  if (!S_ISREG(st.st_mode)) return l;  // FIFOs, sockets, devices: NotFound
  // O_NOFOLLOW: the last component was just resolved; if it is a symlink
  // now, something changed under us. O_NONBLOCK: never hang on a FIFO that
  // replaced the file. The /proc check below covers the other components.
  int fd = ::open(resolved->c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return failed(errno);
  l.fd = Fd(fd);
  if (::fstat(fd, &l.st) != 0) return failed(errno);
  if (!S_ISREG(l.st.st_mode)) return Lookup{};
  auto opened = fd_path(fd);
  if (opened && !inside_any(roots_real, *opened)) {
    l.fd.reset();
    l.kind = Lookup::Kind::Outside;
    l.resolved = std::move(*opened);
    return l;
  }
  l.kind = Lookup::Kind::File;
  l.resolved = std::move(*resolved);
  return l;
}

// --- Building the response ---------------------------------------------------

std::string hex(uint64_t v) {
  char buf[16];  // 64 bits are 16 hex digits
  auto end = std::to_chars(buf, buf + sizeof buf, v, 16).ptr;
  return std::string(buf, end);
}

std::string etag_for(const struct stat& st) {
  uint64_t mtime_ns = static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000ULL +
                      static_cast<uint64_t>(st.st_mtim.tv_nsec);
  return "\"" + hex(mtime_ns) + "-" + hex(static_cast<uint64_t>(st.st_size)) + "\"";
}

// All values of a list header, joined (a header may be sent several times).
std::optional<std::string> joined_header(const Request& r, std::string_view name) {
  std::optional<std::string> out;
  for (const auto& h : r.headers) {
    if (!iequals(h.name, name)) continue;
    if (out) {
      out->append(", ");
      out->append(h.value);
    } else {
      out = h.value;
    }
  }
  return out;
}

bool not_modified(const Request& r, const std::string& etag, time_t mtime) {
  // If-None-Match wins: If-Modified-Since is only looked at without it.
  if (auto inm = joined_header(r, "If-None-Match")) {
    return static_files::etag_list_matches(*inm, etag);
  }
  if (const std::string* ims = r.header("If-Modified-Since")) {
    auto since = static_files::parse_http_date(*ims);
    return since && mtime <= *since;
  }
  return false;
}

// If-Range: the range applies only to the representation the client holds.
// An entity tag must match strongly (a weak one, "W/...", never does), a
// date exactly.
bool if_range_holds(const Request& r, const std::string& etag, time_t mtime) {
  const std::string* value = r.header("If-Range");
  if (value == nullptr) return true;
  std::string_view v = trim_ows(*value);
  if (v.starts_with('"')) return v == etag;
  auto date = static_files::parse_http_date(v);
  return date && *date == mtime;
}

bool is_head(const Request& r) {
  return r.method == "HEAD";
}

// The query is raw client bytes: anything but visible ASCII is escaped so
// the Location header can never carry a control character.
void append_query(std::string& out, std::string_view query) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : query) {
    if (c > 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
}

// "/prefix/dir/" (+ "?query"). Exactly one leading slash: "//host/..." would
// be read by a browser as a link to another site.
std::string redirect_location(const Request& r, const std::string& normalized) {
  std::string_view prefix = r.script_name;
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  while (prefix.starts_with("//")) prefix.remove_prefix(1);
  std::string location = percent_encode_path(std::string(prefix) + normalized + "/");
  if (!r.query.empty()) {
    location.push_back('?');
    append_query(location, r.query);
  }
  return location;
}

// What a caller adds to a file answer (ChosenFile's status and headers).
struct FileExtras {
  int status = 200;
  std::vector<Header> headers;
};

// `extras` without its Content-Type, which a text answer (416) or a 304
// must not carry over.
std::vector<Header> without_content_type(const std::vector<Header>& headers) {
  std::vector<Header> out;
  for (const auto& h : headers) {
    if (!iequals(h.name, "Content-Type")) out.push_back(h);
  }
  return out;
}

void append(std::vector<Header>& to, std::vector<Header> more) {
  for (auto& h : more) to.push_back(std::move(h));
}

void serve_file(const Request& r, StaticExchange& ex, Lookup& file, std::string_view name,
                const FileExtras& extras = {}) {
  const struct stat& st = file.st;
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const time_t mtime = st.st_mtim.tv_sec;
  const std::string* given_type = nullptr;
  for (const auto& h : extras.headers) {
    if (iequals(h.name, "Content-Type")) given_type = &h.value;
  }
  const std::string content_type = given_type ? *given_type : std::string(mime_type_for(name));
  if (extras.status != 200) {
    // Not a representation of the file but the body of another answer (an
    // error page): no validators, no ranges.
    ResponseHead head;
    head.status = extras.status;
    head.headers.push_back({"Content-Type", content_type});
    head.headers.push_back({"Content-Length", std::to_string(size)});
    append(head.headers, without_content_type(extras.headers));
    ex.respond_file(std::move(head), std::move(file.fd), 0, size, is_head(r));
    return;
  }
  const std::string etag = etag_for(st);
  std::vector<Header> validators = {{"ETag", etag}};
  std::string last_modified = static_files::format_http_date(mtime);
  if (!last_modified.empty()) validators.push_back({"Last-Modified", last_modified});

  if (not_modified(r, etag, mtime)) {
    ResponseHead head;
    head.status = 304;
    head.headers = std::move(validators);
    append(head.headers, without_content_type(extras.headers));
    ex.respond_empty(std::move(head));
    return;
  }
  RangeResult range;
  // RFC 9110 14.2: range handling is defined for GET only.
  const std::string* range_header = r.header("Range");
  if (r.method == "GET" && range_header != nullptr && if_range_holds(r, etag, mtime)) {
    range = static_files::parse_range(*range_header, size);
  }
  if (range.kind == RangeResult::Kind::Unsatisfiable) {
    validators.push_back({"Accept-Ranges", "bytes"});
    validators.push_back({"Content-Range", "bytes */" + std::to_string(size)});
    append(validators, without_content_type(extras.headers));
    ex.respond_text(416, std::move(validators), false);
    return;
  }
  uint64_t offset = 0;
  uint64_t length = size;
  ResponseHead head;
  // One allocation, not four: six fields at most, the extras, and the Date
  // and Server an HTTP listener adds.
  head.headers.reserve(8 + extras.headers.size());
  head.status = 200;
  head.headers.push_back({"Content-Type", content_type});
  if (range.kind == RangeResult::Kind::Single) {
    head.status = 206;
    offset = range.first;
    length = range.last - range.first + 1;
    head.headers.push_back({"Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                                 std::to_string(range.last) + "/" +
                                                 std::to_string(size)});
  }
  head.headers.push_back({"Content-Length", std::to_string(length)});
  head.headers.push_back({"Accept-Ranges", "bytes"});
  append(head.headers, std::move(validators));
  append(head.headers, without_content_type(extras.headers));
  ex.respond_file(std::move(head), std::move(file.fd), offset, length, is_head(r));
}

void log_outside(StaticExchange& ex, std::string_view path, const std::string& target) {
  ex.sink().log_error("static: " + std::string(path) + " leads outside the root, to " + target);
}

// Answers a lookup that found no servable file.
void respond_failure(const Request& r, StaticExchange& ex, const Lookup& l, std::string_view path) {
  switch (l.kind) {
    case Lookup::Kind::Forbidden:
      ex.respond_text(403, {}, is_head(r));
      return;
    case Lookup::Kind::Error:
      ex.fail(500, "static: " + std::string(path) + ": " + errno_text(l.error));
      return;
    case Lookup::Kind::Outside:
      log_outside(ex, path, l.resolved);
      break;
    default:
      break;
  }
  ex.respond_text(404, {}, is_head(r));
}

void serve_directory(const Request& r, StaticExchange& ex, const std::string& root_real,
                     const Lookup& dir, const std::vector<std::string>& index) {
  for (const auto& name : index) {
    std::string path = dir.resolved + "/" + name;
    Lookup l = look_up({root_real}, path);
    if (l.kind == Lookup::Kind::File) {
      serve_file(r, ex, l, name);
      return;
    }
    if (l.kind == Lookup::Kind::Forbidden || l.kind == Lookup::Kind::Error) {
      respond_failure(r, ex, l, path);
      return;
    }
    if (l.kind == Lookup::Kind::Outside) log_outside(ex, path, l.resolved);
  }
  ex.respond_text(404, {}, is_head(r));  // no index file; listings are never made
}

// The common case in a few system calls: `relative` (a normalised path
// without its leading '/') opened beneath `root` by the kernel, which refuses
// any step that would leave it (RESOLVE_BENEATH: "..", absolute symlinks,
// symlinks out of it) and magic links. Only a regular file is taken; for
// anything else (a directory, a missing file, a symlink the kernel will not
// follow beneath the root, a kernel without openat2) nullopt, and the caller
// asks look_up, whose realpath() walk costs a readlink per path component.
// (A device node inside a root would be opened before fstat() turns it
// down; making one takes root privileges, and O_NOCTTY keeps a terminal from
// becoming ours.)
std::optional<Lookup> open_beneath(const std::string& root, std::string_view relative) {
#ifdef SYS_openat2
  if (relative.empty()) return std::nullopt;
  int dir = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return std::nullopt;
  Fd dir_fd(dir);
  struct open_how how {};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  std::string rel(relative);
  long fd = ::syscall(SYS_openat2, dir, rel.c_str(), &how, sizeof how);
  if (fd < 0) return std::nullopt;
  Lookup l;
  l.fd = Fd(static_cast<int>(fd));
  if (::fstat(static_cast<int>(fd), &l.st) != 0 || !S_ISREG(l.st.st_mode)) return std::nullopt;
  l.kind = Lookup::Kind::File;
  return l;
#else
  (void)root;
  (void)relative;
  return std::nullopt;
#endif
}

void serve(const std::string& root, const std::vector<std::string>& index, const Request& r,
           StaticExchange& ex) {
  if (r.method != "GET" && r.method != "HEAD") {
    ex.respond_text(405, {{"Allow", "GET, HEAD"}}, false);
    return;
  }
  std::string_view path = r.path_info.empty() ? std::string_view("/") : r.path_info;
  // A NUL would cut the path short at the system call.
  auto normalized = path.find('\0') == std::string_view::npos ? normalize_path(path) : std::nullopt;
  if (!normalized) {
    ex.respond_text(404, {}, is_head(r));
    return;
  }
  if (auto fast = open_beneath(root, std::string_view(*normalized).substr(1))) {
    serve_file(r, ex, *fast, *normalized);
    return;
  }
  auto root_real = real_path(root);
  if (!root_real) {
    int err = errno;
    ex.fail(500, "static: root " + root + ": " + errno_text(err));
    return;
  }
  Lookup l = look_up({*root_real}, *root_real + *normalized);
  if (l.kind == Lookup::Kind::File) {
    serve_file(r, ex, l, *normalized);
  } else if (l.kind != Lookup::Kind::Directory) {
    respond_failure(r, ex, l, *normalized);
  } else if (!normalized->ends_with('/')) {
    ex.respond_text(301, {{"Location", redirect_location(r, *normalized)}}, is_head(r));
  } else {
    serve_directory(r, ex, *root_real, l, index);
  }
}

// The chosen file: every way of not serving it is a 404 with the reason in
// the log only (403 and 500 as for the static backend), so a client cannot
// probe which paths exist outside the allowed directories.
void serve_chosen(const Request& r, StaticExchange& ex, const static_files::ChosenFile& file) {
  const std::string& tag = file.log_tag;
  auto refuse = [&](const std::string& why) {
    ex.sink().log_error(tag + ": " + why);
    ex.respond_text(404, {}, is_head(r));
  };
  if (file.path.find('\0') != std::string::npos) return refuse("path with a NUL byte refused");
  auto normalized = normalize_path(file.path);
  if (!normalized) return refuse("'" + file.path + "' is not an absolute path inside '/'");
  std::vector<std::string> roots;
  for (const auto& dir : file.allowed_dirs) {
    if (auto real = real_path(dir)) roots.push_back(std::move(*real));
  }
  Lookup l = look_up(roots, *normalized);
  switch (l.kind) {
    case Lookup::Kind::File: {
      FileExtras extras{file.status, file.headers};
      serve_file(r, ex, l, *normalized, extras);
      return;
    }
    case Lookup::Kind::Outside:
      return refuse(*normalized + " leads outside the allowed directories, to " + l.resolved);
    case Lookup::Kind::Directory:
      return refuse(*normalized + " is a directory");
    case Lookup::Kind::Forbidden:
      ex.sink().log_error(tag + ": " + *normalized + ": " + errno_text(l.error));
      ex.respond_text(403, {}, is_head(r));
      return;
    case Lookup::Kind::Error:
      ex.fail(500, tag + ": " + *normalized + ": " + errno_text(l.error));
      return;
    case Lookup::Kind::NotFound:
      return refuse(*normalized + ": " +
                    (l.error != 0 ? errno_text(l.error) : std::string("not a regular file")));
  }
}

}  // namespace

namespace static_files {

std::unique_ptr<Exchange> serve_chosen_file(const Request& request, ResponseSink& sink,
                                            const ChosenFile& file) {
  auto exchange = std::make_unique<StaticExchange>(sink);
  serve_chosen(request, *exchange, file);
  return exchange;
}

std::unique_ptr<Exchange> respond_status(const Request& request, ResponseSink& sink, int status) {
  auto exchange = std::make_unique<StaticExchange>(sink);
  exchange->respond_text(status, {}, is_head(request));
  return exchange;
}

}  // namespace static_files

StaticBackend::StaticBackend(std::string root, std::vector<std::string> index)
    : root_(std::move(root)), index_(std::move(index)) {}

std::unique_ptr<Exchange> StaticBackend::start(const Request& request, ResponseSink& sink) {
  auto exchange = std::make_unique<StaticExchange>(sink);
  serve(root_, index_, request, *exchange);
  return exchange;
}

}  // namespace gw
