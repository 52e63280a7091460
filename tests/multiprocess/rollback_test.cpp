// tests/multiprocess/rollback_test.cpp — rollback, history and diff through
// shmconfctl against a running shmconfd: three versions, rollback by steps
// and to a version, a rollback that a reload of unchanged sources does not
// undo, and retained versions that survive a daemon restart.
#include <string>

#include "harness.hpp"

namespace shmconf::mptest {
namespace {

// v1 -> v2 changes a; v2 -> v3 changes a and b, removes gone, adds added.
constexpr char kV1[] = "a: 1\nb: x\ngone: true\nnested: {keep: 1}\n";
constexpr char kV2[] = "a: 2\nb: x\ngone: true\nnested: {keep: 1}\n";
constexpr char kV3[] = "a: 3\nb: y\nadded: 5\nnested: {keep: 1}\n";
constexpr char kV4[] = "a: 4\nb: y\nadded: 5\nnested: {keep: 1}\n";

class RollbackTest : public MultiProcessTest {
 protected:
  void SetUp() override {
    MultiProcessTest::SetUp();
    sources_ = {"config.yaml"};
    write_source("config.yaml", kV1);
    daemon_ = &run_daemon({"--no-watch"});
    client_.emplace(open_client());
    publish(kV2, 2);
    publish(kV3, 3);
  }

  // Edits the source, reloads, expects `version` to go live.
  void publish(const char* yaml, std::uint64_t version) {
    write_source("config.yaml", yaml);
    const nlohmann::json r = control({{"cmd", "reload"}});
    ASSERT_TRUE(r.value("published", false)) << r.dump();
    ASSERT_EQ(r.value("version", 0u), version) << r.dump();
    ASSERT_TRUE(await_version(*client_, version));
  }

  std::string live_marker() {
    const CtlResult h = ctl({"history"});
    EXPECT_EQ(h.code, 0) << h;
    std::istringstream in(h.out);
    std::string line, live;
    while (std::getline(in, line)) {
      if (line.starts_with("* ")) live += line.substr(2, line.find(' ', 2) - 2);
    }
    return live;
  }

  Process* daemon_ = nullptr;
  std::optional<shmconf::Client> client_;
};

TEST_F(RollbackTest, RollbackOneStep_PreviousVersionLive) {
  const CtlResult r = ctl({"rollback"});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_TRUE(contains(r.out, "version 2 is live")) << r;
  ASSERT_TRUE(await_version(*client_, 2));
  EXPECT_EQ(client_->get_int("a").value_or(-1), 2);
  EXPECT_EQ(live_marker(), "v2");
}

TEST_F(RollbackTest, RollbackTo_RetainedVersion_LiveAndMarkedInHistory) {
  const auto gen = client_->generation();
  const CtlResult r = ctl({"rollback", "--to", "1"});
  EXPECT_EQ(r.code, 0) << r;
  ASSERT_TRUE(await_version(*client_, 1));
  EXPECT_GT(client_->generation(), gen);
  EXPECT_EQ(client_->get_int("a").value_or(-1), 1);
  EXPECT_TRUE(client_->get_bool("gone").value_or(false));
  EXPECT_EQ(client_->get_int("added").error(), Errc::kNotFound);

  const CtlResult h = ctl({"history"});
  EXPECT_EQ(h.code, 0) << h;
  EXPECT_EQ(live_marker(), "v1") << h;
  EXPECT_TRUE(contains(h.out, "  v3 ")) << h;
  EXPECT_TRUE(contains(h.out, "  v2 ")) << h;
  const nlohmann::json hj = control({{"cmd", "history"}});
  int live = 0;
  for (const auto& v : hj["versions"]) live += v.value("live", false) ? 1 : 0;
  EXPECT_EQ(live, 1) << hj.dump(2);
  EXPECT_TRUE(wait_for_audit("\"what\":\"rollback\""));
}

TEST_F(RollbackTest, RollbackTo_UnknownVersion_ExitsOneAndKeepsLive) {
  const CtlResult r = ctl({"rollback", "--to", "42"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_TRUE(contains(r.err, "42")) << r;
  EXPECT_EQ(client_->version(), 3u);
  const CtlResult too_far = ctl({"rollback", "--steps", "5"});
  EXPECT_EQ(too_far.code, 1) << too_far;
  EXPECT_EQ(client_->version(), 3u);
}

TEST_F(RollbackTest, Diff_FirstToThird_ListsAddedRemovedChangedWithValues) {
  const CtlResult r = ctl({"diff", "1", "3"});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_EQ(r.out,
            "~ a  1 ->  3\n"
            "+ added  5\n"
            "~ b  \"x\" ->  \"y\"\n"
            "- gone  true\n");
  const nlohmann::json j = control({{"cmd", "diff"}, {"from", 1}, {"to", 3}});
  const nlohmann::json expected = nlohmann::json::parse(R"([
    {"key": "a", "change": "changed", "old": 1, "new": 3},
    {"key": "added", "change": "added", "new": 5},
    {"key": "b", "change": "changed", "old": "x", "new": "y"},
    {"key": "gone", "change": "removed", "old": true}])");
  EXPECT_EQ(j["changes"], expected) << j.dump(2);
  const CtlResult missing = ctl({"diff", "1", "9"});
  EXPECT_NE(missing.code, 0) << missing;
}

TEST_F(RollbackTest, ReloadUnchangedSources_AfterRollback_RollbackStays) {
  ASSERT_EQ(ctl({"rollback", "--to", "1"}).code, 0);
  ASSERT_TRUE(await_version(*client_, 1));
  const auto gen = client_->generation();
  const CtlResult r = ctl({"reload"});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_TRUE(contains(r.out, "rollback stays")) << r;
  EXPECT_EQ(client_->version(), 1u);
  EXPECT_EQ(client_->generation(), gen);  // nothing was flipped

  // A real edit publishes the next version number, not a reuse of 2 or 3.
  publish(kV4, 4);
  EXPECT_EQ(client_->get_int("a").value_or(-1), 4);
  EXPECT_EQ(live_marker(), "v4");
}

TEST_F(RollbackTest, DaemonRestart_AfterRollback_RollbackAndRetainedVersionsSurvive) {
  ASSERT_EQ(ctl({"rollback", "--to", "1"}).code, 0);
  ASSERT_TRUE(await_version(*client_, 1));
  auto st = stop_daemon(*daemon_);
  ASSERT_TRUE(st);
  EXPECT_TRUE(daemon_->exited_ok()) << describe_status(*st);

  run_daemon({"--no-watch"});
  EXPECT_EQ(client_->version(), 1u);  // the start-up reload kept the rollback
  EXPECT_EQ(live_marker(), "v1");
  EXPECT_TRUE(status_json().value("rolled_back", false));

  const CtlResult r = ctl({"rollback", "--to", "3"});
  EXPECT_EQ(r.code, 0) << r;
  ASSERT_TRUE(await_version(*client_, 3));
  EXPECT_EQ(client_->get_int("added").value_or(-1), 5);
  publish(kV4, 4);
}

TEST_F(RollbackTest, Reboot_AfterRollback_RolledBackVersionRestored) {
  ASSERT_EQ(ctl({"rollback", "--to", "2"}).code, 0);
  ASSERT_TRUE(await_version(*client_, 2));
  ASSERT_TRUE(stop_daemon(*daemon_));
  client_.reset();
  unlink_shm_objects(prefix_);

  run_daemon({"--no-watch"});
  client_.emplace(open_client());
  EXPECT_EQ(client_->version(), 2u);
  EXPECT_EQ(client_->get_int("a").value_or(-1), 2);
  const CtlResult r = ctl({"rollback", "--to", "1"});
  EXPECT_EQ(r.code, 0) << r;
  ASSERT_TRUE(await_version(*client_, 1));
  publish(kV4, 4);
}

}  // namespace
}  // namespace shmconf::mptest
