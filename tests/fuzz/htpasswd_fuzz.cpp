// libFuzzer target for the password file parsers (htpasswd and htdigest),
// base64 and the hashes we compute ourselves.
//
// The input is the file text; its last byte picks small limits. Invariants:
//  * both parsers accept any text within the size limit, refuse any beyond;
//  * every entry has a non-empty user without ':' or control characters; an
//    htpasswd hash is non-empty without ':'; an HA1 is 32 lowercase hex;
//  * problems are counted exactly and listed up to the limit;
//  * base64 decoding of the text, when it succeeds, encodes back to the
//    same text (padding aside); encoding then decoding gives the bytes back;
//  * verify_password on cheap hash kinds never crashes, and $apr1$ hashes we
//    compute verify.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dispatch/auth/auth_crypto.h"
#include "dispatch/auth/md5_crypt.h"
#include "dispatch/auth/password_file.h"
#include "dispatch/auth/password_hash.h"

namespace {

void require(bool ok) {
  if (!ok) abort();
}

bool clean(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  gw::auth::PasswordFileLimits limits;
  if (size > 0 && (data[size - 1] & 1) != 0) {
    limits.max_file_bytes = 512;
    limits.max_line_bytes = 40;
    limits.max_problems = 3;
  }
  std::string error;
  gw::auth::HtpasswdFile pw;
  bool ok = gw::auth::parse_htpasswd(text, limits, pw, error);
  require(ok == (size <= limits.max_file_bytes));
  if (ok) {
    require(pw.problems.lines.size() <= limits.max_problems);
    require(pw.problems.lines.size() <= pw.problems.count);
    for (const auto& [user, hash] : pw.hash_by_user) {
      require(!user.empty() && user.find(':') == std::string::npos && clean(user));
      require(!hash.empty() && hash.find(':') == std::string::npos && clean(hash));
      require(pw.find(user) == &hash);
      gw::auth::HashKind kind = gw::auth::hash_kind(hash);
      if (!gw::auth::is_slow(kind) || kind == gw::auth::HashKind::Apr1) {
        (void)gw::auth::verify_password(user, hash);
      }
    }
  }
  gw::auth::HtdigestFile dg;
  ok = gw::auth::parse_htdigest(text, limits, dg, error);
  require(ok == (size <= limits.max_file_bytes));
  if (ok) {
    require(dg.problems.lines.size() <= limits.max_problems);
    for (const auto& [key, ha1] : dg.ha1_by_user_realm) {
      size_t nul = key.find('\0');
      require(nul != std::string::npos && nul > 0);
      require(dg.find(std::string_view(key).substr(0, nul),
                      std::string_view(key).substr(nul + 1)) == &ha1);
      require(ha1.size() == 32 && ha1.find_first_not_of("0123456789abcdef") == std::string::npos);
    }
  }

  std::string_view b64 = text.substr(0, 4096);
  if (auto decoded = gw::auth::base64_decode(b64)) {
    std::string again = gw::auth::base64_encode(*decoded);
    std::string_view unpadded = b64;
    while (!unpadded.empty() && unpadded.back() == '=') unpadded.remove_suffix(1);
    std::string_view again_unpadded = again;
    while (!again_unpadded.empty() && again_unpadded.back() == '=') again_unpadded.remove_suffix(1);
    require(again_unpadded == unpadded);
  }
  require(gw::auth::base64_decode(gw::auth::base64_encode(b64)) == std::string(b64));

  if (size < 300) {
    std::string password(text.substr(0, size / 2));
    std::string setting = "$apr1$" + std::string(text.substr(size / 2));
    if (auto hash = gw::auth::md5_crypt(password, setting)) {
      if (hash->find(':') == std::string::npos &&
          gw::auth::hash_kind(*hash) == gw::auth::HashKind::Apr1) {
        require(gw::auth::verify_password(password, *hash));
      }
    }
  }
  return 0;
}
