// The delete-share guard (Guards::max_deleted_percent, on by default at 50):
// a reload that would remove more than that share of the live version's
// leaf keys is refused with kind "guard" naming how many keys would go; a
// forced reload passes it; a candidate identical to the live version is
// never refused by it.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "control/replies.hpp"
#include "core/namespace_service.hpp"
#include "shmconf/client.hpp"
#include "support/shm_prefix.hpp"
#include "validate/validate.hpp"

namespace shmconf::daemon {
namespace {

namespace fs = std::filesystem;

// `n` top-level keys k00..k(n-1), one per line, with values starting at `base`.
std::string keys_yaml(int n, int base = 0) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    out += "k" + std::string(i < 10 ? "0" : "") + std::to_string(i) + ": " +
           std::to_string(base + i) + "\n";
  }
  return out;
}

TEST(DeleteGuard, Default_IsFiftyPercent) { EXPECT_EQ(Guards{}.max_deleted_percent, 50); }

TEST(DeleteGuard, CheckChangeGuard_MoreThanHalfDeleted_RefusedNamingTheCount) {
  const Guards g;                                          // defaults
  EXPECT_TRUE(check_change_guard(21, 21, 43, g).empty());  // 48.8%
  EXPECT_TRUE(check_change_guard(2, 1, 2, g).empty());     // exactly 50% is allowed
  const auto issues = check_change_guard(41, 41, 43, g);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].kind, "guard");
  EXPECT_FALSE(issues[0].warning);
  EXPECT_EQ(issues[0].message,
            "would delete 41 of the live version's 43 keys (95.3%); max_deleted_percent is 50");
  EXPECT_TRUE(check_change_guard(41, 41, 0, g).empty());  // nothing live: nothing to compare
}

TEST(DeleteGuard, CheckChangeGuard_AddedAndChangedKeys_NotCounted) {
  const Guards g;
  EXPECT_TRUE(check_change_guard(400, 0, 10, g).empty());  // only additions and changes
}

TEST(DeleteGuard, CheckChangeGuard_Settings_HundredIsOffZeroRefusesAny) {
  Guards g;
  g.max_deleted_percent = 100;
  EXPECT_TRUE(check_change_guard(43, 43, 43, g).empty());
  g.max_deleted_percent = 0;
  EXPECT_EQ(check_change_guard(1, 1, 1000, g).size(), 1u);
}

TEST(DeleteGuard, CheckChangeGuard_BothGuardsFail_BothReported) {
  Guards g;
  g.max_changed_percent = 10;
  const auto issues = check_change_guard(30, 30, 40, g);
  ASSERT_EQ(issues.size(), 2u);
  EXPECT_NE(issues[0].message.find("would delete 30 of"), std::string::npos) << issues[0].message;
  EXPECT_NE(issues[1].message.find("max_changed_percent is 10"), std::string::npos)
      << issues[1].message;
}

// --- Through a NamespaceService ------------------------------------------------

class DeleteGuardServiceTest : public testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    const std::string id = std::to_string(::getpid()) + "n" + std::to_string(++counter);
    dir_ = fs::temp_directory_path() / ("shmconf-delguard-" + id);
    fs::create_directories(dir_);
    prefix_ = "udg" + id;
    opts_.name = "app";
    opts_.prefix = prefix_;
    opts_.sources = {file_source((dir_ / "app.yaml").string())};
    write(keys_yaml(43));
  }
  void TearDown() override {
    test::unlink_prefix(prefix_);
    fs::remove_all(dir_);
  }
  void write(const std::string& text) { std::ofstream(dir_ / "app.yaml") << text; }

  fs::path dir_;
  std::string prefix_;
  ServiceOptions opts_;
};

TEST_F(DeleteGuardServiceTest, Reload_TwoOfFortyThreeKeysLeft_RefusedLiveKept) {
  NamespaceService svc(opts_);
  svc.start();
  ASSERT_TRUE(svc.reload("test").ok);
  write(keys_yaml(2));  // what a half-written file looked like in the issue
  const ReloadOutcome out = svc.reload("test");
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.error_kind, "guard");
  EXPECT_NE(out.error.find("would delete 41 of the live version's 43 keys"), std::string::npos)
      << out.error;
  EXPECT_EQ(svc.live_version(), 1u);
  EXPECT_EQ(status_json(svc)["rejections_by_kind"]["guard"], 1);
  ClientOptions co;
  co.prefix = prefix_;
  EXPECT_EQ(Client::open("app", co).snapshot().get_int("k42").value_or(-1), 42);
}

TEST_F(DeleteGuardServiceTest, Reload_HalfTheKeysDeleted_Published) {
  write(keys_yaml(42));
  NamespaceService svc(opts_);
  svc.start();
  ASSERT_TRUE(svc.reload("test").ok);
  write(keys_yaml(21, 100));  // 21 of 42 removed, the rest changed: exactly 50%
  const ReloadOutcome out = svc.reload("test");
  EXPECT_TRUE(out.ok) << out.error;
  EXPECT_TRUE(out.published);
}

TEST_F(DeleteGuardServiceTest, Reload_Forced_PublishedThenIdenticalNotRefused) {
  NamespaceService svc(opts_);
  svc.start();
  ASSERT_TRUE(svc.reload("test").ok);
  write(keys_yaml(2));
  ASSERT_FALSE(svc.reload("test").ok);
  ReloadOutcome out = svc.reload("test", /*force=*/true);
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_EQ(svc.live_version(), 2u);
  // The same sources again: identical to the live version, never refused.
  out = svc.reload("test");
  EXPECT_TRUE(out.ok) << out.error;
  EXPECT_FALSE(out.published);
  EXPECT_EQ(svc.live_version(), 2u);
}

TEST_F(DeleteGuardServiceTest, Reload_GuardAtHundred_DeletionPublished) {
  opts_.guards.max_deleted_percent = 100;
  NamespaceService svc(opts_);
  svc.start();
  ASSERT_TRUE(svc.reload("test").ok);
  write(keys_yaml(2));
  const ReloadOutcome out = svc.reload("test");
  EXPECT_TRUE(out.ok) << out.error;
  EXPECT_EQ(svc.live_version(), 2u);
}

}  // namespace
}  // namespace shmconf::daemon
