#include "dispatch/auth/password_hash.h"

#include <crypt.h>
#include <openssl/crypto.h>

#include <cstring>
#include <memory>
#include <string>

#include "dispatch/auth/auth_crypto.h"
#include "dispatch/auth/md5_crypt.h"

namespace gw::auth {

namespace {

// Bounds what is handed to libcrypt: bcrypt uses 72 bytes and the others
// have no reason to see more than this.
constexpr size_t kMaxPassword = 4096;

bool is_crypt_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '/';
}

bool all_crypt_chars(std::string_view s) {
  for (char c : s) {
    if (!is_crypt_char(c)) return false;
  }
  return true;
}

// libxcrypt through its reentrant entry point: the output lands in our own
// crypt_data, so concurrent pool threads never share state.
bool verify_with_libcrypt(std::string_view password, std::string_view hash) {
  if (password.find('\0') != std::string_view::npos) return false;  // C strings
  if (hash.size() >= CRYPT_OUTPUT_SIZE) return false;
  std::string pw(password);
  std::string setting(hash);
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* out = crypt_rn(pw.c_str(), setting.c_str(), data.get(), sizeof(crypt_data));
  bool ok = out != nullptr && out[0] != '*' && equal_constant_time(out, hash);
  OPENSSL_cleanse(pw.data(), pw.size());
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  return ok;
}

}  // namespace

HashKind hash_kind(std::string_view h) {
  if (h.starts_with("$2y$") || h.starts_with("$2a$") || h.starts_with("$2b$")) {
    return HashKind::Bcrypt;
  }
  if (h.starts_with("$6$")) return HashKind::Sha512;
  if (h.starts_with("$5$")) return HashKind::Sha256;
  if (h.starts_with("$1$")) return HashKind::Md5Crypt;
  if (h.starts_with("$apr1$")) return HashKind::Apr1;
  if (h.starts_with("{SHA}")) return HashKind::Sha1;
  if (h.size() == 13 && all_crypt_chars(h)) return HashKind::Des;
  return HashKind::Unknown;
}

std::string_view hash_kind_name(HashKind kind) {
  switch (kind) {
    case HashKind::Bcrypt:
      return "bcrypt";
    case HashKind::Sha512:
      return "sha512-crypt";
    case HashKind::Sha256:
      return "sha256-crypt";
    case HashKind::Md5Crypt:
      return "md5-crypt";
    case HashKind::Apr1:
      return "apr1";
    case HashKind::Sha1:
      return "{SHA}";
    case HashKind::Des:
      return "crypt";
    case HashKind::Unknown:
      break;
  }
  return "unknown";
}

bool is_slow(HashKind kind) {
  switch (kind) {
    case HashKind::Bcrypt:
    case HashKind::Sha512:
    case HashKind::Sha256:
    case HashKind::Md5Crypt:
    case HashKind::Apr1:
      return true;
    default:
      return false;
  }
}

bool verify_password(std::string_view password, std::string_view hash) {
  if (password.size() > kMaxPassword) return false;
  switch (hash_kind(hash)) {
    case HashKind::Bcrypt:
    case HashKind::Sha512:
    case HashKind::Sha256:
    case HashKind::Md5Crypt:
    case HashKind::Des:
      return verify_with_libcrypt(password, hash);
    case HashKind::Apr1: {
      std::optional<std::string> computed = md5_crypt(password, hash);
      return computed && equal_constant_time(*computed, hash);
    }
    case HashKind::Sha1:
      return equal_constant_time(base64_encode(sha1_raw(password)), hash.substr(5));
    case HashKind::Unknown:
      break;
  }
  return false;
}

}  // namespace gw::auth
