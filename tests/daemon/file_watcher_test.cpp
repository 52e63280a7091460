// tests/daemon/file_watcher_test.cpp — FileWatcher against real save styles on a real
// filesystem: each test saves a file the way an editor, a tool or Kubernetes does, then
// drives the watcher exactly as the daemon's loop does (poll() on fd() until deadline(),
// on_readable(), tick()). Waiting is always poll() with a deadline, never a sleep; the
// only pause is the one that is part of the truncate-then-write scenario.
#include "watch/file_watcher.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "file_watcher_util.hpp"

namespace shmconf::daemon {
namespace {

using namespace watch_test;  // NOLINT: the shared fixture and helpers
using namespace std::chrono_literals;

TEST_F(FileWatcherTest, Fd_Created_NonBlockingAndCloseOnExec) {
  FileWatcher w({at("app.yaml")}, quick());
  EXPECT_TRUE(::fcntl(w.fd(), F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(::fcntl(w.fd(), F_GETFD) & FD_CLOEXEC);
}

TEST_F(FileWatcherTest, Deadline_IdleWithoutPolling_IsNullopt) {
  write_file(at("app.yaml"), "v: 1\n");
  FileWatcher w({at("app.yaml")}, quick());
  EXPECT_FALSE(w.deadline().has_value());
  FileWatcher polled({at("app.yaml")}, quick(kDebounce, 1000ms));
  EXPECT_TRUE(polled.deadline().has_value());
}

TEST_F(FileWatcherTest, PlainWrite_InPlace_ReportsOnce) {
  write_file(at("app.yaml"), "v: 1\n");
  FileWatcher w({at("app.yaml")}, quick());
  write_file(at("app.yaml"), "v: 2\n");
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_EQ(read_file(at("app.yaml")), "v: 2\n");
  // Every event of the save was queued before the first poll(): one burst, one report.
  EXPECT_EQ(count_reports(w, 5 * kDebounce), 0);
}

TEST_F(FileWatcherTest, RenameOver_TmpThenRename_Reports) {
  write_file(at("app.yaml"), "v: 1\n");
  FileWatcher w({at("app.yaml")}, quick());
  write_file(at(".app.yaml.tmp"), "v: 2\n");
  ASSERT_EQ(::rename(at(".app.yaml.tmp").c_str(), at("app.yaml").c_str()), 0);
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_EQ(read_file(at("app.yaml")), "v: 2\n");
  EXPECT_EQ(count_reports(w, 5 * kDebounce), 0);
}

// vim with backup/writebackup: original renamed to `app.yaml~`, a new file written in its
// place, the backup removed — the watched inode is gone, the name is new.
TEST_F(FileWatcherTest, VimBackupSave_RenameAwayThenWrite_Reports) {
  write_file(at("app.yaml"), "v: 1\n");
  FileWatcher w({at("app.yaml")}, quick());
  ASSERT_EQ(::rename(at("app.yaml").c_str(), at("app.yaml~").c_str()), 0);
  write_file(at("app.yaml"), "v: 2\n");
  ASSERT_EQ(::unlink(at("app.yaml~").c_str()), 0);
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_EQ(read_file(at("app.yaml")), "v: 2\n");
}

TEST_F(FileWatcherTest, SedInPlace_RealSed_Reports) {
  write_file(at("app.yaml"), "v: 1\n");
  FileWatcher w({at("app.yaml")}, quick());
  ASSERT_EQ(run("sed -i 's/1/2/' '" + at("app.yaml") + "'"), 0);
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_EQ(read_file(at("app.yaml")), "v: 2\n");
  EXPECT_EQ(count_reports(w, 5 * kDebounce), 0);
}

// `> app.yaml` in a shell (or nano) empties the file, then the content follows. The pause
// between the two is shorter than the debounce, so the empty file is never reported.
TEST_F(FileWatcherTest, TruncateThenWrite_PauseShorterThanDebounce_ReportsOnceAfterFinal) {
  constexpr std::chrono::milliseconds kLongDebounce{500};
  write_file(at("app.yaml"), "v: 1\n");
  FileWatcher w({at("app.yaml")}, quick(kLongDebounce));

  const int fd = ::open(at("app.yaml").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::close(fd), 0);
  const auto truncated_at = Clock::now();
  // The scenario's pause, spent driving the watcher as the daemon would.
  if (pump_until(w, truncated_at + 20ms)) {
    // Only legitimate if this machine stalled us for a whole debounce.
    ASSERT_GE(Clock::now() - truncated_at, kLongDebounce);
    GTEST_SKIP() << "stalled longer than the debounce; the scenario did not happen";
  }
  ASSERT_EQ(read_file(at("app.yaml")), "");
  const int fd2 = ::open(at("app.yaml").c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd2, 0);
  ASSERT_EQ(::write(fd2, "v: 2\n", 5), 5);
  ASSERT_EQ(::close(fd2), 0);

  ASSERT_TRUE(wait_for_report(w));
  EXPECT_EQ(read_file(at("app.yaml")), "v: 2\n");
  EXPECT_EQ(count_reports(w, 3 * kLongDebounce), 0);
}

TEST_F(FileWatcherTest, SymlinkSwap_LnSfn_ReportsAndFollowsNewTarget) {
  fs::create_directory(at("a"));
  fs::create_directory(at("b"));
  write_file(at("a/app.yaml"), "v: a\n");
  write_file(at("b/app.yaml"), "v: b\n");
  ASSERT_EQ(::symlink("a/app.yaml", at("current.yaml").c_str()), 0);
  FileWatcher w({at("current.yaml")}, quick());

  ASSERT_EQ(run("cd '" + dir_ + "' && ln -sfn b/app.yaml current.yaml"), 0);
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_EQ(read_file(at("current.yaml")), "v: b\n");

  // The watch followed the swap: an in-place edit of the new target is seen...
  const auto dirs = w.watched_dirs();
  EXPECT_NE(std::find(dirs.begin(), dirs.end(), at("b")), dirs.end());
  EXPECT_EQ(std::find(dirs.begin(), dirs.end(), at("a")), dirs.end());
  write_file(at("b/app.yaml"), "v: b2\n");
  ASSERT_TRUE(wait_for_report(w));
  // ...and the old target no longer matters.
  write_file(at("a/app.yaml"), "v: a2\n");
  EXPECT_EQ(count_reports(w, 5 * kDebounce), 0);
}

TEST_F(FileWatcherTest, KubernetesConfigMap_DataSwap_ReportsAndFollowsEachGeneration) {
  k8s_initial("..2024_01_01_00_00_00.123", "v: 1\n");
  FileWatcher w({at("app.yaml")}, quick());

  k8s_publish("..2024_01_01_00_00_01.456", "v: 2\n", "..2024_01_01_00_00_00.123");
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_EQ(read_file(at("app.yaml")), "v: 2\n");

  k8s_publish("..2024_01_01_00_00_02.789", "v: 3\n", "..2024_01_01_00_00_01.456");
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_EQ(read_file(at("app.yaml")), "v: 3\n");
  EXPECT_EQ(w.watched_dirs(), (std::vector<std::string>{dir_, at("..2024_01_01_00_00_02.789")}));
  EXPECT_EQ(count_reports(w, 5 * kDebounce), 0);
}

TEST_F(FileWatcherTest, KubernetesConfigMap_DirectorySource_Reports) {
  k8s_initial("..2024_01_01_00_00_00.123", "v: 1\n");
  FileWatcher w({dir_}, quick());

  k8s_publish("..2024_01_01_00_00_01.456", "v: 2\n", "..2024_01_01_00_00_00.123");
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_EQ(read_file(at("app.yaml")), "v: 2\n");
  k8s_publish("..2024_01_01_00_00_02.789", "v: 3\n", "..2024_01_01_00_00_01.456");
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_EQ(read_file(at("app.yaml")), "v: 3\n");
}

TEST_F(FileWatcherTest, DirectorySource_ConfigFilesOnly_ReportsNewJsonIgnoresTxt) {
  write_file(at("a.yaml"), "v: 1\n");
  FileWatcher w({dir_}, quick());
  write_file(at("notes.txt"), "hello\n");
  EXPECT_EQ(count_reports(w, 5 * kDebounce), 0);
  write_file(at("b.json"), "{}\n");
  ASSERT_TRUE(wait_for_report(w));
  ASSERT_EQ(run("sed -i 's/1/2/' '" + at("a.yaml") + "'"), 0);
  ASSERT_TRUE(wait_for_report(w));
}

TEST_F(FileWatcherTest, DirectoryCreatedLater_FileWritten_ReportsAndWatchesIt) {
  FileWatcher w({at("later/app.yaml")}, quick());
  EXPECT_EQ(w.watched_dirs(), std::vector<std::string>{dir_});  // nearest existing ancestor

  ASSERT_TRUE(fs::create_directory(at("later")));
  write_file(at("later/app.yaml"), "v: 1\n");
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_EQ(read_file(at("later/app.yaml")), "v: 1\n");

  // The new directory is now watched itself (polling is off, so only inotify can see it).
  write_file(at("later/app.yaml"), "v: 2\n");
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_EQ(read_file(at("later/app.yaml")), "v: 2\n");
}

TEST_F(FileWatcherTest, WatchedDirDeleted_ThenRecreated_ReportsBoth) {
  fs::create_directory(at("sub"));
  write_file(at("sub/app.yaml"), "v: 1\n");
  FileWatcher w({at("sub/app.yaml")}, quick());

  fs::remove_all(at("sub"));
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_EQ(w.watched_dirs(), std::vector<std::string>{dir_});

  ASSERT_TRUE(fs::create_directory(at("sub")));
  write_file(at("sub/app.yaml"), "v: 2\n");
  ASSERT_TRUE(wait_for_report(w));
  write_file(at("sub/app.yaml"), "v: 3\n");
  ASSERT_TRUE(wait_for_report(w));
}

// A write through a hard link in another directory raises no event in the watched
// directory (inotify reports to the parent of the name used): only the stat() scan sees it.
TEST_F(FileWatcherTest, PollFallback_ChangeInotifyCannotSee_Reports) {
  fs::create_directory(at("watched"));
  fs::create_directory(at("other"));
  write_file(at("watched/app.yaml"), "v: 1\n");
  ASSERT_EQ(::link(at("watched/app.yaml").c_str(), at("other/alias").c_str()), 0);
  FileWatcher w({at("watched/app.yaml")}, quick(kDebounce, 50ms));

  write_file(at("other/alias"), "v: 22\n");
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_EQ(read_file(at("watched/app.yaml")), "v: 22\n");
  EXPECT_EQ(w.stats().poll_changes, 1u);  // noticed by the scan, not by an event
  EXPECT_EQ(count_reports(w, 200ms), 0);  // later scans agree with the reported state
}

// The premise of the test above: with polling off, that write goes unnoticed.
TEST_F(FileWatcherTest, PollFallbackOff_ChangeInotifyCannotSee_NotReported) {
  fs::create_directory(at("watched"));
  fs::create_directory(at("other"));
  write_file(at("watched/app.yaml"), "v: 1\n");
  ASSERT_EQ(::link(at("watched/app.yaml").c_str(), at("other/alias").c_str()), 0);
  FileWatcher w({at("watched/app.yaml")}, quick());

  write_file(at("other/alias"), "v: 22\n");
  EXPECT_EQ(count_reports(w, 10 * kDebounce), 0);
}

// The same invisible write, landing during the quiet period of a burst that inotify did
// see: the settle stat() notices and waits another debounce instead of reporting then.
TEST_F(FileWatcherTest, Settle_ChangeDuringQuietPeriod_WaitsAnotherRound) {
  fs::create_directory(at("watched"));
  fs::create_directory(at("other"));
  write_file(at("watched/app.yaml"), "v: 1\n");
  ASSERT_EQ(::link(at("watched/app.yaml").c_str(), at("other/alias").c_str()), 0);
  FileWatcher w({at("watched/app.yaml")}, quick());

  write_file(at("watched/app.yaml"), "v: 2\n");
  w.on_readable();  // the burst starts here, with the file stat()ed as "v: 2"
  write_file(at("other/alias"), "v: 333\n");
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_GE(w.stats().settle_rounds, 1u);
  EXPECT_EQ(read_file(at("watched/app.yaml")), "v: 333\n");
}

TEST_F(FileWatcherTest, UnrelatedFiles_SameDirectory_DoNotReport) {
  write_file(at("app.yaml"), "v: 1\n");
  write_file(at("other.yaml"), "v: 1\n");
  FileWatcher w({at("app.yaml")}, quick(kDebounce, 30ms));  // the scan must agree too

  write_file(at("other.yaml"), "v: 2\n");
  write_file(at("notes.txt"), "x\n");
  write_file(at(".other.yaml.tmp"), "v: 3\n");
  ASSERT_EQ(::rename(at(".other.yaml.tmp").c_str(), at("other.yaml").c_str()), 0);
  ASSERT_EQ(::unlink(at("notes.txt").c_str()), 0);
  ASSERT_EQ(run("sed -i 's/2/4/' '" + at("other.yaml") + "'"), 0);
  EXPECT_EQ(count_reports(w, 300ms), 0);

  write_file(at("app.yaml"), "v: 2\n");  // the watcher is alive: not a vacuous pass
  ASSERT_TRUE(wait_for_report(w));
}

// 50 saves, the watcher drained between each as a busy daemon loop would: one report,
// provided no gap between two saves reached the debounce (a stalled machine may split
// the burst, which is then correct behaviour, so only "at least once" is asserted).
TEST_F(FileWatcherTest, Burst_FiftyWrites_ReportsOnce) {
  constexpr std::chrono::milliseconds kBurstDebounce{100};
  write_file(at("app.yaml"), "v: 0\n");
  FileWatcher w({at("app.yaml")}, quick(kBurstDebounce));

  int reports = 0;
  Clock::duration max_gap{};
  const auto start = Clock::now();
  auto last_drain = start;
  for (int i = 1; i <= 50; ++i) {
    write_file(at("app.yaml"), "v: " + std::to_string(i) + "\n");
    const auto drain = Clock::now();
    w.on_readable();  // non-blocking: fine to call when nothing is queued
    const auto now = Clock::now();
    if (w.tick(now)) ++reports;
    max_gap = std::max(max_gap, now - last_drain);
    last_drain = drain;
  }
  const bool one_burst = max_gap < kBurstDebounce &&
                         Clock::now() - start < kBurstDebounce * FileWatcher::kMaxSettleRounds;
  if (reports == 0) {
    ASSERT_TRUE(wait_for_report(w));
    ++reports;
  }
  EXPECT_EQ(read_file(at("app.yaml")), "v: 50\n");
  reports += count_reports(w, 3 * kBurstDebounce);
  if (one_burst) {
    EXPECT_EQ(reports, 1);
  } else {
    EXPECT_GE(reports, 1);
  }
}

TEST_F(FileWatcherTest, QueueOverflow_EventsDropped_RescansAndReports) {
  int max_queued = 0;
  if (FILE* f = std::fopen("/proc/sys/fs/inotify/max_queued_events", "re")) {
    if (std::fscanf(f, "%d", &max_queued) != 1) max_queued = 0;
    std::fclose(f);
  }
  if (max_queued <= 0 || max_queued > 65536) GTEST_SKIP() << "queue limit " << max_queued;
  write_file(at("app.yaml"), "v: 1\n");
  FileWatcher w({at("app.yaml")}, quick());

  // IN_MODIFY and IN_CLOSE_WRITE alternate, so the kernel cannot merge them.
  const int fd_count = max_queued / 2 + 64;
  for (int i = 0; i < fd_count; ++i) {
    const int fd = ::open(at("app.yaml").c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, "v", 1), 1);
    ASSERT_EQ(::close(fd), 0);
  }
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_GE(w.stats().overflows, 1u);
  EXPECT_GE(w.stats().rescans, 1u);
  write_file(at("app.yaml"), "v: 2\n");  // watches survived the overflow
  ASSERT_TRUE(wait_for_report(w));
}

TEST_F(FileWatcherTest, Rearm_ChangeSinceLastReport_Reports) {
  write_file(at("app.yaml"), "v: 1\n");
  FileWatcher w({at("app.yaml")}, quick());
  w.rearm();
  EXPECT_FALSE(w.deadline().has_value());  // nothing changed: nothing pending

  // Written but its events not read yet: rearm() alone already notices.
  write_file(at("app.yaml"), "v: 22\n");
  w.rearm();
  ASSERT_TRUE(w.deadline().has_value());
  ASSERT_TRUE(wait_for_report(w));
}

TEST(FileWatcherNames, IsConfigName_Extensions_MatchOnlyConfigFiles) {
  EXPECT_TRUE(FileWatcher::is_config_name("app.yaml"));
  EXPECT_TRUE(FileWatcher::is_config_name("app.yml"));
  EXPECT_TRUE(FileWatcher::is_config_name("app.json"));
  EXPECT_TRUE(FileWatcher::is_config_name("app.toml"));
  EXPECT_FALSE(FileWatcher::is_config_name(".yaml"));
  EXPECT_FALSE(FileWatcher::is_config_name("app.yaml~"));
  EXPECT_FALSE(FileWatcher::is_config_name("app.yaml.swp"));
  EXPECT_FALSE(FileWatcher::is_config_name("..data"));
  EXPECT_FALSE(FileWatcher::is_config_name("4913"));
}

}  // namespace
}  // namespace shmconf::daemon
