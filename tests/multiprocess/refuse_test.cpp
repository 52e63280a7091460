// tests/multiprocess/refuse_test.cpp — shmconfd refuses what it must not
// touch: a namespace another daemon already serves, and a control-block name
// squatted by another user, which it reports as an alarm and leaves alone.
#include <string>

#include "harness.hpp"

namespace shmconf::mptest {
namespace {

constexpr char kYaml[] = "database:\n  port: 5432\n";

class RefuseTest : public MultiProcessTest {
 protected:
  void SetUp() override {
    MultiProcessTest::SetUp();
    sources_ = {"config.yaml"};
    write_source("config.yaml", kYaml);
  }
};

TEST_F(RefuseTest, SecondDaemonSameNamespace_ExitsNonZeroAndFirstKeepsServing) {
  Process& first = run_daemon();
  auto client = open_client();
  const auto objects = shm_objects(prefix_);
  const std::string socket_before = read_text(socket_);  // a socket: reads as empty

  Process& second = start_daemon();
  auto st = second.wait(deadline());
  ASSERT_TRUE(st) << "the second daemon did not exit";
  EXPECT_FALSE(second.exited_ok()) << describe_status(*st);
  const std::string log = read_text(second.log);
  EXPECT_TRUE(contains(log, "another shmconfd already serves namespace 'app'")) << log;

  EXPECT_TRUE(first.running());
  EXPECT_EQ(shm_objects(prefix_), objects);
  const CtlResult status = ctl({"status"});
  EXPECT_EQ(status.code, 0) << status;  // the first daemon's socket still answers
  write_source("config.yaml", "database:\n  port: 5433\n");
  ASSERT_TRUE(await_version(client, 2));  // and it still publishes
}

TEST_F(RefuseTest, SquattedControlBlock_DaemonRaisesAlarmAndLeavesItAlone) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the object to another uid";
  constexpr uid_t kNobody = 65534;
  const std::string name = control_object_name(prefix_, ns_);
  const std::string junk(4096, 'S');
  {
    Fd fd(::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd) << std::strerror(errno);
    ASSERT_TRUE(write_all(fd.get(), junk));
    ASSERT_EQ(::fchown(fd.get(), kNobody, kNobody), 0) << std::strerror(errno);
  }
  struct stat before {};
  ASSERT_EQ(::stat(("/dev/shm" + name).c_str(), &before), 0);

  Process& d = start_daemon();
  auto st = d.wait(deadline());
  ASSERT_TRUE(st) << "the daemon did not exit";
  EXPECT_FALSE(d.exited_ok()) << describe_status(*st);
  const std::string log = read_text(d.log);
  EXPECT_TRUE(contains(log, "squatting")) << log;
  EXPECT_TRUE(contains(log, name)) << log;

  struct stat after {};
  ASSERT_EQ(::stat(("/dev/shm" + name).c_str(), &after), 0);
  EXPECT_EQ(after.st_uid, kNobody);
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_size, before.st_size);
  EXPECT_EQ(after.st_mode, before.st_mode);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  EXPECT_EQ(read_text("/dev/shm" + name), junk);
  // No segment was created beside it, and clients refuse it too.
  EXPECT_EQ(shm_objects(prefix_), std::vector<std::string>{name.substr(1)});
  shmconf::ClientOptions o = client_options();
  o.expected_owner = ::geteuid();
  EXPECT_FALSE(shmconf::Client::try_open(ns_, o));
}

TEST_F(RefuseTest, SquattedSegmentName_DaemonSkipsItAndPublishes) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the object to another uid";
  constexpr uid_t kNobody = 65534;
  // The first segment id a fresh control block hands out is 1.
  const std::string name = segment_object_name(prefix_, ns_, 1);
  {
    Fd fd(::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd) << std::strerror(errno);
    ASSERT_TRUE(write_all(fd.get(), std::string(64, 'S')));
    ASSERT_EQ(::fchown(fd.get(), kNobody, kNobody), 0) << std::strerror(errno);
  }
  Process& d = start_daemon();
  const auto ready = wait_ready(d);
  if (ready) {
    // Publishing elsewhere is fine, as long as the squatted object is
    // neither used nor changed.
    auto client = open_client();
    EXPECT_EQ(client.version(), 1u);
    EXPECT_EQ(client.get_int("database.port").value_or(-1), 5432);
  } else {
    EXPECT_TRUE(contains(read_text(d.log), "squatting")) << read_text(d.log);
  }
  struct stat st {};
  ASSERT_EQ(::stat(("/dev/shm" + name).c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kNobody);
  EXPECT_EQ(read_text("/dev/shm" + name), std::string(64, 'S'));
}

}  // namespace
}  // namespace shmconf::mptest
