// Placeholder: replaced by the "auth" reader.
#include "gateway/config_project_parts.h"

namespace gw {

std::optional<ConfigError> read_auth(const config_json::Obj& top, const std::string&,
                                     std::optional<AuthOptions>&) {
  if (top.find("auth")) return top.error("auth", "is not supported yet");
  return std::nullopt;
}

}  // namespace gw
