// tests/daemon/service_state_test.cpp — NamespaceService and its state
// directory: reload() and rollback() return at the flip and leave the disk to
// flush_state(); start() trusts the control block over a state.json that a
// daemon killed between a flip and its state write left behind.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/namespace_service.hpp"
#include "support/shm_prefix.hpp"

namespace shmconf::daemon {
namespace {

namespace fs = std::filesystem;

class ServiceStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "shmconf-state-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    prefix_ = "us" + std::to_string(::getpid()) + "n" + std::to_string(++counter_);
    opts_.name = "app";
    opts_.prefix = prefix_;
    opts_.state_dir = dir_ + "/state";
    opts_.keep = 4;
    source(1);
    opts_.sources = {file_source(dir_ + "/app.json")};
  }
  void TearDown() override {
    test::unlink_prefix(prefix_);
    fs::remove_all(dir_);
  }
  void source(int port) {
    std::ofstream(dir_ + "/app.json", std::ios::trunc)
        << "{\"db\": {\"host\": \"h\", \"port\": " << port << "}}\n";
  }
  std::string state_path() const { return opts_.state_dir + "/app/state.json"; }
  nlohmann::json state() const {
    std::ifstream in(state_path());
    return nlohmann::json::parse(std::string(std::istreambuf_iterator<char>(in), {}));
  }
  bool saved(std::uint64_t v) const {
    return fs::exists(opts_.state_dir + "/app/versions/" + std::to_string(v) + ".seg");
  }

  inline static int counter_ = 0;
  std::string dir_, prefix_;
  ServiceOptions opts_;
};

TEST_F(ServiceStateTest, ReloadAndRollback_ReturnAtTheFlip_StateFollowsFlush) {
  NamespaceService svc(opts_);
  svc.start();
  ASSERT_TRUE(svc.reload("test").published);
  EXPECT_FALSE(saved(1));
  ASSERT_TRUE(svc.flush_state().has_value());
  EXPECT_TRUE(saved(1));
  source(2);
  ASSERT_TRUE(svc.reload("test").published);
  ASSERT_TRUE(svc.flush_state().has_value());

  const ReloadOutcome out = svc.rollback(std::nullopt, 1, "test");
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_EQ(svc.live_version(), 1u);
  ASSERT_EQ(out.changes.size(), 1u);  // the reply's diff is there at once
  EXPECT_EQ(state().value("live_version", 0), 2);
  ASSERT_TRUE(svc.flush_state().has_value());
  EXPECT_EQ(state().value("live_version", 0), 1);
  EXPECT_TRUE(state().value("rolled_back", false));
}

TEST_F(ServiceStateTest, KilledAfterPublishFlip_RestartSavesTheVersion) {
  std::string before;
  {
    NamespaceService svc(opts_);
    svc.start();
    ASSERT_TRUE(svc.reload("test").published);
    ASSERT_TRUE(svc.flush_state().has_value());
    std::ifstream in(state_path());
    before.assign(std::istreambuf_iterator<char>(in), {});
    source(2);
    ASSERT_TRUE(svc.reload("test").published);
  }
  // The state directory as the daemon killed right after the flip left it.
  std::ofstream(state_path(), std::ios::trunc) << before;
  fs::remove(opts_.state_dir + "/app/versions/2.seg");

  NamespaceService svc(opts_);
  svc.start();  // adopts version 2 from shared memory
  EXPECT_EQ(svc.live_version(), 2u);
  EXPECT_TRUE(saved(2));
  EXPECT_EQ(state().value("live_version", 0), 2);
  EXPECT_EQ(state().value("next_version", 0), 3);
  EXPECT_FALSE(svc.reload("test").published);  // the sources hold version 2
}

TEST_F(ServiceStateTest, KilledAfterRollbackFlip_RestartKeepsTheRollback) {
  std::string before;
  {
    NamespaceService svc(opts_);
    svc.start();
    ASSERT_TRUE(svc.reload("test").published);
    source(2);
    ASSERT_TRUE(svc.reload("test").published);
    ASSERT_TRUE(svc.flush_state().has_value());
    std::ifstream in(state_path());
    before.assign(std::istreambuf_iterator<char>(in), {});
    ASSERT_TRUE(svc.rollback(1u, std::nullopt, "test").ok);
  }
  std::ofstream(state_path(), std::ios::trunc) << before;  // no rollback in it

  NamespaceService svc(opts_);
  svc.start();
  EXPECT_EQ(svc.live_version(), 1u);
  EXPECT_TRUE(svc.rolled_back());
  // The sources did not change since the rollback: it stays.
  const ReloadOutcome out = svc.reload("test");
  EXPECT_TRUE(out.ok) << out.error;
  EXPECT_FALSE(out.published) << out.message;
  EXPECT_EQ(svc.live_version(), 1u);
}

}  // namespace
}  // namespace shmconf::daemon
