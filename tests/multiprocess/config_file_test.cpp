// shmconfd --config: one daemon serving several namespaces from the daemon
// configuration file, each with its own sources, socket and state; SIGHUP
// reloads them all; a broken configuration file stops the start with its
// position.
#include <signal.h>

#include <fstream>
#include <string>

#include "harness.hpp"

namespace shmconf::mptest {
namespace {

class ConfigFileTest : public MultiProcessTest {
 protected:
  void SetUp() override {
    MultiProcessTest::SetUp();
    std::filesystem::create_directories(path("conf.d"));
  }

  void write_config(const std::string& extra = "") {
    // Relative paths are relative to the configuration file's directory.
    write_source("shmconfd.yaml",
                 "socket_dir: .\n"
                 "state_dir: state\n"
                 "audit_log: audit.log\n"
                 "debounce_ms: 20\n" +
                     extra +
                     "namespaces:\n"
                     "  app:\n"
                     "    sources:\n"
                     "      - file: app.yaml\n"
                     "      - dir: conf.d\n"
                     "    keep: 3\n"
                     "  billing:\n"
                     "    sources: [{file: billing.json}]\n");
  }

  Process& run_config_daemon() {
    socket_ = path("app.sock");  // what wait_ready() polls
    audit_log_ = path("audit.log");
    Process& d = start_daemon_argv({SHMCONFD_BIN, "--config", path("shmconfd.yaml")});
    EXPECT_TRUE(wait_ready(d));
    return d;
  }

  shmconf::Client client(const std::string& ns) {
    return shmconf::Client::open(ns, client_options());
  }

  nlohmann::json call(const std::string& ns, const nlohmann::json& req) {
    return daemon::control_call(path(ns + ".sock"), req, kWait);
  }
};

TEST_F(ConfigFileTest, TwoNamespaces_EachPublishedWithItsOwnSocketAndState) {
  write_source("app.yaml", "db:\n  host: a\n  port: 1\n");
  write_source("billing.json", R"({"currency": "EUR"})");
  write_config();
  run_config_daemon();

  auto app = client("app");
  auto billing = client("billing");
  EXPECT_EQ(std::string(app.snapshot().get_string("db.host").value_or("")), "a");
  EXPECT_EQ(std::string(billing.snapshot().get_string("currency").value_or("")), "EUR");

  // Each socket answers for its own namespace.
  EXPECT_EQ(call("app", {{"cmd", "status"}}).value("namespace", ""), "app");
  EXPECT_EQ(call("billing", {{"cmd", "status"}}).value("namespace", ""), "billing");

  // A file added to app's conf.d is watched and layered over app.yaml;
  // billing does not move.
  {
    std::ofstream out(path("conf.d/.10-port.yaml.tmp"));
    out << "db:\n  port: 2\n";
  }
  ASSERT_EQ(::rename(path("conf.d/.10-port.yaml.tmp").c_str(), path("conf.d/10-port.yaml").c_str()),
            0);
  ASSERT_TRUE(await_version(app, 2));
  EXPECT_EQ(app.get_int("db.port").value_or(-1), 2);
  EXPECT_EQ(std::string(app.snapshot().get_string("db.host").value_or("")), "a");
  EXPECT_EQ(billing.version(), 1u);

  // State lives in <state_dir>/<namespace>.
  EXPECT_TRUE(std::filesystem::exists(path("state/app/state.json")));
  EXPECT_TRUE(std::filesystem::exists(path("state/billing/state.json")));
}

TEST_F(ConfigFileTest, Sighup_ReloadsEveryNamespace) {
  write_source("app.yaml", "v: 1\n");
  write_source("billing.json", R"({"v": 1})");
  write_config("watch: false\n");
  Process& d = run_config_daemon();
  auto app = client("app");
  auto billing = client("billing");

  write_source("app.yaml", "v: 2\n");
  write_source("billing.json", R"({"v": 2})");
  d.kill(SIGHUP);
  ASSERT_TRUE(await_version(app, 2));
  ASSERT_TRUE(await_version(billing, 2));
  EXPECT_EQ(app.get_int("v").value_or(-1), 2);
  EXPECT_EQ(billing.get_int("v").value_or(-1), 2);
}

TEST_F(ConfigFileTest, RejectedReloadInOneNamespace_LeavesTheOtherAlone) {
  write_source("app.yaml", "v: 1\n");
  write_source("billing.json", R"({"v": 1})");
  write_config("watch: false\n");
  run_config_daemon();
  auto billing = client("billing");

  write_source("billing.json", R"({"v": )");
  const auto reply = call("billing", {{"cmd", "reload"}});
  EXPECT_FALSE(reply.value("ok", true)) << reply.dump();
  EXPECT_TRUE(has_position(reply.value("error", ""), path("billing.json"))) << reply.dump();
  EXPECT_EQ(billing.version(), 1u);
  EXPECT_EQ(call("app", {{"cmd", "reload"}}).value("ok", false), true);
}

TEST_F(ConfigFileTest, CtlConfigReload_ReloadsEveryNamespaceAndFailsOnARejection) {
  write_source("app.yaml", "v: 1\n");
  write_source("billing.json", R"({"v": 1})");
  write_config("watch: false\n");
  run_config_daemon();
  auto app = client("app");
  auto billing = client("billing");

  write_source("app.yaml", "v: 2\n");
  write_source("billing.json", R"({"v": 2})");
  const CtlResult ok = ctl_raw({"reload", "--config", path("shmconfd.yaml")});
  EXPECT_EQ(ok.code, 0) << ok;
  EXPECT_TRUE(contains(ok.out, "[app]") && contains(ok.out, "[billing]")) << ok;
  EXPECT_EQ(app.version(), 2u);
  EXPECT_EQ(billing.version(), 2u);

  // One rejected namespace fails the whole command (systemctl reload says
  // so); the other one still reloads.
  write_source("app.yaml", "v: 3\n");
  write_source("billing.json", R"({"v": )");
  const CtlResult bad = ctl_raw({"reload", "--config", path("shmconfd.yaml")});
  EXPECT_EQ(bad.code, 1) << bad;
  EXPECT_TRUE(has_position(bad.err, path("billing.json"))) << bad;
  EXPECT_EQ(app.version(), 3u);
  EXPECT_EQ(billing.version(), 2u);

  // status of every namespace, text and one JSON document.
  const CtlResult st = ctl_raw({"status", "--config", path("shmconfd.yaml")});
  EXPECT_EQ(st.code, 0) << st;
  EXPECT_TRUE(contains(st.out, "namespace:    app") && contains(st.out, "namespace:    billing"))
      << st;
  const CtlResult sj = ctl_raw({"status", "--config", path("shmconfd.yaml"), "--json"});
  ASSERT_EQ(sj.code, 0) << sj;
  const auto all = nlohmann::json::parse(sj.out);
  ASSERT_EQ(all.size(), 2u) << sj;
  EXPECT_EQ(all[1].value("namespace", ""), "billing");

  // --name picks one namespace of the file.
  write_source("billing.json", R"({"v": 4})");
  EXPECT_EQ(ctl_raw({"reload", "--config", path("shmconfd.yaml"), "--name", "billing"}).code, 0);
  EXPECT_EQ(billing.version(), 3u);
  EXPECT_EQ(ctl_raw({"reload", "--config", path("shmconfd.yaml"), "--name", "nope"}).code, 2);
}

TEST_F(ConfigFileTest, CtlValidateConfig_ExitCodesAndJson) {
  write_source("app.yaml", "v: 1\n");
  write_source("billing.json", R"({"v": 1})");
  write_config();
  const CtlResult ok = ctl_raw({"validate", "--config", path("shmconfd.yaml"), "--format", "json"});
  EXPECT_EQ(ok.code, 0) << ok;
  const auto j = nlohmann::json::parse(ok.out);
  EXPECT_TRUE(j.value("valid", false)) << ok;
  EXPECT_EQ(j["namespaces"].size(), 2u) << ok;

  write_source("billing.json", R"({"v": )");
  const CtlResult bad = ctl_raw({"validate", "--config", path("shmconfd.yaml")});
  EXPECT_EQ(bad.code, 1) << bad;
  EXPECT_TRUE(contains(bad.err, "billing: " + path("billing.json") + ":1:")) << bad;
  EXPECT_TRUE(contains(bad.out, "app: valid")) << bad;

  write_source("shmconfd.yaml", "namespaces: {}\n");
  EXPECT_EQ(ctl_raw({"validate", "--config", path("shmconfd.yaml")}).code, 1);
  EXPECT_EQ(ctl_raw({"validate"}).code, 2);
}

TEST_F(ConfigFileTest, Explain_ShowsEveryLayerThatSetTheKeyAndRedactsSecrets) {
  const std::string secret = "s3cr3t-" + std::to_string(::getpid());
  ::setenv("SHMCONF_TEST_DB_PASSWORD", secret.c_str(), 1);  // inherited by the daemon
  write_source("app.yaml", "db:\n  port: 1\n  password: ${SHMCONF_TEST_DB_PASSWORD}\n");
  write_source("billing.json", R"({"v": 1})");
  {
    std::ofstream out(path("conf.d/10-port.yaml"));
    out << "db:\n  port: 2\n";
  }
  write_config();
  run_config_daemon();
  socket_ = path("app.sock");

  const CtlResult port = ctl({"explain", "db.port"});
  EXPECT_EQ(port.code, 0) << port;
  EXPECT_TRUE(contains(port.out, path("app.yaml") + ":2:9  1  (overridden)")) << port;
  EXPECT_TRUE(contains(port.out, path("conf.d/10-port.yaml") + ":2:9  2  <- wins")) << port;

  const CtlResult json = ctl({"--json", "explain", "db.port"});
  ASSERT_EQ(json.code, 0) << json;
  const auto j = nlohmann::json::parse(json.out);
  ASSERT_EQ(j["layers"].size(), 2u) << json;
  EXPECT_EQ(j["layers"][0]["value"], 1);
  EXPECT_EQ(j["layers"][1]["value"], 2);

  const CtlResult hidden = ctl({"explain", "db.password"});
  EXPECT_EQ(hidden.code, 0) << hidden;
  EXPECT_FALSE(contains(hidden.out + hidden.err, secret)) << hidden;
  EXPECT_TRUE(contains(hidden.out, "<redacted>")) << hidden;
  const CtlResult shown = ctl({"explain", "db.password", "--show-secrets"});
  EXPECT_TRUE(contains(shown.out, secret)) << shown;
  ::unsetenv("SHMCONF_TEST_DB_PASSWORD");
}

TEST_F(ConfigFileTest, BrokenConfigFile_DaemonRefusesToStartWithThePosition) {
  write_source("app.yaml", "v: 1\n");
  write_source("shmconfd.yaml",
               "namespaces:\n  app:\n    sources: [{file: app.yaml}]\n    kep: 3\n");
  Process& d = start_daemon_argv({SHMCONFD_BIN, "--config", path("shmconfd.yaml")});
  const auto status = d.wait(deadline());
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << describe_status(*status);
  const std::string log = read_text(d.log);
  EXPECT_TRUE(contains(log, path("shmconfd.yaml") + ":4:5: namespaces.app.kep: unknown key"))
      << log;
  EXPECT_TRUE(shm_objects(prefix_).empty());
}

TEST_F(ConfigFileTest, ConfigAndName_UsageError) {
  write_source("app.yaml", "v: 1\n");
  write_config();
  Process& d = start_daemon_argv({SHMCONFD_BIN, "--config", path("shmconfd.yaml"), "--name", "x",
                                  "--source", path("app.yaml")});
  const auto status = d.wait(deadline());
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0) << describe_status(*status);
  EXPECT_TRUE(contains(read_text(d.log), "excludes")) << read_text(d.log);
}

}  // namespace
}  // namespace shmconf::mptest
