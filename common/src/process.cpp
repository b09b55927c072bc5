#include "edgefed/common/process.hpp"

#include <cstdio>
#include <cstring>

namespace edgefed {
namespace {

std::size_t status_kib(const char* field) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  std::size_t kib = 0;
  const std::size_t len = std::strlen(field);
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, field, len) == 0 && line[len] == ':') {
      std::sscanf(line + len + 1, "%zu", &kib);
      break;
    }
  }
  std::fclose(f);
  return kib;
}

}  // namespace

std::size_t resident_bytes() { return status_kib("VmRSS") * 1024; }
std::size_t peak_resident_bytes() { return status_kib("VmHWM") * 1024; }

bool reset_peak_resident() {
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (!f) return false;
  const bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

}  // namespace edgefed
