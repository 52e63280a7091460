// tests/multiprocess/bad_inputs_test.cpp — every malformed input in
// tests/data/bad/ (broken YAML, JSON and TOML, wrong shapes, deep nesting,
// alias bombs, huge keys and numbers, invalid UTF-8) fed to a running
// shmconfd as an edit of one of its sources: each reload is rejected with an
// error naming the file, the daemon stays up, the live version and its
// content do not change, and the good file publishes again afterwards.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "harness.hpp"

namespace shmconf::mptest {
namespace {

namespace fs = std::filesystem;

constexpr char kGoodYaml[] = "database:\n  host: db.internal\n  port: 5432\n";
constexpr char kGoodJson[] = R"({"limits": {"max": 100}})";
constexpr char kGoodToml[] = "[feature]\nenabled = true\n";

class BadInputsTest : public MultiProcessTest {
 protected:
  void SetUp() override {
    MultiProcessTest::SetUp();
    sources_ = {"config.yaml", "extra.json", "extra.toml"};
    write_source("config.yaml", kGoodYaml);
    write_source("extra.json", kGoodJson);
    write_source("extra.toml", kGoodToml);
  }
};

TEST_F(BadInputsTest, EveryBadFile_RejectedWithItsNameDaemonUpLiveVersionKept) {
  std::vector<fs::path> bad;
  for (const auto& e : fs::directory_iterator(fs::path(SHMCONF_TEST_DATA) / "bad")) {
    if (e.is_regular_file()) bad.push_back(e.path());
  }
  std::sort(bad.begin(), bad.end());
  ASSERT_GE(bad.size(), 20u) << "tests/data/bad/ lost its files";

  Process& d = run_daemon({"--no-watch"});
  auto client = open_client();
  ASSERT_EQ(client.version(), 1u);
  const std::uint64_t hash = client.snapshot().content_hash();

  for (const fs::path& file : bad) {
    SCOPED_TRACE(file.filename().string());
    const std::string ext = file.extension().string();
    const std::string target = ext == ".json"   ? "extra.json"
                               : ext == ".toml" ? "extra.toml"
                                                : "config.yaml";
    write_source(target, read_text(file.string()));
    const CtlResult r = ctl({"reload"});
    EXPECT_EQ(r.code, 1) << r;
    EXPECT_TRUE(contains(r.err, path(target))) << r;
    EXPECT_TRUE(contains(r.err, "live version 1 unchanged")) << r;
    ASSERT_TRUE(d.running()) << "shmconfd died on " << file;
    EXPECT_EQ(client.version(), 1u);
    EXPECT_EQ(client.snapshot().content_hash(), hash);
    // Put the good file back: an unchanged reload publishes nothing.
    write_source(target, target == "extra.json"   ? kGoodJson
                         : target == "extra.toml" ? kGoodToml
                                                  : kGoodYaml);
  }
  const nlohmann::json status = status_json();
  EXPECT_EQ(status.value("live_version", 0u), 1u) << status.dump();
  EXPECT_GE(status.value("reloads_failed", 0u), bad.size()) << status.dump();

  // Still serving: a real change publishes version 2.
  write_source("config.yaml", "database:\n  host: db2.internal\n  port: 5432\n");
  EXPECT_EQ(ctl({"reload"}).code, 0);
  EXPECT_TRUE(await_version(client, 2));
}

}  // namespace
}  // namespace shmconf::mptest
