// Request counters for the status page and /metrics: totals, per project
// and per listener. Latency is kept in a histogram of fixed buckets, so
// memory stays constant however many requests are served; percentiles are
// read from it the way Prometheus' histogram_quantile does (linear within
// the bucket holding the rank).
//
// Requests on status listeners count only for their own listener, never in
// the totals: a status page polling every second must not show up as load.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "gateway/request_record.h"

namespace gw {

class LatencyHistogram {
 public:
  // Upper bounds of the buckets in milliseconds; one more bucket (+Inf)
  // takes everything above the last.
  static constexpr std::array<uint64_t, 16> kBoundsMs = {
      1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000};
  static constexpr size_t kBuckets = kBoundsMs.size() + 1;

  void add(uint64_t ns);
  uint64_t count() const { return count_; }
  uint64_t sum_ns() const { return sum_ns_; }
  // Requests in bucket i alone (not cumulative); i == kBoundsMs.size() is +Inf.
  uint64_t bucket(size_t i) const { return buckets_[i]; }
  // The q-quantile (0 < q <= 1) in ms; 0 when empty. A rank in the +Inf
  // bucket gives the last finite bound.
  double percentile_ms(double q) const;

 private:
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  uint64_t sum_ns_ = 0;
};

struct RequestCounters {
  uint64_t requests = 0;                 // finished
  std::array<uint64_t, 5> by_class{};    // status 1xx..5xx
  uint64_t no_response = 0;              // ended before a response head was sent
  uint64_t in_flight = 0;                // filled in by RequestMetrics::snapshot()
  uint64_t bytes_in = 0, bytes_out = 0;  // request and response bodies
  uint64_t aborted = 0;                  // cut, or the client went away
  uint64_t slow = 0;                     // over the slow-request threshold
  LatencyHistogram latency;              // start to end
  LatencyHistogram backend;              // handed to the backend to end (backend requests only)
  LatencyHistogram first_byte;           // handed to the backend to its response head

  void add(const RequestRecord& record, bool slow_request);
};

struct MetricsSnapshot {
  RequestCounters total;
  std::map<std::string, RequestCounters> projects;   // by name
  std::map<std::string, RequestCounters> listeners;  // by listener name
};

class RequestMetrics {
 public:
  // `record` must stay valid until finished() is called with it (the
  // Connection's record does): in-flight requests are counted by looking
  // at the live records when a snapshot is taken, because the project is
  // only known once routing has happened.
  void started(const RequestRecord& record);
  void finished(const RequestRecord& record, bool slow_request);
  // A copy with in_flight filled in.
  MetricsSnapshot snapshot() const;
  size_t live_requests() const { return live_.size(); }

 private:
  bool is_live(const RequestRecord& record) const;

  MetricsSnapshot counters_;
  // The records in flight, each knowing its slot: a request is added and
  // removed without an allocation once the vector has grown.
  std::vector<const RequestRecord*> live_;
};

// Whether a record is of a status listener (kept out of the totals and the
// project counters).
bool on_status_listener(const RequestRecord& record);

}  // namespace gw
