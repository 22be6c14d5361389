// Request counters and latency histograms (see request_metrics.h).
#include "gateway/request_metrics.h"

#include "gateway/config.h"

namespace gw {

void LatencyHistogram::add(uint64_t ns) {
  size_t i = 0;
  // A bucket holds values up to and including its bound (Prometheus' "le").
  while (i < kBoundsMs.size() && ns > kBoundsMs[i] * 1'000'000) ++i;
  ++buckets_[i];
  ++count_;
  sum_ns_ += ns;
}

double LatencyHistogram::percentile_ms(double q) const {
  if (count_ == 0) return 0;
  if (q <= 0) q = 0;
  if (q > 1) q = 1;
  double rank = q * static_cast<double>(count_);
  uint64_t below = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    uint64_t in = buckets_[i];
    if (in > 0 && static_cast<double>(below + in) >= rank) {
      if (i == kBoundsMs.size()) return static_cast<double>(kBoundsMs.back());
      double lower = i == 0 ? 0.0 : static_cast<double>(kBoundsMs[i - 1]);
      double upper = static_cast<double>(kBoundsMs[i]);
      return lower +
             (upper - lower) * (rank - static_cast<double>(below)) / static_cast<double>(in);
    }
    below += in;
  }
  return static_cast<double>(kBoundsMs.back());
}

void RequestCounters::add(const RequestRecord& r, bool slow_request) {
  ++requests;
  if (r.status >= 100 && r.status < 600) {
    ++by_class[static_cast<size_t>(r.status / 100 - 1)];
  } else {
    ++no_response;
  }
  bytes_in += r.bytes_in;
  bytes_out += r.bytes_out;
  if (r.aborted) ++aborted;
  if (slow_request) ++slow;
  if (r.start_ns != 0 && r.end_ns >= r.start_ns) latency.add(r.end_ns - r.start_ns);
  if (r.backend_start_ns != 0 && r.end_ns >= r.backend_start_ns) {
    backend.add(r.end_ns - r.backend_start_ns);
  }
  if (r.backend_start_ns != 0 && r.first_byte_ns >= r.backend_start_ns) {
    first_byte.add(r.first_byte_ns - r.backend_start_ns);
  }
}

bool on_status_listener(const RequestRecord& record) {
  return record.listener && record.listener->status;
}

// A copied record carries a slot that is not its own: the pointer decides.
bool RequestMetrics::is_live(const RequestRecord& record) const {
  return record.live_slot < live_.size() && live_[record.live_slot] == &record;
}

void RequestMetrics::started(const RequestRecord& record) {
  if (is_live(record)) return;
  record.live_slot = live_.size();
  live_.push_back(&record);
}

void RequestMetrics::finished(const RequestRecord& record, bool slow_request) {
  if (is_live(record)) {
    const RequestRecord* last = live_.back();
    live_[record.live_slot] = last;
    last->live_slot = record.live_slot;
    live_.pop_back();
    record.live_slot = SIZE_MAX;
  }
  if (record.listener) counters_.listeners[record.listener->name].add(record, slow_request);
  if (on_status_listener(record)) return;
  counters_.total.add(record, slow_request);
  if (!record.project.empty()) counters_.projects[record.project].add(record, slow_request);
}

MetricsSnapshot RequestMetrics::snapshot() const {
  MetricsSnapshot s = counters_;
  for (const RequestRecord* r : live_) {
    if (r->listener) ++s.listeners[r->listener->name].in_flight;
    if (on_status_listener(*r)) continue;
    ++s.total.in_flight;
    if (!r->project.empty()) ++s.projects[r->project].in_flight;
  }
  return s;
}

}  // namespace gw
