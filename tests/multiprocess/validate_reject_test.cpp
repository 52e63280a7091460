// tests/multiprocess/validate_reject_test.cpp — a running shmconfd checks
// every version against its schema: a violation is rejected with
// file:line:col in the reply, the live version stays; and a secret never
// appears in any output (status, history, diff, dump, get, explain, render,
// audit log, daemon log) unless --show-secrets is asked for.
#include <string>

#include "harness.hpp"

namespace shmconf::mptest {
namespace {

constexpr char kSchema[] = R"({
  "type": "object",
  "required": ["database"],
  "properties": {
    "database": {
      "type": "object",
      "required": ["host", "port"],
      "properties": {
        "host": {"type": "string"},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535}
      }
    }
  }
})";

constexpr char kGood[] = "database:\n  host: db.internal\n  port: 5432\n";

class ValidateRejectTest : public MultiProcessTest {
 protected:
  void SetUp() override {
    MultiProcessTest::SetUp();
    sources_ = {"config.yaml"};
    write_source("config.yaml", kGood);
    write_source("schema.json", kSchema);
  }
};

TEST_F(ValidateRejectTest, Reload_SchemaViolation_RejectedWithPositionLiveUnchanged) {
  Process& d = run_daemon({"--no-watch", "--schema", path("schema.json")});
  auto client = open_client();
  ASSERT_EQ(client.version(), 1u);

  write_source("config.yaml", "database:\n  host: db.internal\n  port: \"5432\"\n");
  const CtlResult r = ctl({"reload"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_TRUE(contains(r.err, path("config.yaml") + ":3:9: database.port: ")) << r;
  EXPECT_TRUE(contains(r.err, "live version 1 unchanged")) << r;

  const CtlResult j = ctl({"--json", "reload"});
  EXPECT_EQ(j.code, 1) << j;
  const auto reply = nlohmann::json::parse(j.out);
  EXPECT_EQ(reply.value("code", ""), "schema");
  EXPECT_TRUE(has_position(reply.value("error", ""), path("config.yaml"))) << j;

  EXPECT_TRUE(d.running());
  EXPECT_EQ(client.version(), 1u);
  EXPECT_EQ(client.snapshot().get_int("database.port").value_or(0), 5432);
  const nlohmann::json status = status_json();
  EXPECT_EQ(status["last_reload"]["error_kind"], "schema");
  EXPECT_EQ(status["rejections_by_kind"]["schema"], 2);

  write_source("config.yaml", kGood);  // the same content as live: nothing to publish
  write_source("config.yaml", "database:\n  host: db.internal\n  port: 6543\n");
  EXPECT_EQ(ctl({"reload"}).code, 0);
  EXPECT_TRUE(await_version(client, 2));
}

TEST_F(ValidateRejectTest, ReloadForce_AcceptedAndAudited) {
  run_daemon({"--no-watch"});
  write_source("config.yaml", "database:\n  host: other\n  port: 1\n");
  const CtlResult r = ctl({"reload", "--force"});
  EXPECT_EQ(r.code, 0) << r;
  EXPECT_TRUE(wait_for_audit("--force"));
}

TEST_F(ValidateRejectTest, Secret_RedactedEverywhereUnlessShowSecrets) {
  const std::string secret = "pw-" + prefix_ + "-c0ffee";
  write_source("pw.txt", secret + "\n");
  Process& d = run_daemon({"--no-watch"});
  // Version 2 adds the secret, by reference, so that diff 1 2 carries it.
  write_source("config.yaml", std::string(kGood) + "  password: \"${file:" + path("pw.txt") +
                                  "}\"\n  dsn_token: \"${file:" + path("pw.txt") + "}\"\n");
  ASSERT_EQ(ctl({"reload"}).code, 0);
  auto client = open_client();
  ASSERT_TRUE(await_version(client, 2));
  ASSERT_EQ(client.snapshot().get_string("database.password").value_or(""), secret);

  // render reads files offline: a literal secret in one is redacted too.
  write_source("plain.yaml", "auth:\n  api_key: " + secret + "\n");

  const std::vector<std::vector<std::string>> commands = {
      {"status"},
      {"--json", "status"},
      {"history"},
      {"--json", "history"},
      {"diff", "1", "2"},
      {"--json", "diff", "1", "2"},
      {"dump"},
      {"get", "database.password"},
      {"--json", "get", "database"},
      {"explain", "database.password"},
      {"--json", "explain", "database.dsn_token"},
      {"render", path("plain.yaml")},
  };
  for (const auto& cmd : commands) {
    const CtlResult r = ctl(cmd);
    EXPECT_EQ(r.code, 0) << testing::PrintToString(cmd) << r;
    EXPECT_FALSE(contains(r.out + r.err, secret)) << testing::PrintToString(cmd) << r;
  }
  EXPECT_TRUE(contains(ctl({"get", "database.password"}).out, "<redacted>"));
  EXPECT_TRUE(contains(ctl({"dump"}).out, "<redacted>"));

  // Asked for, by an authorised user (the test runs as the daemon's user).
  for (const auto& cmd :
       std::vector<std::vector<std::string>>{{"--show-secrets", "dump"},
                                             {"--show-secrets", "get", "database.password"},
                                             {"--show-secrets", "--json", "diff", "1", "2"},
                                             {"--show-secrets", "explain", "database.password"},
                                             {"--show-secrets", "render", path("plain.yaml")}}) {
    const CtlResult r = ctl(cmd);
    EXPECT_EQ(r.code, 0) << r;
    EXPECT_TRUE(contains(r.out, secret)) << testing::PrintToString(cmd) << r;
  }

  ASSERT_EQ(stop_daemon(d), 0);
  EXPECT_FALSE(contains(read_text(audit_log_), secret));
  EXPECT_FALSE(contains(read_text(d.log), secret));
}

}  // namespace
}  // namespace shmconf::mptest
