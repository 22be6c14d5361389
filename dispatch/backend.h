// What a backend is: something that takes a Request and produces a response
// through a ResponseSink, while the request body streams in through the
// Exchange it returned.
//
// Lifetimes and calling rules:
//  * The Connection implements ResponseSink, one per request; the sink
//    outlives the Exchange.
//  * A backend may call the sink synchronously from start(), send_body(),
//    finish_body() and resume_response(), as well as later from its own
//    I/O callbacks.
//  * After on_end() or on_error() the backend calls the sink no more.
//  * After cancel() (the client went away) the backend calls the sink no
//    more and frees what it holds (closes upstream connections of unknown
//    state, ends processes). The Exchange is destroyed by its owner later,
//    never inside one of the backend's own calls into the sink.
//  * Flow control both ways: a backend stops producing while
//    sink.congested() and resumes on resume_response(); the connection stops
//    reading the request body while exchange.body_congested() and resumes
//    on sink.on_body_drained().
#pragma once

#include <unistd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/request.h"

namespace gw {

class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  virtual void on_head(ResponseHead head) = 0;
  virtual void on_body(std::string_view data) = 0;  // copied by the sink
  virtual void on_end() = 0;
  // The request failed. Before on_head: the client gets `status` with a short
  // body. After on_head: the response is cut the way the front-end protocol
  // signals it. `why` goes to the error log.
  virtual void on_error(int status, std::string_view why) = 0;
  // True while the client side has more queued than it wants: pause.
  virtual bool congested() const = 0;
  // The backend's request-body buffer drained: the connection may read more.
  virtual void on_body_drained() = 0;
  // A line for the error log, tagged with the request by the sink.
  virtual void log_error(std::string_view message) = 0;

  // Optional, for a body that is a range of a file: true when the sink can
  // send it from the file to the client itself (sendfile(2) on a plain
  // HTTP/1.1 socket with a Content-Length body), with no copy through user
  // space. Asked after on_head.
  virtual bool can_send_file() const { return false; }
  // The rest of the body: `length` bytes of the regular file `fd` from
  // `offset`, no more than the Content-Length still owed. Only after
  // can_send_file() said yes. The sink takes `fd` (it closes it, whatever
  // happens) and sends the bytes after those of earlier on_body() calls;
  // the backend calls on_end() as usual, and the sink ends the response once
  // the file is sent. A file that fails or shrinks meanwhile cuts the
  // response as on_error() after on_head does.
  virtual void on_file(int fd, uint64_t /*offset*/, uint64_t /*length*/) { ::close(fd); }
};

class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual void send_body(std::string_view data) = 0;  // request body bytes, copied if kept
  virtual void finish_body() = 0;                     // request body complete
  virtual bool body_congested() const { return false; }
  virtual void resume_response() {}  // the sink is no longer congested
  virtual void cancel() = 0;
};

// What a backend tells the status page about the connections and processes
// behind it (Backend::report). Wrappers (auth, static mounts, X-Sendfile)
// pass the call on to the backend they wrap.
struct BackendReport {
  struct Upstream {
    std::string name;               // "app:9000 (10.0.0.7:9000)"
    std::optional<uint64_t> open;   // connections open (idle, busy, connecting)
    std::optional<uint64_t> idle;   // kept open for reuse
    std::optional<uint64_t> limit;  // most connections the app takes (0: none known)
  };
  struct Process {
    uint32_t instance = 0;
    int pid = 0;  // 0: none running
    std::string state;
    std::string address;
    uint64_t requests = 0;
    uint32_t in_flight = 0;
    uint32_t restarts = 0;
  };
  std::vector<Upstream> upstreams;
  std::vector<Process> processes;         // spawned app processes
  std::optional<uint64_t> cgi_processes;  // CGI scripts running
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Starts serving `request`. Never returns null. `request` is only borrowed
  // for the call: copy what is needed later.
  virtual std::unique_ptr<Exchange> start(const Request& request, ResponseSink& sink) = 0;
  virtual std::string_view kind() const = 0;
  // The daemon is stopping: release what keeps the loop alive (idle upstream
  // connections, timers). Exchanges still running may finish.
  virtual void shutdown() {}
  // Adds what the status page shows about this backend (nothing by default).
  virtual void report(BackendReport& /*out*/) const {}
};

}  // namespace gw
