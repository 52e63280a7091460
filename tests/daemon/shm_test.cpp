// tests/daemon/shm_test.cpp — segment creation against a real tmpfs: a full
// /dev/shm fails the publish with a clear error and keeps the live version;
// where tmpfs allows huge pages (huge=advise), a large segment gets them;
// the spare object (Publisher::prepare_spare) stays invisible until the
// next publish fills and names it, and gives its pages back when too small.
//
// Each test runs in a forked child with its own mount namespace and a small
// tmpfs mounted over /dev/shm, so it can fill it without touching the host's
// /dev/shm. That needs CAP_SYS_ADMIN (root): elsewhere the tests skip. The
// child reports a failure as a message on stderr and a non-zero exit code.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <system_error>

#include "client/test_util.hpp"

namespace shmconf::test {
namespace {

constexpr int kSkip = 77;

// Runs `body` in a child whose /dev/shm is a fresh tmpfs mounted with
// `options`; returns the child's exit code (kSkip when the namespace or the
// mount is not allowed here), or 128 + signal.
int with_private_dev_shm(const char* options, const std::function<int()>& body) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, options) != 0) {
      std::fprintf(stderr, "private /dev/shm (%s): %s\n", options, std::strerror(errno));
      ::_exit(kSkip);
    }
    int rc = 1;
    try {
      rc = body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    }
    std::fflush(nullptr);
    ::_exit(rc);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

// {"big": "xxx…"}: a configuration whose segment is a little over `bytes`.
std::string big_config(std::size_t bytes) {
  return R"({"port": 2, "big": ")" + std::string(bytes, 'x') + "\"}";
}

int fail(int code, const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  return code;
}

TEST(ShmCreate, DevShmFull_FallocateErrorAndLiveVersionKept) {
  const int rc = with_private_dev_shm("size=1m,mode=1777", [] {
    TestPublisher tp;
    const auto v1 = tp.publish(R"({"port": 1})");
    try {
      tp.publish(big_config(2 << 20));
      return fail(10, "a 2 MiB segment was created on a 1 MiB /dev/shm");
    } catch (const std::system_error& e) {
      if (e.code() != std::errc::no_space_on_device) return fail(11, e.what());
      if (std::string(e.what()).find("fallocate(") == std::string::npos) return fail(12, e.what());
    }
    if (tp.publisher().live().version != v1->version()) return fail(13, "live version changed");
    if (tp.publisher().list_segments().size() != 1) return fail(14, "failed segment left behind");
    auto c = Client::open(TestPublisher::kNs, tp.options());
    if (c.snapshot().get_int("port").value_or(0) != 1) return fail(15, "client lost version 1");
    // The failed object's pages went back: the next small publish fits.
    tp.publish(R"({"port": 3})");
    if (c.snapshot().get_int("port").value_or(0) != 3) return fail(16, "no publish after ENOSPC");
    return 0;
  });
  if (rc == kSkip) GTEST_SKIP() << "needs a private mount namespace (root)";
  EXPECT_EQ(rc, 0);
}

// ShmemPmdMapped (kB) of the mapping of `object` in /proc/self/smaps, -1 when
// it is not mapped.
long pmd_mapped_kb(const std::string& object) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_object = false;
  while (std::getline(smaps, line)) {
    if (line.size() > object.size() &&
        line.compare(line.size() - object.size(), object.size(), object) == 0) {
      in_object = true;
    } else if (in_object && line.rfind("ShmemPmdMapped:", 0) == 0) {
      return std::stol(line.substr(std::strlen("ShmemPmdMapped:")));
    }
  }
  return -1;
}

TEST(ShmCreate, HugeAdviseTmpfs_LargeSegmentOnHugePages) {
  std::ifstream thp("/sys/kernel/mm/transparent_hugepage/shmem_enabled");
  std::string modes;
  if (!std::getline(thp, modes) || modes.find("[deny]") != std::string::npos) {
    GTEST_SKIP() << "no transparent huge pages for tmpfs in this kernel";
  }
  const int rc = with_private_dev_shm("size=64m,mode=1777,huge=advise", [] {
    TestPublisher tp;
    const auto seg = tp.publish(big_config(8 << 20));
    // The daemon's read-only mapping of it (the self-check's), as a client's.
    const std::string name = segment_object_name(tp.prefix(), TestPublisher::kNs, seg->id);
    const long kb = pmd_mapped_kb("/dev/shm" + name);
    if (kb <= 0)
      return fail(
          20, "segment mapped without huge pages: ShmemPmdMapped " + std::to_string(kb) + " kB");
    return 0;
  });
  if (rc == kSkip) GTEST_SKIP() << "needs a private mount namespace (root) and tmpfs huge=";
  EXPECT_EQ(rc, 0);
}

TEST(ShmSpare, NextPublishFillsItNamesItAndClientsReadIt) {
  TestPublisher tp;
  const auto v1 = tp.publish(big_config(3 << 20));
  tp.publisher().prepare_spare(v1->size());
  ASSERT_TRUE(tp.publisher().has_spare()) << "no O_TMPFILE in /dev/shm?";
  // Nameless: not a segment anyone can list or open.
  EXPECT_EQ(tp.publisher().list_segments().size(), 1u);
  const auto v2 = tp.publish(R"({"port": 7, "big": ")" + std::string(3 << 20, 'y') + "\"}");
  EXPECT_FALSE(tp.publisher().has_spare());  // used up
  EXPECT_EQ(tp.publisher().list_segments().size(), 2u);
  struct stat st {};
  const std::string path =
      "/dev/shm" + segment_object_name(tp.prefix(), TestPublisher::kNs, v2->id);
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  // Shrunk to the segment: a client maps exactly what the header says.
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), v2->size());
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  auto c = Client::open(TestPublisher::kNs, tp.options());
  const Snapshot snap = c.snapshot();
  EXPECT_EQ(snap.version(), v2->version());
  EXPECT_EQ(snap.get_int("port").value_or(0), 7);
  EXPECT_EQ(snap.get_string("big").value_or("").size(), std::size_t{3} << 20);
  // A small live segment needs no spare.
  tp.publish(R"({"port": 8})");
  tp.publisher().prepare_spare(1000);
  EXPECT_FALSE(tp.publisher().has_spare());
}

TEST(ShmSpare, TooSmallSpareGivesItsPagesBackBeforeTheNextCreate) {
  // 3 MiB live + a 4 MiB spare + a 6 MiB segment do not fit in 12 MiB; the
  // live one and the new one do, once the spare is released.
  const int rc = with_private_dev_shm("size=12m,mode=1777", [] {
    TestPublisher tp;
    const auto v1 = tp.publish(big_config(3 << 20));
    tp.publisher().prepare_spare(v1->size());
    if (!tp.publisher().has_spare()) return fail(30, "no spare prepared");
    tp.publish(big_config(6 << 20));
    if (tp.publisher().has_spare()) return fail(31, "spare kept");
    auto c = Client::open(TestPublisher::kNs, tp.options());
    if (c.snapshot().get_string("big").value_or("").size() != (6u << 20)) {
      return fail(32, "client did not see the 6 MiB version");
    }
    return 0;
  });
  if (rc == kSkip) GTEST_SKIP() << "needs a private mount namespace (root)";
  EXPECT_EQ(rc, 0);
}

}  // namespace
}  // namespace shmconf::test
