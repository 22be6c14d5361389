// A JSON writer that appends to a string as it goes, with no document tree:
// the echo backend answers every request with one JSON object, and building
// an nlohmann tree for it cost more than the rest of the request together.
//
// Its output is byte for byte what nlohmann's dump(2, ' ', false,
// error_handler_t::replace) gives for the same document (members in the
// order written, two-space indentation, "[]"/"{}" when empty, control
// characters escaped, UTF-8 kept, bytes that are not UTF-8 replaced by
// U+FFFD), so that scripts reading the echo see no difference.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gw {

class PrettyJson {
 public:
  explicit PrettyJson(std::string& out) : out_(out) {}

  void begin_object();
  void end_object();
  void begin_array();
  void end_array();
  // Continues an object another writer (for the same string) left open
  // after at least one member.
  void reopen_object() { open_.push_back(true); }
  // The next member's name (inside an object, before its value).
  void key(std::string_view name);

  void value(std::string_view s);
  void value(const char* s) { value(std::string_view(s)); }
  void value(uint64_t n);
  void value(bool b);
  void null();
  template <typename T>
  void member(std::string_view name, const T& v) {
    key(name);
    value(v);
  }

  // Levels still open; a document is complete at 0.
  size_t depth() const { return open_.size(); }

 private:
  void before_value();
  void newline_indent(size_t level);
  void close(char bracket);
  void string(std::string_view s);

  std::string& out_;
  std::vector<bool> open_;  // per open level: whether it has an element yet
  bool after_key_ = false;
};

}  // namespace gw
