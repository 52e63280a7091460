// tests/multiprocess/half_write_test.cpp — a half-written source is never
// published by a running shmconfd.
//
// A writer process truncates the watched file, writes part of the new
// content and pauses with the file still open, as a shell does for
// `{ head -30; sleep 1; tail -n +31; } > cfg.yaml`. The pause lasts until
// the test tells the writer (over a pipe) to finish: the daemon must hold
// the reload until the writer closes the file, then publish exactly one
// version holding every key. A writer that never closes is read after the
// bound (--write-wait-ms) with a warning. And a save that loses most keys
// (a truncated file) is refused by the delete-share guard until forced.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "harness.hpp"
#include "support/exposition_parser.hpp"

namespace shmconf::mptest {
namespace {

constexpr int kKeys = 43;

std::string key(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "key%02d", i);
  return buf;
}

// kKeys keys, one per line; every value names its generation.
std::string config(int gen) {
  std::string out;
  for (int i = 0; i < kKeys; ++i) {
    out += key(i) + ": g" + std::to_string(gen) + "-" + std::to_string(i) + "\n";
  }
  return out;
}

// The offset just past the first `lines` lines of `text`.
std::size_t after_lines(const std::string& text, int lines) {
  std::size_t pos = 0;
  for (int i = 0; i < lines; ++i) pos = text.find('\n', pos) + 1;
  return pos;
}

// The writer process: opens `file` for writing with O_TRUNC, writes text[0,
// cut), says "written", waits for "finish", writes the rest, closes, says
// "closed". Nothing but the test's command ends the pause.
int writer_main(const std::string& file, const std::string& text, std::size_t cut, int cmd,
                int out) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return 2;
  if (!write_all(fd, std::string_view(text).substr(0, cut))) return 3;
  report(out, "written");
  LineReader commands(cmd);
  if (commands.next(deadline(std::chrono::minutes(5))) != "finish") return 4;
  if (!write_all(fd, std::string_view(text).substr(cut))) return 5;
  if (::close(fd) != 0) return 6;
  report(out, "closed");
  return 0;
}

class HalfWriteTest : public MultiProcessTest {
 protected:
  void SetUp() override {
    MultiProcessTest::SetUp();
    sources_ = {"cfg.yaml"};
    write_source("cfg.yaml", config(0));
  }

  ForkedChild& start_writer(const std::string& text, std::size_t cut) {
    const std::string file = path("cfg.yaml");
    return start_child(
        [file, text, cut](int cmd, int out) { return writer_main(file, text, cut, cmd, out); });
  }

  // Waits until the daemon's log holds `needle` (inotify on the directory
  // holding the log: the daemon appends to it).
  ::testing::AssertionResult wait_for_log(const Process& d, std::string_view needle) {
    Fd ino(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (!ino || ::inotify_add_watch(ino.get(), dir_.c_str(), IN_MODIFY) < 0) {
      return ::testing::AssertionFailure() << "inotify: " << std::strerror(errno);
    }
    const auto until = deadline();
    for (;;) {
      const std::string text = read_text(d.log);
      if (contains(text, needle)) return ::testing::AssertionSuccess();
      if (Clock::now() >= until) {
        return ::testing::AssertionFailure() << "'" << needle << "' not logged; log:\n" << text;
      }
      pollfd p{ino.get(), POLLIN, 0};
      (void)::poll(&p, 1, ms_until(until));
      char drain[4096];
      while (::read(ino.get(), drain, sizeof drain) > 0) {
      }
    }
  }

  // shmconf_watcher_events_total{event=EVENT}, as the metrics command shows it.
  double watcher_events(const std::string& event) {
    const nlohmann::json m = control({{"cmd", "metrics"}});
    const auto p = testing_support::parse_exposition(m.value("text", ""));
    return p.value("shmconf_watcher_events_total", {{"event", event}}).value_or(-1);
  }

  // Every key of generation `gen` is live.
  void expect_complete(const shmconf::Client& c, int gen) {
    const auto snap = c.snapshot();
    for (int i = 0; i < kKeys; ++i) {
      const std::string want = "g" + std::to_string(gen) + "-" + std::to_string(i);
      EXPECT_EQ(snap.get_string(key(i)).value_or("<missing>"), want) << key(i);
    }
  }

  // The retained versions, oldest first.
  std::vector<std::uint64_t> versions() {
    std::vector<std::uint64_t> out;
    const nlohmann::json history = control({{"cmd", "history"}});
    for (const auto& v : history["versions"]) {
      out.push_back(v.value("version", std::uint64_t{0}));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
};

TEST_F(HalfWriteTest, WriterPausedMidFile_NothingPublishedUntilClose_ThenOneCompleteVersion) {
  // A bound far beyond the test: only the writer's close may end the wait.
  Process& d = run_daemon({"--poll-ms", "0", "--write-wait-ms", "600000"});
  auto client = open_client();
  ASSERT_EQ(client.version(), 1u);

  // 30 whole lines: valid YAML holding 30 of the 43 keys, so the half file
  // would pass the delete-share guard (13 keys = 30%) and parse: only the
  // watcher stands between it and the readers.
  const std::string next = config(1);
  ForkedChild& writer = start_writer(next, after_lines(next, 30));
  ASSERT_EQ(writer.next_report(), "written");

  // The daemon saw the write and, its debounce over, held the reload for
  // the open writer: logged, counted, and nothing read or published.
  ASSERT_TRUE(wait_for_log(d, "reload deferred: source open for writing"));
  EXPECT_EQ(client.version(), 1u);
  EXPECT_EQ(watcher_events("write_wait"), 1);
  EXPECT_EQ(watcher_events("reload"), 0);
  nlohmann::json st = status_json();
  EXPECT_EQ(st.value("live_version", 0), 1);
  EXPECT_EQ(st.value("reloads_failed", -1), 0);

  ASSERT_TRUE(writer.command("finish"));
  ASSERT_EQ(writer.next_report(), "closed");
  ASSERT_TRUE(await_version(client, 2));
  expect_complete(client, 1);
  EXPECT_EQ(versions(), (std::vector<std::uint64_t>{1, 2}));
  const nlohmann::json diff = control({{"cmd", "diff"}, {"from", 1}, {"to", 2}});
  ASSERT_EQ(diff["changes"].size(), static_cast<std::size_t>(kKeys)) << diff.dump();
  for (const auto& c : diff["changes"]) EXPECT_EQ(c.value("change", ""), "changed") << c.dump();

  // Exactly one version for the save: the sources hold what is live, and no
  // reload was ever refused (the half file was never read).
  const CtlResult r = ctl({"reload"});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_TRUE(contains(r.out, "unchanged")) << r;
  st = status_json();
  EXPECT_EQ(st.value("live_version", 0), 2);
  EXPECT_EQ(st.value("reloads_failed", -1), 0);
  EXPECT_EQ(watcher_events("write_wait_timeout"), 0);
  ASSERT_TRUE(writer.proc.wait(deadline()));
  EXPECT_TRUE(writer.proc.exited_ok()) << describe_status(*writer.proc.status);
}

TEST_F(HalfWriteTest, WriterNeverCloses_ReadAfterTheBoundWithAWarning) {
  constexpr auto kBound = std::chrono::milliseconds(300);
  Process& d = run_daemon({"--poll-ms", "0", "--write-wait-ms", "300"});
  auto client = open_client();
  ASSERT_EQ(client.version(), 1u);

  const std::string next = config(2);
  const auto before_write = Clock::now();                 // the daemon's wait starts after this
  ForkedChild& writer = start_writer(next, next.size());  // all of it, then no close
  ASSERT_EQ(writer.next_report(), "written");
  ASSERT_TRUE(await_version(client, 2));
  EXPECT_GE(Clock::now() - before_write, kBound);
  expect_complete(client, 2);
  EXPECT_TRUE(contains(read_text(d.log), "source still open for writing; reloading it anyway"))
      << read_text(d.log);
  EXPECT_EQ(watcher_events("write_wait_timeout"), 1);

  ASSERT_TRUE(writer.command("finish"));
  ASSERT_EQ(writer.next_report(), "closed");
  const CtlResult r = ctl({"reload"});
  EXPECT_TRUE(contains(r.out, "unchanged")) << r;
  EXPECT_EQ(client.version(), 2u);
}

TEST_F(HalfWriteTest, MostKeysGone_RefusedByTheDeleteGuard_ForcedReloadPublishes) {
  Process& d = run_daemon({"--poll-ms", "0"});
  auto client = open_client();
  ASSERT_EQ(client.version(), 1u);

  // A complete, valid file that lost 41 of its 43 keys (the issue's
  // `+0 -41`), saved by rename so no writer wait is involved.
  const std::string cut = config(0).substr(0, after_lines(config(0), 2));
  write_source("cfg.yaml", cut);
  ASSERT_TRUE(wait_for_audit("\"ok\":false"));
  EXPECT_TRUE(d.running());
  EXPECT_EQ(client.version(), 1u);
  const nlohmann::json st = status_json();
  EXPECT_EQ(st["last_reload"].value("error_kind", ""), "guard") << st.dump(2);
  EXPECT_TRUE(contains(st["last_reload"].value("error", ""),
                       "would delete 41 of the live version's 43 keys"))
      << st.dump(2);
  EXPECT_EQ(st["rejections_by_kind"].value("guard", 0), 1);

  const CtlResult refused = ctl({"reload"});
  EXPECT_EQ(refused.code, 1) << refused;
  EXPECT_TRUE(contains(refused.err, "max_deleted_percent is 50")) << refused;
  EXPECT_EQ(client.version(), 1u);

  const CtlResult forced = ctl({"reload", "--force"});
  EXPECT_EQ(forced.code, 0) << forced;
  ASSERT_TRUE(await_version(client, 2));
  EXPECT_FALSE(client.snapshot().get_string(key(2)).has_value());
  EXPECT_EQ(client.snapshot().get_string(key(1)).value_or(""), "g0-1");
  // The forced version stays live quietly: the same sources are not refused.
  const CtlResult again = ctl({"reload"});
  EXPECT_EQ(again.code, 0) << again;
  EXPECT_TRUE(contains(again.out, "unchanged")) << again;
}

}  // namespace
}  // namespace shmconf::mptest
