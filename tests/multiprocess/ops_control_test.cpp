// tests/multiprocess/ops_control_test.cpp — the operator's side of a running
// shmconfd, through the real shmconfctl binary: synchronous reload and its
// exit codes, status --json, authorisation of another uid, the audit log,
// and runtime overrides that survive a restart.
//
// The daemon runs with --no-watch so that only the commands under test
// trigger reloads.
#include <grp.h>
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "ops_util.hpp"

namespace shmconf::ops_test {
namespace {

using nlohmann::json;

constexpr uid_t kNobody = 65534;

std::string Config(int port) {
  return "database:\n  host: db.local\n  port: " + std::to_string(port) +
         "\nservice:\n  name: ops\n  secret_token: hunter2\n";
}

std::vector<json> AuditRecords(const fs::path& path) {
  std::vector<json> records;
  std::istringstream in(OpsReadFile(path));
  std::string line;
  while (std::getline(in, line)) {
    records.push_back(json::parse(line));  // every line must be JSON
  }
  return records;
}

class OpsControl : public OpsFixture {
 protected:
  void SetUp() override {
    OpsFixture::SetUp();
    OpsWriteFile(source_, Config(5432));
    // The config holds a literal secret on purpose (it must never reach the
    // audit log); plaintext secrets are refused by default, so warn instead.
    StartDaemon({"--no-watch", "--plaintext-secrets", "warn"});
    WaitLive();
  }

  std::string Get(const std::string& key) {
    const auto r = Ctl({"get", key});
    EXPECT_EQ(r.rc, 0) << OpsDescribe(r);
    return r.out;
  }

  // Runs shmconfctl as uid/gid 65534 with no supplementary groups.
  OpsResult CtlAsNobody(const std::vector<std::string>& args) {
    return Ctl(args, {setpriv_.string(), "--reuid=65534", "--regid=65534", "--clear-groups"});
  }

  // Lets uid 65534 reach the socket: directory 0755, socket 0666 (the 0660
  // mode is the first gate; the test opens it to reach the second, the
  // authorisation of mutating commands). Skips where that cannot work.
  void OpenSocketToNobody() {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run shmconfctl as another uid";
    for (const char* p : {"/usr/bin/setpriv", "/bin/setpriv"}) {
      if (::access(p, X_OK) == 0) setpriv_ = p;
    }
    if (setpriv_.empty()) GTEST_SKIP() << "setpriv (util-linux) is not installed";
    // nobody must be able to reach the binary itself.
    for (fs::path p = fs::path(SHMCONFCTL_BIN).parent_path(); p != p.root_path();
         p = p.parent_path()) {
      struct stat st {};
      if (::stat(p.c_str(), &st) != 0 || (st.st_mode & S_IXOTH) == 0) {
        GTEST_SKIP() << p << " is not searchable by others; cannot run shmconfctl as nobody";
      }
    }
    fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
    ASSERT_EQ(::chmod(socket_.c_str(), 0666), 0);
  }

  fs::path setpriv_;
};

TEST_F(OpsControl, Reload_IsSynchronousAndNamesThePublishedVersion) {
  OpsWriteFile(source_, Config(5433));
  auto r = Ctl({"--json", "reload"});
  ASSERT_EQ(r.rc, 0) << OpsDescribe(r);
  const json reply = json::parse(r.out);
  EXPECT_TRUE(reply.value("ok", false)) << reply.dump();
  EXPECT_TRUE(reply.value("published", false)) << reply.dump();
  EXPECT_EQ(reply.value("from_version", 0), 1) << reply.dump();
  EXPECT_EQ(reply.value("version", 0), 2) << reply.dump();
  // Synchronous: when shmconfctl returns, the new version is already live.
  EXPECT_EQ(Get("database.port"), "5433\n");

  OpsWriteFile(source_, Config(5434));
  r = Ctl({"reload"});
  ASSERT_EQ(r.rc, 0) << OpsDescribe(r);
  EXPECT_NE(r.out.find("version 3"), std::string::npos) << r.out;
  EXPECT_EQ(Get("database.port"), "5434\n");
}

TEST_F(OpsControl, ReloadUnchanged_ExitsZeroPublishesNothing) {
  const auto r = Ctl({"--json", "reload"});
  ASSERT_EQ(r.rc, 0) << OpsDescribe(r);
  const json reply = json::parse(r.out);
  EXPECT_FALSE(reply.value("published", true)) << reply.dump();
  EXPECT_EQ(reply.value("version", 0), 1) << reply.dump();
}

TEST_F(OpsControl, ReloadBrokenFile_ExitsOneWithFileLineColAndKeepsLive) {
  OpsWriteFile(source_, "database:\n  host: db.local\n  port: [1, 2\n");
  const auto r = Ctl({"reload"});
  EXPECT_EQ(r.rc, 1) << OpsDescribe(r);
  const std::regex where(
      std::regex_replace(source_.string(), std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
      R"(:[0-9]+:[0-9]+: )");
  EXPECT_TRUE(std::regex_search(r.err, where)) << "no file:line:col in stderr: " << r.err;
  EXPECT_EQ(Get("database.port"), "5432\n");
  const auto status = OpsCall(socket_, {{"cmd", "status"}});
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->value("live_version", 0), 1);
  EXPECT_FALSE((*status)["last_reload"].value("ok", true)) << status->dump();
}

TEST_F(OpsControl, StatusJson_HasTheDocumentedFields) {
  const auto r = Ctl({"--json", "status"});
  ASSERT_EQ(r.rc, 0) << OpsDescribe(r);
  const json s = json::parse(r.out);
  EXPECT_TRUE(s.value("ok", false));
  EXPECT_TRUE(s.value("healthy", false));
  EXPECT_EQ(s.value("namespace", ""), kName);
  EXPECT_EQ(s.value("prefix", ""), prefix_);
  EXPECT_EQ(s.value("live_version", 0), 1);
  EXPECT_GE(s.value("generation", 0), 1);
  EXPECT_EQ(s.value("pid", 0), daemon_.pid());
  EXPECT_EQ(s.value("retained", 0), 1);
  EXPECT_EQ(s.value("keys", 0), 6);  // every node below the root: 2 objects, 4 leaves
  EXPECT_TRUE(s.contains("content_hash") && s["content_hash"].is_string()) << s.dump();
  EXPECT_TRUE(s.contains("segment_bytes") && s["segment_bytes"].get<std::uint64_t>() > 0);
  ASSERT_TRUE(s["sources"].is_array());
  ASSERT_EQ(s["sources"].size(), 1u);
  EXPECT_EQ(s["sources"][0], source_.string());
  ASSERT_TRUE(s["last_reload"].is_object()) << s.dump();
  EXPECT_TRUE(s["last_reload"].value("ok", false));
  EXPECT_EQ(s["last_reload"].value("trigger", ""), "startup");
}

TEST_F(OpsControl, MutationFromOtherUid_RefusedAndAudited) {
  OpenSocketToNobody();
  OpsWriteFile(source_, Config(6000));
  auto r = CtlAsNobody({"reload"});
  EXPECT_EQ(r.rc, 1) << OpsDescribe(r);
  EXPECT_NE(r.err.find("needs root"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("uid 65534"), std::string::npos) << r.err;
  r = CtlAsNobody({"--json", "set", "database.port", "1"});
  EXPECT_EQ(r.rc, 1) << OpsDescribe(r);
  EXPECT_EQ(json::parse(r.out).value("code", ""), "unauthorized") << r.out;
  EXPECT_EQ(Get("database.port"), "5432\n");  // nothing was reloaded or set

  // Read-only commands stay open to whoever can connect.
  r = CtlAsNobody({"--json", "status"});
  ASSERT_EQ(r.rc, 0) << OpsDescribe(r);
  EXPECT_EQ(json::parse(r.out).value("live_version", 0), 1);

  int refusals = 0;
  for (const json& rec : AuditRecords(audit_)) {
    if (rec.value("ok", true) || rec.value("error", "") != "unauthorized") continue;
    ++refusals;
    EXPECT_EQ(rec["who"].value("uid", 0u), kNobody) << rec.dump();
    EXPECT_EQ(rec["who"].value("gid", 0u), kNobody) << rec.dump();
  }
  EXPECT_EQ(refusals, 2) << OpsReadFile(audit_);
}

TEST_F(OpsControl, AuditLog_EveryLineIsJsonWithTheSameKeys) {
  OpsWriteFile(source_, Config(5433));
  ASSERT_EQ(Ctl({"reload"}).rc, 0);
  OpsWriteFile(source_, "database: [\n");
  ASSERT_EQ(Ctl({"reload"}).rc, 1);
  ASSERT_EQ(Ctl({"set", "database.port", "7000"}).rc, 1);  // the sources must parse
  OpsWriteFile(source_, Config(5433));
  ASSERT_EQ(Ctl({"set", "database.port", "7000"}).rc, 0);
  ASSERT_EQ(Ctl({"unset", "database.port"}).rc, 0);
  ASSERT_EQ(Ctl({"rollback"}).rc, 0);
  ASSERT_EQ(Ctl({"unset", "database.port"}).rc, 1);  // no such override
  // A command's audit record follows its reply, before the daemon handles
  // the next request: once this reply is in, every record above is written.
  ASSERT_EQ(Ctl({"status"}).rc, 0);

  // startup, reload, rejected reload, rejected set, set, unset, rollback,
  // refused unset: one record each.
  const auto records = AuditRecords(audit_);
  ASSERT_EQ(records.size(), 8u) << OpsReadFile(audit_);
  const std::regex rfc3339(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  for (const json& rec : records) {
    SCOPED_TRACE(rec.dump());
    for (const char* key :
         {"time", "who", "what", "ok", "from_version", "to_version", "changed_keys"}) {
      EXPECT_TRUE(rec.contains(key)) << "missing " << key;
    }
    EXPECT_TRUE(std::regex_match(rec.value("time", ""), rfc3339));
    EXPECT_TRUE(rec["who"].is_object());
    EXPECT_TRUE(rec["changed_keys"].is_array());
    // Key names only: a value (here the secret token) never reaches the log.
    EXPECT_EQ(rec.dump().find("hunter2"), std::string::npos);
  }
  EXPECT_EQ(records.front().value("what", ""), "startup");
  EXPECT_EQ(records.front()["who"].value("trigger", ""), "startup");
  // Versions are the live ones before and after, also for a failure.
  for (std::size_t i = 1; i < records.size(); ++i) {
    EXPECT_EQ(records[i].value("from_version", 0), records[i - 1].value("to_version", 0))
        << records[i].dump();
  }
}

TEST_F(OpsControl, SetOverride_PublishedPersistedAcrossRestartAndUnsetReverts) {
  auto r = Ctl({"set", "database.port", "7000"});
  ASSERT_EQ(r.rc, 0) << OpsDescribe(r);
  EXPECT_EQ(Get("database.port"), "7000\n");
  const auto version = OpsCall(socket_, {{"cmd", "version"}});
  ASSERT_TRUE(version.has_value());
  EXPECT_EQ(version->value("version", 0), 2);

  // Restart after a "reboot": shared memory gone, only the state directory left.
  daemon_.Signal(SIGTERM);
  ASSERT_EQ(daemon_.WaitExit(), std::optional<int>(0));
  OpsUnlinkShm(prefix_);
  StartDaemon({"--no-watch", "--plaintext-secrets", "warn"});
  WaitLive();
  EXPECT_EQ(Get("database.port"), "7000\n");
  // A reload re-reads the sources and applies the persisted override again.
  r = Ctl({"--json", "reload"});
  ASSERT_EQ(r.rc, 0) << OpsDescribe(r);
  EXPECT_FALSE(json::parse(r.out).value("published", true)) << r.out;
  EXPECT_EQ(Get("database.port"), "7000\n");

  r = Ctl({"unset", "database.port"});
  ASSERT_EQ(r.rc, 0) << OpsDescribe(r);
  EXPECT_EQ(Get("database.port"), "5432\n");
  r = Ctl({"unset", "database.port"});
  EXPECT_EQ(r.rc, 1) << "unset of an absent override: " << OpsDescribe(r);
}

// --show-secrets on a socket command is honoured only for authorised peers.
TEST_F(OpsControl, ShowSecrets_HonouredOnlyForAuthorisedPeers) {
  const std::string secret = "ovr-" + prefix_ + "-5ec7e7";
  auto r = Ctl({"set", "service.secret_token", secret});  // plaintext: a warning here
  ASSERT_EQ(r.rc, 0) << OpsDescribe(r);
  OpenSocketToNobody();
  for (const auto& cmd :
       std::vector<std::vector<std::string>>{{"--show-secrets", "--json", "status"},
                                             {"--show-secrets", "--json", "diff", "1", "2"}}) {
    r = CtlAsNobody(cmd);
    EXPECT_EQ(r.rc, 0) << OpsDescribe(r);
    EXPECT_EQ((r.out + r.err).find(secret), std::string::npos) << OpsDescribe(r);
    EXPECT_NE(r.out.find("<redacted>"), std::string::npos) << OpsDescribe(r);
    r = Ctl(cmd);  // root: authorised
    EXPECT_EQ(r.rc, 0) << OpsDescribe(r);
    EXPECT_NE(r.out.find(secret), std::string::npos) << OpsDescribe(r);
  }
  EXPECT_EQ(OpsReadFile(audit_).find(secret), std::string::npos);
}

}  // namespace
}  // namespace shmconf::ops_test
