// tests/daemon/file_watcher_writer_test.cpp — FileWatcher and writers that modify a
// source in place and keep it open across a pause (`{ head -2; sleep 1; tail -n +3; } >
// app.yaml`): no report before the writer closes the file, a bounded wait for a writer
// that never closes, and nothing else delayed by it. The pauses here are the scenario
// (a writer holding the file open), spent driving the watcher as the daemon's loop does.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "file_watcher_util.hpp"
#include "watch/file_watcher.hpp"

namespace shmconf::daemon {
namespace {

using namespace watch_test;  // NOLINT: the shared fixture and helpers
using namespace std::chrono_literals;

// Far longer than any window below, so only the writer's close can end the wait.
constexpr std::chrono::milliseconds kLongWait{60'000};
// Past the debounce and past the cap a burst of events alone would be held for
// ((kMaxSettleRounds + 1) * kDebounce = 420 ms).
constexpr auto kHoldWindow = 700ms;

FileWatcher::Options waiting(std::chrono::milliseconds write_wait) {
  FileWatcher::Options o = quick();
  o.write_wait = write_wait;
  return o;
}

// An open writer: the file's descriptor, closed by close() or the destructor.
class Writer {
 public:
  explicit Writer(const std::string& path, int flags = O_TRUNC)
      : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644)) {}
  ~Writer() { close(); }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  bool ok() const { return fd_ >= 0; }
  bool write(const std::string& s) {
    return ::write(fd_, s.data(), s.size()) == static_cast<ssize_t>(s.size());
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

const std::string kHead = "a: 1\nb: 2\n";
const std::string kTail = "c: 3\nd: 4\n";

TEST_F(FileWatcherTest, InPlaceWriter_PausesMidFile_NoReportBeforeClose) {
  write_file(at("app.yaml"), "v: 1\n");
  FileWatcher w({at("app.yaml")}, waiting(kLongWait));

  Writer writer(at("app.yaml"));
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer.write(kHead));
  EXPECT_EQ(count_reports(w, kHoldWindow), 0) << "reported while the writer held the file open";
  EXPECT_EQ(w.stats().write_waits, 1u);  // the due report was held, once
  ASSERT_TRUE(w.deadline().has_value());
  EXPECT_GT(*w.deadline(), Clock::now() + 10s);  // nothing to do until the close or the bound

  ASSERT_TRUE(writer.write(kTail));
  writer.close();
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_EQ(read_file(at("app.yaml")), kHead + kTail);
  EXPECT_EQ(count_reports(w, 5 * kDebounce), 0);  // one report for the whole save
  EXPECT_EQ(w.stats().write_wait_timeouts, 0u);
}

// The premise of the test above: without the wait, the half file is reported.
TEST_F(FileWatcherTest, InPlaceWriter_WaitOff_ReportsWhileOpen) {
  write_file(at("app.yaml"), "v: 1\n");
  FileWatcher w({at("app.yaml")}, waiting(0ms));
  Writer writer(at("app.yaml"));
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer.write(kHead));
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_EQ(read_file(at("app.yaml")), kHead);
  EXPECT_EQ(w.stats().write_waits, 0u);
}

TEST_F(FileWatcherTest, InPlaceWriter_NeverCloses_ReportedAfterTheBound) {
  constexpr std::chrono::milliseconds kWait{300};
  write_file(at("app.yaml"), "v: 1\n");
  FileWatcher w({at("app.yaml")}, waiting(kWait));
  const auto before_write = Clock::now();  // the wait starts after this
  Writer writer(at("app.yaml"));
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer.write(kHead + kTail));
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_GE(Clock::now() - before_write, kWait);
  EXPECT_EQ(w.stats().write_waits, 1u);
  EXPECT_EQ(w.stats().write_wait_timeouts, 1u);
  EXPECT_FALSE(w.deadline().has_value());  // nothing pending: the writer holds nothing up

  writer.close();  // the close is a change of its own: read the file again
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_EQ(w.stats().write_wait_timeouts, 1u);
}

TEST_F(FileWatcherTest, InPlaceWriter_NameReplacedWhileOpen_ReportsWithoutWaiting) {
  write_file(at("app.yaml"), "v: 1\n");
  FileWatcher w({at("app.yaml")}, waiting(kLongWait));
  Writer writer(at("app.yaml"));
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer.write(kHead));
  // An editor saves over it: the writer now writes an inode no source leads to.
  write_file(at(".app.yaml.tmp"), "v: 2\n");
  ASSERT_EQ(::rename(at(".app.yaml.tmp").c_str(), at("app.yaml").c_str()), 0);
  ASSERT_TRUE(wait_for_report(w));  // within kReportLimit, far below kLongWait
  EXPECT_EQ(read_file(at("app.yaml")), "v: 2\n");
  EXPECT_EQ(w.stats().write_wait_timeouts, 0u);
}

TEST_F(FileWatcherTest, InPlaceWriter_OtherFileHeldOpen_DoesNotDelay) {
  write_file(at("app.yaml"), "v: 1\n");
  FileWatcher w({at("app.yaml")}, waiting(kLongWait));
  Writer other(at("other.yaml"));
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(other.write(kHead));
  write_file(at("app.yaml"), "v: 2\n");
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_EQ(w.stats().write_waits, 0u);
}

TEST_F(FileWatcherTest, InPlaceWriter_DirectorySourceNewFile_NoReportBeforeClose) {
  write_file(at("00-a.yaml"), "v: 1\n");
  FileWatcher w({dir_}, waiting(kLongWait));
  Writer writer(at("10-b.yaml"));
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer.write(kHead));
  EXPECT_EQ(count_reports(w, kHoldWindow), 0);
  EXPECT_EQ(w.stats().write_waits, 1u);
  ASSERT_TRUE(writer.write(kTail));
  writer.close();
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_EQ(read_file(at("10-b.yaml")), kHead + kTail);
}

// The writer writes the symlink's target, in another directory than the link.
TEST_F(FileWatcherTest, InPlaceWriter_ThroughSymlinkTarget_NoReportBeforeClose) {
  std::filesystem::create_directory(at("a"));
  write_file(at("a/app.yaml"), "v: 1\n");
  ASSERT_EQ(::symlink("a/app.yaml", at("current.yaml").c_str()), 0);
  FileWatcher w({at("current.yaml")}, waiting(kLongWait));
  Writer writer(at("a/app.yaml"));
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer.write(kHead));
  EXPECT_EQ(count_reports(w, kHoldWindow), 0);
  ASSERT_TRUE(writer.write(kTail));
  writer.close();
  ASSERT_TRUE(wait_for_report(w));
  EXPECT_EQ(read_file(at("current.yaml")), kHead + kTail);
}

}  // namespace
}  // namespace shmconf::daemon
