// tests/multiprocess/lifecycle_test.cpp — what happens around publishes
// across processes: a daemon that died in the middle of a flip, retention
// unlinking a segment a reader still pins, runtime overrides, and SIGHUP.
#include <sys/mman.h>

#include <string>

#include "harness.hpp"

namespace shmconf::mptest {
namespace {

std::string yaml(int port) {
  return "database:\n  host: db.internal\n  port: " + std::to_string(port) + "\n";
}

class LifecycleTest : public MultiProcessTest {
 protected:
  void SetUp() override {
    MultiProcessTest::SetUp();
    sources_ = {"config.yaml"};
    write_source("config.yaml", yaml(5432));
  }

  void reload_expecting(std::uint64_t version) {
    const CtlResult r = ctl({"reload"});
    ASSERT_EQ(r.code, 0) << r;
    ASSERT_TRUE(contains(r.out, "published version " + std::to_string(version))) << r;
  }
};

// A reader child holding one pinned snapshot: "pinned V" at start; on "read"
// it reports the pinned snapshot's version and port and the client's live
// version: "pin V port P live L".
int pinning_reader(const std::string& prefix, const std::string& ns, int cmd, int out) {
  shmconf::ClientOptions o;
  o.prefix = prefix;
  auto c = shmconf::Client::try_open(ns, o);
  if (!c) return 1;
  const shmconf::Snapshot pinned = c->snapshot();
  report(out, "pinned " + std::to_string(pinned.version()));
  LineReader commands(cmd);
  while (auto line = commands.next(deadline(2 * kWait))) {
    if (*line == "exit") return 0;
    if (*line == "read") {
      report(out, "pin " + std::to_string(pinned.version()) + " port " +
                      std::to_string(pinned.get_int("database.port").value_or(-1)) + " host " +
                      std::string(pinned.get_string("database.host").value_or("?")) + " live " +
                      std::to_string(c->version()));
    }
  }
  return 2;
}

TEST_F(LifecycleTest, KilledMidFlip_Restart_RestoresLiveVersionAndReadersContinue) {
  Process& first = run_daemon();
  auto client = open_client();
  write_source("config.yaml", yaml(5433));
  ASSERT_TRUE(await_version(client, 2));
  // The audit line comes after the state directory has version 2: a kill
  // before that would (rightly) restore version 1.
  ASSERT_TRUE(wait_for_audit("\"to_version\":2"));
  const std::string prefix = prefix_, ns = ns_;
  ForkedChild& reader =
      start_child([&](int cmd, int out) { return pinning_reader(prefix, ns, cmd, out); });
  ASSERT_EQ(reader.next_report(), "pinned 2");

  // The daemon dies between publish steps 2 and 4: the sequence is odd and
  // the record half-written.
  first.kill(SIGKILL);
  ASSERT_TRUE(first.wait(deadline()));
  {
    const std::string name = control_object_name(prefix_, ns_);
    Fd fd(::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0));
    ASSERT_TRUE(fd) << std::strerror(errno);
    void* addr = ::mmap(nullptr, format::kControlObjectSize, PROT_READ | PROT_WRITE, MAP_SHARED,
                        fd.get(), 0);
    ASSERT_NE(addr, MAP_FAILED);
    auto* ctl_block = static_cast<format::ControlBlock*>(addr);
    __atomic_store_n(&ctl_block->seq, ctl_block->seq + 1, __ATOMIC_RELEASE);
    ctl_block->rec_version = 99;
    ctl_block->rec_segment_id = 424242;
    ::munmap(addr, format::kControlObjectSize);
  }
  // Attached readers keep their snapshot (the generation did not move)...
  EXPECT_EQ(client.version(), 2u);
  EXPECT_EQ(client.get_int("database.port").value_or(-1), 5433);
  // ...a new one gets a clear error instead of spinning or crashing.
  const CtlResult get = ctl({"get", "database.port"});
  EXPECT_EQ(get.code, 1) << get;
  EXPECT_TRUE(contains(get.err, "never completed")) << get;

  run_daemon();
  EXPECT_EQ(status_json().value("live_version", 0), 2);
  const CtlResult after = ctl({"get", "database.port"});
  EXPECT_EQ(after.out, "5433\n") << after;
  write_source("config.yaml", yaml(5434));
  ASSERT_TRUE(await_version(client, 3));
  EXPECT_EQ(client.get_int("database.port").value_or(-1), 5434);
  ASSERT_TRUE(reader.command("read"));
  EXPECT_EQ(reader.next_report(), "pin 2 port 5433 host db.internal live 3");
}

TEST_F(LifecycleTest, RetentionUnlinksPinnedSegment_ReaderKeepsReadingIt) {
  run_daemon({"--no-watch", "--keep", "1"});
  auto client = open_client();
  const std::string prefix = prefix_, ns = ns_;
  ForkedChild& reader =
      start_child([&](int cmd, int out) { return pinning_reader(prefix, ns, cmd, out); });
  ASSERT_EQ(reader.next_report(), "pinned 1");
  const std::string first_segment = segment_object_name(prefix_, ns_, 1).substr(1);
  ASSERT_EQ(shm_objects(prefix_).back(), first_segment);

  for (int v = 2; v <= 4; ++v) {
    write_source("config.yaml", yaml(5432 + v));
    reload_expecting(static_cast<std::uint64_t>(v));
  }
  ASSERT_TRUE(await_version(client, 4));
  // Live + 1 retained; the pinned first segment has lost its name...
  const auto objects = shm_objects(prefix_);
  EXPECT_EQ(objects.size(), 3u) << testing::PrintToString(objects);
  EXPECT_EQ(std::count(objects.begin(), objects.end(), first_segment), 0);
  // ...but not its pages: the reader still maps it and reads version 1.
  const std::string maps = read_text("/proc/" + std::to_string(reader.proc.pid) + "/maps");
  EXPECT_TRUE(contains(maps, "/dev/shm/" + first_segment + " (deleted)")) << maps;
  ASSERT_TRUE(reader.command("read"));
  EXPECT_EQ(reader.next_report(), "pin 1 port 5432 host db.internal live 4");
  // The state directory keeps the same versions as shared memory, once the
  // writes that follow the reply are done (the audit record comes last).
  ASSERT_TRUE(wait_for_audit("\"to_version\":4"));
  std::vector<std::string> saved;
  for (const auto& e : std::filesystem::directory_iterator(state_dir_ + "/app/versions")) {
    saved.push_back(e.path().filename().string());
  }
  std::sort(saved.begin(), saved.end());
  EXPECT_EQ(saved, (std::vector<std::string>{"3.seg", "4.seg"}));
}

TEST_F(LifecycleTest, CtlSetAndUnset_Override_PublishedToReadersAndSurvivesRestart) {
  Process& d = run_daemon();
  auto client = open_client();
  const CtlResult set = ctl({"set", "database.port", "7000"});
  EXPECT_EQ(set.code, 0) << set;
  ASSERT_TRUE(await_version(client, 2));
  EXPECT_EQ(client.get_int("database.port").value_or(-1), 7000);
  const CtlResult explain = ctl({"explain", "database.port"});
  EXPECT_TRUE(contains(explain.out, "override")) << explain;
  const CtlResult str = ctl({"set", "database.user", "app"});
  EXPECT_EQ(str.code, 0) << str;
  ASSERT_TRUE(await_version(client, 3));
  EXPECT_EQ(client.get_int("database.port").value_or(-1), 7000);
  EXPECT_EQ(client.snapshot().get_string("database.user").value_or(""), "app");

  // Overrides outrank the sources and persist across a restart.
  ASSERT_TRUE(stop_daemon(d));
  run_daemon();
  write_source("config.yaml", yaml(5555));
  const CtlResult reload = ctl({"reload"});
  EXPECT_EQ(reload.code, 0) << reload;
  EXPECT_TRUE(contains(reload.out, "unchanged")) << reload;
  EXPECT_EQ(client.get_int("database.port").value_or(-1), 7000);

  const CtlResult unset = ctl({"unset", "database.port"});
  EXPECT_EQ(unset.code, 0) << unset;
  ASSERT_TRUE(await_version(client, 4));
  EXPECT_EQ(client.get_int("database.port").value_or(-1), 5555);
  const CtlResult again = ctl({"unset", "database.port"});
  EXPECT_EQ(again.code, 1) << again;
}

TEST_F(LifecycleTest, NoStateDirRestartAfterRollback_NeverReusesAVersionNumber) {
  state_dir_.clear();
  Process& d = run_daemon({"--no-watch"});
  auto client = open_client();
  for (std::uint64_t v = 2; v <= 3; ++v) {
    write_source("config.yaml", yaml(6000 + static_cast<int>(v)));
    reload_expecting(v);
  }
  ASSERT_EQ(ctl({"rollback", "--to", "1"}).code, 0);
  ASSERT_TRUE(await_version(client, 1));
  ASSERT_TRUE(stop_daemon(d));

  // Without a state directory the rollback cannot stick: the start-up
  // reload publishes the sources (port 6003) again, but under a new number:
  // clients saw version 2 (port 6002) and 3 already.
  run_daemon({"--no-watch"});
  ASSERT_TRUE(client.wait_for_change(1, kWait));
  EXPECT_EQ(client.get_int("database.port").value_or(-1), 6003);
  EXPECT_GE(client.version(), 4u);
}

TEST_F(LifecycleTest, Sighup_NoWatch_ReloadsChangedSources) {
  Process& d = run_daemon({"--no-watch"});
  auto client = open_client();
  write_source("config.yaml", yaml(8000));
  d.kill(SIGHUP);
  ASSERT_TRUE(await_version(client, 2));
  EXPECT_EQ(client.get_int("database.port").value_or(-1), 8000);
  EXPECT_TRUE(d.running());
}

}  // namespace
}  // namespace shmconf::mptest
