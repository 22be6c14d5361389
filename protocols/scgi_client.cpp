#include "protocols/scgi_client.h"

namespace gw::scgi {

namespace {

void append_pair(std::string& block, std::string_view name, std::string_view value) {
  block.append(name);
  block.push_back('\0');
  block.append(value);
  block.push_back('\0');
}

}  // namespace

std::string encode_request_head(const std::vector<Header>& cgi_vars, uint64_t content_length) {
  std::string block;
  append_pair(block, "CONTENT_LENGTH", std::to_string(content_length));
  append_pair(block, "SCGI", "1");
  for (const auto& v : cgi_vars) {
    if (v.name.empty() || v.name == "CONTENT_LENGTH" || v.name == "SCGI") continue;
    if (v.name.find('\0') != std::string::npos || v.value.find('\0') != std::string::npos) continue;
    append_pair(block, v.name, v.value);
  }
  return std::to_string(block.size()) + ":" + block + ",";
}

}  // namespace gw::scgi
