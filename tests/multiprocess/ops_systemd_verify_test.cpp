// tests/multiprocess/ops_systemd_verify_test.cpp — the files in systemd/:
// `systemd-analyze verify` finds nothing to complain about, the units'
// ExecStart= and ExecReload= lines run the real binaries successfully, the
// hardening keeps the host's /dev/shm, and sysusers.d / tmpfiles.d parse.
//
// The units name /usr/sbin/shmconfd and /usr/bin/shmconfctl; the copies
// verified here name the binaries just built instead, so the only complaint
// that could otherwise appear (a missing executable) cannot.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <string>
#include <vector>

#include "ops_util.hpp"

namespace shmconf::ops_test {
namespace {

const fs::path kSystemdDir = fs::path(SHMCONF_TEST_DATA) / ".." / ".." / "systemd";

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size()) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

// The unit text with the built binaries in place of the installed ones.
std::string WithBuiltBinaries(const std::string& unit) {
  return Replace(Replace(unit, "/usr/sbin/shmconfd", SHMCONFD_BIN), "/usr/bin/shmconfctl",
                 SHMCONFCTL_BIN);
}

// Every value of `key=` in a unit file (comments and sections ignored).
std::vector<std::string> Values(const std::string& unit, const std::string& key) {
  std::vector<std::string> out;
  std::istringstream in(unit);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + "=", 0) == 0) out.push_back(line.substr(key.size() + 1));
  }
  return out;
}

std::vector<std::string> SplitWords(const std::string& s) {
  std::vector<std::string> words;
  std::istringstream in(s);
  std::string w;
  while (in >> w) words.push_back(w);
  return words;
}

class OpsSystemdUnits : public OpsFixture {
 protected:
  static std::string Unit(const std::string& name) {
    const std::string text = OpsReadFile(kSystemdDir / name);
    if (text.empty()) throw std::runtime_error("missing or empty " + (kSystemdDir / name).string());
    return text;
  }

  // systemd-analyze verify on `arg` (a path) in `dir`; skips when the tool
  // is not installed.
  void Verify(const fs::path& dir, const std::string& arg) {
    const auto tool = OpsFindTool("systemd-analyze");
    if (!tool) GTEST_SKIP() << "systemd-analyze is not installed; unit files not verified";
    // Look up units only in `dir` (plus the system's own, for WantedBy= targets).
    const auto r = OpsRun({tool->string(), "verify", (dir / arg).string()},
                          {"SYSTEMD_UNIT_PATH=" + dir.string() + ":", "SYSTEMD_LOG_COLOR=0"});
    EXPECT_EQ(r.rc, 0) << OpsDescribe(r);
    EXPECT_EQ(r.out + r.err, "") << "systemd-analyze verify " << arg << " complained:\n"
                                 << r.out << r.err;
  }
};

TEST_F(OpsSystemdUnits, TemplateInstance_VerifiesClean) {
  const fs::path units = dir_ / "units";
  fs::create_directories(units);
  OpsWriteFile(units / "shmconfd@.service", WithBuiltBinaries(Unit("shmconfd@.service")));
  Verify(units, "shmconfd@app.service");
}

TEST_F(OpsSystemdUnits, Template_VerifiesClean) {
  const fs::path units = dir_ / "units";
  fs::create_directories(units);
  OpsWriteFile(units / "shmconfd@.service", WithBuiltBinaries(Unit("shmconfd@.service")));
  Verify(units, "shmconfd@.service");
}

TEST_F(OpsSystemdUnits, ConfigFileUnit_VerifiesClean) {
  const fs::path units = dir_ / "units";
  fs::create_directories(units);
  OpsWriteFile(units / "shmconfd.service", WithBuiltBinaries(Unit("shmconfd.service")));
  Verify(units, "shmconfd.service");
}

// The shared-memory contract in unit form: published snapshots live in the
// host's /dev/shm and outlive the daemon; readiness and reload follow
// Type=notify on systemd 252.
TEST_F(OpsSystemdUnits, Hardening_KeepsHostDevShmAndSnapshots) {
  for (const char* name : {"shmconfd.service", "shmconfd@.service"}) {
    SCOPED_TRACE(name);
    const std::string unit = Unit(name);
    for (const char* forbidden : {"PrivateDevices", "PrivateIPC", "DynamicUser",
                                  "InaccessiblePaths", "TemporaryFileSystem", "PrivateMounts"}) {
      for (const auto& v : Values(unit, forbidden)) {
        EXPECT_TRUE(v == "no" || v == "false") << forbidden << "=" << v;
      }
    }
    EXPECT_EQ(Values(unit, "RemoveIPC"), std::vector<std::string>{"no"});
    EXPECT_EQ(Values(unit, "Type"), std::vector<std::string>{"notify"});
    EXPECT_EQ(Values(unit, "ProtectSystem"), std::vector<std::string>{"strict"});
    EXPECT_EQ(Values(unit, "KillMode"), std::vector<std::string>{"mixed"});
    ASSERT_EQ(Values(unit, "ExecReload").size(), 1u);
    EXPECT_NE(Values(unit, "ExecReload")[0].find("shmconfctl"), std::string::npos);
    EXPECT_EQ(SplitWords(Values(unit, "ExecReload")[0]).back(), "reload");
    for (const auto& rw : Values(unit, "ReadOnlyPaths")) {
      EXPECT_EQ(rw.find("/dev"), std::string::npos) << rw;
    }
  }
}

// Expands a unit's Exec line as systemd would for a system unit, with the
// directories moved under `root` and $SHMCONFD_ARGS from the example file.
std::vector<std::string> Expand(const std::string& line, const fs::path& root,
                                const std::string& shmconfd_args) {
  std::string s = WithBuiltBinaries(line);
  s = Replace(s, "%i", "app");
  s = Replace(s, "${SHMCONF_NAME}", "app");
  s = Replace(s, "%S", (root / "var/lib").string());
  s = Replace(s, "%t", (root / "run").string());
  s = Replace(s, "%L", (root / "var/log").string());
  std::vector<std::string> words;
  for (auto& w : SplitWords(s)) {
    if (w == "$SHMCONFD_ARGS") {
      for (auto& a : SplitWords(shmconfd_args)) words.push_back(a);
    } else {
      words.push_back(w);
    }
  }
  return words;
}

// ExecStart= and ExecReload= of each unit, run for real: the daemon accepts
// the flags (shmconfd@.service) or the configuration file (shmconfd.service,
// with the directories systemd passes in $RUNTIME_DIRECTORY and friends),
// and shmconfctl finds the socket where the daemon put it.
TEST_F(OpsSystemdUnits, ExecLines_RunTheRealBinaries) {
  // SHMCONFD_ARGS as the example env file sets it, minus the admin group
  // (need not exist on a test host), with the source under our directory.
  const std::string example = OpsReadFile(kSystemdDir / "shmconfd.env.example");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(example, m, std::regex("\nSHMCONFD_ARGS=\"([^\"]*)\"")))
      << "no SHMCONFD_ARGS=\"...\" line in shmconfd.env.example";
  std::string args = Replace(m[1].str(), "--admin-group shmconf-admin", "");
  args = Replace(args, "/etc/shmconf/app.yaml", source_.string());
  ASSERT_EQ(args.find("/etc/"), std::string::npos) << args;
  OpsWriteFile(source_, "database:\n  port: 5432\n");

  for (const char* name : {"shmconfd@.service", "shmconfd.service"}) {
    SCOPED_TRACE(name);
    const fs::path root = dir_ / (std::string(name) + ".root");
    // What systemd creates for RuntimeDirectory=, StateDirectory=, LogsDirectory=.
    for (const char* d : {"run/shmconf", "var/lib/shmconf", "var/log/shmconf"}) {
      fs::create_directories(root / d);
    }
    // The configuration file the packaged example describes, for our source.
    fs::create_directories(root / "etc/shmconf");
    OpsWriteFile(root / "etc/shmconf/shmconfd.yaml",
                 "namespaces:\n  app:\n    sources:\n      - file: " + source_.string() + "\n");
    const std::string unit = Replace(Unit(name), "/etc/shmconf/shmconfd.yaml",
                                     (root / "etc/shmconf/shmconfd.yaml").string());
    ASSERT_EQ(Values(unit, "ExecStart").size(), 1u);
    const auto start = Expand(Values(unit, "ExecStart")[0], root, args);
    const auto reload = Expand(Values(unit, "ExecReload")[0], root, args);
    const std::vector<std::string> env = {"SHMCONF_PREFIX=" + prefix_,
                                          "RUNTIME_DIRECTORY=" + (root / "run/shmconf").string(),
                                          "STATE_DIRECTORY=" + (root / "var/lib/shmconf").string(),
                                          "LOGS_DIRECTORY=" + (root / "var/log/shmconf").string()};
    const bool config_unit = std::string(name) == "shmconfd.service";

    OpsDaemon d;
    d.Start(std::vector<std::string>(start.begin() + 1, start.end()), env,
            dir_ / "unit-daemon.log");
    const fs::path sock = root / "run/shmconf/app.sock";
    ASSERT_TRUE(OpsWaitUntil([&] {
      auto s = OpsCall(sock, {{"cmd", "status"}});
      return s && s->value("ok", false);
    })) << OpsReadFile(dir_ / "unit-daemon.log");

    const auto r = OpsRun(reload, env);
    EXPECT_EQ(r.rc, 0) << OpsDescribe(r);
    EXPECT_TRUE(fs::exists(root / "var/lib/shmconf/app/state.json"));
    EXPECT_TRUE(fs::exists(
        root / (config_unit ? "var/log/shmconf/audit.log" : "var/log/shmconf/app-audit.log")));

    d.Signal(SIGTERM);
    EXPECT_EQ(d.WaitExit(), std::optional<int>(0));
    OpsUnlinkShm(prefix_);  // the next unit starts from nothing
  }
}

TEST_F(OpsSystemdUnits, SysusersAndTmpfiles_ParseAndCreate) {
  const auto sysusers = OpsFindTool("systemd-sysusers");
  const auto tmpfiles = OpsFindTool("systemd-tmpfiles");
  if (!sysusers || !tmpfiles) GTEST_SKIP() << "systemd-sysusers/systemd-tmpfiles not installed";
  if (::geteuid() != 0) GTEST_SKIP() << "tmpfiles --create chowns: needs root";
  const fs::path root = dir_ / "root";
  fs::create_directories(root / "etc");
  // --root confines both tools to our directory.
  auto r = OpsRun({sysusers->string(), "--root=" + root.string(),
                   (kSystemdDir / "shmconf.sysusers.conf").lexically_normal().string()});
  ASSERT_EQ(r.rc, 0) << OpsDescribe(r);
  const std::string passwd = OpsReadFile(root / "etc/passwd");
  const std::string group = OpsReadFile(root / "etc/group");
  EXPECT_TRUE(std::regex_search(passwd, std::regex("(^|\n)shmconf:x:[0-9]+:[0-9]+:"))) << passwd;
  EXPECT_TRUE(std::regex_search(group, std::regex("shmconf-admin:x:[0-9]+:shmconf\n"))) << group;

  r = OpsRun({tmpfiles->string(), "--root=" + root.string(), "--create",
              (kSystemdDir / "shmconf.tmpfiles.conf").lexically_normal().string()});
  ASSERT_EQ(r.rc, 0) << OpsDescribe(r);
  struct stat st {};
  ASSERT_EQ(::stat((root / "run/shmconf").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(::stat((root / "var/lib/shmconf").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_NE(st.st_uid, 0u);  // the shmconf user of the image, not root
}

}  // namespace
}  // namespace shmconf::ops_test
