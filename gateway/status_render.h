// What the status listener shows, and its two machine-readable renderings:
// JSON (/status.json) and the Prometheus text exposition format 0.0.4
// (/metrics). Pure: the caller gathers a StatusReport, these only format it,
// so the output for a given report is byte-for-byte fixed (README "Status
// page and metrics" lists every name).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dispatch/backend.h"
#include "gateway/request_metrics.h"

namespace gw {

struct StatusReport {
  std::string version;
  int pid = 0;
  uint64_t uptime_seconds = 0;
  uint64_t connections = 0;              // client connections open now
  uint64_t connection_buffer_bytes = 0;  // their input and output buffers
  uint32_t slow_request_ms = 0;
  struct Listener {
    std::string name;
    std::string protocol;  // http, https, fcgi, scgi, ajp
    bool status = false;   // a status listener
    std::optional<uint64_t> connections;
  };
  std::vector<Listener> listeners;
  struct Project {
    std::string name;
    std::string backend;  // Backend::kind()
    BackendReport report;
  };
  std::vector<Project> projects;
  // Counters; a project or listener found only here (removed by a reload)
  // is still shown after the configured ones.
  MetricsSnapshot metrics;
};

std::string render_status_json(const StatusReport& report);
std::string render_prometheus(const StatusReport& report);

// "0.25" for 250 ms, "1" for 1000 ms: exact decimal seconds, no exponent.
std::string seconds_text(uint64_t ns);

}  // namespace gw
