#include "dispatch/auth/digest.h"

#include <openssl/crypto.h>

#include "dispatch/auth/auth_crypto.h"

namespace gw::auth {

namespace {

constexpr size_t kTimeDigits = 16;
constexpr size_t kMacDigits = 32;

std::string nonce_mac(std::string_view key, std::string_view realm, std::string_view time_hex) {
  std::string data(time_hex);
  data.push_back('\0');
  data.append(realm);
  Mac256 mac = hmac_sha256(key, data);
  return to_hex(std::string_view(reinterpret_cast<const char*>(mac.data()), kMacDigits / 2));
}

std::string time_hex(uint64_t t) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(kTimeDigits, '0');
  for (size_t i = kTimeDigits; i-- > 0; t >>= 4) out[i] = kHex[t & 15];
  return out;
}

bool parse_time(std::string_view hex, uint64_t& t) {
  t = 0;
  for (char c : hex) {
    int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (v < 0) return false;
    t = t << 4 | static_cast<uint64_t>(v);
  }
  return true;
}

}  // namespace

std::string digest_ha1(std::string_view user, std::string_view realm, std::string_view password) {
  std::string a1;
  a1.reserve(user.size() + realm.size() + password.size() + 2);
  a1.append(user).append(":").append(realm).append(":").append(password);
  std::string out = md5_hex(a1);
  OPENSSL_cleanse(a1.data(), a1.size());
  return out;
}

std::string digest_response(std::string_view ha1, std::string_view method,
                            const DigestCredentials& c) {
  std::string a2;
  a2.append(method).append(":").append(c.uri);
  std::string ha2 = md5_hex(a2);
  std::string kd;
  kd.append(ha1).append(":").append(c.nonce).append(":").append(c.nc).append(":");
  kd.append(c.cnonce).append(":").append(c.qop).append(":").append(ha2);
  return md5_hex(kd);
}

bool digest_matches(std::string_view ha1, std::string_view method, const DigestCredentials& c) {
  return equal_constant_time(digest_response(ha1, method, c), c.response);
}

std::string make_nonce(std::string_view key, std::string_view realm, uint64_t now_s) {
  std::string t = time_hex(now_s);
  return t + nonce_mac(key, realm, t);
}

NonceState check_nonce(std::string_view key, std::string_view realm, std::string_view nonce,
                       uint64_t now_s, uint64_t lifetime_s) {
  if (nonce.size() != kTimeDigits + kMacDigits) return NonceState::Invalid;
  std::string_view t_hex = nonce.substr(0, kTimeDigits);
  uint64_t t = 0;
  if (!parse_time(t_hex, t)) return NonceState::Invalid;
  if (!equal_constant_time(nonce_mac(key, realm, t_hex), nonce.substr(kTimeDigits))) {
    return NonceState::Invalid;
  }
  if (t > now_s) return NonceState::Invalid;
  return now_s - t > lifetime_s ? NonceState::Stale : NonceState::Valid;
}

const std::string& process_key() {
  static const std::string key = random_bytes(32);
  return key;
}

}  // namespace gw::auth
