// parse_daemon_config(): the daemon configuration file, strict, with
// file:line:col and key path on every error.
#include "config/daemon_config.hpp"

#include <gtest/gtest.h>

#include <string>

namespace shmconf::daemon {
namespace {

constexpr const char* kFile = "/etc/shmconf/shmconfd.yaml";

DaemonConfig parse(const std::string& text) { return parse_daemon_config(text, kFile); }

// The error text of a config that must be refused; "" if it was accepted.
std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(DaemonConfig, FullExample_EveryKeyRead) {
  const DaemonConfig c = parse(R"(
prefix: shm1
socket_dir: /run/sc
state_dir: /var/lib/shmconf
audit_log: /var/log/shmconf/audit.log
admin_group: shmconf-admin
watch: false
debounce_ms: 50
poll_ms: 0
write_wait_ms: 750
log_level: debug
log_format: json
metrics_listen: 127.0.0.1:9469
namespaces:
  app:
    sources:
      - file: base.yaml
      - environments: environments
      - dir: /etc/app/conf.d
        optional: true
      - env: APP_
    environment: production
    environment_parents: {production: staging}
    schema: schema.json
    plaintext_secrets: warn
    guards: {min_keys: 3, max_changed_percent: 12.5, max_deleted_percent: 80, allow_empty: true}
    keep: 4
    mode: "0640"
    group: app-readers
    limits: {max_file_size: 1000, max_depth: 10, max_key_length: 64}
  billing:
    sources: [{file: /etc/billing/billing.json}]
    state_dir: /srv/billing-state
)");
  EXPECT_EQ(c.path, kFile);
  EXPECT_EQ(c.prefix, "shm1");
  EXPECT_EQ(c.socket_dir, "/run/sc");
  EXPECT_EQ(c.audit_log, "/var/log/shmconf/audit.log");
  EXPECT_EQ(c.admin_group, "shmconf-admin");
  EXPECT_EQ(c.watch, false);
  EXPECT_EQ(c.debounce_ms, 50u);
  EXPECT_EQ(c.poll_ms, 0u);
  EXPECT_EQ(c.write_wait_ms, 750u);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.log_format, "json");
  EXPECT_EQ(c.metrics_listen, "127.0.0.1:9469");
  ASSERT_EQ(c.namespaces.size(), 2u);

  const ServiceOptions& app = c.namespaces[0].options;
  EXPECT_EQ(app.name, "app");
  ASSERT_EQ(app.sources.size(), 4u);
  EXPECT_EQ(app.sources[0].kind, SourceSpec::Kind::kFile);
  EXPECT_EQ(app.sources[0].path, "/etc/shmconf/base.yaml");  // relative to the file
  EXPECT_EQ(app.sources[1].kind, SourceSpec::Kind::kEnvironments);
  EXPECT_EQ(app.sources[1].path, "/etc/shmconf/environments");
  EXPECT_EQ(app.sources[2].kind, SourceSpec::Kind::kDirectory);
  EXPECT_TRUE(app.sources[2].optional);
  EXPECT_EQ(app.sources[3].kind, SourceSpec::Kind::kEnvVars);
  EXPECT_EQ(app.sources[3].prefix, "APP_");
  EXPECT_EQ(app.environment, "production");
  EXPECT_EQ(app.environment_parents.at("production"), "staging");
  EXPECT_EQ(app.schema, "/etc/shmconf/schema.json");
  EXPECT_EQ(app.plaintext_secrets, SecretPolicy::kWarn);
  EXPECT_EQ(app.guards.min_keys, 3u);
  EXPECT_EQ(app.guards.max_changed_percent, 12.5);
  EXPECT_EQ(app.guards.max_deleted_percent, 80);
  EXPECT_TRUE(app.guards.allow_empty);
  EXPECT_EQ(app.keep, 4u);
  EXPECT_EQ(app.access.mode, 0640u);
  EXPECT_EQ(c.namespaces[0].group, "app-readers");
  EXPECT_EQ(app.limits.max_file_size, 1000u);
  EXPECT_EQ(app.limits.max_depth, 10u);
  EXPECT_EQ(app.limits.max_key_length, 64u);
  EXPECT_EQ(app.state_dir, "/var/lib/shmconf");  // the daemon-wide one (StateStore adds "/app")

  const ServiceOptions& billing = c.namespaces[1].options;
  EXPECT_EQ(billing.name, "billing");
  EXPECT_EQ(billing.state_dir, "/srv/billing-state");  // its own wins
  EXPECT_EQ(billing.access.mode, 0644u);
  EXPECT_EQ(billing.plaintext_secrets, SecretPolicy::kError);
}

TEST(DaemonConfig, Minimal_DefaultsApply) {
  const DaemonConfig c = parse("namespaces:\n  app:\n    sources: [{file: a.toml}]\n");
  ASSERT_EQ(c.namespaces.size(), 1u);
  EXPECT_TRUE(c.prefix.empty());
  EXPECT_FALSE(c.watch.has_value());
  EXPECT_TRUE(c.namespaces[0].options.state_dir.empty());
  EXPECT_EQ(c.namespaces[0].options.keep, 8u);
  EXPECT_EQ(c.namespaces[0].options.guards.max_deleted_percent, 50);  // on by default
  EXPECT_FALSE(c.write_wait_ms.has_value());
}

TEST(DaemonConfig, UnknownTopLevelKey_NamesItsPositionAndTheKnownKeys) {
  const std::string e = error_of("namespaces:\n  app:\n    sources: [{file: a.yaml}]\nkep: 3\n");
  EXPECT_NE(e.find("/etc/shmconf/shmconfd.yaml:4:1: kep: unknown key"), std::string::npos) << e;
  EXPECT_NE(e.find("namespaces"), std::string::npos) << e;
}

TEST(DaemonConfig, TypoInNamespace_RefusedWithKeyPath) {
  const std::string e =
      error_of("namespaces:\n  app:\n    sources: [{file: a.yaml}]\n    gaurds: {min_keys: 1}\n");
  EXPECT_NE(e.find(":4:5: namespaces.app.gaurds: unknown key"), std::string::npos) << e;
}

TEST(DaemonConfig, TypoInGuards_Refused) {
  const std::string e =
      error_of("namespaces:\n  app:\n    sources: [{file: a.yaml}]\n    guards: {min_key: 1}\n");
  EXPECT_NE(e.find("namespaces.app.guards.min_key: unknown key"), std::string::npos) << e;
}

TEST(DaemonConfig, KeepOutOfRange_Refused) {
  const std::string e =
      error_of("namespaces:\n  app:\n    sources: [{file: a.yaml}]\n    keep: 0\n");
  EXPECT_NE(e.find(":4:11: namespaces.app.keep: must be an integer from 1 to 1000"),
            std::string::npos)
      << e;
}

TEST(DaemonConfig, PercentOutOfRange_Refused) {
  const std::string e = error_of(
      "namespaces:\n  app:\n    sources: [{file: a.yaml}]\n    guards: {max_changed_percent: "
      "150}\n");
  EXPECT_NE(e.find("max_changed_percent: must be a number from 0 to 100"), std::string::npos) << e;
  const std::string d = error_of(
      "namespaces:\n  app:\n    sources: [{file: a.yaml}]\n    guards: {max_deleted_percent: "
      "-1}\n");
  EXPECT_NE(d.find("max_deleted_percent: must be a number from 0 to 100"), std::string::npos) << d;
}

TEST(DaemonConfig, UnquotedOctalMode_RefusedWithAHint) {
  // YAML reads 0640 unquoted as the string "0640" in yaml-cpp, but 640 is
  // not a mode: either way only the three quoted forms are accepted.
  const std::string e =
      error_of("namespaces:\n  app:\n    sources: [{file: a.yaml}]\n    mode: 640\n");
  EXPECT_NE(e.find("namespaces.app.mode: must be \"0644\", \"0640\" or \"0600\""),
            std::string::npos)
      << e;
}

TEST(DaemonConfig, Mode0640WithoutGroup_Refused) {
  const std::string e =
      error_of("namespaces:\n  app:\n    sources: [{file: a.yaml}]\n    mode: \"0640\"\n");
  EXPECT_NE(e.find("mode 0640 needs a group"), std::string::npos) << e;
}

TEST(DaemonConfig, SourceWithTwoKinds_Refused) {
  const std::string e =
      error_of("namespaces:\n  app:\n    sources:\n      - {file: a.yaml, dir: conf.d}\n");
  EXPECT_NE(e.find("namespaces.app.sources[0].dir: a source has exactly one of"), std::string::npos)
      << e;
}

TEST(DaemonConfig, SourceWithoutKind_Refused) {
  const std::string e = error_of("namespaces:\n  app:\n    sources:\n      - {optional: true}\n");
  EXPECT_NE(e.find("namespaces.app.sources[0]: a source needs one of"), std::string::npos) << e;
}

TEST(DaemonConfig, FileWithUnknownExtension_Refused) {
  const std::string e = error_of("namespaces:\n  app:\n    sources: [{file: a.ini}]\n");
  EXPECT_NE(e.find("must end in .yaml, .yml, .json or .toml"), std::string::npos) << e;
}

TEST(DaemonConfig, NamespaceWithoutSources_Refused) {
  const std::string e = error_of("namespaces:\n  app:\n    keep: 3\n");
  EXPECT_NE(e.find(":3:5: namespaces.app: a namespace needs sources"), std::string::npos) << e;
}

TEST(DaemonConfig, EmptySourceList_Refused) {
  const std::string e = error_of("namespaces:\n  app:\n    sources: []\n");
  EXPECT_NE(e.find("namespaces.app.sources: must be a non-empty list"), std::string::npos) << e;
}

TEST(DaemonConfig, BadNamespaceName_Refused) {
  const std::string e = error_of("namespaces:\n  \"a.b\":\n    sources: [{file: a.yaml}]\n");
  EXPECT_NE(e.find("namespaces.a.b: a namespace name must match"), std::string::npos) << e;
}

TEST(DaemonConfig, DuplicateNamespace_Refused) {
  const std::string e = error_of(
      "namespaces:\n  app:\n    sources: [{file: a.yaml}]\n  app:\n    sources: [{file: "
      "b.yaml}]\n");
  EXPECT_NE(e.find(":4:3: namespaces.app: duplicate key"), std::string::npos) << e;
}

TEST(DaemonConfig, NoNamespaces_Refused) {
  EXPECT_NE(error_of("prefix: x\n").find("declares no namespaces"), std::string::npos);
  EXPECT_NE(error_of("namespaces: {}\n").find("declares no namespace"), std::string::npos);
}

TEST(DaemonConfig, BadPolicyAndFormatAndLevel_Refused) {
  const std::string base = "namespaces:\n  app:\n    sources: [{file: a.yaml}]\n";
  EXPECT_NE(error_of(base + "    plaintext_secrets: maybe\n").find("must be error, warn or allow"),
            std::string::npos);
  EXPECT_NE(error_of(base + "log_format: xml\n").find("must be logfmt or json"), std::string::npos);
  EXPECT_NE(error_of(base + "log_level: loud\n").find("must be trace, debug"), std::string::npos);
  EXPECT_NE(error_of(base + "watch: sometimes\n").find("watch: must be true or false"),
            std::string::npos);
}

TEST(DaemonConfig, BrokenYaml_PositionFromTheParser) {
  const std::string e = error_of("namespaces:\n  app: [\n");
  EXPECT_EQ(e.rfind("/etc/shmconf/shmconfd.yaml:", 0), 0u) << e;
  EXPECT_NE(e.find(":3:"), std::string::npos) << e;
}

TEST(DaemonConfig, RootNotAMapping_Refused) {
  EXPECT_NE(error_of("- a\n- b\n").find("must be a mapping"), std::string::npos);
}

TEST(DaemonConfig, UnreadableFile_Refused) {
  try {
    load_daemon_config("/nonexistent/shmconfd.yaml");
    FAIL() << "accepted a missing file";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace shmconf::daemon
