// tests/multiprocess/sources_test.cpp — shmconfd with a daemon configuration
// file: a watched conf.d directory and an environment-variable source reach
// a reader in another process.
//
// Synchronisation: wait_ready() (the control socket answers after the
// start-up publish) and Client::wait_for_change (futex) through
// await_version(); nothing sleeps.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "harness.hpp"

namespace shmconf::mptest {
namespace {

class SourcesMpTest : public MultiProcessTest {
 protected:
  // Writes conf.d/.<name>.tmp, then renames it to conf.d/<name>.
  void put_conf(const std::string& name, const std::string& text) {
    const std::string tmp = path("conf.d/." + name + ".tmp");
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << text;
      ASSERT_TRUE(out.good()) << tmp;
    }
    ASSERT_EQ(::rename(tmp.c_str(), path("conf.d/" + name).c_str()), 0) << std::strerror(errno);
  }

  // Starts shmconfd from a configuration file declaring namespace "app"
  // with a base file, the conf.d directory and the MPSRC_ variables.
  Process& run_configured(const std::vector<std::string>& env) {
    std::filesystem::create_directories(path("conf.d"));
    write_source("base.yaml", "v: base\nkeep: 1\n");
    write_source("shmconfd.yaml",
                 "prefix: " + prefix_ + "\nsocket_dir: " + dir_ + "\nstate_dir: " + state_dir_ +
                     "\naudit_log: " + audit_log_ +
                     "\nnamespaces:\n  app:\n    sources:\n      - file: " + path("base.yaml") +
                     "\n      - dir: " + path("conf.d") + "\n      - env: MPSRC_\n");
    socket_ = path("app.sock");
    const std::string log = path("shmconfd." + std::to_string(procs_.size()) + ".log");
    Fd out(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!out) throw std::runtime_error("cannot create " + log);
    procs_.push_back(spawn(
        {SHMCONFD_BIN, "--config", path("shmconfd.yaml"), "--debounce-ms", "20", "--poll-ms", "0"},
        child_env(env), out.get(), out.get()));
    procs_.back().log = log;
    EXPECT_TRUE(wait_ready(procs_.back()));
    return procs_.back();
  }
};

TEST_F(SourcesMpTest, ConfDirectory_AddingAFilePublishes) {
  run_configured({});
  auto c = open_client();
  ASSERT_TRUE(await_version(c, 1));
  EXPECT_EQ(c.snapshot().get_string("v").value_or("?"), "base");

  // A temporary dotfile in conf.d is ignored; the rename makes it count.
  put_conf("10-app.yaml", "v: confd\nadded: true\n");
  ASSERT_TRUE(await_version(c, 2));
  auto s = c.snapshot();
  EXPECT_EQ(s.get_string("v").value_or("?"), "confd");
  EXPECT_TRUE(s.get_bool("added").value_or(false));
  EXPECT_EQ(s.get_int("keep").value_or(0), 1);

  // A later file in lexical order wins.
  put_conf("20-later.json", R"({"v": "later"})");
  ASSERT_TRUE(await_version(c, 3));
  EXPECT_EQ(c.snapshot().get_string("v").value_or("?"), "later");
}

TEST_F(SourcesMpTest, EnvVarSource_ReachesAReader) {
  run_configured({"MPSRC_DATABASE__PORT=6543", "MPSRC_FEATURE__ENABLED=true", "MPSRC_V=env",
                  "MPSRC_KEEP=null"});
  auto c = open_client();
  ASSERT_TRUE(await_version(c, 1));
  auto s = c.snapshot();
  EXPECT_EQ(s.get_int("database.port").value_or(0), 6543);
  EXPECT_TRUE(s.get_bool("feature.enabled").value_or(false));
  EXPECT_EQ(s.get_string("v").value_or("?"), "env");
  EXPECT_FALSE(s.get_int("keep"));  // null from an env var deletes
}

}  // namespace
}  // namespace shmconf::mptest
