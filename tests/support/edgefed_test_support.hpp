// Small helpers shared by tests: temp directories and reading golden files.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

namespace edgefed::testing {

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "edgefed-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) ? pattern : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::string data_path(const std::string& name) {
  return std::string(EDGEFED_TEST_DATA_DIR) + "/" + name;
}

}  // namespace edgefed::testing
