// X-Sendfile / X-Accel-Redirect: the wrapper exchange sits between the app
// backend and the connection's sink. Until the backend's head arrives it is
// invisible; a head naming a file turns it into "filing" mode, where the
// file is served by a static-files exchange and the backend's body is
// dropped.
#include "dispatch/backends/sendfile.h"

#include <utility>

#include "dispatch/backends/static_files.h"
#include "protocols/path.h"

namespace gw {

using Form = SendfileOptions::Form;
using Mode = SendfileOptions::Mode;

namespace sendfile {

namespace {

// `path` is `prefix` or lies below it at a segment boundary.
bool is_below(std::string_view path, std::string_view prefix) {
  if (prefix == "/") return path.starts_with('/');
  return path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

// What follows `prefix` in `path` ("" or "/..."), for is_below() pairs.
std::string_view rest_below(std::string_view path, std::string_view prefix) {
  return prefix == "/" ? path : path.substr(prefix.size());
}

}  // namespace

std::string_view header_name(Form form) {
  switch (form) {
    case Form::XAccelRedirect:
      return "X-Accel-Redirect";
    case Form::XSendfile:
      return "X-Sendfile";
    case Form::XLighttpdSendFile:
      return "X-LIGHTTPD-send-file";
  }
  return "X-Sendfile";
}

std::optional<std::string> path_from_header(std::string_view value) {
  auto decoded = percent_decode(value);
  if (!decoded || !decoded->starts_with('/')) return std::nullopt;
  return normalize_path(*decoded);
}

std::optional<std::string> uri_to_path(const std::vector<SendfileLocation>& locations,
                                       std::string_view uri) {
  if (!uri.starts_with('/')) return std::nullopt;  // "@named" and relative URIs
  uri = uri.substr(0, uri.find('?'));
  auto decoded = percent_decode(uri);
  if (!decoded) return std::nullopt;
  auto normalized = normalize_path(*decoded);
  if (!normalized) return std::nullopt;
  const SendfileLocation* best = nullptr;
  for (const auto& l : locations) {
    if (is_below(*normalized, l.prefix) && (!best || l.prefix.size() > best->prefix.size())) {
      best = &l;
    }
  }
  if (!best) return std::nullopt;
  return normalize_path(best->dir + std::string(rest_below(*normalized, best->prefix)));
}

std::optional<std::string> path_to_uri(const std::vector<SendfileLocation>& locations,
                                       std::string_view path) {
  const SendfileLocation* best = nullptr;
  for (const auto& l : locations) {
    if (is_below(path, l.dir) && (!best || l.dir.size() > best->dir.size())) best = &l;
  }
  if (!best) return std::nullopt;
  std::string_view rest = rest_below(path, best->dir);
  std::string uri = best->prefix;
  if (!rest.empty() && rest.front() != '/') uri.push_back('/');
  uri.append(rest);
  return percent_encode_path(uri);
}

}  // namespace sendfile

namespace {

struct Shared {
  SendfileOptions options;
  std::vector<std::string> allowed_dirs;  // Serve: dirs and the locations' directories
};

std::optional<Form> form_of(std::string_view name) {
  if (iequals(name, "X-Sendfile")) return Form::XSendfile;
  if (iequals(name, "X-LIGHTTPD-send-file")) return Form::XLighttpdSendFile;
  if (iequals(name, "X-Accel-Redirect")) return Form::XAccelRedirect;
  return std::nullopt;
}

bool carries_uri(Form form) {
  return form == Form::XAccelRedirect;
}

struct Named {
  Form form;
  std::string value;
};

// Takes every sendfile header out of `headers`; the first one names the file.
std::optional<Named> take_sendfile_headers(std::vector<Header>& headers) {
  std::optional<Named> first;
  std::vector<Header> kept;
  kept.reserve(headers.size());
  for (auto& h : headers) {
    auto form = form_of(h.name);
    if (!form) {
      kept.push_back(std::move(h));
    } else if (!first) {
      first = Named{*form, std::move(h.value)};
    }
  }
  headers = std::move(kept);
  return first;
}

// Headers that describe the backend's (dropped) body, not the file.
bool describes_backend_body(std::string_view name) {
  for (std::string_view n : {"Content-Length", "Content-Range", "ETag", "Last-Modified",
                             "Accept-Ranges", "Transfer-Encoding"}) {
    if (iequals(name, n)) return true;
  }
  return false;
}

bool may_have_body(int status) {
  return status >= 200 && status != 204 && status != 304;
}

// A header value for the error log: control bytes shown as '?'.
std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 512)) out.push_back(c < 0x20 || c == 0x7f ? '?' : char(c));
  return out;
}

class SendfileExchange : public Exchange {
 public:
  SendfileExchange(std::shared_ptr<const Shared> shared, const Request& request, ResponseSink& sink)
      : shared_(std::move(shared)), sink_(sink), inner_sink_(*this), file_sink_(*this) {
    // What the file answer needs later; the Request is only borrowed.
    // nginx turns an X-Accel-Redirect into a GET as well (HEAD stays).
    file_request_.method = request.method == "HEAD" ? "HEAD" : "GET";
    if (shared_->options.mode == Mode::Serve) file_request_.headers = request.headers;
  }

  void start(Backend& inner, const Request& request) {
    auto exchange = inner.start(request, inner_sink_);
    inner_ = std::move(exchange);
    if (cancel_inner_pending_) inner_->cancel();
  }

  void send_body(std::string_view data) override {
    if (inner_ && !inner_done_) inner_->send_body(data);
  }
  void finish_body() override {
    if (inner_ && !inner_done_) inner_->finish_body();
  }
  bool body_congested() const override {
    return inner_ && !inner_done_ && inner_->body_congested();
  }
  void resume_response() override {
    if (finished_) return;
    if (filing_) {
      if (file_) file_->resume_response();
    } else if (inner_ && !inner_done_) {
      inner_->resume_response();
    }
  }
  void cancel() override {
    finished_ = true;
    if (file_) file_->cancel();
    cancel_inner();
  }

 private:
  // What the app backend sees as its sink.
  class InnerSink : public ResponseSink {
   public:
    explicit InnerSink(SendfileExchange& ex) : ex_(ex) {}
    void on_head(ResponseHead head) override { ex_.inner_head(std::move(head)); }
    void on_body(std::string_view data) override {
      if (!ex_.filing_ && !ex_.finished_) ex_.sink_.on_body(data);  // else dropped
    }
    void on_end() override { ex_.inner_end(); }
    void on_error(int status, std::string_view why) override { ex_.inner_error(status, why); }
    // Filing: the dropped body may come as fast as the backend sends it.
    bool congested() const override { return !ex_.filing_ && ex_.sink_.congested(); }
    void on_body_drained() override { ex_.sink_.on_body_drained(); }
    void log_error(std::string_view message) override { ex_.sink_.log_error(message); }

   private:
    SendfileExchange& ex_;
  };

  // What the file exchange sees as its sink: everything but the end goes
  // straight to the client.
  class FileSink : public ResponseSink {
   public:
    explicit FileSink(SendfileExchange& ex) : ex_(ex) {}
    void on_head(ResponseHead head) override { ex_.sink_.on_head(std::move(head)); }
    void on_body(std::string_view data) override { ex_.sink_.on_body(data); }
    void on_end() override {
      ex_.file_done_ = true;
      ex_.maybe_finish();
    }
    void on_error(int status, std::string_view why) override {
      if (ex_.finished_) return;
      ex_.finished_ = true;
      ex_.sink_.on_error(status, why);
      ex_.cancel_inner();
    }
    bool congested() const override { return ex_.sink_.congested(); }
    void on_body_drained() override {}
    void log_error(std::string_view message) override { ex_.sink_.log_error(message); }
    bool can_send_file() const override { return !ex_.finished_ && ex_.sink_.can_send_file(); }
    void on_file(int fd, uint64_t offset, uint64_t length) override {
      ex_.sink_.on_file(fd, offset, length);
    }

   private:
    SendfileExchange& ex_;
  };

  void inner_head(ResponseHead head) {
    if (finished_) return;
    auto named = take_sendfile_headers(head.headers);
    if (!named) {
      sink_.on_head(std::move(head));
      return;
    }
    if (shared_->options.mode == Mode::Serve && !may_have_body(head.status)) {
      // A 304 or 204 cannot carry the file: the app's answer goes on
      // without the header.
      sink_.on_head(std::move(head));
      return;
    }
    filing_ = true;  // from here the backend's body is dropped
    if (shared_->options.mode == Mode::Serve) {
      serve_file(std::move(head), *named);
    } else {
      pass_on(std::move(head), *named);
    }
  }

  void serve_file(ResponseHead head, const Named& named) {
    const auto& options = shared_->options;
    auto path = carries_uri(named.form) ? sendfile::uri_to_path(options.locations, named.value)
                                        : sendfile::path_from_header(named.value);
    if (!path) {
      refuse(named, carries_uri(named.form) ? "matches no location" : "is not an absolute path");
      return;
    }
    static_files::ChosenFile file;
    file.path = std::move(*path);
    file.allowed_dirs = shared_->allowed_dirs;
    // A 206 from an app that cannot know the range of a file it does not
    // send is taken as 200: the file's own rules answer the Range.
    file.status = head.status == 206 ? 200 : head.status;
    for (auto& h : head.headers) {
      if (!describes_backend_body(h.name)) file.headers.push_back(std::move(h));
    }
    file_ = static_files::serve_chosen_file(file_request_, file_sink_, file);
  }

  void pass_on(ResponseHead head, const Named& named) {
    const auto& options = shared_->options;
    std::string value = named.value;
    if (carries_uri(named.form) != carries_uri(options.pass_as)) {
      std::optional<std::string> converted;
      if (carries_uri(named.form)) {
        // lighttpd and mod_xsendfile decode the path they are given.
        if (auto path = sendfile::uri_to_path(options.locations, value)) {
          converted = percent_encode_path(*path);
        }
      } else if (auto path = sendfile::path_from_header(value)) {
        converted = sendfile::path_to_uri(options.locations, *path);
      }
      if (!converted) {
        refuse(named,
               "cannot be converted to " + std::string(sendfile::header_name(options.pass_as)));
        return;
      }
      value = std::move(*converted);
    }
    filing_ = false;  // the backend's answer goes on as it is
    head.headers.push_back({std::string(sendfile::header_name(options.pass_as)), std::move(value)});
    sink_.on_head(std::move(head));
  }

  // The header names nothing we may use: the client gets a 404, the log
  // the reason (never the client: the path is the server's business).
  void refuse(const Named& named, const std::string& why) {
    sink_.log_error("sendfile: " + std::string(sendfile::header_name(named.form)) + " '" +
                    printable(named.value) + "' " + why);
    file_ = static_files::respond_status(file_request_, file_sink_, 404);
  }

  void inner_end() {
    inner_done_ = true;
    if (filing_) {
      maybe_finish();
    } else if (!finished_) {
      finished_ = true;
      sink_.on_end();
    }
  }

  void inner_error(int status, std::string_view why) {
    inner_done_ = true;
    if (filing_) {
      if (!finished_) {
        sink_.log_error("sendfile: the backend failed after naming the file: " + std::string(why));
      }
      maybe_finish();
    } else if (!finished_) {
      finished_ = true;
      sink_.on_error(status, why);
    }
  }

  void maybe_finish() {
    if (finished_ || !file_done_ || !inner_done_) return;
    finished_ = true;
    sink_.on_end();
  }

  void cancel_inner() {
    if (inner_done_) return;
    inner_done_ = true;
    if (inner_) {
      inner_->cancel();
    } else {
      cancel_inner_pending_ = true;  // still inside inner.start()
    }
  }

  std::shared_ptr<const Shared> shared_;
  ResponseSink& sink_;
  Request file_request_;  // Serve: method and headers for the file's rules
  InnerSink inner_sink_;
  FileSink file_sink_;
  // After the sinks: destroyed first.
  std::unique_ptr<Exchange> inner_;
  std::unique_ptr<Exchange> file_;
  bool filing_ = false;      // the backend named a file: its body is dropped
  bool file_done_ = false;   // the file answer ended
  bool inner_done_ = false;  // the backend ended, failed or was cancelled
  bool finished_ = false;    // the sink got its end or error (or we were cancelled)
  bool cancel_inner_pending_ = false;
};

class SendfileBackend : public Backend {
 public:
  SendfileBackend(std::unique_ptr<Backend> inner, const SendfileOptions& options)
      : inner_(std::move(inner)) {
    auto shared = std::make_shared<Shared>();
    shared->options = options;
    shared->allowed_dirs = options.dirs;
    for (const auto& l : options.locations) shared->allowed_dirs.push_back(l.dir);
    shared_ = std::move(shared);
  }

  std::unique_ptr<Exchange> start(const Request& request, ResponseSink& sink) override {
    auto exchange = std::make_unique<SendfileExchange>(shared_, request, sink);
    exchange->start(*inner_, request);
    return exchange;
  }
  std::string_view kind() const override { return inner_->kind(); }
  void shutdown() override { inner_->shutdown(); }
  void report(BackendReport& out) const override { inner_->report(out); }

 private:
  std::unique_ptr<Backend> inner_;
  std::shared_ptr<const Shared> shared_;
};

}  // namespace

std::unique_ptr<Backend> wrap_sendfile(std::unique_ptr<Backend> inner,
                                       const SendfileOptions& options) {
  if (options.mode == Mode::Off) return inner;
  return std::make_unique<SendfileBackend>(std::move(inner), options);
}

}  // namespace gw
