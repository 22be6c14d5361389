#include "gateway/listener_plan.h"

#include "gateway/listener.h"

namespace gw {

std::string name_list(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

namespace {

std::string label(const ListenerConfig& l) {
  return l.name.empty() ? describe_listener(l) : l.name;
}

}  // namespace

std::string ListenerPlan::summary() const {
  return "kept " + name_list(kept) + "; changed " + name_list(changed) + "; opened " +
         name_list(opened) + "; closed " + name_list(removed);
}

bool same_socket(const ListenerConfig& a, const ListenerConfig& b) {
  if (a.inherited_fd >= 0 || b.inherited_fd >= 0) return a.inherited_fd == b.inherited_fd;
  if (a.inherited_fd0 || b.inherited_fd0) return a.inherited_fd0 == b.inherited_fd0;
  if (!a.unix_path.empty() || !b.unix_path.empty()) return a.unix_path == b.unix_path;
  return a.host == b.host && a.port == b.port;
}

ListenerPlan plan_listeners(const std::vector<ListenerConfig>& running,
                            const std::vector<ListenerConfig>& next) {
  ListenerPlan plan;
  plan.source.assign(next.size(), std::nullopt);
  std::vector<bool> taken(running.size(), false);
  // Unchanged settings first, so that a changed listener cannot take the
  // socket an unchanged one at the same address would keep.
  for (size_t i = 0; i < next.size(); ++i) {
    for (size_t j = 0; j < running.size(); ++j) {
      if (!taken[j] && running[j] == next[i]) {
        plan.source[i] = j;
        taken[j] = true;
        break;
      }
    }
  }
  for (size_t i = 0; i < next.size(); ++i) {
    if (plan.source[i]) continue;
    for (size_t j = 0; j < running.size(); ++j) {
      if (!taken[j] && same_socket(running[j], next[i])) {
        plan.source[i] = j;
        taken[j] = true;
        break;
      }
    }
  }
  for (size_t i = 0; i < next.size(); ++i) {
    if (!plan.source[i]) {
      plan.opened.push_back(label(next[i]));
    } else if (running[*plan.source[i]] == next[i]) {
      plan.kept.push_back(label(next[i]));
    } else {
      plan.changed.push_back(label(next[i]));
    }
  }
  for (size_t j = 0; j < running.size(); ++j) {
    if (!taken[j]) {
      plan.closed.push_back(j);
      plan.removed.push_back(label(running[j]));
    }
  }
  return plan;
}

}  // namespace gw
