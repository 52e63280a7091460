// tests/multiprocess/spine_test.cpp — the spine, end to end with real
// processes: shmconfd publishes a YAML file, a reader in another process
// reads it and wakes on an edit, and shmconfctl's read commands print what
// is live.
#include <string>

#include "harness.hpp"

namespace shmconf::mptest {
namespace {

std::string app_yaml(int port) {
  return "service:\n"
         "  name: billing\n"
         "  enabled: true\n"
         "  weight: 0.75\n"
         "database:\n"
         "  host: db.internal\n"
         "  port: " +
         std::to_string(port) +
         "\n"
         "  pool: {max_size: 20, timeout_ms: 1500}\n"
         "servers:\n"
         "  - host: a.example\n"
         "    port: 8080\n";
}

class SpineTest : public MultiProcessTest {
 protected:
  void SetUp() override {
    MultiProcessTest::SetUp();
    sources_ = {"config.yaml"};
    write_source("config.yaml", app_yaml(5432));
  }
};

TEST_F(SpineTest, SourceEdit_ReaderInOtherProcessWakesWithNewValue) {
  run_daemon();
  const std::string prefix = prefix_, ns = ns_;
  ForkedChild& reader = start_child([&](int, int out) {
    auto c = open_or_report(prefix, ns, out);
    if (!c) return 1;
    auto snap = c->snapshot();
    report(out, "read " + std::to_string(snap.version()) + " " +
                    std::to_string(snap.get_int("database.port").value_or(-1)));
    auto changed = c->wait_for_change(snap.version(), kWait);
    if (!changed) {
      report(out, std::string("error wait ") + to_string(changed.error()));
      return 1;
    }
    auto now = c->snapshot();
    report(out, "read " + std::to_string(now.version()) + " " +
                    std::to_string(now.get_int("database.port").value_or(-1)) + " woke " +
                    std::to_string(*changed));
    return 0;
  });
  ASSERT_EQ(reader.next_report(), "read 1 5432");

  write_source("config.yaml", app_yaml(6543));

  ASSERT_EQ(reader.next_report(), "read 2 6543 woke 2");
  ASSERT_TRUE(reader.proc.wait(deadline()));
  EXPECT_TRUE(reader.proc.exited_ok()) << describe_status(*reader.proc.status);
  const CtlResult v = ctl({"version"});
  EXPECT_EQ(v.code, 0) << v;
  EXPECT_EQ(v.out, "2\n");
}

TEST_F(SpineTest, CtlGet_ExistingKeys_PrintsStringsRawAndOthersAsJson) {
  run_daemon();
  const CtlResult host = ctl({"get", "database.host"});
  EXPECT_EQ(host.code, 0) << host;
  EXPECT_EQ(host.out, "db.internal\n");
  const CtlResult port = ctl({"get", "database.port"});
  EXPECT_EQ(port.code, 0) << port;
  EXPECT_EQ(port.out, "5432\n");
  const CtlResult enabled = ctl({"get", "service.enabled"});
  EXPECT_EQ(enabled.out, "true\n") << enabled;
  const CtlResult pool = ctl({"get", "database.pool"});
  EXPECT_EQ(pool.code, 0) << pool;
  EXPECT_EQ(nlohmann::json::parse(pool.out),
            nlohmann::json::parse(R"({"max_size": 20, "timeout_ms": 1500})"));
  const CtlResult element = ctl({"get", "servers[0].host"});
  EXPECT_EQ(element.out, "a.example\n") << element;
  const CtlResult quoted = ctl({"--json", "get", "database.host"});
  EXPECT_EQ(quoted.out, "\"db.internal\"\n") << quoted;
}

TEST_F(SpineTest, CtlGet_MissingKey_ExitsOneWithMessage) {
  run_daemon();
  const CtlResult r = ctl({"get", "database.nope"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(r.err, "database.nope")) << r;
  EXPECT_TRUE(contains(r.err, "not found")) << r;
}

TEST_F(SpineTest, CtlDump_LiveNamespace_PrintsWholeConfig) {
  run_daemon();
  const nlohmann::json expected = nlohmann::json::parse(R"({
    "service": {"name": "billing", "enabled": true, "weight": 0.75},
    "database": {"host": "db.internal", "port": 5432,
                 "pool": {"max_size": 20, "timeout_ms": 1500}},
    "servers": [{"host": "a.example", "port": 8080}]})");
  EXPECT_EQ(dump(), expected);
}

TEST_F(SpineTest, CtlVersion_AfterEdit_PrintsNextVersion) {
  run_daemon();
  auto client = open_client();
  EXPECT_EQ(ctl({"version"}).out, "1\n");
  write_source("config.yaml", app_yaml(1));
  ASSERT_TRUE(await_version(client, 2));
  EXPECT_EQ(ctl({"version"}).out, "2\n");
  EXPECT_EQ(ctl({"get", "database.port"}).out, "1\n");
}

TEST_F(SpineTest, CtlReadCommands_NoDaemonRunning_StillServeLastSnapshot) {
  Process& d = run_daemon();
  auto st = stop_daemon(d);
  ASSERT_TRUE(st);
  EXPECT_TRUE(d.exited_ok()) << describe_status(*st);
  EXPECT_EQ(ctl({"get", "database.port"}).out, "5432\n");
  EXPECT_EQ(ctl({"version"}).out, "1\n");
  const CtlResult status = ctl({"status"});
  EXPECT_EQ(status.code, 3) << status;  // the daemon is unreachable
}

}  // namespace
}  // namespace shmconf::mptest
