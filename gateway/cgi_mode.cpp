#include "gateway/cgi_mode.h"

#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "dispatch/router.h"
#include "gateway/io/timer.h"
#include "gateway/log.h"
#include "gateway/server.h"
#include "protocols/cgi_params.h"

extern char** environ;

namespace gw {

namespace {

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Writes the CGI response to stdout. stdout is a pipe to the web server and
// blocking writes are fine here: there is only this one request.
class StdoutSink final : public ResponseSink {
 public:
  void on_head(ResponseHead head) override {
    if (done_) return;
    head_sent_ = true;
    write_all(1, format_cgi_head(head));
  }
  void on_body(std::string_view data) override {
    if (!done_ && head_sent_ && !write_all(1, data)) failed_ = true;
  }
  void on_end() override { done_ = true; }
  void on_error(int status, std::string_view why) override {
    log_error(why);
    if (!head_sent_) {
      ResponseHead head;
      head.status = status;
      head.headers.push_back({"Content-Type", "text/plain; charset=utf-8"});
      on_head(head);
      on_body(std::to_string(status) + " " + std::string(reason_phrase(status)) + "\n");
    }
    done_ = true;
    failed_ = true;
  }
  bool congested() const override { return false; }
  void on_body_drained() override {}
  void log_error(std::string_view message) override { log::error("cgi: " + std::string(message)); }

  bool done_ = false;
  bool failed_ = false;
  bool head_sent_ = false;
};

void respond(StdoutSink& sink, int status, std::string_view type, const std::string& body) {
  ResponseHead head;
  head.status = status;
  head.headers.push_back({"Content-Type", std::string(type)});
  head.headers.push_back({"Content-Length", std::to_string(body.size())});
  sink.on_head(head);
  sink.on_body(body);
  sink.on_end();
}

}  // namespace

bool cgi_environment_present() {
  const char* force = std::getenv("FCGI_FORCE_CGI");
  if (force && (force[0] == 'Y' || force[0] == 'y')) return true;
  return std::getenv("GATEWAY_INTERFACE") != nullptr;
}

int run_cgi_mode(const ServerConfig& config, const std::vector<ProjectConfig>& projects) {
  std::vector<Header> vars;
  for (char** e = environ; *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (!eq) continue;
    vars.push_back({std::string(*e, static_cast<size_t>(eq - *e)), std::string(eq + 1)});
  }
  StdoutSink sink;
  Request req;
  if (auto err = request_from_cgi(std::move(vars), Protocol::FastCgi, false, req)) {
    log::error("cgi: bad request environment: " + err->what);
    respond(sink, 400, "text/plain", "400 Bad Request\n");
    return 0;
  }

  uv_loop_t loop;
  uv_loop_init(&loop);
  loop.data = nullptr;  // io::defer keeps its state here
  int status = 0;
  {
    // No listeners: the Server only builds the projects' backends.
    ServerConfig no_listeners = config;
    no_listeners.listeners.clear();
    Server backends(&loop, no_listeners, projects);
    if (auto err = backends.start()) {
      log::error(*err);
      return 1;
    }
    ListenerConfig cgi_listener;
    cgi_listener.protocol = Protocol::FastCgi;
    Route route = backends.route(req, cgi_listener);
    if (route.kind == RouteKind::Project) {
      req.script_name = route.script_name;
      req.path_info = route.path_info;
      auto exchange = backends.backend(route.project).start(req, sink);
      // Stream stdin into the backend, bounded by CONTENT_LENGTH when known.
      uint64_t left = req.content_length.value_or(UINT64_MAX);
      char buf[64 * 1024];
      while (left > 0 && !sink.done_) {
        size_t want = left < sizeof buf ? static_cast<size_t>(left) : sizeof buf;
        ssize_t n = ::read(0, buf, want);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        left -= static_cast<uint64_t>(n);
        exchange->send_body(std::string_view(buf, static_cast<size_t>(n)));
        uv_run(&loop, UV_RUN_NOWAIT);
      }
      if (!sink.done_) exchange->finish_body();
      while (!sink.done_ && uv_run(&loop, UV_RUN_ONCE) != 0) {
      }
      if (!sink.done_) sink.on_error(502, "backend ended without a response");
      exchange.reset();
    } else if (route.kind == RouteKind::Index) {
      respond(sink, 200, "text/html; charset=utf-8", backends.index_page(route.script_name));
    } else if (route.kind == RouteKind::BadRequest) {
      respond(sink, 400, "text/plain", "400 Bad Request\n");
    } else {
      respond(sink, 404, "text/plain", "404 Not Found: " + route.why + "\n");
    }
    status = sink.failed_ ? 1 : 0;
    backends.stop();
  }
  io::release_deferred(&loop);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return status;
}

}  // namespace gw
