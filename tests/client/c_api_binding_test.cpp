// tests/client/c_api_binding_test.cpp — the parts of the C ABI that
// bindings build on: shmconf_generation, shmconf_get_value and
// shmconf_subscribe, against a Publisher in this process.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "client/c_api_fixture.hpp"
#include "client/test_util.hpp"
#include "shmconf/shmconf.h"

namespace shmconf {
namespace {

constexpr std::string_view kConfig = R"({
  "db": {"host": "db.internal", "port": 5432, "ratio": 0.25, "tls": true, "none": null},
  "servers": [{"host": "a"}, {"host": "b"}, {"host": "c"}],
  "section": {}
})";

class CApiBinding : public test::CApiFixture {
 protected:
  CApiBinding() : CApiFixture(kConfig) {}
  shmconf_value get(const char* key) {
    shmconf_value v;
    std::memset(&v, 0x5a, sizeof v);
    EXPECT_EQ(shmconf_get_value(snap_, key, std::strlen(key), &v), 0) << key;
    return v;
  }
};

TEST_F(CApiBinding, GetValue_EveryTypeInOneLookup) {
  publish_and_acquire();
  shmconf_value v = get("db.port");
  EXPECT_EQ(v.type, SHMCONF_TYPE_INT);
  EXPECT_EQ(v.integer, 5432);
  EXPECT_EQ(v.real, 0.0);  // unused fields are zero
  EXPECT_EQ(v.str, nullptr);
  v = get("db.ratio");
  EXPECT_EQ(v.type, SHMCONF_TYPE_DOUBLE);
  EXPECT_EQ(v.real, 0.25);
  v = get("db.tls");
  EXPECT_EQ(v.type, SHMCONF_TYPE_BOOL);
  EXPECT_EQ(v.boolean, 1);
  v = get("db.none");
  EXPECT_EQ(v.type, SHMCONF_TYPE_NULL);
  v = get("db.host");
  EXPECT_EQ(v.type, SHMCONF_TYPE_STRING);
  ASSERT_EQ(v.len, 11u);
  EXPECT_EQ(std::string(v.str, v.len), "db.internal");
  EXPECT_EQ(v.str[v.len], '\0');
  v = get("servers");
  EXPECT_EQ(v.type, SHMCONF_TYPE_ARRAY);
  EXPECT_EQ(v.len, 3u);
  v = get("section");
  EXPECT_EQ(v.type, SHMCONF_TYPE_OBJECT);
  EXPECT_EQ(v.len, 0u);
}

TEST_F(CApiBinding, GetValue_KeyByLengthNotNul) {
  publish_and_acquire();
  shmconf_value v{};
  // "db.portXYZ" cut at 7 bytes is "db.port".
  ASSERT_EQ(shmconf_get_value(snap_, "db.portXYZ", 7, &v), 0);
  EXPECT_EQ(v.integer, 5432);
  ASSERT_EQ(shmconf_get_value(snap_, "", 0, &v), 0);  // the root
  EXPECT_EQ(v.type, SHMCONF_TYPE_OBJECT);
  EXPECT_EQ(v.len, 3u);
}

TEST_F(CApiBinding, GetValue_ErrorsLeaveOutUntouched) {
  publish_and_acquire();
  shmconf_value v{};
  v.integer = 77;
  EXPECT_EQ(shmconf_get_value(snap_, "db.nope", 7, &v), SHMCONF_E_NOT_FOUND);
  EXPECT_EQ(v.integer, 77);
  EXPECT_EQ(shmconf_get_value(nullptr, "a", 1, &v), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_get_value(snap_, nullptr, 1, &v), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_get_value(snap_, "a", 1, nullptr), SHMCONF_E_INVALID);
}

TEST_F(CApiBinding, GetValue_StringStaysValidWhilePinnedAcrossPublishes) {
  publish_and_acquire();
  const shmconf_value v = get("db.host");
  pub_.publish(R"({"db": {"host": "other"}})");
  pub_.publish(R"({"db": {"host": "third"}})");
  EXPECT_EQ(shmconf_version(c_), 3u);
  EXPECT_EQ(std::string(v.str, v.len), "db.internal");
}

TEST_F(CApiBinding, Generation_MovesOnEveryPublish) {
  EXPECT_EQ(shmconf_generation(nullptr), 0u);
  pub_.publish(R"({"a": 1})");
  const std::uint64_t g1 = shmconf_generation(c_);
  EXPECT_EQ(shmconf_generation(c_), g1);  // stable without a publish
  pub_.publish(R"({"a": 2})");
  EXPECT_GT(shmconf_generation(c_), g1);
}

struct Seen {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> lines;  // "version key kind old new"
};

void on_changes(const shmconf_snapshot* old_snap, const shmconf_snapshot* new_snap,
                const shmconf_change* changes, std::size_t count, void* ctx) {
  auto* seen = static_cast<Seen*>(ctx);
  std::lock_guard<std::mutex> lock(seen->mu);
  for (std::size_t i = 0; i < count; ++i) {
    std::int64_t before = -1, after = -1;
    if (old_snap != nullptr) (void)shmconf_get_int64(old_snap, changes[i].key, &before);
    (void)shmconf_get_int64(new_snap, changes[i].key, &after);
    seen->lines.push_back(std::to_string(shmconf_snapshot_version(new_snap)) + " " +
                          std::string(changes[i].key, changes[i].key_len) + " " +
                          std::to_string(changes[i].kind) + " " + std::to_string(before) + " " +
                          std::to_string(after));
  }
  seen->cv.notify_all();
}

TEST_F(CApiBinding, Subscribe_ReportsChangesUnderPrefixWithOldAndNew) {
  pub_.publish(R"({"db": {"port": 1, "x": 5}, "other": 1})");
  Seen seen;
  shmconf_subscription* sub = nullptr;
  ASSERT_EQ(shmconf_subscribe(c_, "db.", on_changes, &seen, &sub), 0);
  pub_.publish(R"({"db": {"port": 2, "y": 7}, "other": 2})");
  {
    std::unique_lock<std::mutex> lock(seen.mu);
    ASSERT_TRUE(
        seen.cv.wait_for(lock, std::chrono::seconds(30), [&] { return seen.lines.size() >= 3; }));
  }
  shmconf_subscription_stop(sub);
  EXPECT_EQ(seen.lines,
            (std::vector<std::string>{"2 db.port 3 1 2", "2 db.x 2 5 -1", "2 db.y 1 -1 7"}));
}

TEST_F(CApiBinding, Subscribe_NullArgumentsInvalid_StopNullNoOp) {
  shmconf_subscription* sub = nullptr;
  Seen seen;
  EXPECT_EQ(shmconf_subscribe(nullptr, "", on_changes, &seen, &sub), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_subscribe(c_, "", nullptr, &seen, &sub), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_subscribe(c_, "", on_changes, &seen, nullptr), SHMCONF_E_INVALID);
  EXPECT_EQ(sub, nullptr);
  shmconf_subscription_stop(nullptr);
}

}  // namespace
}  // namespace shmconf
