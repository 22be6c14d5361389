// Static mounts: picks a mount by prefix, or passes the request on.
#include "dispatch/backends/static_mounts.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>

#include "dispatch/backends/static_files.h"

namespace gw {

namespace {

// `path` is `prefix` or lies below it at a segment boundary.
bool is_below(std::string_view path, std::string_view prefix) {
  return path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

class StaticMountsBackend : public Backend {
 public:
  StaticMountsBackend(std::unique_ptr<Backend> inner, const std::vector<StaticMount>& mounts)
      : inner_(std::move(inner)) {
    for (const auto& m : mounts) {
      mounts_.push_back({m.prefix, std::make_unique<StaticBackend>(
                                       m.dir, std::vector<std::string>{"index.html"})});
    }
    // Longest first: the first match is the most specific.
    std::stable_sort(mounts_.begin(), mounts_.end(), [](const Mount& a, const Mount& b) {
      return a.prefix.size() > b.prefix.size();
    });
  }

  std::unique_ptr<Exchange> start(const Request& request, ResponseSink& sink) override {
    for (const auto& m : mounts_) {
      if (!is_below(request.path_info, m.prefix)) continue;
      Request below = request;
      below.script_name += m.prefix;
      below.path_info = request.path_info.substr(m.prefix.size());
      return m.files->start(below, sink);
    }
    return inner_->start(request, sink);
  }
  std::string_view kind() const override { return inner_->kind(); }
  void shutdown() override { inner_->shutdown(); }
  void report(BackendReport& out) const override { inner_->report(out); }

 private:
  struct Mount {
    std::string prefix;
    std::unique_ptr<StaticBackend> files;
  };
  std::unique_ptr<Backend> inner_;
  std::vector<Mount> mounts_;
};

}  // namespace

std::unique_ptr<Backend> wrap_static_mounts(std::unique_ptr<Backend> inner,
                                            const std::vector<StaticMount>& mounts) {
  if (mounts.empty()) return inner;
  return std::make_unique<StaticMountsBackend>(std::move(inner), mounts);
}

}  // namespace gw
