// Latencies of a --bench run in a fixed log-linear histogram: 128 buckets
// per power of two, so every percentile is within 1/128 (0.8 %) of the true
// value whatever the run's length, in 59 KiB, with no allocation per sample.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace gw::client {

class LatencyHistogram {
 public:
  void record(uint64_t ns);

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  // The smallest recorded latency that `fraction` (0 to 1) of the samples
  // do not exceed (nearest rank), given as its bucket's upper bound but
  // never above max(); 0 when nothing was recorded.
  uint64_t percentile(double fraction) const;

  static constexpr size_t kSubBits = 7;
  static constexpr size_t kSub = size_t{1} << kSubBits;
  static constexpr size_t kBuckets = kSub + (64 - kSubBits) * kSub;

  static size_t bucket_of(uint64_t ns);
  static uint64_t bucket_upper(size_t index);

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

}  // namespace gw::client
