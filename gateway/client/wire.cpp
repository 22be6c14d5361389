// Dispatch from a protocol to its request encoder and response reader.
#include "gateway/client/wire.h"

#include "protocols/cgi_params.h"

namespace gw::client {

std::unique_ptr<ResponseReader> make_reader(const ReaderOptions& options) {
  switch (options.protocol) {
    case Protocol::FastCgi:
      return make_fastcgi_reader(options);
    case Protocol::Scgi:
      return make_scgi_reader(options);
    case Protocol::Ajp13:
      return make_ajp_reader(options);
    case Protocol::Http:
      break;
  }
  return make_http_reader(options);
}

std::unique_ptr<RequestEncoder> make_encoder(const RequestPlan& plan, std::string& error) {
  switch (plan.protocol) {
    case Protocol::FastCgi:
      return make_fastcgi_encoder(plan);
    case Protocol::Scgi:
      return make_scgi_encoder(plan, error);
    case Protocol::Ajp13:
      return make_ajp_encoder(plan, error);
    case Protocol::Http:
      break;
  }
  return make_http_encoder(plan, error);
}

std::string shown(std::string_view value, size_t max) {
  return quote_for_log(value, max);
}

std::string escaped(std::string_view value, size_t max) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < value.size() && i < max; ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c >= 0x7F || c == '\\') {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (value.size() > max) out += "...";
  return out;
}

}  // namespace gw::client
