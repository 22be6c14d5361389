// Access-log and slow-log routing (see access_logs.h).
#include "gateway/access_logs.h"

#include <ctime>

#include "gateway/log.h"

namespace gw {

namespace {

std::string span_ms(uint64_t from, uint64_t to) {
  if (from == 0 || to == 0 || to < from) return "-";
  return format_ms(to - from) + " ms";
}

// "2026-11-27T03:04:05Z" for the slow log's own file.
std::string utc_stamp() {
  char stamp[32];
  time_t now = time(nullptr);
  struct tm tm_utc;
  gmtime_r(&now, &tm_utc);
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm_utc);
  return stamp;
}

}  // namespace

std::string AccessLogs::configure(const ServerConfig& config,
                                  const std::vector<ProjectConfig>& projects) {
  AccessLogFormat format;
  std::string error;
  if (!AccessLogFormat::parse(config.access_log_format, format, error)) {
    return "--access-log-format: " + error;
  }
  std::vector<std::string> paths;
  if (!config.access_log.empty()) paths.push_back(config.access_log);
  for (const ListenerConfig& l : config.listeners) {
    if (!l.access_log.empty()) paths.push_back(l.access_log);
  }
  std::map<std::string, std::string> project_logs;
  for (const ProjectConfig& p : projects) {
    if (p.access_log.empty()) continue;
    project_logs[p.name] = p.access_log;
    paths.push_back(p.access_log);
  }
  if (!config.slow_log.empty()) paths.push_back(config.slow_log);
  // Files already open stay open (a reload must not lose buffered lines or
  // reopen what logrotate is about to move).
  std::map<std::string, std::unique_ptr<LogFile>> files;
  for (const std::string& path : paths) {
    if (files.contains(path)) continue;
    if (auto it = files_.find(path); it != files_.end()) {
      files.emplace(path, nullptr);  // taken over below, once nothing can fail
      continue;
    }
    auto f = LogFile::open(path, error);
    if (!f) return error;
    files.emplace(path, std::move(f));
  }
  for (auto& [path, f] : files) {
    if (!f) f = std::move(files_[path]);
  }
  files_ = std::move(files);  // files no longer named are flushed and closed here
  format_ = std::move(format);
  server_log_ = config.access_log;
  project_logs_ = std::move(project_logs);
  slow_log_ = config.slow_log;
  slow_request_ns_ = uint64_t{config.slow_request_ms} * 1'000'000;
  return "";
}

LogFile* AccessLogs::file(const std::string& path) const {
  if (path.empty()) return nullptr;
  auto it = files_.find(path);
  return it == files_.end() ? nullptr : it->second.get();
}

bool AccessLogs::is_slow(const RequestRecord& r) const {
  return slow_request_ns_ != 0 && r.start_ns != 0 && r.end_ns >= r.start_ns &&
         r.end_ns - r.start_ns > slow_request_ns_;
}

std::string AccessLogs::slow_line(const RequestRecord& r) {
  std::string line = "slow request: project ";
  line += r.project.empty() ? "-" : r.project;
  line += ", " + r.method + " " + r.target;
  line += ", status " + (r.status == 0 ? std::string("-") : std::to_string(r.status));
  line += ", total " + span_ms(r.start_ns, r.end_ns);
  line += ", backend first byte " + span_ms(r.backend_start_ns, r.first_byte_ns);
  line += ", backend end " + span_ms(r.backend_start_ns, r.end_ns);
  if (r.aborted) line += ", aborted";
  if (r.listener) line += ", listener " + r.listener->name;
  return line;
}

bool AccessLogs::log(const RequestRecord& r, bool slow) {
  bool wrote = false;
  LogFile* listener_log = nullptr;
  if (r.listener) {
    if (!r.listener->access_log.empty()) {
      listener_log = file(r.listener->access_log);
      // A connection accepted before a reload may name a file closed since.
      if (!listener_log && !r.listener->status) listener_log = file(server_log_);
    } else if (!r.listener->status) {
      listener_log = file(server_log_);
    }
  }
  LogFile* project_log = nullptr;
  if (!r.project.empty()) {
    if (auto it = project_logs_.find(r.project); it != project_logs_.end()) {
      project_log = file(it->second);
    }
  }
  if (listener_log || project_log) {
    line_.clear();
    format_.render(r, line_);
    if (listener_log) listener_log->append(line_);
    if (project_log && project_log != listener_log) project_log->append(line_);
    wrote = true;
  }
  if (slow) {
    std::string line = slow_line(r);
    if (LogFile* f = file(slow_log_)) {
      // The slow log is read like the error log: a time stamp and escaped text.
      f->append(utc_stamp() + " " + log::escape(line) + "\n");
      wrote = true;
    } else {
      log::warn(line);
    }
  }
  return wrote;
}

void AccessLogs::flush() {
  for (auto& [path, f] : files_) {
    if (f->pending()) f->flush();
  }
  report_write_errors();
}

std::vector<std::string> AccessLogs::reopen() {
  std::vector<std::string> errors;
  for (auto& [path, f] : files_) {
    if (std::string e = f->reopen(); !e.empty()) errors.push_back(e);
  }
  report_write_errors();
  return errors;
}

void AccessLogs::report_write_errors() {
  for (auto& [path, f] : files_) {
    if (std::string e = f->take_write_error(); !e.empty()) {
      log::error("access log: " + e + " (" + std::to_string(f->bytes_dropped()) +
                 " bytes lost so far)");
    }
  }
}

}  // namespace gw
