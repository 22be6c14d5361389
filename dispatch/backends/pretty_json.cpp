// See pretty_json.h: nlohmann's pretty-printed format, written directly.
#include "dispatch/backends/pretty_json.h"

#include <array>
#include <nlohmann/json.hpp>

namespace gw {

void PrettyJson::newline_indent(size_t level) {
  out_.push_back('\n');
  out_.append(2 * level, ' ');
}

void PrettyJson::before_value() {
  if (after_key_) {  // the member's name and ": " are written already
    after_key_ = false;
    return;
  }
  if (open_.empty()) return;
  if (open_.back()) out_.push_back(',');
  open_.back() = true;
  newline_indent(open_.size());
}

void PrettyJson::key(std::string_view name) {
  before_value();
  string(name);
  out_.append(": ");
  after_key_ = true;
}

void PrettyJson::begin_object() {
  before_value();
  out_.push_back('{');
  open_.push_back(false);
}

void PrettyJson::begin_array() {
  before_value();
  out_.push_back('[');
  open_.push_back(false);
}

void PrettyJson::close(char bracket) {
  bool had_elements = open_.back();
  open_.pop_back();
  if (had_elements) newline_indent(open_.size());
  out_.push_back(bracket);
}

void PrettyJson::end_object() {
  close('}');
}
void PrettyJson::end_array() {
  close(']');
}

void PrettyJson::value(std::string_view s) {
  before_value();
  string(s);
}

void PrettyJson::value(uint64_t n) {
  before_value();
  out_.append(std::to_string(n));
}

void PrettyJson::value(bool b) {
  before_value();
  out_.append(b ? "true" : "false");
}

void PrettyJson::null() {
  before_value();
  out_.append("null");
}

void PrettyJson::string(std::string_view s) {
  // Bytes copied as they are: printable ASCII but '"' and '\\'. Runs of them
  // are appended at once, which is most of every string.
  static constexpr std::array<bool, 256> kPlain = [] {
    std::array<bool, 256> t{};
    for (int c = 0x20; c < 0x80; ++c) t[c] = c != '"' && c != '\\';
    return t;
  }();
  static constexpr char kHex[] = "0123456789abcdef";
  const size_t start = out_.size();
  out_.push_back('"');
  size_t run = 0;  // the first byte not copied yet
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (kPlain[c]) continue;
    if (c >= 0x80) {
      // Not ASCII: nlohmann's own serializer decides what is valid UTF-8 and
      // how an invalid sequence is replaced; rare enough to pay for it.
      out_.resize(start);
      out_.append(nlohmann::json(std::string(s))
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      return;
    }
    out_.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out_.append("\\\"");
        break;
      case '\\':
        out_.append("\\\\");
        break;
      case '\b':
        out_.append("\\b");
        break;
      case '\f':
        out_.append("\\f");
        break;
      case '\n':
        out_.append("\\n");
        break;
      case '\r':
        out_.append("\\r");
        break;
      case '\t':
        out_.append("\\t");
        break;
      default:  // the other control characters
        out_.append("\\u00");
        out_.push_back(kHex[c >> 4]);
        out_.push_back(kHex[c & 0xF]);
    }
  }
  out_.append(s.data() + run, s.size() - run);
  out_.push_back('"');
}

}  // namespace gw
