// tests/daemon/file_watcher_util.hpp — what the FileWatcher tests share: a fixture with a
// private directory, file writers, and a pump that drives the watcher exactly as the
// daemon's loop does (poll() on fd() until deadline(), on_readable(), tick()). Waiting is
// always poll() with a deadline, never a sleep.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "watch/file_watcher.hpp"

namespace shmconf::daemon::watch_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = FileWatcher::Clock;

inline constexpr std::chrono::milliseconds kDebounce{20};
// Generous: a report normally takes one debounce; this only bounds a broken watcher.
inline constexpr Clock::duration kReportLimit = 5s;

inline FileWatcher::Options quick(std::chrono::milliseconds debounce = kDebounce,
                                  std::chrono::milliseconds poll_interval = 0ms) {
  FileWatcher::Options o;
  o.debounce = debounce;
  o.poll_interval = poll_interval;
  return o;
}

// One turn of the daemon's loop until tick() reports or `until` passes.
inline bool pump_until(FileWatcher& w, Clock::time_point until) {
  for (;;) {
    const auto now = Clock::now();
    if (w.tick(now)) return true;
    if (now >= until) return false;
    auto wake = until;
    if (const auto d = w.deadline()) wake = std::min(wake, *d);
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(
        std::max<Clock::duration>(wake - now, Clock::duration::zero()));
    pollfd p{w.fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) > 0 && (p.revents & POLLIN)) {
      w.on_readable();
    }
  }
}

inline bool wait_for_report(FileWatcher& w) { return pump_until(w, Clock::now() + kReportLimit); }

// Drives the watcher for the whole `period` and counts the reports.
inline int count_reports(FileWatcher& w, Clock::duration period) {
  const auto until = Clock::now() + period;
  int n = 0;
  while (pump_until(w, until)) ++n;
  return n;
}

// A plain in-place write: open(O_TRUNC), write, close — what most programs do.
inline void write_file(const std::string& path, const std::string& content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  ASSERT_EQ(::close(fd), 0);
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline int run(const std::string& command) { return std::system(command.c_str()); }

class FileWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "shmconf_fw_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = fs::canonical(tmpl).string();  // watched_dirs() reports canonical paths
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string at(const std::string& rel) const { return dir_ + "/" + rel; }

  // The Kubernetes ConfigMap volume layout, step by step as the kubelet's AtomicWriter
  // does it: new timestamped dir, `..data_tmp` symlink to it, rename over `..data`, then
  // delete the old generation.
  void k8s_publish(const std::string& gen, const std::string& content, const std::string& old_gen) {
    ASSERT_TRUE(fs::create_directory(at(gen)));
    write_file(at(gen + "/app.yaml"), content);
    ASSERT_EQ(::symlink(gen.c_str(), at("..data_tmp").c_str()), 0);
    ASSERT_EQ(::rename(at("..data_tmp").c_str(), at("..data").c_str()), 0);
    if (!old_gen.empty()) fs::remove_all(at(old_gen));
  }
  void k8s_initial(const std::string& gen, const std::string& content) {
    ASSERT_TRUE(fs::create_directory(at(gen)));
    write_file(at(gen + "/app.yaml"), content);
    ASSERT_EQ(::symlink(gen.c_str(), at("..data").c_str()), 0);
    ASSERT_EQ(::symlink("..data/app.yaml", at("app.yaml").c_str()), 0);
  }

  std::string dir_;
};

}  // namespace shmconf::daemon::watch_test
