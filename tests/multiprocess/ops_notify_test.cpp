// tests/multiprocess/ops_notify_test.cpp — shmconfd's sd_notify protocol, with
// the test playing systemd: it binds the NOTIFY_SOCKET datagram socket and
// reads what the real daemon sends.
//
// What systemd 252 (Type=notify, no notify-reload) relies on:
//   READY=1 only once a snapshot is live, and only when the control socket
//   already answers (ExecReload= may run at once); RELOADING=1 with
//   MONOTONIC_USEC=, then READY=1, around a reload; STOPPING=1 on SIGTERM,
//   exit status 0, shared memory left for readers; never READY=1 while
//   nothing is published.
#include <gtest/gtest.h>

#include <string>

#include "ops_util.hpp"
#include "shmconf/client.hpp"

namespace shmconf::ops_test {
namespace {

std::string Config(int port) {
  return "database:\n  host: db.local\n  port: " + std::to_string(port) +
         "\nservice:\n  name: ops\n";
}

bool IsReady(const std::string& msg) { return OpsHasLine(msg, "READY=1"); }
bool IsReloading(const std::string& msg) { return OpsHasLine(msg, "RELOADING=1"); }

class OpsNotify : public OpsFixture {
 protected:
  void SetUp() override {
    OpsFixture::SetUp();
    notify_.emplace(dir_ / "notify.sock");
  }
  void TearDown() override {
    OpsFixture::TearDown();
    notify_.reset();
  }

  // Starts the daemon on a good source and returns its first READY=1.
  std::string StartReady() {
    OpsWriteFile(source_, Config(5432));
    StartDaemon({}, {notify_->env()});
    auto ready = notify_->ReceiveUntil(IsReady);
    if (!ready) throw std::runtime_error("no READY=1; got " + notify_->History());
    return *ready;
  }

  std::optional<OpsNotifySocket> notify_;
};

TEST_F(OpsNotify, FirstPublish_SendsReadyWithVersionInStatus) {
  const std::string ready = StartReady();
  const auto status = OpsField(ready, "STATUS");
  ASSERT_TRUE(status.has_value()) << ready;
  EXPECT_NE(status->find("version 1"), std::string::npos) << *status;
  EXPECT_NE(status->find(kName), std::string::npos) << *status;
}

TEST_F(OpsNotify, ReadyOnRestart_ControlSocketAlreadyListening) {
  // A restarted daemon serves the adopted snapshot at once (READY=1 before
  // it reads the sources). systemd may run ExecReload= (shmconfctl) the
  // moment READY=1 arrives, so the socket must already listen then. A large
  // YAML source makes the startup reload long enough to see it if not.
  std::string big = Config(5432);
  for (int i = 0; i < 40000; ++i) big += "k" + std::to_string(i) + ": v" + std::to_string(i) + "\n";
  OpsWriteFile(source_, big);
  StartDaemon({}, {notify_->env()});
  ASSERT_TRUE(notify_->ReceiveUntil(IsReady).has_value()) << notify_->History();
  daemon_.Signal(SIGTERM);
  ASSERT_EQ(daemon_.WaitExit(), std::optional<int>(0));
  ASSERT_FALSE(fs::exists(socket_));  // removed on exit
  notify_->Drain();

  StartDaemon({}, {notify_->env()});
  auto ready = notify_->ReceiveUntil(IsReady);
  ASSERT_TRUE(ready.has_value()) << notify_->History();
  EXPECT_TRUE(OpsCanConnect(socket_)) << "READY=1 sent before the control socket listens";
  auto reply = OpsCall(socket_, {{"cmd", "status"}});
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->value("live_version", 0), 1) << reply->dump();
}

TEST_F(OpsNotify, Sighup_SendsReloadingWithMonotonicThenReady) {
  StartReady();
  OpsWriteAtomic(source_, Config(6000));
  const std::uint64_t before = OpsMonotonicUsec();
  daemon_.Signal(SIGHUP);

  // Startup may have sent READY=1 more than once; what counts is the order
  // after the signal: RELOADING=1, then READY=1.
  auto reloading = notify_->ReceiveUntil(IsReloading);
  ASSERT_TRUE(reloading.has_value()) << "no RELOADING=1; got " << notify_->History();
  const std::uint64_t after = OpsMonotonicUsec();
  EXPECT_FALSE(IsReady(*reloading)) << *reloading;
  const auto usec = OpsField(*reloading, "MONOTONIC_USEC");
  ASSERT_TRUE(usec.has_value()) << *reloading;
  ASSERT_FALSE(usec->empty());
  ASSERT_EQ(usec->find_first_not_of("0123456789"), std::string::npos) << *usec;
  const std::uint64_t stamp = std::stoull(*usec);
  // CLOCK_MONOTONIC is system-wide: the stamp lies between our signal and now.
  EXPECT_GE(stamp, before);
  EXPECT_LE(stamp, after);

  auto ready = notify_->ReceiveUntil(IsReady);
  ASSERT_TRUE(ready.has_value()) << "no READY=1 after RELOADING=1; got " << notify_->History();
  const auto status = OpsField(*ready, "STATUS");
  ASSERT_TRUE(status.has_value()) << *ready;
  EXPECT_NE(status->find("version 2"), std::string::npos) << *status;
}

TEST_F(OpsNotify, SighupRejected_StillEndsTheReloadWithReady) {
  StartReady();
  OpsWriteAtomic(source_, "database: {port: 1,\n");
  daemon_.Signal(SIGHUP);
  ASSERT_TRUE(notify_->ReceiveUntil(IsReloading).has_value()) << notify_->History();
  // The old version is still served, so the reload is over: READY=1 again.
  auto ready = notify_->ReceiveUntil(IsReady);
  ASSERT_TRUE(ready.has_value()) << notify_->History();
  EXPECT_NE(ready->find("version 1"), std::string::npos) << *ready;
}

TEST_F(OpsNotify, Sigterm_SendsStoppingExitsZeroAndKeepsSharedMemory) {
  StartReady();
  const auto before = OpsListShm(prefix_);
  ASSERT_FALSE(before.empty());
  daemon_.Signal(SIGTERM);
  auto stopping =
      notify_->ReceiveUntil([](const std::string& m) { return OpsHasLine(m, "STOPPING=1"); });
  ASSERT_TRUE(stopping.has_value()) << notify_->History();
  const auto rc = daemon_.WaitExit();
  ASSERT_TRUE(rc.has_value()) << "shmconfd did not exit after SIGTERM";
  EXPECT_EQ(*rc, 0);
  EXPECT_EQ(OpsListShm(prefix_), before);

  // Readers keep reading what was published.
  ClientOptions options;
  options.prefix = prefix_;
  auto client = Client::open(kName, options);
  EXPECT_EQ(client.version(), 1u);
  auto port = client.get_int("database.port");
  ASSERT_TRUE(port.has_value());
  EXPECT_EQ(*port, 5432);
}

TEST_F(OpsNotify, BrokenSourceNoState_NoReadyUntilFixed) {
  OpsWriteFile(source_, "database:\n  port: [1, 2\n");
  StartDaemon({}, {notify_->env()});
  // Bounded: the daemon answers status, says nothing is live, and has not
  // said READY=1 (nor RELOADING=1: it never was ready).
  nlohmann::json status = WaitStatus();
  EXPECT_FALSE(status.value("ok", true)) << status.dump();
  EXPECT_EQ(status.value("live_version", 99), 0) << status.dump();
  EXPECT_FALSE(status.value("healthy", true)) << status.dump();

  // A SIGHUP with the source still broken must not turn "starting" into
  // "started" either. Wait for its verdict through the failure counter.
  daemon_.Signal(SIGHUP);
  ASSERT_TRUE(OpsWaitUntil([&] {
    auto s = OpsCall(socket_, {{"cmd", "status"}});
    return s && s->value("reloads_failed", 0) >= 2;
  }));
  for (const auto& msg : notify_->Drain()) {
    EXPECT_FALSE(IsReady(msg)) << msg;
    EXPECT_FALSE(IsReloading(msg)) << msg;
  }
  EXPECT_EQ(notify_->History().find("READY=1"), std::string::npos) << notify_->History();

  // Fixing the file publishes (through the watcher), and only now READY=1.
  OpsWriteAtomic(source_, Config(5432));
  auto ready = notify_->ReceiveUntil(IsReady);
  ASSERT_TRUE(ready.has_value()) << notify_->History();
  EXPECT_NE(ready->find("version 1"), std::string::npos) << *ready;
}

TEST_F(OpsNotify, WatchdogUsec_SendsKeepalives) {
  OpsWriteFile(source_, Config(5432));
  // 200 ms: the daemon pings every half period.
  StartDaemon({}, {notify_->env(), "WATCHDOG_USEC=200000"});
  int pings = 0;
  ASSERT_TRUE(notify_
                  ->ReceiveUntil([&](const std::string& m) {
                    if (OpsHasLine(m, "WATCHDOG=1")) ++pings;
                    return pings >= 3;
                  })
                  .has_value())
      << notify_->History();
}

}  // namespace
}  // namespace shmconf::ops_test
