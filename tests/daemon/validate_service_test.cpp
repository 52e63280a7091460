// tests/daemon/validate_service_test.cpp — validation through a
// NamespaceService: a rejected reload leaves the live version unchanged, the
// guards refuse and --force overrides, sensitive values are flagged and
// redacted, and offline validation publishes nothing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "control/replies.hpp"
#include "core/namespace_service.hpp"
#include "core/offline.hpp"
#include "publish/render.hpp"
#include "shmconf/client.hpp"
#include "support/shm_prefix.hpp"
#include "validate/validate.hpp"
#include "validate_test_util.hpp"

namespace shmconf::daemon {
namespace {

void unlink_prefix(const std::string& prefix) { test::unlink_prefix(prefix); }

class ValidateServiceTest : public ValidateTest {
 protected:
  void SetUp() override {
    ValidateTest::SetUp();
    prefix_ = "uv" + std::to_string(::getpid()) + "n" + std::to_string(counter_);
    opts_.name = "app";
    opts_.prefix = prefix_;
    config_ = write("app.yaml", "database:\n  host: db\n  port: 5432\n");
    opts_.sources = {file_source(config_)};
    opts_.schema = write("schema.json", kSchema);
  }
  void TearDown() override {
    unlink_prefix(prefix_);
    ValidateTest::TearDown();
  }
  std::string prefix_, config_;
  ServiceOptions opts_;
};

TEST_F(ValidateServiceTest, Reload_SchemaViolation_RejectedLiveUnchanged) {
  NamespaceService svc(opts_);
  svc.start();
  ASSERT_TRUE(svc.reload("test").ok);
  const auto live = svc.live_version();
  write("app.yaml", "database:\n  host: db\n  port: many\n");
  const ReloadOutcome out = svc.reload("test");
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.error_kind, "schema");
  EXPECT_EQ(out.error.rfind(config_ + ":3:9: database.port: ", 0), 0u) << out.error;
  EXPECT_EQ(outcome_json(out)["code"], "schema");
  EXPECT_EQ(svc.live_version(), live);
  const nlohmann::json st = status_json(svc);
  EXPECT_EQ(st["rejections_by_kind"]["schema"], 1);
  EXPECT_EQ(st["last_reload"]["error_kind"], "schema");
}

TEST_F(ValidateServiceTest, Reload_PlaintextSecret_RejectedUnlessPolicyAllows) {
  write("app.yaml", "database:\n  host: db\n  port: 1\n  password: hunter2\n");
  {
    NamespaceService svc(opts_);
    svc.start();
    const ReloadOutcome out = svc.reload("test");
    EXPECT_FALSE(out.ok);
    EXPECT_EQ(out.error_kind, "secret");
    EXPECT_EQ(out.error.find("hunter2"), std::string::npos);
    EXPECT_EQ(svc.live_version(), 0u);
  }
  unlink_prefix(prefix_);
  opts_.plaintext_secrets = SecretPolicy::kWarn;
  NamespaceService svc(opts_);
  svc.start();
  const ReloadOutcome out = svc.reload("test");
  ASSERT_TRUE(out.ok) << out.error;
  ASSERT_EQ(out.warnings.size(), 1u);
  EXPECT_NE(out.warnings[0].find("database.password"), std::string::npos);
}

TEST_F(ValidateServiceTest, Reload_ChangeGuard_RefusedThenForced) {
  opts_.guards.max_changed_percent = 40;
  NamespaceService svc(opts_);
  svc.start();
  ASSERT_TRUE(svc.reload("test").ok);
  write("app.yaml", "database:\n  host: other\n  port: 6000\n");  // 2 of 2 keys
  ReloadOutcome out = svc.reload("test");
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.error_kind, "guard");
  EXPECT_NE(out.error.find("would change 100% of 2 keys"), std::string::npos) << out.error;
  EXPECT_EQ(svc.live_version(), 1u);
  out = svc.reload("test", /*force=*/true);
  EXPECT_TRUE(out.ok) << out.error;
  EXPECT_EQ(svc.live_version(), 2u);
}

TEST_F(ValidateServiceTest, Reload_MinKeysAndEmpty_Refused) {
  opts_.schema.clear();
  opts_.guards.min_keys = 3;
  NamespaceService svc(opts_);
  svc.start();
  ReloadOutcome out = svc.reload("test");
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.error_kind, "guard");
  EXPECT_NE(out.error.find("has 2 leaf keys; min_keys is 3"), std::string::npos) << out.error;
  write("app.yaml", "{}\n");
  out = svc.reload("test");
  EXPECT_EQ(out.error_kind, "guard");
  EXPECT_NE(out.error.find("empty"), std::string::npos) << out.error;
  EXPECT_TRUE(svc.reload("test", true).ok);  // forced: guards skipped
  // The forced version stays live quietly: unchanged content is not refused.
  out = svc.reload("test");
  EXPECT_TRUE(out.ok) << out.error;
  EXPECT_FALSE(out.published);
}

TEST_F(ValidateServiceTest, Publish_SensitiveNodesFlaggedAndRedacted) {
  write("app.yaml", "database:\n  host: db\n  port: 1\n  dsn: \"${DSN:-pg://x}\"\n");
  NamespaceService svc(opts_);
  svc.start();
  ASSERT_TRUE(svc.reload("test").ok);
  ClientOptions co;
  co.prefix = prefix_;
  auto client = Client::open("app", co);
  auto snap = client.snapshot();
  auto dsn = snap.get("database.dsn");
  ASSERT_TRUE(dsn);
  EXPECT_TRUE(dsn->sensitive());
  EXPECT_FALSE(snap.get("database.host")->sensitive());
  const auto& root = snap.view()->root();
  EXPECT_EQ(node_to_json(*snap.view(), root)["database"]["dsn"], "<redacted>");
  EXPECT_EQ(node_to_json(*snap.view(), root, {true})["database"]["dsn"], "pg://x");
}

TEST_F(ValidateServiceTest, Override_SensitiveRedactedInStatus) {
  opts_.plaintext_secrets = SecretPolicy::kAllow;
  NamespaceService svc(opts_);
  svc.start();
  ASSERT_TRUE(svc.reload("test").ok);
  ASSERT_TRUE(svc.set_override("database.password", Value::string("pw-51d3"), "t").ok);
  EXPECT_EQ(status_json(svc)["overrides"]["database"]["password"], "<redacted>");
  EXPECT_EQ(status_json(svc, true)["overrides"]["database"]["password"], "pw-51d3");
  const nlohmann::json d = diff_json(svc, 1, 2);
  EXPECT_EQ(d.dump().find("pw-51d3"), std::string::npos) << d.dump();
  EXPECT_NE(diff_json(svc, 1, 2, true).dump().find("pw-51d3"), std::string::npos);
}

TEST_F(ValidateServiceTest, Override_SchemaViolation_NotKept) {
  NamespaceService svc(opts_);
  svc.start();
  ASSERT_TRUE(svc.reload("test").ok);
  const ReloadOutcome out = svc.set_override("database.port", Value::string("x"), "t");
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.error_kind, "schema");
  EXPECT_NE(out.error.find("override: database.port: "), std::string::npos) << out.error;
  EXPECT_TRUE(status_json(svc)["overrides"].empty());
}

TEST_F(ValidateServiceTest, Offline_ReportsEveryKindWithoutPublishing) {
  write("app.yaml", "database:\n  host: 7\n  port: 1\n  password: hunter2\n");
  ValidationReport r = validate_offline(opts_);
  EXPECT_FALSE(r.valid);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, "schema");  // schema errors first
  EXPECT_EQ(r.errors[0].key, "database.host");
  write("app.yaml", "database:\n  host: h\n  port: 1\n  password: hunter2\n");
  r = validate_offline(opts_);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].kind, "secret");
  write("app.yaml", "database: [1,\n");
  r = validate_offline(opts_);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].kind, "schema");
  EXPECT_GT(r.errors[0].line, 0u);
  EXPECT_FALSE(fs::exists("/dev/shm/" + prefix_ + ".app.ctl"));
}

}  // namespace
}  // namespace shmconf::daemon
