// Remembers successful password checks for a few minutes so that a client
// sending the same Basic credentials on every request pays for bcrypt once.
// Entries are keyed by the user and an HMAC of the password under a random
// per-cache key (the password itself is never stored), and hold the hash
// they were checked against: a changed hash in the file misses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gw::auth {

class VerifyCache {
 public:
  VerifyCache(size_t capacity, uint64_t ttl_ms);

  bool contains(std::string_view user, std::string_view password, std::string_view hash,
                uint64_t now_ms);
  void insert(std::string_view user, std::string_view password, std::string_view hash,
              uint64_t now_ms);
  void clear();
  size_t size() const { return by_key_.size(); }

 private:
  struct Entry {
    std::string key;
    std::string hash;
    uint64_t expires_ms;
  };
  std::string key_for(std::string_view user, std::string_view password) const;

  size_t capacity_;
  uint64_t ttl_ms_;
  std::string secret_;
  std::list<Entry> order_;  // oldest first
  std::unordered_map<std::string, std::list<Entry>::iterator> by_key_;
};

}  // namespace gw::auth
