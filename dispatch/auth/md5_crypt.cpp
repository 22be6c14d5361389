#include "dispatch/auth/md5_crypt.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <memory>
#include <stdexcept>

namespace gw::auth {

namespace {

constexpr char kAlphabet[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr size_t kMaxSalt = 8;
constexpr int kRounds = 1000;

struct CtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// MD5 computations fed piece by piece, one after the other on one context
// (the thousand rounds would otherwise allocate a thousand contexts).
class Md5 {
 public:
  Md5() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_) throw std::runtime_error("MD5 unavailable");
    restart();
  }
  void restart() {
    // Fetched once: OpenSSL 3 would otherwise look the algorithm up on each
    // of the thousand initialisations.
    static EVP_MD* const md5 = EVP_MD_fetch(nullptr, "MD5", nullptr);
    if (md5 == nullptr || EVP_DigestInit_ex(ctx_.get(), md5, nullptr) != 1) {
      throw std::runtime_error("MD5 unavailable");
    }
  }
  void add(std::string_view s) {
    if (!s.empty() && EVP_DigestUpdate(ctx_.get(), s.data(), s.size()) != 1) {
      throw std::runtime_error("MD5 update failed");
    }
  }
  // The digest of what was added; the context is ready for the next one.
  std::string finish() {
    unsigned char out[16];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), out, &n) != 1 || n != 16) {
      throw std::runtime_error("MD5 final failed");
    }
    restart();
    return std::string(reinterpret_cast<const char*>(out), 16);
  }

 private:
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx_;
};

// Appends `count` characters of `value`, six bits each, lowest bits first.
void append_base64ish(std::string& out, uint32_t value, int count) {
  while (count-- > 0) {
    out.push_back(kAlphabet[value & 0x3F]);
    value >>= 6;
  }
}

uint32_t byte_at(const std::string& s, size_t i) {
  return static_cast<unsigned char>(s[i]);
}

}  // namespace

std::optional<std::string> md5_crypt(std::string_view password, std::string_view setting) {
  std::string_view magic;
  if (setting.starts_with("$apr1$")) {
    magic = "$apr1$";
  } else if (setting.starts_with("$1$")) {
    magic = "$1$";
  } else {
    return std::nullopt;
  }
  std::string_view salt = setting.substr(magic.size());
  salt = salt.substr(0, salt.find('$'));
  if (salt.size() > kMaxSalt) salt = salt.substr(0, kMaxSalt);

  // The "alternate" digest: password, salt, password.
  Md5 md;
  md.add(password);
  md.add(salt);
  md.add(password);
  std::string alternate = md.finish();

  md.add(password);
  md.add(magic);
  md.add(salt);
  // As many bytes of the alternate digest as the password is long.
  for (size_t left = password.size(); left > 0; left -= std::min<size_t>(left, 16)) {
    md.add(std::string_view(alternate).substr(0, std::min<size_t>(left, 16)));
  }
  // For each bit of the length, lowest first: a NUL byte for a one, the
  // first password byte for a zero.
  const std::string_view first =
      password.empty() ? std::string_view("\0", 1) : password.substr(0, 1);
  for (size_t bits = password.size(); bits != 0; bits >>= 1) {
    md.add((bits & 1) != 0 ? std::string_view("\0", 1) : first);
  }
  std::string result = md.finish();

  // The slow part: a thousand rounds mixing password, salt and the result.
  for (int round = 0; round < kRounds; ++round) {
    if (round & 1) {
      md.add(password);
    } else {
      md.add(result);
    }
    if (round % 3 != 0) md.add(salt);
    if (round % 7 != 0) md.add(password);
    if (round & 1) {
      md.add(result);
    } else {
      md.add(password);
    }
    result = md.finish();
  }

  std::string out;
  out.reserve(magic.size() + salt.size() + 1 + 22);
  out.append(magic);
  out.append(salt);
  out.push_back('$');
  // The 16 bytes, in groups of three taken from spread positions.
  static constexpr int kGroups[5][3] = {{0, 6, 12}, {1, 7, 13}, {2, 8, 14}, {3, 9, 15}, {4, 10, 5}};
  for (const auto& g : kGroups) {
    append_base64ish(
        out, byte_at(result, g[0]) << 16 | byte_at(result, g[1]) << 8 | byte_at(result, g[2]), 4);
  }
  append_base64ish(out, byte_at(result, 11), 2);
  OPENSSL_cleanse(result.data(), result.size());
  OPENSSL_cleanse(alternate.data(), alternate.size());
  return out;
}

}  // namespace gw::auth
