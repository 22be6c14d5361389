// Access-log format parsing and line rendering (see access_log_format.h).
#include "gateway/access_log_format.h"

#include <cstdio>
#include <ctime>

#include "gateway/config.h"

namespace gw {

namespace {

// The value, or "-" when it is empty (as the Common Log Format writes a
// missing field).
void append_or_dash(std::string_view value, std::string& out) {
  if (value.empty()) {
    out += '-';
  } else {
    append_log_escaped(value, out);
  }
}

void append_time(const timespec& at, std::string& out) {
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  struct tm tm {};
  time_t seconds = at.tv_sec;
  localtime_r(&seconds, &tm);
  long offset = tm.tm_gmtoff / 60;  // minutes east of UTC
  char sign = offset < 0 ? '-' : '+';
  if (offset < 0) offset = -offset;
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "[%02d/%s/%04d:%02d:%02d:%02d %c%02ld%02ld]", tm.tm_mday,
                        kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                        tm.tm_sec, sign, offset / 60, offset % 60);
  if (n > 0) out.append(buf, static_cast<size_t>(n) < sizeof buf ? n : sizeof buf - 1);
}

// Nanoseconds between two monotonic stamps as ms, or "-" when either is missing.
void append_span_ms(uint64_t from, uint64_t to, std::string& out) {
  if (from == 0 || to == 0 || to < from) {
    out += '-';
  } else {
    out += format_ms(to - from);
  }
}

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

}  // namespace

std::string format_ms(uint64_t ns) {
  uint64_t micros = ns / 1000;
  char buf[32];
  int n =
      std::snprintf(buf, sizeof buf, "%llu.%03llu", static_cast<unsigned long long>(micros / 1000),
                    static_cast<unsigned long long>(micros % 1000));
  return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

void append_log_escaped(std::string_view value, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\v':
        out += "\\v";
        break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

AccessLogFormat::AccessLogFormat() {
  std::string error;
  parse(kDefaultAccessLogFormat, *this, error);
}

bool AccessLogFormat::parse(std::string_view format, AccessLogFormat& out, std::string& error) {
  if (format.empty()) format = kDefaultAccessLogFormat;
  std::vector<Piece> pieces;
  auto literal = [&pieces](std::string_view text) {
    if (pieces.empty() || pieces.back().item != Item::Literal) {
      pieces.push_back({Item::Literal, ""});
    }
    pieces.back().literal += text;
  };
  size_t i = 0;
  while (i < format.size()) {
    size_t pct = format.find('%', i);
    if (pct == std::string_view::npos) {
      literal(format.substr(i));
      break;
    }
    if (pct > i) literal(format.substr(i, pct - i));
    size_t at = pct + 1;
    if (at >= format.size()) {
      error = "a lone '%' at the end (write %% for a percent sign)";
      return false;
    }
    std::string_view arg;
    bool has_arg = false;
    if (format[at] == '{') {
      size_t close = format.find('}', at);
      if (close == std::string_view::npos) {
        error = "'%{' without its '}'";
        return false;
      }
      arg = format.substr(at + 1, close - at - 1);
      has_arg = true;
      at = close + 1;
    } else if (format[at] == '>' || format[at] == '<') {
      ++at;  // %>s, %<s: gatewayd has one status per request
    }
    if (at >= format.size()) {
      error = "'" + std::string(format.substr(pct)) + "' has no directive letter";
      return false;
    }
    char letter = format[at];
    std::string directive(format.substr(pct, at + 1 - pct));
    i = at + 1;
    if (letter == '%' && !has_arg && at == pct + 1) {
      literal("%");
      continue;
    }
    Item item = Item::Literal;
    if (has_arg) {
      if (letter == 'i') {
        if (iequals(arg, "Referer")) {
          item = Item::Referer;
        } else if (iequals(arg, "User-Agent")) {
          item = Item::UserAgent;
        } else {
          error = directive + ": only the Referer and User-Agent headers are recorded";
          return false;
        }
      } else if (letter == 'g') {
        static const struct {
          std::string_view name;
          Item item;
        } kOwn[] = {{"project", Item::Project},      {"protocol", Item::FrontProtocol},
                    {"listener", Item::Listener},    {"backend", Item::Backend},
                    {"backend_ms", Item::BackendMs}, {"first_byte_ms", Item::FirstByteMs},
                    {"total_ms", Item::TotalMs},     {"aborted", Item::Aborted}};
        for (const auto& own : kOwn) {
          if (own.name == arg) item = own.item;
        }
        if (item == Item::Literal) {
          error = directive +
                  ": unknown; %{NAME}g takes project, protocol, listener, backend, backend_ms, "
                  "first_byte_ms, total_ms or aborted";
          return false;
        }
      } else {
        error = directive + ": unknown directive (%{...} goes with i or g)";
        return false;
      }
    } else {
      switch (letter) {
        case 'h':
        case 'a':
          item = Item::RemoteAddr;
          break;
        case 'l':
          item = Item::Ident;
          break;
        case 'u':
          item = Item::RemoteUser;
          break;
        case 't':
          item = Item::Time;
          break;
        case 'r':
          item = Item::RequestLine;
          break;
        case 'm':
          item = Item::Method;
          break;
        case 'U':
          item = Item::Path;
          break;
        case 'q':
          item = Item::Query;
          break;
        case 'H':
          item = Item::Protocol;
          break;
        case 's':
          item = Item::Status;
          break;
        case 'b':
          item = Item::BytesClf;
          break;
        case 'B':
          item = Item::Bytes;
          break;
        case 'I':
          item = Item::BytesIn;
          break;
        case 'O':
          item = Item::BytesOut;
          break;
        case 'D':
          item = Item::Micros;
          break;
        case 'T':
          item = Item::Seconds;
          break;
        default:
          error = directive + ": unknown directive";
          return false;
      }
      if ((format[pct + 1] == '>' || format[pct + 1] == '<') && item != Item::Status) {
        error = directive + ": '>' and '<' only go with s";
        return false;
      }
    }
    pieces.push_back({item, ""});
  }
  out.pieces_ = std::move(pieces);
  return true;
}

void AccessLogFormat::render(const RequestRecord& r, std::string& out) const {
  for (const Piece& p : pieces_) {
    switch (p.item) {
      case Item::Literal:
        out += p.literal;
        break;
      case Item::RemoteAddr:
        append_or_dash(r.remote_addr, out);
        break;
      case Item::Ident:
        out += '-';
        break;
      case Item::RemoteUser:
        append_or_dash(r.remote_user, out);
        break;
      case Item::Time:
        append_time(r.started_at, out);
        break;
      case Item::RequestLine:
        append_log_escaped(r.method, out);
        out += ' ';
        append_log_escaped(r.target, out);
        if (!r.server_protocol.empty()) {
          out += ' ';
          append_log_escaped(r.server_protocol, out);
        }
        break;
      case Item::Method:
        append_or_dash(r.method, out);
        break;
      case Item::Path:
        append_or_dash(path_of(r.target), out);
        break;
      case Item::Query: {
        size_t q = r.target.find('?');
        if (q != std::string::npos) append_log_escaped(std::string_view(r.target).substr(q), out);
        break;
      }
      case Item::Protocol:
        append_or_dash(r.server_protocol, out);
        break;
      case Item::Status:
        if (r.status == 0) {
          out += '-';
        } else {
          out += std::to_string(r.status);
        }
        break;
      case Item::BytesClf:
        if (r.bytes_out == 0) {
          out += '-';
        } else {
          out += std::to_string(r.bytes_out);
        }
        break;
      case Item::Bytes:
      case Item::BytesOut:
        out += std::to_string(r.bytes_out);
        break;
      case Item::BytesIn:
        out += std::to_string(r.bytes_in);
        break;
      case Item::Micros:
        if (r.start_ns == 0 || r.end_ns < r.start_ns) {
          out += '-';
        } else {
          out += std::to_string((r.end_ns - r.start_ns) / 1000);
        }
        break;
      case Item::Seconds:
        if (r.start_ns == 0 || r.end_ns < r.start_ns) {
          out += '-';
        } else {
          out += std::to_string((r.end_ns - r.start_ns) / 1'000'000'000);
        }
        break;
      case Item::Referer:
        append_or_dash(r.referer, out);
        break;
      case Item::UserAgent:
        append_or_dash(r.user_agent, out);
        break;
      case Item::Project:
        append_or_dash(r.project, out);
        break;
      case Item::FrontProtocol:
        if (r.listener) {
          append_log_escaped(listener_protocol_name(*r.listener), out);
        } else {
          out += '-';
        }
        break;
      case Item::Listener:
        append_or_dash(r.listener ? std::string_view(r.listener->name) : "", out);
        break;
      case Item::Backend:
        append_or_dash(r.backend, out);
        break;
      case Item::BackendMs:
        append_span_ms(r.backend_start_ns, r.end_ns, out);
        break;
      case Item::FirstByteMs:
        append_span_ms(r.backend_start_ns, r.first_byte_ns, out);
        break;
      case Item::TotalMs:
        append_span_ms(r.start_ns, r.end_ns, out);
        break;
      case Item::Aborted:
        out += r.aborted ? '1' : '0';
        break;
    }
  }
  out += '\n';
}

}  // namespace gw
