// Placeholder expansion and the backoff arithmetic (see placeholders.h).
#include "gateway/spawn/placeholders.h"

#include <algorithm>

namespace gw {

std::string expand_placeholders(std::string_view text, const PlaceholderValues& values) {
  struct Entry {
    std::string_view token;
    const std::string* value;
  };
  const Entry entries[] = {{"{port}", &values.port},
                           {"{socket}", &values.socket},
                           {"{project}", &values.project},
                           {"{name}", &values.name},
                           {"{instance}", &values.instance}};
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '{') {
      bool replaced = false;
      for (const Entry& e : entries) {
        if (text.substr(i, e.token.size()) == e.token) {
          out += *e.value;
          i += e.token.size();
          replaced = true;
          break;
        }
      }
      if (replaced) continue;
    }
    out += text[i++];
  }
  return out;
}

bool has_placeholder(std::string_view text, std::string_view name) {
  std::string token = "{" + std::string(name) + "}";
  return text.find(token) != std::string_view::npos;
}

uint64_t backoff_delay_ms(uint32_t failures, uint32_t initial_ms, uint32_t max_ms) {
  const uint64_t cap = std::max(initial_ms, max_ms);
  uint64_t delay = initial_ms;
  // Doubling stops at the cap, so the 64-bit value never overflows however
  // many failures there were.
  for (uint32_t n = 1; n < failures && delay < cap; ++n) delay *= 2;
  return std::min(delay, cap);
}

}  // namespace gw
