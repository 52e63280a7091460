// tests/multiprocess/subscribe_test.cpp — Client::subscribe in another
// process: one callback per published version, carrying exactly the keys
// under the prefix that changed, and no callback for a version that changed
// nothing under it.
#include <string>

#include "harness.hpp"

namespace shmconf::mptest {
namespace {

const char* kind_name(format::Change k) {
  switch (k) {
    case format::Change::kAdded:
      return "added";
    case format::Change::kRemoved:
      return "removed";
    case format::Change::kChanged:
      return "changed";
  }
  return "?";
}

std::string yaml(int port, const std::string& db_extra, const std::string& service_name) {
  return "database:\n  host: db.internal\n  port: " + std::to_string(port) + "\n" + db_extra +
         "databases_other: {x: 1}\nservice:\n  name: " + service_name + "\n";
}

class SubscribeTest : public MultiProcessTest {
 protected:
  void SetUp() override {
    MultiProcessTest::SetUp();
    sources_ = {"config.yaml"};
    write_source("config.yaml", yaml(5432, "  pool: {max: 1}\n", "billing"));
  }
};

TEST_F(SubscribeTest, SubscriberProcess_ThreeEdits_OneCallbackPerVersionWithPrefixKeys) {
  run_daemon();
  auto client = open_client();
  const std::string prefix = prefix_, ns = ns_;
  // The child reports "cb <version> <key>:<kind>[=<old>-><new>] ..." per
  // callback, "subscribed" once the subscription exists, and leaves on "exit".
  ForkedChild& sub = start_child([&](int cmd, int out) {
    auto c = open_or_report(prefix, ns, out);
    if (!c) return 1;
    auto subscription = c->subscribe(
        "database.", [out](const shmconf::Snapshot& old_snap, const shmconf::Snapshot& new_snap,
                           const std::vector<shmconf::Client::Change>& changes) {
          std::string line = "cb " + std::to_string(new_snap.version()) + " from " +
                             std::to_string(old_snap.version());
          for (const auto& ch : changes) {
            line += " " + std::string(ch.key) + ":" + kind_name(ch.kind);
            if (ch.old_value && ch.old_value->type() == Type::kInt) {
              line += "=" + std::to_string(*ch.old_value->as_int());
            }
            if (ch.new_value && ch.new_value->type() == Type::kInt) {
              line += "->" + std::to_string(*ch.new_value->as_int());
            }
          }
          report(out, line);
        });
    report(out, "subscribed");
    LineReader commands(cmd);
    while (auto line = commands.next(deadline(2 * kWait))) {
      if (*line == "exit") break;
    }
    subscription.stop();
    return 0;
  });
  ASSERT_EQ(sub.next_report(), "subscribed");

  // 1: one key under the prefix changes.
  write_source("config.yaml", yaml(5433, "  pool: {max: 1}\n", "billing"));
  ASSERT_TRUE(await_version(client, 2));
  EXPECT_EQ(sub.next_report(), "cb 2 from 1 database.port:changed=5432->5433");

  // 2: inside and outside the prefix; a look-alike prefix ("databases_")
  // must not match "database.".
  write_source("config.yaml", yaml(5433, "  user: app\n", "billing2"));
  ASSERT_TRUE(await_version(client, 3));
  EXPECT_EQ(sub.next_report(), "cb 3 from 2 database.pool.max:removed=1 database.user:added");

  // 3: outside the prefix only: no callback. The next edit inside it must
  // be the next report, against version 3 (it saw 4, and nothing changed).
  write_source("config.yaml",
               "database:\n  host: db.internal\n  port: 5433\n  user: app\n"
               "databases_other: {x: 2}\nservice:\n  name: billing3\n");
  ASSERT_TRUE(await_version(client, 4));
  write_source("config.yaml", yaml(5434, "  user: app\n", "billing3"));
  ASSERT_TRUE(await_version(client, 5));
  const auto next = sub.next_report();
  ASSERT_TRUE(next);
  EXPECT_TRUE(next->starts_with("cb 5 from ")) << *next;
  EXPECT_TRUE(next->ends_with(" database.port:changed=5433->5434")) << *next;

  ASSERT_TRUE(sub.command("exit"));
  ASSERT_TRUE(sub.proc.wait(deadline()));
  EXPECT_TRUE(sub.proc.exited_ok()) << describe_status(*sub.proc.status);
  // Nothing else was reported.
  EXPECT_EQ(sub.next_report(Clock::now()), std::nullopt);
}

}  // namespace
}  // namespace shmconf::mptest
