// shmconfctl push against a real etcd: a valid file is written in one
// transaction and reaches the daemon's readers; an invalid one is not
// written; a push validated against a revision that someone else has
// changed since is refused (compare-and-swap). A tree source gets one key
// per leaf, stale keys deleted, in the same kind of transaction.
#include <gtest/gtest.h>

#include <map>

#include "etcd/etcd_fixture.hpp"

namespace shmconf::etcd_test {
namespace {

class PushTest : public EtcdDaemonTest {
 protected:
  void SetUp() override {
    EtcdDaemonTest::SetUp();
    if (IsSkipped()) return;
    doc_ = key_ + "config.yaml";
    OpsWriteFile(dir_ / "schema.json",
                 R"({"type": "object", "properties": {"port": {"type": "integer"}},
                     "required": ["port"]})");
    config_ = WriteConfig(
        "      - etcd:\n          endpoints: [" + etcd_->url() + "]\n          key: " + doc_ + "\n",
        "    schema: " + (dir_ / "schema.json").string() + "\n");
  }
  OpsResult Push(const std::string& text, std::vector<std::string> more = {}) {
    OpsWriteFile(dir_ / "new.yaml", text);
    std::vector<std::string> argv{SHMCONFCTL_BIN,   "push", "--config",
                                  config_.string(), "app",  (dir_ / "new.yaml").string()};
    argv.insert(argv.end(), more.begin(), more.end());
    return OpsRun(argv);
  }
  std::string Stored() {
    const auto r = etcd_->Client().range(doc_, false);
    return r.kvs.empty() ? "" : r.kvs.front().value;
  }

  std::string doc_;
  fs::path config_;
};

TEST_F(PushTest, ValidFile_WrittenInOneTxn_ReaderSeesIt_PrintsRevision) {
  etcd_->Put(doc_, "port: 1\n");
  StartDaemon(config_);
  Client c = Reader();
  ASSERT_TRUE(WaitInt(c, "port", 1));
  const auto r = Push("port: 2 # pushed\n");
  ASSERT_EQ(r.rc, 0) << OpsDescribe(r);
  EXPECT_EQ(Stored(), "port: 2 # pushed\n");  // the bytes, comments kept
  const auto rev = etcd_->Client().range(doc_, false).kvs.front().mod_revision;
  EXPECT_NE(r.out.find("revision " + std::to_string(rev)), std::string::npos) << r.out;
  ASSERT_TRUE(WaitInt(c, "port", 2));
}

TEST_F(PushTest, InvalidFile_NothingWritten) {
  etcd_->Put(doc_, "port: 1\n");
  const auto r = Push("port: not-a-number\n");
  EXPECT_EQ(r.rc, 1) << OpsDescribe(r);
  EXPECT_NE(r.err.find("new.yaml:1:"), std::string::npos) << r.err;  // file:line:col
  EXPECT_NE(r.err.find("nothing pushed"), std::string::npos) << r.err;
  EXPECT_EQ(Stored(), "port: 1\n");
}

TEST_F(PushTest, KeyChangedSinceValidated_Refused) {
  etcd_->Put(doc_, "port: 1\n");
  const auto dry = Push("port: 2\n", {"--dry-run", "--json"});
  ASSERT_EQ(dry.rc, 0) << OpsDescribe(dry);
  const auto validated = nlohmann::json::parse(dry.out).at("validated_against").get<int>();
  EXPECT_EQ(Stored(), "port: 1\n");  // a dry run writes nothing
  // Another operator pushes in between.
  etcd_->Put(doc_, "port: 3\n");
  const auto r = Push("port: 2\n", {"--if-revision", std::to_string(validated)});
  EXPECT_EQ(r.rc, 1) << OpsDescribe(r);
  EXPECT_NE(r.err.find("push refused"), std::string::npos) << r.err;
  EXPECT_EQ(Stored(), "port: 3\n");  // theirs stays
}

class TreePushTest : public PushTest {
 protected:
  void SetUp() override {
    PushTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    config_ = WriteConfig(TreeSource(), "    schema: " + (dir_ / "schema.json").string() + "\n");
  }
  std::map<std::string, std::string> Keys() {
    std::map<std::string, std::string> m;
    for (const auto& kv : etcd_->Client().range(key_, true).kvs) {
      m[kv.key.substr(key_.size())] = kv.value;
    }
    return m;
  }
};

TEST_F(TreePushTest, Files_OneKeyPerLeaf_StaleKeysDeleted_InOneTxn) {
  etcd_->Put(key_ + "port", "1");
  etcd_->Put(key_ + "old/key", "x");
  StartDaemon(config_);
  Client c = Reader();
  ASSERT_TRUE(WaitInt(c, "port", 1));
  const auto r = Push("port: 2\ndb:\n  host: db1\n  pool: 8\n");
  ASSERT_EQ(r.rc, 0) << OpsDescribe(r);
  EXPECT_NE(r.out.find("+2 ~1 -1 keys"), std::string::npos) << r.out;
  const std::map<std::string, std::string> want{
      {"db/host", "db1"}, {"db/pool", "8"}, {"port", "2"}};
  EXPECT_EQ(Keys(), want);
  ASSERT_TRUE(WaitInt(c, "db.pool", 8));  // one revision: one publish with every key
  EXPECT_EQ(c.get_int("port").value_or(-1), 2);
  EXPECT_FALSE(c.snapshot().get_string("old.key").has_value());
}

TEST_F(TreePushTest, StringThatReadsAsNumber_RefusedUnderScalarRule) {
  const auto r = Push("port: 1\nversion: \"8080\"\n");
  EXPECT_EQ(r.rc, 1) << OpsDescribe(r);
  EXPECT_NE(r.err.find("version: the string \"8080\" would read back as 8080"), std::string::npos)
      << r.err;
  EXPECT_TRUE(Keys().empty());
}

TEST_F(TreePushTest, KeyAddedSinceValidated_Refused) {
  etcd_->Put(key_ + "port", "1");
  const auto dry = Push("port: 2\n", {"--dry-run", "--json"});
  ASSERT_EQ(dry.rc, 0) << OpsDescribe(dry);
  const auto validated = nlohmann::json::parse(dry.out).at("validated_against").get<int>();
  etcd_->Put(key_ + "other", "3");
  const auto r = Push("port: 2\n", {"--if-revision", std::to_string(validated)});
  EXPECT_EQ(r.rc, 1) << OpsDescribe(r);
  EXPECT_NE(r.err.find("push refused"), std::string::npos) << r.err;
  const std::map<std::string, std::string> want{{"other", "3"}, {"port", "1"}};
  EXPECT_EQ(Keys(), want);
}

}  // namespace
}  // namespace shmconf::etcd_test
