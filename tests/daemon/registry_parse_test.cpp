// tests/daemon/registry_parse_test.cpp — the reader registry's checks in one
// process: header and size checks on hostile bytes, slot parsing (states,
// names without a NUL, dead owners), the liveness test, and the mode the
// registry gets. The multi-process behaviour is in
// tests/multiprocess/registry_test.cpp.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "publish/registry.hpp"
#include "shmconf/detail/registry.hpp"
#include "shmconf/format.hpp"

namespace shmconf::daemon {
namespace {

std::vector<char> empty_registry(std::uint32_t slots = 4) {
  std::vector<char> b(format::registry_object_size(slots), 0);
  format::RegistryHeader h{};
  h.magic = format::kRegistryMagic;
  h.format_version = format::kRegistryVersion;
  h.layout_signature = format::kRegistryLayoutSignature;
  h.header_size = sizeof(format::RegistryHeader);
  h.slot_size = sizeof(format::RegistrySlot);
  h.slot_count = slots;
  std::memcpy(b.data(), &h, sizeof h);
  return b;
}

format::RegistrySlot* slot(std::vector<char>& b, std::uint32_t i) {
  return reinterpret_cast<format::RegistrySlot*>(b.data() + sizeof(format::RegistryHeader) +
                                                 i * sizeof(format::RegistrySlot));
}

// A pid that no longer exists: a child that has exited and been reaped.
pid_t dead_pid() {
  const pid_t p = ::fork();
  if (p == 0) ::_exit(0);
  int st = 0;
  ::waitpid(p, &st, 0);
  return p;
}

TEST(RegistryParse, HeaderChecks_RefuseEveryMismatch) {
  const auto good = empty_registry();
  EXPECT_TRUE(parse_registry(good.data(), good.size(), false).error.empty());
  EXPECT_FALSE(parse_registry(good.data(), 10, false).error.empty());
  EXPECT_FALSE(parse_registry(good.data(), good.size() - 1, false).error.empty());
  auto mutate = [&](auto f) {
    auto b = good;
    auto* h = reinterpret_cast<format::RegistryHeader*>(b.data());
    f(*h);
    return parse_registry(b.data(), b.size(), false).error;
  };
  EXPECT_EQ(mutate([](auto& h) { h.magic ^= 1; }), "bad magic");
  EXPECT_FALSE(mutate([](auto& h) { h.format_version = 2; }).empty());
  EXPECT_FALSE(mutate([](auto& h) { h.layout_signature = 0; }).empty());
  EXPECT_FALSE(mutate([](auto& h) { h.slot_size = 64; }).empty());
  EXPECT_FALSE(mutate([](auto& h) { h.header_size = 128; }).empty());
  EXPECT_FALSE(mutate([](auto& h) { h.slot_count = 0; }).empty());
  EXPECT_FALSE(mutate([](auto& h) { h.slot_count = 5; }).empty());  // size says 4
  EXPECT_FALSE(mutate([](auto& h) { h.slot_count = 0xFFFFFFFFu; }).empty());
}

TEST(RegistryParse, Slots_LiveListedClaimingHiddenNamesSanitised) {
  auto b = empty_registry();
  const auto me = static_cast<std::uint32_t>(::getpid());
  slot(b, 0)->state = (std::uint64_t{me} << 32) | (3u << 2) | format::kSlotLive;
  slot(b, 0)->version = 7;
  std::memcpy(slot(b, 0)->comm, "abcdefghijklmnop", 16);  // 16 bytes, no NUL
  slot(b, 1)->state = (std::uint64_t{me} << 32) | format::kSlotClaiming;
  slot(b, 2)->state = format::kSlotLive;  // live without a pid: garbage
  slot(b, 3)->state = (std::uint64_t{me} << 32) | format::kSlotLive;
  slot(b, 3)->comm[0] = '\x1b';
  slot(b, 3)->comm[1] = 'x';
  const RegistryView v = parse_registry(b.data(), b.size(), false);
  ASSERT_TRUE(v.error.empty()) << v.error;
  ASSERT_EQ(v.readers.size(), 2u);
  EXPECT_EQ(v.readers[0].pid, me);
  EXPECT_EQ(v.readers[0].version, 7u);
  EXPECT_EQ(v.readers[0].exe, "abcdefghijklmnop");
  EXPECT_EQ(v.readers[1].exe, "?x");
  EXPECT_EQ(v.stale, 1u);
}

TEST(RegistryParse, DeadOwner_LeftOutAndCountedStale) {
  auto b = empty_registry();
  const auto dead = static_cast<std::uint32_t>(dead_pid());
  slot(b, 0)->state = (std::uint64_t{dead} << 32) | format::kSlotLive;
  const auto me = static_cast<std::uint32_t>(::getpid());
  slot(b, 1)->state = (std::uint64_t{me} << 32) | format::kSlotLive;
  slot(b, 1)->start_time = detail::process_start_time(::getpid());
  const RegistryView v = parse_registry(b.data(), b.size(), true);
  ASSERT_EQ(v.readers.size(), 1u);
  EXPECT_EQ(v.readers[0].pid, me);
  EXPECT_EQ(v.stale, 1u);
}

TEST(RegistryOwner, GoneOnlyWhenCertain) {
  const std::uint64_t ns = detail::own_pid_namespace();
  const auto me = static_cast<std::uint32_t>(::getpid());
  const std::uint64_t started = detail::process_start_time(::getpid());
  ASSERT_NE(started, 0u);
  EXPECT_FALSE(detail::owner_gone(me, started, ns, ns));
  EXPECT_FALSE(detail::owner_gone(me, 0, ns, ns));           // start time not known yet
  EXPECT_TRUE(detail::owner_gone(me, started + 1, ns, ns));  // pid reused
  EXPECT_TRUE(detail::owner_gone(0, 0, ns, ns));
  EXPECT_TRUE(detail::owner_gone(detail::kPidMaxLimit + 1, 0, ns + 1, ns));  // no such pid anywhere
  const auto dead = static_cast<std::uint32_t>(dead_pid());
  EXPECT_TRUE(detail::owner_gone(dead, 0, ns, ns));
  EXPECT_FALSE(detail::owner_gone(dead, 0, ns + 1, ns));  // another pid namespace: unknown
}

TEST(RegistryMode, WhoeverMayReadMayRegister) {
  EXPECT_EQ(registry_mode(0644), 0666u);
  EXPECT_EQ(registry_mode(0640), 0660u);
  EXPECT_EQ(registry_mode(0600), 0600u);
}

TEST(RegistryFormat, LayoutSignatureAsDocumented) {
  EXPECT_EQ(format::kRegistryLayoutSignature, 0x309B251Cu);  // FORMAT.md §13.2
  EXPECT_EQ(format::registry_object_size(format::kRegistrySlots), 32832u);
  EXPECT_EQ(
      format::slot_next((std::uint64_t{9} << 32) | (0x3FFFFFFFull << 2), format::kSlotFree, 0),
      format::kSlotFree);  // the sequence wraps; pid 0 when free
}

}  // namespace
}  // namespace shmconf::daemon
