// tests/daemon/bus_guard_test.cpp — publish/bus_guard.hpp: a mapping whose
// object another process truncated faults (SIGBUS) on the lost pages; inside
// bus_guarded() that is a false return and the process goes on, as many
// times as it happens.
#include "publish/bus_guard.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

namespace shmconf::daemon {
namespace {

class BusGuard : public ::testing::Test {
 protected:
  void SetUp() override {
    install_bus_guard();
    fd_ = ::memfd_create("bus_guard_test", MFD_CLOEXEC);
    ASSERT_GE(fd_, 0) << std::strerror(errno);
    page_ = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    ASSERT_EQ(::ftruncate(fd_, static_cast<off_t>(2 * page_)), 0);
    void* a = ::mmap(nullptr, 2 * page_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    ASSERT_NE(a, MAP_FAILED);
    map_ = static_cast<volatile char*>(a);
  }
  void TearDown() override {
    if (map_ != nullptr) ::munmap(const_cast<char*>(map_), 2 * page_);
    if (fd_ >= 0) ::close(fd_);
  }

  int fd_ = -1;
  std::size_t page_ = 0;
  volatile char* map_ = nullptr;
};

TEST_F(BusGuard, InBounds_RunsAndReturnsTrue) {
  char seen = 1;
  EXPECT_TRUE(bus_guarded([&] {
    map_[page_ + 1] = 42;
    seen = map_[page_ + 1];
  }));
  EXPECT_EQ(seen, 42);
}

TEST_F(BusGuard, TruncatedUnderTheMapping_FalseEachTimeAndTheProcessGoesOn) {
  ASSERT_EQ(::ftruncate(fd_, static_cast<off_t>(page_)), 0);  // the second page is gone
  for (int i = 0; i < 3; ++i) {
    int reached = 0;
    EXPECT_FALSE(bus_guarded([&] {
      map_[page_ + 1] = 7;  // SIGBUS
      reached = 1;
    }));
    EXPECT_EQ(reached, 0);
  }
  EXPECT_TRUE(bus_guarded([&] { map_[1] = 3; }));  // the first page is still there
  EXPECT_EQ(map_[1], 3);
}

}  // namespace
}  // namespace shmconf::daemon
