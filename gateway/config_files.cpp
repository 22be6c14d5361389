// Placeholder: replaced by the "static" and "sendfile" readers.
#include "gateway/config_project_parts.h"

namespace gw {

std::optional<ConfigError> read_static_mounts(const config_json::Obj& top, const std::string&,
                                              std::vector<StaticMount>&) {
  if (top.find("static")) return top.error("static", "is not supported yet");
  return std::nullopt;
}

std::optional<ConfigError> read_sendfile(const config_json::Obj& top, const std::string&,
                                         SendfileOptions&) {
  if (top.find("sendfile")) return top.error("sendfile", "is not supported yet");
  return std::nullopt;
}

}  // namespace gw
