// A fresh directory under /tmp for a test, removed with everything in it.
// Its path is canonical, so paths built from it compare equal to what the
// loaders resolve.
#pragma once

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace gw::test {

class TempDir {
 public:
  // /tmp/gw-LABEL-XXXXXX
  explicit TempDir(std::string_view label = "test") {
    std::string tmpl = "/tmp/gw-" + std::string(label) + "-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = std::filesystem::canonical(tmpl).string();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

  // Writes `text` to `name` (relative), creating parent directories;
  // returns the full path.
  std::string write(const std::string& name, const std::string& text, int mode = 0644) const {
    std::string full = *this / name;
    std::filesystem::create_directories(std::filesystem::path(full).parent_path());
    std::ofstream(full, std::ios::binary) << text;
    ::chmod(full.c_str(), static_cast<mode_t>(mode));
    return full;
  }
  // As write(), but through a rename, as editors and htpasswd do: the file
  // gets a new inode.
  std::string replace(const std::string& name, const std::string& text) const {
    std::string full = *this / name;
    std::string tmp = full + ".tmp";
    write(name + ".tmp", text);
    std::filesystem::rename(tmp, full);
    return full;
  }
  std::string mkdir(const std::string& name) const {
    std::string full = *this / name;
    std::filesystem::create_directories(full);
    return full;
  }
  // The whole file, or "" when it cannot be read.
  std::string read(const std::string& name) const {
    std::ifstream in(*this / name, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void remove(const std::string& name) const { std::filesystem::remove_all(*this / name); }

 private:
  std::string path_;
};

}  // namespace gw::test
