// What a --bench run counts (latencies, statuses, failures by kind) and the
// report it prints from them.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "gateway/client/errors.h"
#include "gateway/client/latency_histogram.h"

namespace gw::client {

struct BenchStats {
  LatencyHistogram latency;  // of the responses
  std::array<uint64_t, 1000> statuses{};
  uint64_t responses = 0;
  uint64_t status_failures = 0;  // --fail: responses whose status is not 2xx
  std::array<uint64_t, kFailureKinds> failures{};
  std::array<std::string, kFailureKinds> first_failure;  // one example of each kind
  uint64_t body_bytes = 0;
  uint64_t elapsed_ns = 0;

  void record_response(uint64_t latency_ns, int status, bool fail_on_status);
  void record_failure(const ClientError& error);
  // Requests that failed: no complete response, or (--fail) not 2xx.
  uint64_t failed() const;
};

// The report: `title` first, then requests/s, latency percentiles,
// statuses and failures, one fact a line, for people and for grep:
//   200 responses in 0.153 s: 1307.2 requests/s
//   latency p50 0.512 ms, p90 0.880 ms, p99 1.903 ms, max 2.310 ms
//   statuses: 200 x 200
//   failed: 0
std::string format_bench_report(const std::string& title, const BenchStats& stats);

}  // namespace gw::client
