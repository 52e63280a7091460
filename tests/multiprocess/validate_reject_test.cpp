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

TEST_F(ValidateRejectTest, ValidateCli_ExitCodesAndJson) {
  EXPECT_EQ(ctl({"validate", "--schema", path("schema.json"), path("config.yaml")}).code, 0);

  write_source("bad.yaml", "database:\n  host: db\n  port: 0\n  password: hunter2\n");
  CtlResult r = ctl({"validate", "--schema", path("schema.json"), path("bad.yaml")});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_TRUE(contains(r.err, path("bad.yaml") + ":3:9: database.port: ")) << r;

  r = ctl({"validate", "--format", "json", "--plaintext-secrets", "warn", path("bad.yaml")});
  EXPECT_EQ(r.code, 0) << r;  // no schema; the plaintext secret only warns
  auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["valid"].get<bool>());
  ASSERT_EQ(j["warnings"].size(), 1u) << r;
  EXPECT_EQ(j["warnings"][0]["kind"], "secret");
  EXPECT_EQ(j["warnings"][0]["key"], "database.password");
  EXPECT_EQ(j["warnings"][0]["line"], 4);

  r = ctl({"validate", "--format", "json", path("bad.yaml")});
  EXPECT_EQ(r.code, 1) << r;
  j = nlohmann::json::parse(r.out);
  EXPECT_FALSE(j["valid"].get<bool>());
  EXPECT_EQ(j["errors"][0]["kind"], "secret");
  EXPECT_EQ(j["errors"][0]["file"], path("bad.yaml"));
  EXPECT_EQ(j["errors"][0]["column"], 13);

  EXPECT_EQ(ctl({"validate"}).code, 2);                                       // no files
  EXPECT_EQ(ctl({"validate", "--format", "xml", path("bad.yaml")}).code, 2);  // bad flag value
  EXPECT_EQ(ctl({"validate", path("missing.yaml")}).code, 1);                 // a missing source
}

TEST_F(ValidateRejectTest, SchemaDoc_MarkdownRowsForTheExampleSchema) {
  const std::string schema =
      std::string(SHMCONF_TEST_DATA) + "/../../examples/config/app.schema.json";
  const CtlResult r = ctl({"schema-doc", schema});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_TRUE(contains(r.out, "| key | type | default | required | sensitive | description |"));
  EXPECT_TRUE(contains(r.out, "| `database.port` | integer | `5432` | yes | no | TCP port. |"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "| `database.dsn` | string |  | no | yes |")) << r.out;
  EXPECT_TRUE(contains(r.out, "| `servers[].weight` | integer | `1` | no | no |")) << r.out;
  // The example configuration satisfies its schema.
  const std::string dir = std::string(SHMCONF_TEST_DATA) + "/../../examples/config/";
  const CtlResult v =
      ctl({"validate", "--schema", schema, dir + "app.yaml", dir + "override.json"});
  EXPECT_EQ(v.code, 0) << v;
  EXPECT_EQ(ctl({"schema-doc", path("missing.json")}).code, 1);
}

}  // namespace
}  // namespace shmconf::mptest
