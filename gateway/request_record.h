// What the access log, the metrics and the slow-request log learn of one
// request. The Connection fills a record in as the request travels and hands
// it to the Server's RequestObserver twice: when the request starts and when
// it ends (answered, cut, or abandoned by the client).
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace gw {

struct ListenerConfig;

struct RequestRecord {
  const ListenerConfig* listener = nullptr;  // never null once started
  std::string project;                       // "" when no project took it (index, 404, refused)
  std::string_view backend;                  // Backend::kind(); "" for answers of our own
  std::string remote_addr;
  std::string remote_user;  // as the front end (or HTTP auth at the front) gave it
  std::string method;
  std::string target;           // as the client sent it (REQUEST_URI)
  std::string server_protocol;  // "HTTP/1.1"
  std::string referer, user_agent;
  int status = 0;          // 0: no response head was sent
  uint64_t bytes_in = 0;   // request body bytes received
  uint64_t bytes_out = 0;  // response body bytes sent on
  // Monotonic times (uv_hrtime, nanoseconds): 0 when the step never happened.
  uint64_t start_ns = 0;          // the request head was complete
  uint64_t backend_start_ns = 0;  // handed to the backend
  uint64_t first_byte_ns = 0;     // the response head arrived
  uint64_t end_ns = 0;            // the response ended, or the request was abandoned
  timespec started_at{};          // wall clock at start_ns, for log timestamps
  bool aborted = false;           // cut off, or the client went away before the end
  // RequestMetrics' bookkeeping: where the record sits among the live ones.
  mutable size_t live_slot = SIZE_MAX;
};

class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  virtual void request_started(const RequestRecord& record) = 0;
  // Exactly once for every request_started().
  virtual void request_finished(const RequestRecord& record) = 0;
};

}  // namespace gw
