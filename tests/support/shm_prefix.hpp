// tests/support/shm_prefix.hpp — removes every shared-memory object a test
// left under its prefix ("<prefix>.<ns>.ctl", "<prefix>.<ns>.seg.<id>"), so
// tests that run a NamespaceService or a Publisher leave /dev/shm clean.
#pragma once

#include <dirent.h>
#include <sys/mman.h>

#include <string>
#include <string_view>
#include <vector>

namespace shmconf::test {

inline void unlink_prefix(const std::string& prefix) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir("/dev/shm")) {
    while (const dirent* e = ::readdir(d)) {
      if (std::string_view(e->d_name).starts_with(prefix + ".")) names.emplace_back(e->d_name);
    }
    ::closedir(d);
  }
  for (const auto& n : names) ::shm_unlink(("/" + n).c_str());
}

}  // namespace shmconf::test
