// Access-log formats: an Apache-like format string ("%h %l %u %t ...")
// parsed once into pieces, and one log line rendered from a RequestRecord.
// Pure: no I/O, no clock (the time comes from the record).
//
// Directives (README "Logs"):
//   %%  a percent sign              %h %a  client address ("-" when unknown)
//   %l  "-" (identd)                %u  remote user ("-" when none)
//   %t  start time, "[10/Oct/2000:13:55:36 +0200]" (local time)
//   %r  request line "GET /x HTTP/1.1"
//   %m  method   %U  path (target without the query)   %q  "?query" or ""
//   %H  protocol ("HTTP/1.1")
//   %s %>s  status ("-" when no response head was sent)
//   %b  response body bytes ("-" for 0)   %B  the same, "0" for 0
//   %I  request body bytes    %O  response body bytes
//   %D  total time in microseconds        %T  total time in whole seconds
//   %{Referer}i %{User-Agent}i  those request headers (case-insensitive;
//       no other header is recorded)
//   gatewayd's own, %{NAME}g:
//     project   the project ("-" when none took the request)
//     protocol  the front end's protocol: http, https, fcgi, scgi, ajp
//     listener  the listener's name
//     backend   the backend kind (fastcgi, static, ...; "-" for answers of
//               gatewayd's own)
//     backend_ms     handed to the backend until the end, ms ("-": none)
//     first_byte_ms  handed to the backend until the response head, ms
//     total_ms       request head complete until the end, ms
//     aborted   "1" when the response was cut or the client went away, else "0"
// Times in ms have three decimals ("12.345").
//
// Every value is escaped as Apache escapes log items: '"' and '\' get a
// backslash, \b \n \r \t \v are written so, any other control character
// or byte >= 0x7f as \xHH. No value can end a line or a quoted field.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gateway/request_record.h"

namespace gw {

// The default: the Combined Log Format plus project, protocol, backend,
// backend time and total time.
inline constexpr std::string_view kDefaultAccessLogFormat =
    "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\" "
    "%{project}g %{protocol}g %{backend}g %{backend_ms}g %{total_ms}g";

class AccessLogFormat {
 public:
  // The default format.
  AccessLogFormat();

  // Parses `format` ("" = the default). Returns false and sets `error`
  // (naming the offending directive) when it cannot be used.
  static bool parse(std::string_view format, AccessLogFormat& out, std::string& error);

  // Appends the line for `record`, with its '\n', to `out`.
  void render(const RequestRecord& record, std::string& out) const;

 private:
  enum class Item {
    Literal,
    RemoteAddr,
    Ident,
    RemoteUser,
    Time,
    RequestLine,
    Method,
    Path,
    Query,
    Protocol,
    Status,
    BytesClf,
    Bytes,
    BytesIn,
    BytesOut,
    Micros,
    Seconds,
    Referer,
    UserAgent,
    Project,
    FrontProtocol,
    Listener,
    Backend,
    BackendMs,
    FirstByteMs,
    TotalMs,
    Aborted,
  };
  struct Piece {
    Item item;
    std::string literal;
  };
  std::vector<Piece> pieces_;
};

// Appends `value` escaped as described above.
void append_log_escaped(std::string_view value, std::string& out);

// "12.345": nanoseconds as milliseconds with three decimals.
std::string format_ms(uint64_t ns);

}  // namespace gw
