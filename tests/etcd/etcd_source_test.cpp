// The etcd source with a real etcd: a put reaches a reader in another
// process, a restart of etcd mid-watch loses no change, a compaction makes
// the daemon read everything again, a daemon that starts without etcd
// serves its last good version, a bad value is refused naming its key and
// revision, and the password never appears in any output.
#include <gtest/gtest.h>

#include "etcd/etcd_fixture.hpp"

namespace shmconf::etcd_test {
namespace {

using EtcdSourceTest = EtcdDaemonTest;

TEST_F(EtcdSourceTest, Put_ReaderInAnotherProcessSeesIt) {
  etcd_->Put(key_ + "database/port", "5432");
  StartDaemon(WriteConfig(TreeSource()));
  Client c = Reader();
  ASSERT_TRUE(WaitInt(c, "database.port", 5432));
  const std::int64_t rev = etcd_->Put(key_ + "database/port", "6000");
  ASSERT_TRUE(WaitInt(c, "database.port", 6000));
  // Provenance names the endpoint, the key and its mod_revision.
  const auto r = OpsRun({SHMCONFCTL_BIN, "--socket", Socket(), "--prefix", prefix_, "--name", "app",
                         "explain", "database.port"});
  EXPECT_NE(r.out.find("etcd:" + etcd_->endpoint() + key_ + "database/port@" + std::to_string(rev)),
            std::string::npos)
      << OpsDescribe(r);
  EXPECT_TRUE(OpsWaitUntil([&] { return Etcd().value("revision", 0) == rev; }));
  // The snapshot's metadata records the store revision its etcd layer was read at.
  const auto sources = c.snapshot().sources();
  const std::string want = "etcd:" + etcd_->endpoint() + key_ + "?revision=" + std::to_string(rev);
  EXPECT_NE(std::find(sources.begin(), sources.end(), want), sources.end()) << want;
  const auto metrics = OpsCall(Socket(), {{"cmd", "metrics"}});
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->dump().find("shmconf_etcd_revision"), std::string::npos);
}

TEST_F(EtcdSourceTest, EtcdRestartedMidWatch_ResumesFromItsRevisionAndMissesNothing) {
  etcd_->Put(key_ + "a", "1");
  StartDaemon(WriteConfig(TreeSource()));
  Client c = Reader();
  ASSERT_TRUE(WaitInt(c, "a", 1));
  const auto before = c.version();
  // Freeze the daemon so the changes land while its watch is broken.
  daemon_.Signal(SIGSTOP);
  etcd_->Restart();
  for (int i = 2; i <= 6; ++i) etcd_->Put(key_ + "k" + std::to_string(i), std::to_string(i));
  etcd_->Put(key_ + "a", "7");
  daemon_.Signal(SIGCONT);
  ASSERT_TRUE(WaitInt(c, "a", 7));
  for (int i = 2; i <= 6; ++i) EXPECT_EQ(c.get_int("k" + std::to_string(i)).value_or(-1), i);
  EXPECT_EQ(c.version(), before + 1);  // the six missed changes caught up in one publish
  const auto e = Etcd();
  EXPECT_EQ(e.value("full_reads", 0), 1) << e.dump();  // resumed, not read again
  EXPECT_GE(e.value("reconnects", 0), 1) << e.dump();
}

TEST_F(EtcdSourceTest, RevisionCompactedWhileAway_ReadsEverythingAgain) {
  etcd_->Put(key_ + "a", "1");
  StartDaemon(WriteConfig(TreeSource()));
  Client c = Reader();
  ASSERT_TRUE(WaitInt(c, "a", 1));
  daemon_.Signal(SIGSTOP);
  etcd_->Restart();
  etcd_->Put(key_ + "a", "2");
  etcd_->Put(key_ + "b", "3");
  const std::int64_t last = etcd_->Put(key_ + "a", "4");
  etcd_->Client().compact(last);
  daemon_.Signal(SIGCONT);
  ASSERT_TRUE(WaitInt(c, "a", 4));
  EXPECT_EQ(c.get_int("b").value_or(-1), 3);
  EXPECT_TRUE(OpsWaitUntil([&] { return Etcd().value("full_reads", 0) == 2; })) << Etcd().dump();
  EXPECT_NE(daemon_.Log().find("compacted"), std::string::npos) << daemon_.Log();
}

TEST_F(EtcdSourceTest, EtcdDownAtStart_LastGoodServedAndHealthDegraded) {
  etcd_->Put(key_ + "port", "5432");
  const fs::path config = WriteConfig(TreeSource());
  StartDaemon(config);
  {
    Client c = Reader();
    ASSERT_TRUE(WaitInt(c, "port", 5432));
  }
  // A reboot: daemon gone, shared memory empty, etcd unreachable.
  daemon_.Signal(SIGTERM);
  ASSERT_TRUE(daemon_.WaitExit());
  OpsUnlinkShm(prefix_);
  etcd_->Kill();
  StartDaemon(config);
  Client c = Reader();
  EXPECT_EQ(c.get_int("port").value_or(-1), 5432);
  const auto s = Status().value();
  EXPECT_TRUE(s.value("healthy", false)) << s.dump();
  EXPECT_TRUE(s.value("degraded", false)) << s.dump();
  EXPECT_NE(s.value("health", "").find("degraded"), std::string::npos) << s.dump();
  // etcd comes back: the daemon catches up without being asked.
  etcd_->Start();
  etcd_->Put(key_ + "port", "6543");
  ASSERT_TRUE(WaitInt(c, "port", 6543));
  EXPECT_TRUE(OpsWaitUntil([&] { return !Status().value().value("degraded", true); }));
}

TEST_F(EtcdSourceTest, BadValue_RejectedNamingKeyAndRevision_LiveVersionStays) {
  etcd_->Put(key_ + "limits/max", "10");
  StartDaemon(WriteConfig(TreeSource("          values: json\n")));
  Client c = Reader();
  ASSERT_TRUE(WaitInt(c, "limits.max", 10));
  const auto live = c.version();
  const std::int64_t rev = etcd_->Put(key_ + "limits/max", "{\"unterminated\": ");
  nlohmann::json last;
  ASSERT_TRUE(OpsWaitUntil([&] {
    last = Status().value()["last_reload"];
    return last.is_object() && !last.value("ok", true);
  })) << daemon_.Log();
  const std::string error = last.value("error", "");
  EXPECT_NE(error.find(key_ + "limits/max@" + std::to_string(rev)), std::string::npos) << error;
  EXPECT_EQ(c.version(), live);
  EXPECT_EQ(c.get_int("limits.max").value_or(-1), 10);
  EXPECT_TRUE(Status().value().value("healthy", false));  // a clean rejection
  // shmconfctl validate reads etcd too, and names the same key and revision.
  const auto v =
      OpsRun({SHMCONFCTL_BIN, "validate", "--config", (dir_ / "shmconfd.yaml").string()});
  EXPECT_EQ(v.rc, 1) << OpsDescribe(v);
  EXPECT_NE(v.err.find(key_ + "limits/max@" + std::to_string(rev)), std::string::npos) << v.err;
}

// Every file under `dir`, concatenated (the state directory).
std::string AllFiles(const fs::path& dir) {
  std::string all;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file()) all += OpsReadFile(e.path());
  }
  return all;
}

TEST_F(EtcdSourceTest, Credentials_NeverInAnyOutput) {
  const std::string canary = "canary-7f3a9c-pass";
  const std::string wrong = "canary-51b2e0-wrong";
  const auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {OpsFindTool("etcdctl")->string(), "--endpoints=" + etcd_->url()});
    return OpsRun(args, {"ETCDCTL_API=3"});
  };
  if (!OpsFindTool("etcdctl")) GTEST_SKIP() << "etcdctl is not installed (Debian etcd-client)";
  for (const auto& a : std::vector<std::vector<std::string>>{
           {"user", "add", "root:root-pw"},
           {"user", "add", "shm:" + canary},
           {"role", "add", "reader"},
           {"role", "grant-permission", "reader", "--prefix=true", "read", key_},
           {"user", "grant-role", "shm", "reader"},
           {"auth", "enable"}}) {
    const auto r = ctl(a);
    ASSERT_EQ(r.rc, 0) << OpsDescribe(r);
  }
  etcd_->SetRootPassword("root-pw");
  etcd_->Put(key_ + "port", "5432");
  OpsWriteFile(dir_ / "pw", canary + "\n");
  OpsWriteFile(dir_ / "wrong", wrong + "\n");
  const std::string src = "      - etcd:\n          endpoints: [" + etcd_->url() +
                          "]\n          prefix: " + key_ + "\n          user: shm\n";
  const fs::path config =
      WriteConfig(src + "          password: ${file:" + (dir_ / "pw").string() + "}\n",
                  "    plaintext_secrets: allow\n");
  // A second namespace whose password is wrong: its errors must not say it.
  OpsWriteFile(config, OpsReadFile(config) + "  bad:\n    sources:\n" + src +
                           "          password: ${file:" + (dir_ / "wrong").string() + "}\n");
  StartDaemon(config);
  Client c = Reader();
  ASSERT_TRUE(WaitInt(c, "port", 5432));
  etcd_->Put(key_ + "port", "6000");
  ASSERT_TRUE(WaitInt(c, "port", 6000));

  std::string out = daemon_.Log();
  const std::string bad_sock = (dir_ / "bad.sock").string();
  ASSERT_TRUE(OpsWaitUntil([&] { return OpsCall(bad_sock, {{"cmd", "status"}}).has_value(); }));
  const auto bad = OpsCall(bad_sock, {{"cmd", "status"}}).value();
  EXPECT_NE(bad.dump().find("authenticate as 'shm' refused"), std::string::npos) << bad.dump();
  out += bad.dump() + Status().value().dump();
  out += OpsCall(Socket(), {{"cmd", "metrics"}}).value().dump();
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--socket", Socket(), "status", "--json"},
           {"--socket", bad_sock, "status"},
           {"--socket", Socket(), "--prefix", prefix_, "--name", "app", "explain", "port"},
           {"validate", "--config", config.string()},
           {"validate", "--config", config.string(), "--format", "json"}}) {
    std::vector<std::string> argv{SHMCONFCTL_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto r = OpsRun(argv);
    out += r.out + r.err;
  }
  daemon_.Signal(SIGTERM);
  ASSERT_TRUE(daemon_.WaitExit());
  out += daemon_.Log() + AllFiles(dir_ / "state") + OpsReadFile(dir_ / "audit.log");
  EXPECT_NE(out.find("refused"), std::string::npos);  // the outputs were collected
  EXPECT_EQ(out.find(canary), std::string::npos) << out;
  EXPECT_EQ(out.find(wrong), std::string::npos) << out;
}

}  // namespace
}  // namespace shmconf::etcd_test
