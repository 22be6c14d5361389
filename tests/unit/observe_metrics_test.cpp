// Request metrics: the latency histogram's buckets and percentiles, and the
// counters per project and per listener (status listeners kept out of the
// totals, requests in flight counted under the project routing gave them).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gateway/config.h"
#include "gateway/request_metrics.h"

namespace {

using gw::LatencyHistogram;
using gw::RequestRecord;

constexpr uint64_t kMs = 1'000'000;

gw::ListenerConfig listener(const char* name, bool status = false) {
  gw::ListenerConfig l;
  l.name = name;
  l.status = status;
  return l;
}

RequestRecord finished(const gw::ListenerConfig* l, const char* project, int status,
                       uint64_t total_ms) {
  RequestRecord r;
  r.listener = l;
  r.project = project;
  r.status = status;
  r.start_ns = 100 * kMs;
  r.end_ns = r.start_ns + total_ms * kMs;
  return r;
}

}  // namespace

TEST_CASE("observe histogram: buckets hold values up to their bound") {
  LatencyHistogram h;
  CHECK(h.percentile_ms(0.5) == 0.0);
  h.add(0);
  h.add(1 * kMs);      // exactly 1 ms: the first bucket (le 1)
  h.add(1 * kMs + 1);  // just over: the second
  h.add(300'000 * kMs);
  h.add(300'000 * kMs + 1);  // over the last bound: +Inf
  CHECK(h.count() == 5);
  CHECK(h.sum_ns() == 0 + kMs + kMs + 1 + 300'000 * kMs + 300'000 * kMs + 1);
  CHECK(h.bucket(0) == 2);
  CHECK(h.bucket(1) == 1);
  CHECK(h.bucket(LatencyHistogram::kBoundsMs.size() - 1) == 1);
  CHECK(h.bucket(LatencyHistogram::kBoundsMs.size()) == 1);
  uint64_t sum = 0;
  for (size_t i = 0; i < LatencyHistogram::kBuckets; ++i) sum += h.bucket(i);
  CHECK(sum == h.count());
}

TEST_CASE("observe histogram: percentiles interpolate within the bucket") {
  LatencyHistogram h;
  for (int i = 0; i < 10; ++i) h.add(kMs / 2);  // bucket [0, 1]
  for (int i = 0; i < 10; ++i) h.add(7 * kMs);  // bucket (5, 10]
  CHECK(h.percentile_ms(0.5) == doctest::Approx(1.0));
  CHECK(h.percentile_ms(0.25) == doctest::Approx(0.5));
  CHECK(h.percentile_ms(0.75) == doctest::Approx(7.5));
  CHECK(h.percentile_ms(0.99) == doctest::Approx(9.9));
  CHECK(h.percentile_ms(1.0) == doctest::Approx(10.0));
  CHECK(h.percentile_ms(2.0) == doctest::Approx(10.0));  // clamped
  h.add(1'000'000 * kMs);                                // +Inf: the last finite bound
  CHECK(h.percentile_ms(1.0) == doctest::Approx(300000.0));
  CHECK(h.percentile_ms(0.5) == doctest::Approx(5.0 + 5.0 * (10.5 - 10.0) / 10.0));
}

TEST_CASE("observe metrics: totals, projects, listeners, in flight") {
  gw::ListenerConfig front = listener("front");
  gw::ListenerConfig status = listener("status", true);
  gw::RequestMetrics m;

  // A request in flight: its project is known only after routing.
  RequestRecord live;
  live.listener = &front;
  live.start_ns = 1;
  m.started(live);
  auto s = m.snapshot();
  CHECK(s.total.in_flight == 1);
  CHECK(s.listeners["front"].in_flight == 1);
  CHECK(s.projects.empty());
  live.project = "a";
  s = m.snapshot();
  CHECK(s.projects["a"].in_flight == 1);

  RequestRecord ok = finished(&front, "a", 200, 3);
  ok.bytes_in = 10;
  ok.bytes_out = 100;
  ok.backend_start_ns = ok.start_ns + kMs;
  ok.first_byte_ns = ok.start_ns + 2 * kMs;
  m.started(ok);
  m.finished(ok, false);
  RequestRecord failed = finished(&front, "b", 503, 900);
  failed.aborted = true;
  m.started(failed);
  m.finished(failed, true);
  RequestRecord gone = finished(&front, "", 0, 1);  // the client left before any answer
  m.started(gone);
  m.finished(gone, false);
  RequestRecord redirect = finished(&front, "", 301, 1);
  m.started(redirect);
  m.finished(redirect, false);
  RequestRecord poll = finished(&status, "", 200, 1);
  m.started(poll);
  m.finished(poll, false);
  m.finished(live, false);  // status 0, project a

  CHECK(m.live_requests() == 0);
  s = m.snapshot();
  CHECK(s.total.requests == 5);
  CHECK(s.total.in_flight == 0);
  CHECK(s.total.by_class == std::array<uint64_t, 5>{0, 1, 1, 0, 1});
  CHECK(s.total.no_response == 2);
  CHECK(s.total.bytes_in == 10);
  CHECK(s.total.bytes_out == 100);
  CHECK(s.total.aborted == 1);
  CHECK(s.total.slow == 1);
  CHECK(s.total.latency.count() == 4);  // `live` has no end time
  CHECK(s.total.backend.count() == 1);
  CHECK(s.total.backend.sum_ns() == 2 * kMs);
  CHECK(s.total.first_byte.sum_ns() == kMs);
  CHECK(s.projects.size() == 2);
  CHECK(s.projects["a"].requests == 2);
  CHECK(s.projects["a"].by_class[1] == 1);
  CHECK(s.projects["a"].no_response == 1);
  CHECK(s.projects["b"].by_class[4] == 1);
  CHECK(s.projects["b"].slow == 1);
  // The status listener counts for itself only.
  CHECK(s.listeners["front"].requests == 5);
  CHECK(s.listeners["status"].requests == 1);
  CHECK(s.listeners["status"].by_class[1] == 1);
}

TEST_CASE("observe metrics: requests in flight end in any order") {
  gw::ListenerConfig front = listener("front");
  gw::RequestMetrics m;
  std::vector<RequestRecord> records(6);
  for (size_t i = 0; i < records.size(); ++i) {
    records[i].listener = &front;
    records[i].project = i % 2 ? "odd" : "even";
    m.started(records[i]);
  }
  m.started(records[2]);  // twice: still one request
  CHECK(m.live_requests() == 6);
  // A copy of a live record is not that request.
  RequestRecord copy = records[4];
  m.finished(copy, false);
  CHECK(m.live_requests() == 6);
  for (size_t i : {1, 4, 0, 5}) m.finished(records[i], false);
  CHECK(m.live_requests() == 2);
  auto s = m.snapshot();
  CHECK(s.total.in_flight == 2);
  CHECK(s.projects["even"].in_flight == 1);  // records[2]
  CHECK(s.projects["odd"].in_flight == 1);   // records[3]
  m.finished(records[3], false);
  m.finished(records[2], false);
  m.finished(records[2], false);  // again: nothing left to remove
  CHECK(m.live_requests() == 0);
  CHECK(m.snapshot().total.in_flight == 0);
}
