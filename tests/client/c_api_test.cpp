// tests/client/c_api_test.cpp — the C ABI (shmconf.h): every function, its
// argument checks and error codes, against a Publisher in this process.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "client/c_api_fixture.hpp"
#include "client/test_util.hpp"
#include "shmconf/shmconf.h"

namespace shmconf {
namespace {

constexpr std::string_view kConfig = R"({
  "db": {"host": "db.internal", "port": 5432, "ratio": 0.25, "tls": true, "none": null,
         "empty": ""},
  "servers": [{"host": "a"}, {"host": "b"}],
  "list": [1, "x"],
  "section": {}
})";

class CApi : public test::CApiFixture {
 protected:
  CApi() : CApiFixture(kConfig) {}
};

// ---- codes ----------------------------------------------------------------------------

TEST(CApiCodes, ErrcValues_EqualCApiCodes) {
  const std::pair<Errc, int> pairs[] = {
      {Errc::kOk, SHMCONF_OK},
      {Errc::kNotFound, SHMCONF_E_NOT_FOUND},
      {Errc::kWrongType, SHMCONF_E_WRONG_TYPE},
      {Errc::kNoSnapshot, SHMCONF_E_NO_SNAPSHOT},
      {Errc::kNoNamespace, SHMCONF_E_NO_NAMESPACE},
      {Errc::kPermission, SHMCONF_E_PERMISSION},
      {Errc::kCorrupt, SHMCONF_E_CORRUPT},
      {Errc::kVersion, SHMCONF_E_VERSION},
      {Errc::kBusy, SHMCONF_E_BUSY},
      {Errc::kTimeout, SHMCONF_E_TIMEOUT},
      {Errc::kRange, SHMCONF_E_RANGE},
      {Errc::kInvalid, SHMCONF_E_INVALID},
      {Errc::kSystem, SHMCONF_E_SYSTEM},
      {Errc::kNoMemory, SHMCONF_E_NOMEM},
  };
  for (const auto& [e, c] : pairs) EXPECT_EQ(static_cast<int>(e), c);
  // The codes are a contiguous band: nothing in it is left unpaired.
  EXPECT_EQ(SHMCONF_E_NOMEM - SHMCONF_E_NOT_FOUND, -12);
}

TEST(CApiCodes, TypeValues_EqualFormatTypes) {
  EXPECT_EQ(SHMCONF_TYPE_NULL, static_cast<int>(Type::kNull));
  EXPECT_EQ(SHMCONF_TYPE_BOOL, static_cast<int>(Type::kBool));
  EXPECT_EQ(SHMCONF_TYPE_INT, static_cast<int>(Type::kInt));
  EXPECT_EQ(SHMCONF_TYPE_DOUBLE, static_cast<int>(Type::kDouble));
  EXPECT_EQ(SHMCONF_TYPE_STRING, static_cast<int>(Type::kString));
  EXPECT_EQ(SHMCONF_TYPE_ARRAY, static_cast<int>(Type::kArray));
  EXPECT_EQ(SHMCONF_TYPE_OBJECT, static_cast<int>(Type::kObject));
}

TEST(CApiCodes, Strerror_EveryCodeNonNullAndDistinct) {
  std::vector<std::string> seen;
  for (int code = SHMCONF_E_NOMEM; code <= SHMCONF_E_NOT_FOUND; ++code) {
    const char* s = shmconf_strerror(code);
    ASSERT_NE(s, nullptr) << code;
    EXPECT_STRNE(s, "") << code;
    EXPECT_STRNE(s, "unknown error") << code;
    for (const auto& other : seen) EXPECT_NE(other, s) << code;
    seen.emplace_back(s);
  }
  ASSERT_NE(shmconf_strerror(SHMCONF_OK), nullptr);
}

TEST(CApiCodes, StrerrorUnknownCode_NonNull) {
  for (int code : {1, -1, -30100, -30114, -2, 12345}) {
    const char* s = shmconf_strerror(code);
    ASSERT_NE(s, nullptr) << code;
    EXPECT_STRNE(s, "") << code;
  }
}

// ---- open / close ------------------------------------------------------------------------

TEST(CApiOpen, MissingNamespace_NoNamespace) {
  shmconf_client* c = nullptr;
  EXPECT_EQ(shmconf_open_prefix("app", test::unique_prefix().c_str(), &c), SHMCONF_E_NO_NAMESPACE);
  EXPECT_EQ(c, nullptr);
}

TEST(CApiOpen, NullArguments_Invalid) {
  shmconf_client* c = nullptr;
  EXPECT_EQ(shmconf_open(nullptr, &c), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_open("app", nullptr), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_open_prefix(nullptr, "p", &c), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_open_prefix("app", "p", nullptr), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_open_prefix("a.b", "p", &c), SHMCONF_E_INVALID);
  EXPECT_EQ(c, nullptr);
}

TEST(CApiOpen, CloseNull_NoOp) {
  shmconf_close(nullptr);
  shmconf_snapshot_release(nullptr);
  EXPECT_EQ(shmconf_version(nullptr), 0u);
  EXPECT_EQ(shmconf_snapshot_version(nullptr), 0u);
}

TEST_F(CApi, OpenWithEnvironmentPrefix_Attaches) {
  ASSERT_EQ(::setenv("SHMCONF_PREFIX", pub_.prefix().c_str(), 1), 0);
  shmconf_client* c = nullptr;
  const int rc = shmconf_open(test::TestPublisher::kNs, &c);
  ::unsetenv("SHMCONF_PREFIX");
  ASSERT_EQ(rc, 0);
  ASSERT_NE(c, nullptr);
  shmconf_close(c);
}

TEST_F(CApi, NullOrEmptyPrefix_MeansDefault) {
  // The default prefix names another namespace set: this one is not there.
  ASSERT_EQ(::setenv("SHMCONF_PREFIX", test::unique_prefix().c_str(), 1), 0);
  shmconf_client* c = nullptr;
  const int rc1 = shmconf_open_prefix(test::TestPublisher::kNs, nullptr, &c);
  const int rc2 = shmconf_open_prefix(test::TestPublisher::kNs, "", &c);
  ::unsetenv("SHMCONF_PREFIX");
  EXPECT_EQ(rc1, SHMCONF_E_NO_NAMESPACE);
  EXPECT_EQ(rc2, SHMCONF_E_NO_NAMESPACE);
}

// ---- snapshots --------------------------------------------------------------------------------

TEST_F(CApi, NothingPublished_NoSnapshot) {
  EXPECT_EQ(shmconf_version(c_), 0u);
  shmconf_snapshot* s = nullptr;
  EXPECT_EQ(shmconf_snapshot_acquire(c_, &s), SHMCONF_E_NO_SNAPSHOT);
  EXPECT_EQ(s, nullptr);
}

TEST_F(CApi, AcquireNullArguments_Invalid) {
  shmconf_snapshot* s = nullptr;
  EXPECT_EQ(shmconf_snapshot_acquire(nullptr, &s), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_snapshot_acquire(c_, nullptr), SHMCONF_E_INVALID);
}

TEST_F(CApi, Snapshot_PinnedAcrossPublishes) {
  publish_and_acquire(R"({"a": 1})");
  pub_.publish(R"({"a": 2})");
  EXPECT_EQ(shmconf_version(c_), 2u);
  EXPECT_EQ(shmconf_snapshot_version(snap_), 1u);
  std::int64_t v = 0;
  ASSERT_EQ(shmconf_get_int64(snap_, "a", &v), 0);
  EXPECT_EQ(v, 1);
}

// ---- typed gets ------------------------------------------------------------------------------

TEST_F(CApi, TypedGets_Values) {
  publish_and_acquire();
  std::int64_t i = 0;
  double d = 0;
  int b = -1;
  ASSERT_EQ(shmconf_get_int64(snap_, "db.port", &i), 0);
  EXPECT_EQ(i, 5432);
  ASSERT_EQ(shmconf_get_double(snap_, "db.ratio", &d), 0);
  EXPECT_EQ(d, 0.25);
  ASSERT_EQ(shmconf_get_bool(snap_, "db.tls", &b), 0);
  EXPECT_EQ(b, 1);
  char buf[64];
  std::size_t len = 0;
  ASSERT_EQ(shmconf_get_string(snap_, "servers[1].host", buf, sizeof buf, &len), 0);
  EXPECT_STREQ(buf, "b");
  EXPECT_EQ(len, 1u);
}

TEST_F(CApi, GetType_EveryType) {
  publish_and_acquire();
  const std::pair<const char*, int> cases[] = {
      {"db.none", SHMCONF_TYPE_NULL},   {"db.tls", SHMCONF_TYPE_BOOL},
      {"db.port", SHMCONF_TYPE_INT},    {"db.ratio", SHMCONF_TYPE_DOUBLE},
      {"db.host", SHMCONF_TYPE_STRING}, {"servers", SHMCONF_TYPE_ARRAY},
      {"db", SHMCONF_TYPE_OBJECT},      {"", SHMCONF_TYPE_OBJECT}};
  for (const auto& [key, want] : cases) {
    int t = -1;
    ASSERT_EQ(shmconf_get_type(snap_, key, &t), 0) << key;
    EXPECT_EQ(t, want) << key;
  }
  int t = -1;
  EXPECT_EQ(shmconf_get_type(snap_, "nope", &t), SHMCONF_E_NOT_FOUND);
  EXPECT_EQ(t, -1);
}

TEST_F(CApi, MissingAndWrongType_Distinguished) {
  publish_and_acquire();
  std::int64_t i = 77;
  EXPECT_EQ(shmconf_get_int64(snap_, "db.nope", &i), SHMCONF_E_NOT_FOUND);
  EXPECT_EQ(shmconf_get_int64(snap_, "db.host", &i), SHMCONF_E_WRONG_TYPE);
  EXPECT_EQ(i, 77);  // untouched on failure
  int b = 5;
  EXPECT_EQ(shmconf_get_bool(snap_, "db.port", &b), SHMCONF_E_WRONG_TYPE);
  EXPECT_EQ(shmconf_get_bool(snap_, "db.nope", &b), SHMCONF_E_NOT_FOUND);
  EXPECT_EQ(b, 5);
  double d = 9;
  EXPECT_EQ(shmconf_get_double(snap_, "db.host", &d), SHMCONF_E_WRONG_TYPE);
  EXPECT_EQ(shmconf_get_double(snap_, "db.nope", &d), SHMCONF_E_NOT_FOUND);
  EXPECT_EQ(d, 9);
  char buf[8] = "keep";
  EXPECT_EQ(shmconf_get_string(snap_, "db.port", buf, sizeof buf, nullptr), SHMCONF_E_WRONG_TYPE);
  EXPECT_EQ(shmconf_get_string(snap_, "db.nope", buf, sizeof buf, nullptr), SHMCONF_E_NOT_FOUND);
  EXPECT_STREQ(buf, "keep");
}

TEST_F(CApi, GetDoubleOfInt_Widened) {
  publish_and_acquire();
  double d = 0;
  ASSERT_EQ(shmconf_get_double(snap_, "db.port", &d), 0);
  EXPECT_EQ(d, 5432.0);
}

TEST_F(CApi, GetsNullArguments_Invalid) {
  publish_and_acquire();
  std::int64_t i;
  double d;
  int b;
  char buf[8];
  std::size_t len;
  EXPECT_EQ(shmconf_get_int64(nullptr, "db.port", &i), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_get_int64(snap_, nullptr, &i), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_get_int64(snap_, "db.port", nullptr), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_get_double(nullptr, "db.ratio", &d), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_get_double(snap_, "db.ratio", nullptr), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_get_bool(nullptr, "db.tls", &b), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_get_bool(snap_, "db.tls", nullptr), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_get_type(nullptr, "db", &b), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_get_type(snap_, "db", nullptr), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_get_string(nullptr, "db.host", buf, sizeof buf, &len), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_get_string(snap_, nullptr, buf, sizeof buf, &len), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_get_string(snap_, "db.host", nullptr, 8, &len), SHMCONF_E_INVALID);
}

// ---- strings into caller buffers -----------------------------------------------------------

TEST_F(CApi, GetStringSmallBuffer_RangeWithNeededLengthAndBufferUntouched) {
  publish_and_acquire();
  char buf[11];
  std::memset(buf, '#', sizeof buf);
  std::size_t len = 0;
  // "db.internal" is 11 bytes: 11 is one short (no room for the NUL).
  EXPECT_EQ(shmconf_get_string(snap_, "db.host", buf, sizeof buf, &len), SHMCONF_E_RANGE);
  EXPECT_EQ(len, 11u);
  for (char ch : buf) EXPECT_EQ(ch, '#');
}

TEST_F(CApi, GetStringExactFit_CopiedWithNul) {
  publish_and_acquire();
  char buf[12];
  std::size_t len = 0;
  ASSERT_EQ(shmconf_get_string(snap_, "db.host", buf, sizeof buf, &len), 0);
  EXPECT_STREQ(buf, "db.internal");
  EXPECT_EQ(len, 11u);
}

TEST_F(CApi, GetStringSizeQuery_NullBufferZeroCapacity) {
  publish_and_acquire();
  std::size_t len = 0;
  EXPECT_EQ(shmconf_get_string(snap_, "db.host", nullptr, 0, &len), SHMCONF_E_RANGE);
  EXPECT_EQ(len, 11u);
  EXPECT_EQ(shmconf_get_string(snap_, "db.host", nullptr, 0, nullptr), SHMCONF_E_RANGE);
}

TEST_F(CApi, GetStringEmpty_OneByteBuffer) {
  publish_and_acquire();
  char buf[1] = {'#'};
  std::size_t len = 99;
  ASSERT_EQ(shmconf_get_string(snap_, "db.empty", buf, 1, &len), 0);
  EXPECT_EQ(buf[0], '\0');
  EXPECT_EQ(len, 0u);
  EXPECT_EQ(shmconf_get_string(snap_, "db.empty", nullptr, 0, &len), SHMCONF_E_RANGE);
}

// ---- listing ------------------------------------------------------------------------------------

struct Listed {
  std::vector<std::pair<std::string, int>> keys;
  int stop_after = -1;  // return 42 from this call on
};

int collect(const char* key, size_t key_len, int type, void* ctx) {
  auto* l = static_cast<Listed*>(ctx);
  // Keys are C strings too: the length agrees with the terminator.
  EXPECT_EQ(std::strlen(key), key_len);
  l->keys.emplace_back(std::string(key, key_len), type);
  if (l->stop_after >= 0 && static_cast<int>(l->keys.size()) > l->stop_after) return 42;
  return 0;
}

TEST_F(CApi, SnapshotListRoot_KeyOrderWithTypes) {
  publish_and_acquire();
  Listed l;
  ASSERT_EQ(shmconf_snapshot_list(snap_, "", collect, &l), 0);
  EXPECT_EQ(l.keys, (std::vector<std::pair<std::string, int>>{{"db", SHMCONF_TYPE_OBJECT},
                                                              {"list", SHMCONF_TYPE_ARRAY},
                                                              {"section", SHMCONF_TYPE_OBJECT},
                                                              {"servers", SHMCONF_TYPE_ARRAY}}));
  Listed null_section;
  ASSERT_EQ(shmconf_snapshot_list(snap_, nullptr, collect, &null_section), 0);
  EXPECT_EQ(null_section.keys, l.keys);
}

TEST_F(CApi, SnapshotListSection_FullPathsInKeyOrder) {
  publish_and_acquire();
  Listed l;
  ASSERT_EQ(shmconf_snapshot_list(snap_, "db", collect, &l), 0);
  EXPECT_EQ(l.keys, (std::vector<std::pair<std::string, int>>{{"db.empty", SHMCONF_TYPE_STRING},
                                                              {"db.host", SHMCONF_TYPE_STRING},
                                                              {"db.none", SHMCONF_TYPE_NULL},
                                                              {"db.port", SHMCONF_TYPE_INT},
                                                              {"db.ratio", SHMCONF_TYPE_DOUBLE},
                                                              {"db.tls", SHMCONF_TYPE_BOOL}}));
}

TEST_F(CApi, SnapshotListArray_IndexOrder) {
  publish_and_acquire();
  Listed l;
  ASSERT_EQ(shmconf_snapshot_list(snap_, "list", collect, &l), 0);
  EXPECT_EQ(l.keys, (std::vector<std::pair<std::string, int>>{{"list[0]", SHMCONF_TYPE_INT},
                                                              {"list[1]", SHMCONF_TYPE_STRING}}));
}

TEST_F(CApi, SnapshotListEmptySection_NoCalls) {
  publish_and_acquire();
  Listed l;
  EXPECT_EQ(shmconf_snapshot_list(snap_, "section", collect, &l), 0);
  EXPECT_TRUE(l.keys.empty());
}

TEST_F(CApi, SnapshotListCallbackNonZero_StopsAndReturnsIt) {
  publish_and_acquire();
  Listed l;
  l.stop_after = 1;
  EXPECT_EQ(shmconf_snapshot_list(snap_, "db", collect, &l), 42);
  EXPECT_EQ(l.keys.size(), 2u);
}

TEST_F(CApi, SnapshotListErrors_Codes) {
  publish_and_acquire();
  Listed l;
  EXPECT_EQ(shmconf_snapshot_list(snap_, "nope", collect, &l), SHMCONF_E_NOT_FOUND);
  EXPECT_EQ(shmconf_snapshot_list(snap_, "db.port", collect, &l), SHMCONF_E_WRONG_TYPE);
  EXPECT_EQ(shmconf_snapshot_list(nullptr, "", collect, &l), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_snapshot_list(snap_, "", nullptr, &l), SHMCONF_E_INVALID);
  EXPECT_TRUE(l.keys.empty());
}

// ---- wait_for_change
// ------------------------------------------------------------------------------

TEST_F(CApi, WaitForChange_NoPublish_Timeout) {
  pub_.publish(R"({"a": 1})");
  EXPECT_EQ(shmconf_wait_for_change(c_, 1, 20), SHMCONF_E_TIMEOUT);
  EXPECT_EQ(shmconf_wait_for_change(c_, 1, 0), SHMCONF_E_TIMEOUT);
}

TEST_F(CApi, WaitForChange_PublishFromThread_Returns) {
  pub_.publish(R"({"a": 1})");
  std::thread publisher([&] { pub_.publish(R"({"a": 2})"); });
  const int rc = shmconf_wait_for_change(c_, 1, 20000);
  publisher.join();
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(shmconf_version(c_), 2u);
}

TEST_F(CApi, WaitForChangeNullClient_Invalid) {
  EXPECT_EQ(shmconf_wait_for_change(nullptr, 0, 0), SHMCONF_E_INVALID);
}

}  // namespace
}  // namespace shmconf
