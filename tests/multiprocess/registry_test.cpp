// tests/multiprocess/registry_test.cpp — the reader registry with real
// processes: readers in forked children register at attach and on adopting
// a version, show up in the daemon's `readers` and the shmconf_readers
// metric; a SIGKILLed reader's slot is reclaimed; wait-converged exits 0
// once every reader serves a version and 1, naming the laggard, while one
// does not; a garbage, truncated, full or squatted registry never changes
// what a reader reads, and the daemon repairs or refuses it with a log line.
#include "publish/registry.hpp"

#include <sys/prctl.h>

#include <map>
#include <set>
#include <string>

#include "harness.hpp"
#include "shmconf/detail/registry.hpp"
#include "shmconf/shmconf.h"

namespace shmconf::mptest {
namespace {

class RegistryTest : public MultiProcessTest {
 protected:
  void SetUp() override {
    MultiProcessTest::SetUp();
    sources_ = {"config.yaml"};
    write_source("config.yaml", "a: 1\n");
  }

  // A reader process named `name`: attaches, reads, reports "ready V A"
  // (version and the value of a). Then on "adopt K" it waits for a version
  // other than K and reads it ("v V A"); leaves on "exit".
  ForkedChild& start_reader(const std::string& name) {
    const std::string prefix = prefix_, ns = ns_;
    return start_child([prefix, ns, name](int cmd, int out) {
      ::prctl(PR_SET_NAME, name.c_str());
      auto c = open_or_report(prefix, ns, out);
      if (!c) return 1;
      auto line = [&](const char* tag) {
        const auto a = c->get_int("a");
        report(out, std::string(tag) + " " + std::to_string(c->version()) + " " +
                        (a ? std::to_string(*a) : "missing"));
      };
      line("ready");
      LineReader commands(cmd);
      while (auto l = commands.next(deadline(4 * kWait))) {
        if (*l == "exit") break;
        if (l->starts_with("adopt ")) {
          const std::uint64_t known = std::stoull(l->substr(6));
          (void)c->wait_for_change(known, std::chrono::milliseconds(kWait));
          line("v");
        }
      }
      return 0;
    });
  }

  // pid -> version, from the daemon's `readers` reply.
  std::map<std::uint32_t, std::uint64_t> readers() {
    const auto reply = control({{"cmd", "readers"}});
    EXPECT_TRUE(reply.value("ok", false)) << reply.dump();
    std::map<std::uint32_t, std::uint64_t> out;
    for (const auto& r : reply.value("readers", nlohmann::json::array())) {
      out[r.value("pid", 0u)] = r.value("version", std::uint64_t{0});
    }
    return out;
  }

  std::string registry_name() const { return detail::registry_object_name(prefix_, ns_); }

  // The registry's bytes, as any process may write them.
  void overwrite_registry(const std::function<void(int fd)>& write) {
    const int fd = ::shm_open(registry_name().c_str(), O_RDWR | O_CLOEXEC, 0);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    write(fd);
    ::close(fd);
  }

  // Occupied slots, by the raw bytes (no liveness check).
  daemon::RegistryView raw_registry() {
    std::vector<char> buf(format::registry_object_size(format::kRegistrySlots));
    const int fd = ::shm_open(registry_name().c_str(), O_RDONLY | O_CLOEXEC, 0);
    EXPECT_GE(fd, 0);
    const ssize_t n = ::pread(fd, buf.data(), buf.size(), 0);
    ::close(fd);
    return daemon::parse_registry(buf.data(), n > 0 ? static_cast<std::size_t>(n) : 0, false);
  }

  void publish(const std::string& yaml, std::uint64_t version) {
    write_source("config.yaml", yaml);
    const auto reply = control({{"cmd", "reload"}});
    ASSERT_EQ(reply.value("version", std::uint64_t{0}), version) << reply.dump();
  }
};

TEST_F(RegistryTest, EightReaders_ListedWithVersions_UpdateAfterPublish) {
  run_daemon();
  std::map<pid_t, ForkedChild*> kids;
  for (int i = 0; i < 8; ++i) {
    ForkedChild& k = start_reader("reader" + std::to_string(i));
    ASSERT_EQ(k.next_report(), "ready 1 1");
    kids[k.proc.pid] = &k;
  }
  auto listed = readers();
  ASSERT_EQ(listed.size(), 8u);
  for (const auto& [pid, k] : kids) EXPECT_EQ(listed[static_cast<std::uint32_t>(pid)], 1u);
  const auto reply = control({{"cmd", "readers"}});
  std::set<std::string> exes;
  for (const auto& r : reply["readers"]) exes.insert(r.value("exe", ""));
  EXPECT_TRUE(exes.count("reader0") && exes.count("reader7")) << reply.dump();

  publish("a: 2\n", 2);
  for (auto& [pid, k] : kids) {
    ASSERT_TRUE(k->command("adopt 1"));
    EXPECT_EQ(k->next_report(), "v 2 2");
  }
  listed = readers();
  ASSERT_EQ(listed.size(), 8u);
  for (const auto& [pid, k] : kids) EXPECT_EQ(listed[static_cast<std::uint32_t>(pid)], 2u);
  const std::string text = control({{"cmd", "metrics"}}).value("text", "");
  EXPECT_TRUE(contains(text, "shmconf_readers{namespace=\"app\",version=\"2\"} 8")) << text;

  // shmconfctl readers prints one line per reader.
  const CtlResult r = ctl({"readers"});
  ASSERT_EQ(r.code, 0) << r;
  EXPECT_TRUE(contains(r.out, "8 readers")) << r;
  EXPECT_TRUE(contains(r.out, std::to_string(kids.begin()->first) + " ")) << r;
}

TEST_F(RegistryTest, ClosedReader_FreesItsSlot) {
  run_daemon();
  ForkedChild& k = start_reader("closer");
  ASSERT_EQ(k.next_report(), "ready 1 1");
  EXPECT_EQ(raw_registry().readers.size(), 1u);
  ASSERT_TRUE(k.command("exit"));
  ASSERT_TRUE(k.proc.wait(deadline()));
  EXPECT_TRUE(k.proc.exited_ok());
  // Freed by the client itself, with no sweep in between.
  const auto raw = raw_registry();
  EXPECT_TRUE(raw.readers.empty());
  EXPECT_EQ(raw.stale, 0u);
}

TEST_F(RegistryTest, SigkilledReader_ReclaimedByTheDaemon) {
  run_daemon();
  ForkedChild& a = start_reader("keep1");
  ForkedChild& b = start_reader("victim");
  ForkedChild& c = start_reader("keep2");
  for (ForkedChild* k : {&a, &b, &c}) ASSERT_EQ(k->next_report(), "ready 1 1");
  const auto victim = static_cast<std::uint32_t>(b.proc.pid);
  b.proc.kill(SIGKILL);
  ASSERT_TRUE(b.proc.wait(deadline()));
  // Its slot still says live: nobody freed it.
  EXPECT_EQ(raw_registry().readers.size(), 3u);

  const auto listed = readers();  // sweeps first
  EXPECT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed.count(victim), 0u);
  const auto raw = raw_registry();
  EXPECT_EQ(raw.readers.size(), 2u);  // the slot is free again, not only hidden
  EXPECT_TRUE(contains(read_text(procs_.front().log), "reader slots reclaimed"));
}

TEST_F(RegistryTest, WaitConverged_LaggardListed_ThenConverges) {
  run_daemon();
  ForkedChild& fast = start_reader("fast");
  ForkedChild& slow = start_reader("slow");
  ASSERT_EQ(fast.next_report(), "ready 1 1");
  ASSERT_EQ(slow.next_report(), "ready 1 1");
  EXPECT_EQ(ctl({"wait-converged", "1", "--timeout", "5"}).code, 0);

  publish("a: 2\n", 2);
  ASSERT_TRUE(fast.command("adopt 1"));
  ASSERT_EQ(fast.next_report(), "v 2 2");
  // "slow" reads nothing, so it still serves version 1.
  const CtlResult lag = ctl({"wait-converged", "2", "--timeout", "0.2"});
  EXPECT_EQ(lag.code, 1) << lag;
  EXPECT_TRUE(contains(lag.err, "1 of 2 readers lag")) << lag;
  EXPECT_TRUE(
      contains(lag.err, "pid " + std::to_string(slow.proc.pid) + " (slow) serves version 1"))
      << lag;
  EXPECT_FALSE(contains(lag.err, "(fast)")) << lag;

  ASSERT_TRUE(slow.command("adopt 1"));
  ASSERT_EQ(slow.next_report(), "v 2 2");
  const CtlResult ok = ctl({"wait-converged", "2", "--timeout", "5"});
  EXPECT_EQ(ok.code, 0) << ok;
  EXPECT_TRUE(contains(ok.out, "converged: 2 readers")) << ok;

  // After a rollback to 1, ">= 1" holds at once; --exact waits for it.
  const auto rb = control({{"cmd", "rollback"}, {"to", 1}});
  ASSERT_TRUE(rb.value("ok", false)) << rb.dump();
  EXPECT_EQ(ctl({"wait-converged", "1", "--timeout", "0.1", "--exact"}).code, 1);
  for (ForkedChild* k : {&fast, &slow}) {
    ASSERT_TRUE(k->command("adopt 2"));
    ASSERT_EQ(k->next_report(), "v 1 1");
  }
  EXPECT_EQ(ctl({"wait-converged", "1", "--timeout", "5", "--exact"}).code, 0);
}

TEST_F(RegistryTest, GarbageRegistry_ReadsUnaffected_DaemonResetsIt) {
  run_daemon();
  overwrite_registry([](int fd) {
    std::vector<unsigned char> junk(format::registry_object_size(format::kRegistrySlots));
    for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<unsigned char>(i * 131 + 7);
    ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), 0), static_cast<ssize_t>(junk.size()));
  });
  ForkedChild& k = start_reader("garbage");
  ASSERT_EQ(k.next_report(), "ready 1 1");           // attached and read; registered nowhere
  const auto reply = control({{"cmd", "readers"}});  // the sweep resets it
  ASSERT_TRUE(reply.value("ok", false)) << reply.dump();
  EXPECT_TRUE(reply["readers"].empty()) << reply.dump();
  EXPECT_TRUE(contains(read_text(procs_.front().log), "reader registry damaged")) << "log";
  // The reader registers at its next new version.
  publish("a: 2\n", 2);
  ASSERT_TRUE(k.command("adopt 1"));
  ASSERT_EQ(k.next_report(), "v 2 2");
  EXPECT_EQ(readers()[static_cast<std::uint32_t>(k.proc.pid)], 2u);
}

TEST_F(RegistryTest, GarbageSlots_ReadsUnaffected_BadSlotsFreed) {
  run_daemon();
  // A valid header, every slot random: states, pids, names without a NUL.
  overwrite_registry([](int fd) {
    std::vector<unsigned char> junk(format::kRegistrySlots * sizeof(format::RegistrySlot));
    std::uint64_t x = 0x9E3779B97F4A7C15ull;
    for (auto& b : junk) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      b = static_cast<unsigned char>(x);
    }
    ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), sizeof(format::RegistryHeader)),
              static_cast<ssize_t>(junk.size()));
  });
  ForkedChild& k = start_reader("noisy");
  ASSERT_EQ(k.next_report(), "ready 1 1");
  const auto reply = control({{"cmd", "readers"}});
  ASSERT_TRUE(reply.value("ok", false)) << reply.dump();
  EXPECT_EQ(ctl({"readers"}).code, 0);
  // The sweep freed every slot naming a pid no process can have (random
  // 32-bit numbers, nearly all above the kernel's limit; those below it
  // name other pid namespaces, which are left alone).
  const auto raw = raw_registry();
  EXPECT_LT(raw.readers.size(), 8u);
  for (const auto& r : raw.readers) EXPECT_LE(r.pid, detail::kPidMaxLimit);
  publish("a: 2\n", 2);
  ASSERT_TRUE(k.command("adopt 1"));
  EXPECT_EQ(k.next_report(), "v 2 2");
}

TEST_F(RegistryTest, TruncatedRegistry_ReadsUnaffected_DaemonRestoresSize) {
  run_daemon();
  overwrite_registry([](int fd) { ASSERT_EQ(::ftruncate(fd, 10), 0); });
  ForkedChild& k = start_reader("short");
  ASSERT_EQ(k.next_report(), "ready 1 1");
  // Until the daemon's next sweep, wait-converged sees a damaged registry.
  const CtlResult damaged = ctl({"wait-converged", "1", "--timeout", "0.1"});
  EXPECT_EQ(damaged.code, 3) << damaged;
  EXPECT_TRUE(contains(damaged.err, "smaller than its header")) << damaged;
  const auto reply = control({{"cmd", "readers"}});
  ASSERT_TRUE(reply.value("ok", false)) << reply.dump();
  EXPECT_TRUE(contains(read_text(procs_.front().log), "size was 10 bytes"));
  struct stat st {};
  const int fd = ::shm_open(registry_name().c_str(), O_RDONLY | O_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::fstat(fd, &st), 0);
  ::close(fd);
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_size),
            format::registry_object_size(format::kRegistrySlots));
  publish("a: 2\n", 2);
  ASSERT_TRUE(k.command("adopt 1"));
  ASSERT_EQ(k.next_report(), "v 2 2");
  EXPECT_EQ(readers()[static_cast<std::uint32_t>(k.proc.pid)], 2u);
}

TEST_F(RegistryTest, FullRegistry_ReaderUnregisteredButReads_DeadSlotReclaimedByClient) {
  run_daemon();
  // Every slot live, owned by pid 1 (alive, start time unknown: never judged
  // gone).
  const auto fill = [](std::uint32_t pid) {
    return [pid](int fd) {
      for (std::uint32_t i = 0; i < format::kRegistrySlots; ++i) {
        const std::uint64_t w = (std::uint64_t{pid} << 32) | (5u << 2) | format::kSlotLive;
        const off_t at = static_cast<off_t>(sizeof(format::RegistryHeader) +
                                            std::size_t{i} * sizeof(format::RegistrySlot));
        ASSERT_EQ(::pwrite(fd, &w, sizeof w, at), static_cast<ssize_t>(sizeof w));
      }
    };
  };
  overwrite_registry(fill(1));
  ForkedChild& k = start_reader("crowded");
  ASSERT_EQ(k.next_report(), "ready 1 1");
  EXPECT_EQ(readers().count(static_cast<std::uint32_t>(k.proc.pid)), 0u);

  // The same, owned by a process that has exited: a new reader takes a slot
  // back itself (the daemon has not swept in between).
  ForkedChild& gone = start_child([](int, int) { return 0; });
  ASSERT_TRUE(gone.proc.wait(deadline()));
  overwrite_registry(fill(static_cast<std::uint32_t>(gone.proc.pid)));
  ForkedChild& next = start_reader("reclaimer");
  ASSERT_EQ(next.next_report(), "ready 1 1");
  const auto raw = raw_registry();
  bool found = false;
  for (const auto& r : raw.readers)
    found = found || r.pid == static_cast<std::uint32_t>(next.proc.pid);
  EXPECT_TRUE(found);
}

// Anyone allowed to register may truncate the registry. A client that
// wrote to it through a mapping died of SIGBUS when that happened between
// its size check and its store; clients use pread/pwrite, so a process
// truncating in a loop costs them their registration, never a read.
TEST_F(RegistryTest, TruncatedInALoop_ReadersAdoptEveryVersion) {
  run_daemon();
  const std::string name = registry_name();
  const auto size = static_cast<off_t>(format::registry_object_size(format::kRegistrySlots));
  ForkedChild& truncator = start_child([name, size](int cmd, int out) {
    const int fd = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) return 1;
    ::fcntl(cmd, F_SETFL, O_NONBLOCK);
    report(out, "truncating");
    char c;
    while (::read(cmd, &c, 1) < 0) {  // until the parent writes or closes
      (void)::ftruncate(fd, 0);
      (void)::ftruncate(fd, size);
    }
    return 0;
  });
  ASSERT_EQ(truncator.next_report(), "truncating");
  ForkedChild& k = start_reader("steady");
  ASSERT_EQ(k.next_report(), "ready 1 1");
  for (std::uint64_t v = 2; v <= 40; ++v) {
    publish("a: " + std::to_string(v) + "\n", v);
    ASSERT_TRUE(k.command("adopt " + std::to_string(v - 1)));
    ASSERT_EQ(k.next_report(), "v " + std::to_string(v) + " " + std::to_string(v));
  }
  ASSERT_TRUE(truncator.command("stop"));
  ASSERT_TRUE(truncator.proc.wait(deadline()));
  ASSERT_TRUE(k.command("exit"));
  ASSERT_TRUE(k.proc.wait(deadline()));
  EXPECT_EQ(k.proc.status.value_or(-1), 0) << describe_status(k.proc.status.value_or(-1));
}

// A process that takes the registrants' lock and keeps it: readers attach
// and adopt versions as before, unregistered, and register once it is gone.
TEST_F(RegistryTest, LockHeldForever_ReadersUnaffected_RegisterAfterwards) {
  run_daemon();
  const std::string name = registry_name();
  ForkedChild& holder = start_child([name](int cmd, int out) {
    const int fd = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0);
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fd < 0 || ::fcntl(fd, F_OFD_SETLK, &fl) != 0) return 1;
    report(out, "locked");
    LineReader commands(cmd);
    (void)commands.next(deadline(4 * kWait));
    return 0;
  });
  ASSERT_EQ(holder.next_report(), "locked");
  ForkedChild& k = start_reader("patient");
  ASSERT_EQ(k.next_report(), "ready 1 1");
  publish("a: 2\n", 2);
  ASSERT_TRUE(k.command("adopt 1"));
  ASSERT_EQ(k.next_report(), "v 2 2");
  EXPECT_EQ(readers().count(static_cast<std::uint32_t>(k.proc.pid)), 0u);
  ASSERT_TRUE(holder.command("release"));
  ASSERT_TRUE(holder.proc.wait(deadline()));
  publish("a: 3\n", 3);
  ASSERT_TRUE(k.command("adopt 2"));
  ASSERT_EQ(k.next_report(), "v 3 3");
  EXPECT_EQ(readers()[static_cast<std::uint32_t>(k.proc.pid)], 3u);
}

TEST_F(RegistryTest, SquattedRegistry_DaemonServesWithoutIt) {
  // A symbolic link on the name: never the daemon's, never opened.
  const std::string link = "/dev/shm" + registry_name();
  ASSERT_EQ(::symlink("/dev/null", link.c_str()), 0) << std::strerror(errno);
  run_daemon();
  EXPECT_TRUE(contains(read_text(procs_.front().log), "reader registry unavailable"));
  ForkedChild& k = start_reader("squatted");
  EXPECT_EQ(k.next_report(), "ready 1 1");
  const auto reply = control({{"cmd", "readers"}});
  EXPECT_FALSE(reply.value("ok", true)) << reply.dump();
  const CtlResult r = ctl({"wait-converged", "1", "--timeout", "0"});
  EXPECT_EQ(r.code, 3) << r;
  ::unlink(link.c_str());
}

TEST_F(RegistryTest, UnprivilegedReader_Registers_CannotRemoveOrChmodRegistry) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as another uid (nobody)";
  run_daemon();  // mode 0644: the registry is 0666
  const std::string prefix = prefix_, ns = ns_, name = registry_name();
  ForkedChild& k = start_child([&](int cmd, int out) {
    if (!become_user(65534, 65534, {})) {
      report(out, std::string("become_user: ") + std::strerror(errno));
      return 1;
    }
    shmconf::ClientOptions o;
    o.prefix = prefix;
    auto c = shmconf::Client::try_open(ns, o);
    if (!c) return 1;
    const bool unlinked = ::shm_unlink(name.c_str()) == 0;
    const bool chmodded = ::chmod(("/dev/shm" + name).c_str(), 0600) == 0;
    report(out, "read " + std::to_string(c->get_int("a").value_or(-1)) + " unlink " +
                    (unlinked ? "succeeded" : "refused") + " chmod " +
                    (chmodded ? "succeeded" : "refused"));
    LineReader commands(cmd);
    (void)commands.next(deadline());
    return 0;
  });
  EXPECT_EQ(k.next_report(), "read 1 unlink refused chmod refused");
  const auto reply = control({{"cmd", "readers"}});
  ASSERT_EQ(reply["readers"].size(), 1u) << reply.dump();
  EXPECT_EQ(reply["readers"][0].value("uid", 0u), 65534u);
  EXPECT_EQ(reply["readers"][0].value("version", 0u), 1u);
  struct stat st {};
  ASSERT_EQ(::stat(("/dev/shm" + name).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0666u);
  EXPECT_EQ(st.st_uid, 0u);
}

TEST_F(RegistryTest, CApi_RegistersUnlessOptedOut) {
  run_daemon();
  const std::string prefix = prefix_, ns = ns_;
  // Two C clients in one child: one registered, one opted out.
  ForkedChild& k = start_child([&](int cmd, int out) {
    shmconf_open_options listed = SHMCONF_OPEN_OPTIONS_INIT;
    listed.prefix = prefix.c_str();
    shmconf_open_options quiet = listed;
    quiet.no_reader_registry = 1;
    shmconf_client* a = nullptr;
    shmconf_client* b = nullptr;
    if (shmconf_open_with(ns.c_str(), &listed, &a) != 0 ||
        shmconf_open_with(ns.c_str(), &quiet, &b) != 0) {
      return 1;
    }
    report(out,
           "open " + std::to_string(shmconf_version(a)) + " " + std::to_string(shmconf_version(b)));
    LineReader commands(cmd);
    (void)commands.next(deadline());
    shmconf_close(b);
    shmconf_close(a);
    return 0;
  });
  ASSERT_EQ(k.next_report(), "open 1 1");
  const auto reply = control({{"cmd", "readers"}});
  ASSERT_EQ(reply["readers"].size(), 1u) << reply.dump();
  EXPECT_EQ(reply["readers"][0].value("pid", 0), k.proc.pid);
  EXPECT_EQ(reply["readers"][0].value("version", 0u), 1u);
}

TEST_F(RegistryTest, NoReaderRegistryFlag_NothingCreated_ReadsWork) {
  run_daemon({"--no-reader-registry"});
  struct stat st {};
  EXPECT_NE(::lstat(("/dev/shm" + registry_name()).c_str(), &st), 0);
  ForkedChild& k = start_reader("plain");
  EXPECT_EQ(k.next_report(), "ready 1 1");
  EXPECT_FALSE(control({{"cmd", "readers"}}).value("ok", true));
}

}  // namespace
}  // namespace shmconf::mptest
