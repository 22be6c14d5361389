#include "dispatch/auth/verify_cache.h"

#include "dispatch/auth/auth_crypto.h"

namespace gw::auth {

VerifyCache::VerifyCache(size_t capacity, uint64_t ttl_ms)
    : capacity_(capacity), ttl_ms_(ttl_ms), secret_(random_bytes(32)) {}

std::string VerifyCache::key_for(std::string_view user, std::string_view password) const {
  Mac256 mac = hmac_sha256(secret_, password);
  std::string key(user);
  key.push_back('\0');
  key.append(reinterpret_cast<const char*>(mac.data()), mac.size());
  return key;
}

bool VerifyCache::contains(std::string_view user, std::string_view password, std::string_view hash,
                           uint64_t now_ms) {
  if (capacity_ == 0) return false;
  auto it = by_key_.find(key_for(user, password));
  if (it == by_key_.end()) return false;
  if (now_ms >= it->second->expires_ms) {
    order_.erase(it->second);
    by_key_.erase(it);
    return false;
  }
  return equal_constant_time(it->second->hash, hash);
}

void VerifyCache::insert(std::string_view user, std::string_view password, std::string_view hash,
                         uint64_t now_ms) {
  if (capacity_ == 0) return;
  std::string key = key_for(user, password);
  if (auto it = by_key_.find(key); it != by_key_.end()) {
    order_.erase(it->second);
    by_key_.erase(it);
  }
  while (by_key_.size() >= capacity_) {
    by_key_.erase(order_.front().key);
    order_.pop_front();
  }
  order_.push_back(Entry{key, std::string(hash), now_ms + ttl_ms_});
  by_key_.emplace(std::move(key), std::prev(order_.end()));
}

void VerifyCache::clear() {
  by_key_.clear();
  order_.clear();
}

}  // namespace gw::auth
