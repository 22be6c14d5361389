// Feeds one input to a fresh codec in every way a socket could deliver it:
// whole, and split at every single point into two reads. Tests compare the
// events of each split with the events of the whole feed.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace gw::test {

// Calls `check(parts)` for the whole input and for every two-way split.
inline void for_each_split(std::string_view input,
                           const std::function<void(std::string_view, std::string_view)>& check) {
  check(input, std::string_view());
  for (size_t i = 1; i < input.size(); ++i) check(input.substr(0, i), input.substr(i));
}

}  // namespace gw::test
