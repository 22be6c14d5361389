// Placeholder: replaced by the access-log and status work.
#include "gateway/observability.h"

#include "gateway/server.h"

namespace gw {

namespace {

class NoObservability final : public Observability {
 public:
  void reopen_logs() override {}
  std::optional<std::string> reconfigure(const ServerConfig&,
                                         const std::vector<ProjectConfig>&) override {
    return std::nullopt;
  }
};

}  // namespace

std::unique_ptr<Observability> Observability::attach(Server&, const ServerConfig&,
                                                     const std::vector<ProjectConfig>&,
                                                     std::string&) {
  return std::make_unique<NoObservability>();
}

}  // namespace gw
