// The reader registry, client side: the shared helpers of
// shmconf/detail/registry.hpp and a client's own slot (registry_slot.hpp).
// docs/FORMAT.md "Reader registry" numbers the claim protocol this follows.
#include "shmconf/detail/registry.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "registry_slot.hpp"

namespace shmconf::detail {
namespace {

std::uint64_t wall_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// Reads up to `cap - 1` bytes of a small /proc file; -1 on failure.
ssize_t read_small(const char* path, char* buf, std::size_t cap) noexcept {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  const ssize_t n = ::read(fd, buf, cap - 1);
  ::close(fd);
  if (n >= 0) buf[n] = '\0';
  return n;
}

void store(std::uint64_t* p, std::uint64_t v) noexcept { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
void store(std::uint32_t* p, std::uint32_t v) noexcept { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

bool cas(std::uint64_t* p, std::uint64_t expected, std::uint64_t desired) noexcept {
  return __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE);
}

// The registry mapped read-write for one operation; empty when it cannot be
// used (absent, not the daemon's, not writable by us, damaged).
class Mapped {
 public:
  Mapped(const std::string& name, uid_t owner) noexcept {
    const int fd = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
    if (fd < 0) return;
    struct stat st {};
    const bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == owner &&
                    static_cast<std::uint64_t>(st.st_size) >= format::registry_object_size(1) &&
                    static_cast<std::uint64_t>(st.st_size) <=
                        format::registry_object_size(format::kRegistryMaxSlots);
    if (ok) {
      len_ = static_cast<std::size_t>(st.st_size);
      void* a = ::mmap(nullptr, len_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (a != MAP_FAILED) addr_ = a;
    }
    ::close(fd);
    if (addr_ == nullptr) return;
    const auto* h = static_cast<const format::RegistryHeader*>(addr_);
    if (registry_header_problem(*h, len_) != nullptr) return;
    slots_ = reinterpret_cast<format::RegistrySlot*>(static_cast<char*>(addr_) + h->header_size);
    count_ = h->slot_count;
  }
  ~Mapped() {
    if (addr_ != nullptr) ::munmap(addr_, len_);
  }
  Mapped(const Mapped&) = delete;
  Mapped& operator=(const Mapped&) = delete;

  format::RegistrySlot* slot(int i) const noexcept {
    return slots_ != nullptr && i >= 0 && static_cast<std::uint32_t>(i) < count_ ? &slots_[i]
                                                                                 : nullptr;
  }
  std::uint32_t count() const noexcept { return slots_ != nullptr ? count_ : 0; }

 private:
  void* addr_ = nullptr;
  std::size_t len_ = 0;
  format::RegistrySlot* slots_ = nullptr;
  std::uint32_t count_ = 0;
};

void write_version(format::RegistrySlot* s, std::uint64_t version, std::uint64_t generation,
                   std::uint64_t now) noexcept {
  store(&s->version, version);
  store(&s->generation, generation);
  store(&s->since_ns, now);
}

}  // namespace

std::string registry_object_name(std::string_view prefix, std::string_view ns) {
  std::string s = "/";
  s.append(prefix).append(".").append(ns).append(".readers");
  return s;
}

const char* registry_header_problem(const format::RegistryHeader& h,
                                    std::uint64_t object_size) noexcept {
  if (object_size < sizeof(format::RegistryHeader)) return "smaller than its header";
  if (h.magic != format::kRegistryMagic) return "bad magic";
  if (h.format_version != format::kRegistryVersion ||
      h.layout_signature != format::kRegistryLayoutSignature) {
    return "unknown format version or layout";
  }
  if (h.header_size != sizeof(format::RegistryHeader) ||
      h.slot_size != sizeof(format::RegistrySlot)) {
    return "header or slot size differs from the format";
  }
  if (h.slot_count == 0 || h.slot_count > format::kRegistryMaxSlots)
    return "slot count out of range";
  if (format::registry_object_size(h.slot_count) != object_size) {
    return "size differs from what the slot count says";
  }
  return nullptr;
}

std::uint64_t process_start_time(pid_t pid) noexcept {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  char buf[1024];
  if (read_small(path, buf, sizeof buf) <= 0) return 0;
  // "pid (comm) state ppid ...": comm may hold ')' and spaces, so fields
  // are counted from the last ')'. Field 3 (state) follows it; field 22 is
  // the start time.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return 0;
  int field = 2;
  for (++p; *p != '\0'; ++p) {
    if (*p != ' ') continue;
    if (++field == 22) return std::strtoull(p + 1, nullptr, 10);
  }
  return 0;
}

std::uint64_t own_pid_namespace() noexcept {
  struct stat st {};
  if (::stat("/proc/self/ns/pid", &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_ino);
}

bool owner_gone(std::uint32_t pid, std::uint64_t start_time, std::uint64_t slot_pid_namespace,
                std::uint64_t ours) noexcept {
  // No process in any pid namespace has pid 0 or one above the kernel's
  // PID_MAX_LIMIT (2^22): garbage, whatever pid namespace it claims.
  if (pid == 0 || pid > kPidMaxLimit) return true;
  if (slot_pid_namespace != 0 && ours != 0 && slot_pid_namespace != ours) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return true;
  if (start_time == 0) return false;  // claimed, start time not written yet
  const std::uint64_t now = process_start_time(static_cast<pid_t>(pid));
  return now != 0 && now != start_time;
}

// --- RegistrySlot ----------------------------------------------------------------

void RegistrySlot::claim(const std::string& prefix, const std::string& ns, uid_t owner,
                         std::uint64_t version, std::uint64_t generation) noexcept {
  try {
    name_ = registry_object_name(prefix, ns);
  } catch (...) {
    name_.clear();
    return;
  }
  owner_ = owner;
  attach_ns_ = wall_ns();
  (void)try_claim(version, generation);
}

bool RegistrySlot::try_claim(std::uint64_t version, std::uint64_t generation) noexcept {
  index_ = -1;
  pid_ = ::getpid();
  Mapped reg(name_, owner_);
  const std::uint32_t n = reg.count();
  if (n == 0) return false;
  const std::uint64_t our_ns = own_pid_namespace();
  const auto me = static_cast<std::uint32_t>(pid_);
  // Step 1: a slot that is free, or whose owner is gone, becomes ours with
  // one compare-and-swap of the state word (our pid in it). Starting at a
  // pid-dependent slot spreads concurrent claimers.
  const std::uint32_t start = static_cast<std::uint32_t>((me * 2654435761u) % n);
  for (std::uint32_t k = 0; k < n; ++k) {
    format::RegistrySlot* s = reg.slot(static_cast<int>((start + k) % n));
    const std::uint64_t w = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
    const std::uint64_t st = format::slot_state(w);
    if (st != format::kSlotFree) {
      const std::uint32_t pid = format::slot_pid(w);
      if (pid == me) continue;  // another client of this process
      const std::uint64_t started = __atomic_load_n(&s->start_time, __ATOMIC_RELAXED);
      const std::uint64_t pidns = __atomic_load_n(&s->pid_namespace, __ATOMIC_RELAXED);
      if (!owner_gone(pid, st == format::kSlotLive ? started : 0, pidns, our_ns)) continue;
    }
    const std::uint64_t claiming = format::slot_next(w, format::kSlotClaiming, me);
    if (!cas(&s->state, w, claiming)) continue;
    // Step 2: the fields, each one atomic store.
    store(&s->start_time, process_start_time(pid_));
    store(&s->pid_namespace, our_ns);
    store(&s->attach_time_ns, attach_ns_);
    store(&s->uid, static_cast<std::uint32_t>(::getuid()));
    char comm[format::kCommLength + 1] = {};
    const ssize_t len = read_small("/proc/self/comm", comm, sizeof comm);
    if (len > 0 && comm[len - 1] == '\n') comm[len - 1] = '\0';
    std::uint64_t words[2] = {};
    std::memcpy(words, comm, sizeof words);
    store(reinterpret_cast<std::uint64_t*>(s->comm), words[0]);
    store(reinterpret_cast<std::uint64_t*>(s->comm + 8), words[1]);
    write_version(s, version, generation, wall_ns());
    // Step 3: publish. The release orders the fields before the live
    // state for whoever acquires it; fails only if someone took the slot
    // from us meanwhile (a hostile writer), and then we have none.
    const std::uint64_t live = format::slot_next(claiming, format::kSlotLive, me);
    if (!cas(&s->state, claiming, live)) return false;
    index_ = static_cast<int>((start + k) % n);
    word_ = live;
    return true;
  }
  return false;  // full: nothing recorded
}

void RegistrySlot::update(std::uint64_t version, std::uint64_t generation) noexcept {
  if (name_.empty()) return;
  if (index_ >= 0 && pid_ == ::getpid()) {
    Mapped reg(name_, owner_);
    format::RegistrySlot* s = reg.slot(index_);
    if (s != nullptr && __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == word_) {
      write_version(s, version, generation, wall_ns());
      return;
    }
  }
  // No slot yet (the registry was full or absent at attach), it was taken
  // from us, or this is a forked child: claim one now.
  (void)try_claim(version, generation);
}

void RegistrySlot::release() noexcept {
  if (name_.empty() || index_ < 0 || pid_ != ::getpid()) return;
  Mapped reg(name_, owner_);
  if (format::RegistrySlot* s = reg.slot(index_)) {
    (void)cas(&s->state, word_, format::slot_next(word_, format::kSlotFree, 0));
  }
  index_ = -1;
}

}  // namespace shmconf::detail
