// The access-log files and the slow-request log of one daemon, chosen by
// the configuration:
//  * every request goes to its listener's access log (ListenerConfig::
//    access_log, else the server-wide ServerConfig::access_log; a request
//    on a status listener only to that listener's own, never to the
//    server-wide one), and also to its project's (ProjectConfig::access_log)
//    when that is another file;
//  * a request whose total time exceeds slow_request_ms (0: never) is
//    written to slow_log, or as a warning to the error log when no slow_log
//    is set.
// Lines are buffered (LogFile); the owner calls flush() once per loop turn.
// configure() is all or nothing: a format that does not parse or a file
// that cannot be opened leaves the running settings untouched.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gateway/access_log_format.h"
#include "gateway/config.h"
#include "gateway/log_file.h"
#include "gateway/request_record.h"

namespace gw {

class AccessLogs {
 public:
  // Returns "" or why the settings cannot be used.
  std::string configure(const ServerConfig& config, const std::vector<ProjectConfig>& projects);

  // Whether `record` is over the slow-request threshold.
  bool is_slow(const RequestRecord& record) const;
  // Writes the request's access-log lines (and its slow-log line when
  // `slow`). Returns true when something was buffered.
  bool log(const RequestRecord& record, bool slow);

  void flush();
  // Reopens every file; returns the errors (one per file that failed).
  std::vector<std::string> reopen();
  size_t open_files() const { return files_.size(); }

  // "slow request: ..." as written to the slow log (without time stamp).
  static std::string slow_line(const RequestRecord& record);

 private:
  LogFile* file(const std::string& path) const;
  void report_write_errors();

  AccessLogFormat format_;
  std::string server_log_;
  std::map<std::string, std::string> project_logs_;  // project name -> path
  std::string slow_log_;
  uint64_t slow_request_ns_ = 0;
  std::map<std::string, std::unique_ptr<LogFile>> files_;  // by path
  std::string line_;                                       // reused for rendering
};

}  // namespace gw
