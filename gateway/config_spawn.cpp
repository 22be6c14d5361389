// Placeholder: replaced by the "spawn" reader.
#include "gateway/config_project_parts.h"

namespace gw {

std::optional<ConfigError> read_spawn(const config_json::Obj& top, const std::string&,
                                      const BackendConfig&, std::optional<SpawnOptions>&) {
  if (top.find("spawn")) return top.error("spawn", "is not supported yet");
  return std::nullopt;
}

}  // namespace gw
