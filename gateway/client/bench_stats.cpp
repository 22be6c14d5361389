// --bench tallies and report (see bench_stats.h).
#include "gateway/client/bench_stats.h"

#include <cstdio>

namespace gw::client {

namespace {

std::string milliseconds(uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f ms", static_cast<double>(ns) / 1e6);
  return buf;
}

}  // namespace

void BenchStats::record_response(uint64_t latency_ns, int status, bool fail_on_status) {
  ++responses;
  latency.record(latency_ns);
  if (status >= 0 && static_cast<size_t>(status) < statuses.size()) {
    ++statuses[static_cast<size_t>(status)];
  }
  if (fail_on_status && status != 0 && (status < 200 || status > 299)) ++status_failures;
}

void BenchStats::record_failure(const ClientError& error) {
  auto kind = static_cast<size_t>(error.failure);
  if (failures[kind]++ == 0) first_failure[kind] = error.what;
}

std::string_view abort_point_name(AbortPoint point) {
  switch (point) {
    case AbortPoint::Head:
      return "head";
    case AbortPoint::Body:
      return "body";
    case AbortPoint::Response:
      return "response";
  }
  return "?";
}

uint64_t BenchStats::aborted_total() const {
  uint64_t n = 0;
  for (uint64_t a : aborted) n += a;
  return n;
}

uint64_t BenchStats::failed() const {
  uint64_t n = status_failures;
  for (uint64_t f : failures) n += f;
  return n;
}

std::string format_bench_report(const std::string& title, const BenchStats& stats) {
  std::string out = title + "\n";
  char line[160];
  const double seconds = static_cast<double>(stats.elapsed_ns) / 1e9;
  const double rate = seconds > 0 ? static_cast<double>(stats.responses) / seconds : 0;
  std::snprintf(line, sizeof line, "  %llu responses in %.3f s: %.1f requests/s\n",
                static_cast<unsigned long long>(stats.responses), seconds, rate);
  out += line;
  if (stats.responses > 0) {
    out += "  latency p50 " + milliseconds(stats.latency.percentile(0.50)) + ", p90 " +
           milliseconds(stats.latency.percentile(0.90)) + ", p99 " +
           milliseconds(stats.latency.percentile(0.99)) + ", max " +
           milliseconds(stats.latency.max()) + "\n";
    std::string statuses;
    for (size_t s = 0; s < stats.statuses.size(); ++s) {
      if (stats.statuses[s] == 0) continue;
      statuses += (statuses.empty() ? "" : ", ") +
                  (s == 0 ? std::string("local redirect") : std::to_string(s)) + " x " +
                  std::to_string(stats.statuses[s]);
    }
    out += "  statuses: " + statuses + "\n";
  }
  out += "  failed: " + std::to_string(stats.failed()) + "\n";
  for (size_t k = 0; k < kFailureKinds; ++k) {
    if (stats.failures[k] == 0) continue;
    out += "    " + std::string(failure_name(static_cast<Failure>(k))) + " x " +
           std::to_string(stats.failures[k]) + ", the first: " + stats.first_failure[k] + "\n";
  }
  if (stats.status_failures > 0) {
    out += "    status x " + std::to_string(stats.status_failures) +
           ": responses whose status is not 2xx (--fail)\n";
  }
  if (stats.aborting) {
    out += "  aborted: " + std::to_string(stats.aborted_total()) + " (";
    for (size_t p = 0; p < kAbortPoints; ++p) {
      out += std::string(p ? ", " : "") +
             std::string(abort_point_name(static_cast<AbortPoint>(p))) + " x " +
             std::to_string(stats.aborted[p]);
    }
    out += ")\n";
  }
  return out;
}

}  // namespace gw::client
