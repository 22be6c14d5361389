// The latency histogram of --bench (see latency_histogram.h).
#include "gateway/client/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace gw::client {

// Below kSub every value has its own bucket; above, a value with its top
// bit at position e falls into one of kSub buckets of width 2^(e - kSubBits).
size_t LatencyHistogram::bucket_of(uint64_t ns) {
  if (ns < kSub) return static_cast<size_t>(ns);
  const size_t e = static_cast<size_t>(std::bit_width(ns)) - 1;  // kSubBits..63
  const size_t shift = e - kSubBits;
  const size_t mantissa = static_cast<size_t>(ns >> shift);  // kSub..2*kSub-1
  return kSub + shift * kSub + (mantissa - kSub);
}

uint64_t LatencyHistogram::bucket_upper(size_t index) {
  if (index < kSub) return index;
  const size_t k = index - kSub;
  const size_t shift = k / kSub;
  const uint64_t mantissa = kSub + k % kSub;
  const uint64_t lower = mantissa << shift;
  return lower + ((uint64_t{1} << shift) - 1);
}

void LatencyHistogram::record(uint64_t ns) {
  ++counts_[bucket_of(ns)];
  ++count_;
  max_ = std::max(max_, ns);
}

uint64_t LatencyHistogram::percentile(double fraction) const {
  if (count_ == 0) return 0;
  fraction = std::clamp(fraction, 0.0, 1.0);
  auto rank = static_cast<uint64_t>(std::ceil(fraction * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(bucket_upper(i), max_);
  }
  return max_;
}

}  // namespace gw::client
