// tests/client/flags_test.cpp — feature-flag evaluation (shmconf/flags.hpp):
// the documented hash with fixed vectors (computed independently with
// XXH3-64(subject, seed = XXH3-64("flags." + name))), the order of the rules, monotonic rollouts,
// errors, and the C ABI giving the C++ answers.
#include "shmconf/flags.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "client/test_util.hpp"
#include "shmconf/client.hpp"
#include "shmconf/shmconf.h"

namespace shmconf {
namespace {

TEST(FlagBucket, FixedVectors_MatchTheDocumentedHash) {
  // Python: h = xxh3_64_intdigest(b"flags." + name) or 1;
  //         xxh3_64_intdigest(subject, seed=h) % 10000
  EXPECT_EQ(flag_bucket("new_checkout", "user-42"), 6987u);
  EXPECT_EQ(flag_bucket("new_checkout", "user-43"), 5037u);
  EXPECT_EQ(flag_bucket("beta", ""), 6111u);
  // A name longer than any flag's: the path hashed with the streaming state.
  EXPECT_EQ(flag_bucket(std::string(200, 'x'), std::string(100, 'y')), 2719u);
}

TEST(FlagBucket, NameAndSubjectAreSeparated) {
  // The name seeds the subject's hash: "ab" + "c" is not "a" + "bc".
  EXPECT_EQ(flag_bucket("ab", "c"), 7744u);
  EXPECT_EQ(flag_bucket("a", "bc"), 9601u);
}

TEST(FlagBucket, CAbiEqualsCpp) {
  EXPECT_EQ(shmconf_flag_bucket("new_checkout", 12, "user-42", 7), 6987u);
  EXPECT_EQ(shmconf_flag_bucket(nullptr, 0, nullptr, 0), flag_bucket("", ""));
}

class Flags : public ::testing::Test {
 protected:
  Snapshot publish(std::string_view json) {
    pub_.publish(json);
    client_ = Client::open(test::TestPublisher::kNs, pub_.options());
    return client_->snapshot();
  }
  test::TestPublisher pub_;
  std::optional<Client> client_;
};

TEST_F(Flags, Rules_DisabledThenDenyThenAllowThenPercent) {
  auto s = publish(R"({"flags": {
      "off": {"enabled": false, "percent": 100, "allow": ["alice"]},
      "f": {"enabled": true, "percent": 0, "allow": ["alice", "bob"], "deny": ["bob"]}}})");
  auto d = s.flag_decision("off", "alice");
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->on);
  EXPECT_EQ(d->reason, FlagReason::kDisabled);
  d = s.flag_decision("f", "bob");
  EXPECT_FALSE(d->on);
  EXPECT_EQ(d->reason, FlagReason::kDenied);
  d = s.flag_decision("f", "alice");
  EXPECT_TRUE(d->on);
  EXPECT_EQ(d->reason, FlagReason::kAllowed);
  d = s.flag_decision("f", "carol");
  EXPECT_FALSE(d->on);
  EXPECT_EQ(d->reason, FlagReason::kPercent);
  EXPECT_EQ(d->threshold, 0u);
  EXPECT_EQ(d->bucket, flag_bucket("f", "carol"));
}

TEST_F(Flags, Percent_BucketBelowThreshold) {
  auto s = publish(R"({"flags": {"new_checkout": {"enabled": true, "percent": 69.875}}})");
  // user-42 is bucket 6987: on at 69.875% (threshold 6988, rounded half
  // up), off at 69.87% (6987); user-43 is bucket 5037.
  EXPECT_EQ(*s.flag("new_checkout", "user-42"), true);
  EXPECT_EQ(s.flag_decision("new_checkout", "x")->threshold, 6988u);
  s = publish(R"({"flags": {"new_checkout": {"enabled": true, "percent": 69.87}}})");
  EXPECT_EQ(*s.flag("new_checkout", "user-42"), false);
  EXPECT_EQ(*s.flag("new_checkout", "user-43"), true);
  EXPECT_EQ(*client_->flag("new_checkout", "user-42"), false);  // the newest version
}

TEST_F(Flags, PercentAbsent_MeansEveryone) {
  auto s = publish(R"({"flags": {"all": {"enabled": true}}})");
  EXPECT_EQ(s.flag_decision("all", "u")->threshold, kFlagBuckets);
  EXPECT_TRUE(*s.flag("all", "u"));
}

TEST_F(Flags, RaisingPercent_OnlyAddsSubjects) {
  std::vector<bool> before(2000, false);
  for (const char* pct : {"0", "1", "10", "25.5", "50", "99.99", "100"}) {
    auto s = publish(std::string(R"({"flags": {"r": {"enabled": true, "percent": )") + pct + "}}}");
    std::size_t on = 0;
    for (std::size_t i = 0; i < before.size(); ++i) {
      const bool now = *s.flag("r", "subject-" + std::to_string(i));
      EXPECT_TRUE(now || !before[i]) << "subject-" << i << " dropped at percent " << pct;
      before[i] = now;
      on += now;
    }
    if (std::string(pct) == "0") {
      EXPECT_EQ(on, 0u);
    } else if (std::string(pct) == "100") {
      EXPECT_EQ(on, before.size());
    } else if (std::string(pct) == "50") {
      EXPECT_NEAR(static_cast<double>(on), 1000.0, 150.0);
    }
  }
}

TEST_F(Flags, Errors_MissingWrongShapeInvalidName) {
  auto s = publish(R"({"flags": {"bad": {"percent": 5}, "scalar": 1, "typo": {"enabled": true,
      "precent": 5}}, "x": 1})");
  EXPECT_EQ(s.flag("nope", "u").error(), Errc::kNotFound);
  EXPECT_EQ(s.flag("bad", "u").error(), Errc::kWrongType);  // no enabled
  EXPECT_EQ(s.flag("scalar", "u").error(), Errc::kWrongType);
  EXPECT_EQ(s.flag("typo", "u").error(), Errc::kWrongType);
  EXPECT_EQ(s.flag("", "u").error(), Errc::kInvalid);
  EXPECT_EQ(s.flag(std::string(kMaxFlagName + 1, 'n'), "u").error(), Errc::kInvalid);
  EXPECT_EQ(Snapshot().flag("x", "u").error(), Errc::kNoSnapshot);
}

TEST_F(Flags, FlagKey_SameAnswersAcrossPublishes) {
  publish(R"({"flags": {"f": {"enabled": true, "percent": 30, "deny": ["d"], "allow": ["a"]}}})");
  const Key k = client_->flag_key("f");
  const Key missing = client_->flag_key("nope");
  auto check_all = [&] {
    for (int i = 0; i < 500; ++i) {
      const std::string subject = "subject-" + std::to_string(i);
      EXPECT_EQ(*client_->flag(k, subject), *client_->flag("f", subject)) << subject;
    }
    for (const char* subject : {"a", "d"}) {
      EXPECT_EQ(*client_->flag(k, subject), *client_->flag("f", subject)) << subject;
    }
  };
  check_all();
  EXPECT_EQ(client_->flag(missing, "u").error(), Errc::kNotFound);
  // A new version: the key's cached lookup is for the old one.
  pub_.publish(R"({"flags": {"f": {"enabled": true, "percent": 70}, "nope": {"enabled": false}}})");
  check_all();
  EXPECT_EQ(*client_->flag(missing, "u"), false);
  pub_.publish(R"({"flags": {"f": {"enabled": false}}})");
  EXPECT_EQ(*client_->flag(k, "subject-1"), false);
  pub_.publish(R"({"flags": {"f": 3}})");
  EXPECT_EQ(client_->flag(k, "u").error(), Errc::kWrongType);
}

TEST_F(Flags, CAbi_SameAnswersAsCpp) {
  auto s = publish(R"({"flags": {"f": {"enabled": true, "percent": 30, "deny": ["d"]}}})");
  shmconf_client* c = nullptr;
  ASSERT_EQ(shmconf_open_prefix(test::TestPublisher::kNs, pub_.prefix().c_str(), &c), 0);
  shmconf_snapshot* cs = nullptr;
  ASSERT_EQ(shmconf_snapshot_acquire(c, &cs), 0);
  for (int i = 0; i < 500; ++i) {
    const std::string subject = "s" + std::to_string(i);
    int on = -1;
    ASSERT_EQ(shmconf_flag(cs, "f", subject.data(), subject.size(), &on), 0);
    EXPECT_EQ(on == 1, *s.flag("f", subject)) << subject;
  }
  int on = -1;
  EXPECT_EQ(shmconf_flag(cs, "f", "d", 1, &on), 0);
  EXPECT_EQ(on, 0);
  EXPECT_EQ(shmconf_flag(cs, "nope", "d", 1, &on), SHMCONF_E_NOT_FOUND);
  EXPECT_EQ(shmconf_flag(cs, nullptr, "d", 1, &on), SHMCONF_E_INVALID);
  EXPECT_EQ(shmconf_flag(nullptr, "f", "d", 1, &on), SHMCONF_E_INVALID);
  shmconf_snapshot_release(cs);
  shmconf_close(c);
}

}  // namespace
}  // namespace shmconf
