// tests/multiprocess/broken_edit_test.cpp — a broken source never replaces
// the live version: `shmconfctl reload` exits 1 naming the file and position,
// clients keep the live version, the daemon stays up, and fixing the file
// publishes the next version.
#include <string>

#include "harness.hpp"

namespace shmconf::mptest {
namespace {

constexpr char kGoodYaml[] = "database:\n  host: db.internal\n  port: 5432\n";
constexpr char kGoodJson[] = R"({"limits": {"max": 100}})";

struct BrokenEdit {
  const char* name;
  const char* file;     // which source gets broken
  const char* content;  // the broken content
  bool position;        // the error names file:line:column (else just the file)
  const char* message;  // and says this
};

std::ostream& operator<<(std::ostream& os, const BrokenEdit& b) { return os << b.name; }

const BrokenEdit kBrokenEdits[] = {
    {"InvalidYaml", "config.yaml", "database:\n  host: db.internal\n  port: [1, 2\n  user: x\n",
     true, "invalid YAML"},
    {"JsonInt64Overflow", "extra.json", R"({"limits": {"max": 18446744073709551616}})", true,
     "limits.max: integer 18446744073709551616 does not fit in int64"},
    {"EmptyYaml", "config.yaml", "", false, "empty document"},
    {"EmptyJson", "extra.json", "", false, "empty document"},
};

class BrokenEditTest : public MultiProcessTest, public ::testing::WithParamInterface<BrokenEdit> {
 protected:
  void SetUp() override {
    MultiProcessTest::SetUp();
    sources_ = {"config.yaml", "extra.json"};
    write_source("config.yaml", kGoodYaml);
    write_source("extra.json", kGoodJson);
  }
};

TEST_P(BrokenEditTest, Reload_BrokenSource_RejectedAndLiveVersionKept) {
  const BrokenEdit& edit = GetParam();
  Process& d = run_daemon({"--no-watch"});
  auto client = open_client();
  ASSERT_EQ(client.version(), 1u);

  write_source(edit.file, edit.content);
  const CtlResult r = ctl({"reload"});
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_TRUE(edit.position ? has_position(r.err, edit.file) : contains(r.err, edit.file)) << r;
  EXPECT_TRUE(contains(r.err, edit.message)) << r;
  EXPECT_TRUE(contains(r.err, "live version 1 unchanged")) << r;

  EXPECT_TRUE(d.running());
  EXPECT_EQ(client.version(), 1u);
  EXPECT_EQ(client.snapshot().get_string("database.host").value_or(""), "db.internal");
  const nlohmann::json status = status_json();
  EXPECT_EQ(status.value("live_version", 0), 1);
  EXPECT_EQ(status.value("reloads_failed", 0), 1);
  EXPECT_TRUE(contains(status["last_reload"].value("error", ""), edit.message)) << status.dump(2);

  // Fixed: the next reload publishes version 2.
  write_source("config.yaml", "database:\n  host: db.internal\n  port: 5433\n");
  write_source("extra.json", kGoodJson);
  const CtlResult fixed = ctl({"reload"});
  EXPECT_EQ(fixed.code, 0) << fixed;
  EXPECT_TRUE(contains(fixed.out, "published version 2")) << fixed;
  ASSERT_TRUE(await_version(client, 2));
  EXPECT_EQ(client.get_int("database.port").value_or(-1), 5433);
  EXPECT_EQ(client.get_int("limits.max").value_or(-1), 100);
}

TEST_P(BrokenEditTest, WatchedSource_BrokenThenFixed_OnlyTheFixPublishes) {
  const BrokenEdit& edit = GetParam();
  Process& d = run_daemon();
  auto client = open_client();
  write_source(edit.file, edit.content);
  // No event tells us a rejection happened except the audit log line the
  // daemon appends for it; wait for that (inotify on the log file).
  ASSERT_TRUE(wait_for_audit("\"ok\":false"));
  EXPECT_TRUE(d.running());
  EXPECT_EQ(client.version(), 1u);

  write_source("config.yaml", "database:\n  host: db.internal\n  port: 5433\n");
  write_source("extra.json", kGoodJson);
  ASSERT_TRUE(await_version(client, 2));
  EXPECT_EQ(client.get_int("database.port").value_or(-1), 5433);
}

INSTANTIATE_TEST_SUITE_P(Edits, BrokenEditTest, ::testing::ValuesIn(kBrokenEdits),
                         [](const auto& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace shmconf::mptest
