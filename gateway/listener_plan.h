// What a reload does to the listening sockets: which running socket each
// listener of the new configuration keeps, which sockets are opened and
// which are closed. Pure: settings in, a plan out (the Server applies it).
//
// A socket is known by its address, not by its settings: a listener whose
// base_path, protocol or limits changed keeps its socket (so that nothing
// is refused while it changes) and only the connections accepted after the
// reload see the new settings.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "gateway/config.h"

namespace gw {

// "a, b, c", or "none": the lists of a reload's log lines.
std::string name_list(const std::vector<std::string>& names);

struct ListenerPlan {
  // Parallel to the new listeners: the index of the running listener whose
  // socket it keeps, or nullopt when a new socket is opened.
  std::vector<std::optional<size_t>> source;
  // Running listeners no new one keeps (indices, ascending).
  std::vector<size_t> closed;
  // Names for the log ("proto:address" unless named): unchanged settings,
  // same socket with changed settings, new sockets, closed sockets.
  std::vector<std::string> kept, changed, opened, removed;

  // "kept a; changed none; opened b; closed c" (for the log).
  std::string summary() const;
};

// Whether two listener settings name the same socket: the same TCP host and
// port, the same unix path, fd 0, or the same inherited descriptor.
bool same_socket(const ListenerConfig& a, const ListenerConfig& b);

// Each running socket is kept by at most one new listener; a listener with
// unchanged settings is matched first, then one at the same address.
ListenerPlan plan_listeners(const std::vector<ListenerConfig>& running,
                            const std::vector<ListenerConfig>& next);

}  // namespace gw
