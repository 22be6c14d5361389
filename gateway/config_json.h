// Internal to the configuration loaders (config.cpp: the --config file,
// config_project.cpp: project.json): strict JSON reading with errors that
// name the file and the field. Only these files include nlohmann/json.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "gateway/config.h"

namespace gw::config_json {

using Json = nlohmann::json;

std::string errno_text(int err);
// Reads and parses a small JSON file (comments allowed, duplicate keys
// rejected); returns why it cannot.
std::optional<std::string> load_json_file(const std::string& path, Json& out);
std::string strip_trailing_slashes(std::string_view path);
// A path from a file, relative to the file's directory.
std::string resolve_from(const std::string& base_dir, const std::string& path);
std::optional<ConfigError> as_object(const Json& j, const std::string& file,
                                     const std::string& path);

// One JSON object being read. Errors name "FILE: path.key".
class Obj {
 public:
  Obj(const Json& json, std::string file, std::string path)
      : json_(json), file_(std::move(file)), path_(std::move(path)) {}

  std::string where(std::string_view key) const {
    return file_ + ": " + (path_.empty() ? std::string(key) : path_ + "." + std::string(key));
  }
  ConfigError error(std::string_view key, std::string why) const {
    return ConfigError{where(key), std::move(why)};
  }
  const Json* find(std::string_view key) const {
    auto it = json_.find(key);
    return it == json_.end() ? nullptr : &*it;
  }
  const std::string& file() const { return file_; }
  std::string child_path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  std::optional<ConfigError> only(std::initializer_list<std::string_view> allowed) const {
    for (const auto& [key, value] : json_.items()) {
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      std::string list;
      for (auto name : allowed) list += (list.empty() ? "" : ", ") + std::string(name);
      return error(key, "unknown key (expected one of: " + list + ")");
    }
    return std::nullopt;
  }

  std::optional<ConfigError> get_string(std::string_view key, std::string& out,
                                        bool allow_empty = false) const {
    const Json* j = find(key);
    if (!j) return std::nullopt;
    if (!j->is_string()) return error(key, "must be a string");
    const auto& s = j->get_ref<const std::string&>();
    if (s.empty() && !allow_empty) return error(key, "must not be empty");
    out = s;
    return std::nullopt;
  }

  std::optional<ConfigError> get_opt_string(std::string_view key,
                                            std::optional<std::string>& out) const {
    if (!find(key)) return std::nullopt;
    std::string s;
    if (auto e = get_string(key, s)) return e;
    out = s;
    return std::nullopt;
  }

  std::optional<ConfigError> get_bool(std::string_view key, std::optional<bool>& out) const {
    const Json* j = find(key);
    if (!j) return std::nullopt;
    if (!j->is_boolean()) return error(key, "must be true or false");
    out = j->get<bool>();
    return std::nullopt;
  }

  // An integer in [min, max]; floats, strings and negatives are rejected.
  std::optional<ConfigError> get_uint(std::string_view key, uint64_t min, uint64_t max,
                                      uint64_t& out) const {
    const Json* j = find(key);
    if (!j) return std::nullopt;
    bool ok = j->is_number_unsigned();
    uint64_t value = ok ? j->get<uint64_t>() : 0;
    if (!ok || value < min || value > max) {
      if (max == std::numeric_limits<uint64_t>::max() && min == 0) {
        return error(key, "must be a non-negative integer");
      }
      return error(key, "must be an integer " + std::to_string(min) + "-" + std::to_string(max));
    }
    out = value;
    return std::nullopt;
  }

  // An octal mode written as a string: JSON has no octal numbers, and a
  // decimal 660 would silently mean something else.
  std::optional<ConfigError> get_mode(std::string_view key, std::optional<uint32_t>& out,
                                      std::string_view example) const {
    const Json* j = find(key);
    if (!j) return std::nullopt;
    if (!j->is_string()) {
      return error(key, "must be an octal string such as \"" + std::string(example) + "\"");
    }
    uint32_t mode = 0;
    if (auto why = parse_octal_mode(j->get_ref<const std::string&>(), mode))
      return error(key, *why);
    out = mode;
    return std::nullopt;
  }

 private:
  const Json& json_;  // borrowed: the parsed document outlives every Obj
  std::string file_;
  std::string path_;
};

}  // namespace gw::config_json
