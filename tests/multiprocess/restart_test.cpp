// tests/multiprocess/restart_test.cpp — the daemon's death, restart and a
// reboot: readers in other processes keep reading across a SIGKILL, a
// restarted daemon adopts the control block and the version numbering, and
// after a reboot (empty /dev/shm) with a broken source the last good version
// is published from the state directory.
#include <string>

#include "harness.hpp"

namespace shmconf::mptest {
namespace {

std::string app_yaml(int port, const std::string& host = "db.internal") {
  return "database:\n  host: " + host + "\n  port: " + std::to_string(port) +
         "\n  pool: {max_size: 20}\nservice:\n  name: billing\n";
}

constexpr char kBrokenYaml[] = "database:\n  host: db.internal\n  port: [1, 2\n  name: x\n";

// A reader child that reads without pause and answers commands between
// batches of reads: "report" -> "reads N errors E version V port P",
// "wait K" -> blocks in wait_for_change(K), then "changed V port P",
// "exit".
int continuous_reader(const std::string& prefix, const std::string& ns, int cmd_fd, int out) {
  auto c = open_or_report(prefix, ns, out);
  if (!c) return 1;
  const shmconf::Key port_key = c->key("database.port");
  LineReader commands(cmd_fd);
  std::uint64_t reads = 0, errors = 0, version = 0;
  std::int64_t port = -1;
  report(out, "started");
  for (;;) {
    for (int i = 0; i < 256; ++i) {
      const shmconf::Snapshot snap = c->snapshot();
      const auto p = snap.get_int("database.port");
      const auto by_key = c->get_int(port_key);
      ++reads;
      if (snap.empty() || !p || !by_key || snap.get_string("database.host").value_or("") == "") {
        ++errors;
        continue;
      }
      version = snap.version();
      port = *p;
    }
    auto cmd = commands.next(Clock::now());  // a try: reading goes on
    if (!cmd) {
      if (commands.eof()) return 2;
      continue;
    }
    if (*cmd == "exit") return 0;
    if (*cmd == "report") {
      report(out, "reads " + std::to_string(reads) + " errors " + std::to_string(errors) +
                      " version " + std::to_string(version) + " port " + std::to_string(port));
    } else if (cmd->starts_with("wait ")) {
      const auto known = std::stoull(cmd->substr(5));
      auto r = c->wait_for_change(known, kWait);
      if (!r) {
        report(out, std::string("error wait ") + to_string(r.error()));
        return 1;
      }
      const shmconf::Snapshot snap = c->snapshot();
      report(out, "changed " + std::to_string(snap.version()) + " port " +
                      std::to_string(snap.get_int("database.port").value_or(-1)));
    }
  }
}

struct ReaderReport {
  std::uint64_t reads = 0, errors = 0, version = 0;
  std::int64_t port = -1;
};

ReaderReport parse_report(const std::optional<std::string>& line) {
  ReaderReport r;
  if (!line) throw std::runtime_error("no report from the reader");
  std::istringstream in(*line);
  std::string w1, w2, w3, w4;
  in >> w1 >> r.reads >> w2 >> r.errors >> w3 >> r.version >> w4 >> r.port;
  if (w1 != "reads" || !in) throw std::runtime_error("bad report: " + *line);
  return r;
}

class RestartTest : public MultiProcessTest {
 protected:
  void SetUp() override {
    MultiProcessTest::SetUp();
    sources_ = {"config.yaml"};
    write_source("config.yaml", app_yaml(5432));
  }
};

TEST_F(RestartTest, DaemonSigkilled_ReaderProcessKeepsReadingUnchangedValues) {
  Process& d = run_daemon();
  const std::string prefix = prefix_, ns = ns_;
  ForkedChild& reader =
      start_child([&](int cmd, int out) { return continuous_reader(prefix, ns, cmd, out); });
  ASSERT_EQ(reader.next_report(), "started");
  ASSERT_TRUE(reader.command("report"));
  const ReaderReport before = parse_report(reader.next_report());
  EXPECT_EQ(before.version, 1u);
  EXPECT_EQ(before.port, 5432);

  d.kill(SIGKILL);
  ASSERT_TRUE(d.wait(deadline()));
  ASSERT_TRUE(WIFSIGNALED(*d.status));

  ASSERT_TRUE(reader.command("report"));
  const ReaderReport after_kill = parse_report(reader.next_report());
  ASSERT_TRUE(reader.command("report"));
  const ReaderReport later = parse_report(reader.next_report());
  EXPECT_GT(later.reads, after_kill.reads);  // reads went on after the daemon died
  EXPECT_GT(after_kill.reads, before.reads);
  EXPECT_EQ(later.errors, 0u);
  EXPECT_EQ(later.version, 1u);
  EXPECT_EQ(later.port, 5432);
  EXPECT_TRUE(reader.proc.running());
  // A new process can still attach and read.
  EXPECT_EQ(ctl({"get", "database.port"}).out, "5432\n");
  ASSERT_TRUE(reader.command("exit"));
  ASSERT_TRUE(reader.proc.wait(deadline()));
  EXPECT_TRUE(reader.proc.exited_ok()) << describe_status(*reader.proc.status);
}

TEST_F(RestartTest, RestartAfterSigkill_AdoptsControlBlockAndContinuesVersions) {
  Process& first = run_daemon();
  auto client = open_client();
  write_source("config.yaml", app_yaml(5433));
  ASSERT_TRUE(await_version(client, 2));
  const std::string prefix = prefix_, ns = ns_;
  ForkedChild& reader =
      start_child([&](int cmd, int out) { return continuous_reader(prefix, ns, cmd, out); });
  ASSERT_EQ(reader.next_report(), "started");

  first.kill(SIGKILL);
  ASSERT_TRUE(first.wait(deadline()));
  // The reader sleeps on the futex of the control block the dead daemon
  // made; the new daemon must wake it through the same block.
  ASSERT_TRUE(reader.command("wait 2"));

  Process& second = run_daemon();
  EXPECT_TRUE(contains(read_text(second.log), "msg=adopted namespace=app"))
      << read_text(second.log);
  EXPECT_EQ(status_json().value("live_version", 0), 2);  // the start-up reload found no change
  EXPECT_EQ(client.version(), 2u);

  write_source("config.yaml", app_yaml(5434));
  ASSERT_EQ(reader.next_report(), "changed 3 port 5434");
  ASSERT_TRUE(await_version(client, 3));  // the parent's Client, opened before the restart
  EXPECT_EQ(client.get_int("database.port").value_or(-1), 5434);
  EXPECT_EQ(client.snapshot().prev_version(), 2u);
  ASSERT_TRUE(reader.command("report"));
  const ReaderReport r = parse_report(reader.next_report());
  EXPECT_EQ(r.errors, 0u);
  EXPECT_EQ(r.port, 5434);
}

TEST_F(RestartTest, RestartAfterSigterm_NothingRemovedAndVersionsContinue) {
  Process& first = run_daemon();
  auto client = open_client();
  const auto objects = shm_objects(prefix_);
  auto st = stop_daemon(first);
  ASSERT_TRUE(st);
  EXPECT_TRUE(first.exited_ok()) << describe_status(*st);
  EXPECT_EQ(shm_objects(prefix_), objects);  // exiting removes nothing

  run_daemon();
  write_source("config.yaml", app_yaml(7000));
  ASSERT_TRUE(await_version(client, 2));
  EXPECT_EQ(client.get_int("database.port").value_or(-1), 7000);
}

TEST_F(RestartTest, RebootWithBrokenSource_PublishesLastGoodVersionFromStateDir) {
  Process& first = run_daemon();
  {
    auto client = open_client();
    write_source("config.yaml", app_yaml(6000, "db2.internal"));
    ASSERT_TRUE(await_version(client, 2));
  }
  std::uint64_t good_hash = 0;
  {
    auto client = open_client();
    good_hash = client.snapshot().content_hash();
    ASSERT_EQ(client.get_int("database.port").value_or(-1), 6000);
  }
  ASSERT_TRUE(stop_daemon(first));

  // "Reboot": /dev/shm is empty; the source got broken meanwhile.
  unlink_shm_objects(prefix_);
  ASSERT_TRUE(shm_objects(prefix_).empty());
  write_source("config.yaml", kBrokenYaml);

  run_daemon();
  auto client = open_client();
  EXPECT_EQ(client.version(), 2u);
  EXPECT_EQ(client.snapshot().content_hash(), good_hash);  // the same content
  EXPECT_EQ(client.snapshot().get_string("database.host").value_or(""), "db2.internal");

  const nlohmann::json status = status_json();
  EXPECT_EQ(status.value("live_version", 0), 2);
  ASSERT_TRUE(status["last_reload"].is_object()) << status.dump(2);
  EXPECT_FALSE(status["last_reload"].value("ok", true)) << status.dump(2);
  const std::string error = status["last_reload"].value("error", "");
  EXPECT_TRUE(has_position(error, "config.yaml")) << error;
  const CtlResult human = ctl({"status"});
  EXPECT_EQ(human.code, 0) << human;
  EXPECT_TRUE(contains(human.out, "REJECTED")) << human;
  EXPECT_TRUE(contains(human.out, "config.yaml:")) << human;

  write_source("config.yaml", app_yaml(6001, "db2.internal"));
  ASSERT_TRUE(await_version(client, 3));
  EXPECT_EQ(client.get_int("database.port").value_or(-1), 6001);
  EXPECT_TRUE(status_json()["last_reload"].value("ok", false));
}

TEST_F(RestartTest, KilledBeforeStateSaved_RestartThenReboot_StillServesAdoptedVersion) {
  Process& first = run_daemon();
  ASSERT_TRUE(wait_for_audit("\"to_version\":1"));
  // The state directory as it was before version 2: what a daemon killed
  // between the flip and its state write leaves behind.
  const std::string saved = path("state-v1");
  std::filesystem::copy(state_dir_, saved, std::filesystem::copy_options::recursive);
  {
    auto client = open_client();
    write_source("config.yaml", app_yaml(6100));
    ASSERT_TRUE(await_version(client, 2));
  }
  ASSERT_TRUE(wait_for_audit("\"to_version\":2"));
  first.kill(SIGKILL);
  ASSERT_TRUE(first.wait(deadline()));
  std::filesystem::remove_all(state_dir_);
  std::filesystem::rename(saved, state_dir_);

  Process& second = run_daemon();  // adopts version 2 from shared memory
  EXPECT_EQ(status_json().value("live_version", 0), 2);
  ASSERT_TRUE(stop_daemon(second));
  unlink_shm_objects(prefix_);
  write_source("config.yaml", kBrokenYaml);

  run_daemon();
  auto client = open_client();
  EXPECT_EQ(client.version(), 2u);
  EXPECT_EQ(client.get_int("database.port").value_or(-1), 6100);
}

TEST_F(RestartTest, RebootWithGoodSource_RestoresThenPublishesNothingNew) {
  Process& first = run_daemon();
  const std::uint64_t good_hash = open_client().snapshot().content_hash();
  ASSERT_TRUE(stop_daemon(first));
  unlink_shm_objects(prefix_);
  run_daemon();
  auto client = open_client();
  EXPECT_EQ(client.version(), 1u);  // same content: the restored version stays live
  EXPECT_EQ(client.snapshot().content_hash(), good_hash);
}

}  // namespace
}  // namespace shmconf::mptest
