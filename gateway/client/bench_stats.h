// What a --bench run counts (latencies, statuses, failures by kind) and the
// report it prints from them.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/client/errors.h"
#include "gateway/client/latency_histogram.h"

namespace gw::client {

// Where --abort-ratio abandoned a request.
enum class AbortPoint : uint8_t {
  Head,      // part of the request head sent (possibly none of it)
  Body,      // the head and part of the body (or of its end marker) sent
  Response,  // the request sent, part of the response received (possibly none)
};
inline constexpr size_t kAbortPoints = 3;
std::string_view abort_point_name(AbortPoint point);

struct BenchStats {
  LatencyHistogram latency;  // of the responses
  std::array<uint64_t, 1000> statuses{};
  uint64_t responses = 0;
  uint64_t status_failures = 0;  // --fail: responses whose status is not 2xx
  std::array<uint64_t, kFailureKinds> failures{};
  std::array<std::string, kFailureKinds> first_failure;  // one example of each kind
  uint64_t body_bytes = 0;
  uint64_t elapsed_ns = 0;
  bool aborting = false;  // --abort-ratio was given: report the aborted line
  std::array<uint64_t, kAbortPoints> aborted{};

  void record_response(uint64_t latency_ns, int status, bool fail_on_status);
  void record_failure(const ClientError& error);
  void record_abort(AbortPoint point) { ++aborted[static_cast<size_t>(point)]; }
  uint64_t aborted_total() const;
  // Requests that failed: no complete response, or (--fail) not 2xx.
  uint64_t failed() const;
};

// The report: `title` first, then requests/s, latency percentiles,
// statuses and failures, one fact a line, for people and for grep:
//   200 responses in 0.153 s: 1307.2 requests/s
//   latency p50 0.512 ms, p90 0.880 ms, p99 1.903 ms, max 2.310 ms
//   statuses: 200 x 200
//   failed: 0
// and with --abort-ratio, the requests abandoned on purpose (not failures):
//   aborted: 12 (head x 4, body x 3, response x 5)
std::string format_bench_report(const std::string& title, const BenchStats& stats);

}  // namespace gw::client
