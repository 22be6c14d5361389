// What every backend that connects to an app (http, fastcgi, scgi) does with
// its "upstream" setting once, at setup; and the Exchange a backend returns
// for a request it refused at once.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "dispatch/backend.h"
#include "gateway/io/address.h"

namespace gw {

struct Upstream {
  io::Address address;  // numeric host (a name resolved once, first address) or unix path
  std::string name;     // for log lines: "app:8080 (10.0.0.7:8080)", "unix:/run/app.sock"
};

// Parses and resolves `text`. On failure returns nullopt and says why in
// `error`, prefixed with `label` ("fastcgi upstream"); the backend then
// answers every request 502 with it.
std::optional<Upstream> prepare_upstream(std::string_view label, const std::string& text,
                                         std::string& error);

// Answers nothing more: the request was answered (refused) in start().
class RefusedExchange final : public Exchange {
 public:
  void send_body(std::string_view) override {}
  void finish_body() override {}
  void cancel() override {}
};

}  // namespace gw
