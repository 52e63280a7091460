// The reader registry, client side: the shared helpers of
// shmconf/detail/registry.hpp and a client's own slot (registry_slot.hpp).
// docs/FORMAT.md "Reader registry" numbers the claim protocol this follows.
#include "shmconf/detail/registry.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
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

// The registry opened read-write for one operation, under an exclusive OFD
// lock on the whole object; closed (and so unlocked) by the destructor.
// Empty when it cannot be used: absent, not the daemon's, not writable by
// us, damaged, or locked by someone else for longer than a few yields.
//
// Slots are read and written with pread/pwrite, never through a mapping:
// anyone allowed to register may also truncate the object, and a store to
// a mapping past the new end would kill this process with SIGBUS. A pwrite
// past the end cannot; it extends the object, which the daemon's next
// sweep finds damaged and resets. Registrants serialise on the lock; the
// daemon's sweep only ever frees a slot, with one compare-and-swap of its
// state word, which a registrant's write of another word makes fail.
class Registry {
 public:
  Registry(const std::string& name, uid_t owner) noexcept {
    fd_ = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
    if (fd_ < 0) return;
    struct stat st {};
    const bool ok = ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == owner &&
                    static_cast<std::uint64_t>(st.st_size) >= format::registry_object_size(1) &&
                    static_cast<std::uint64_t>(st.st_size) <=
                        format::registry_object_size(format::kRegistryMaxSlots);
    format::RegistryHeader h{};
    // The size again under the lock: a truncation before it shows here.
    if (!ok || !lock() || !read_at(0, &h, sizeof h) || ::fstat(fd_, &st) != 0 ||
        registry_header_problem(h, static_cast<std::uint64_t>(st.st_size)) != nullptr) {
      close();
      return;
    }
    count_ = h.slot_count;
  }
  ~Registry() { close(); }
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  std::uint32_t count() const noexcept { return count_; }
  bool read_slot(std::uint32_t i, format::RegistrySlot* out) const noexcept {
    return i < count_ && read_at(offset(i), out, sizeof *out);
  }
  bool write_slot(std::uint32_t i, const format::RegistrySlot& slot) const noexcept {
    return i < count_ && write_at(offset(i), &slot, sizeof slot);
  }
  // The state word alone (freeing a slot).
  bool write_state(std::uint32_t i, std::uint64_t word) const noexcept {
    return i < count_ &&
           write_at(offset(i) + offsetof(format::RegistrySlot, state), &word, sizeof word);
  }

 private:
  static std::uint64_t offset(std::uint32_t i) noexcept {
    return sizeof(format::RegistryHeader) + std::uint64_t{i} * sizeof(format::RegistrySlot);
  }
  // Another registrant holds the lock for microseconds; a process that
  // keeps it only costs us these few tries, then registration is skipped.
  bool lock() const noexcept {
    struct flock fl {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    for (int attempt = 0; attempt < kLockAttempts; ++attempt) {
      if (::fcntl(fd_, F_OFD_SETLK, &fl) == 0) return true;
      if (errno != EAGAIN && errno != EACCES && errno != EINTR) return false;
      ::sched_yield();
    }
    return false;
  }
  bool read_at(std::uint64_t off, void* buf, std::size_t n) const noexcept {
    return ::pread(fd_, buf, n, static_cast<off_t>(off)) == static_cast<ssize_t>(n);
  }
  bool write_at(std::uint64_t off, const void* buf, std::size_t n) const noexcept {
    return ::pwrite(fd_, buf, n, static_cast<off_t>(off)) == static_cast<ssize_t>(n);
  }
  void close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    count_ = 0;
  }

  static constexpr int kLockAttempts = 64;
  int fd_ = -1;
  std::uint32_t count_ = 0;
};

void set_version(format::RegistrySlot& s, std::uint64_t version, std::uint64_t generation,
                 std::uint64_t now) noexcept {
  s.version = version;
  s.generation = generation;
  s.since_ns = now;
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
  Registry reg(name_, owner_);
  const std::uint32_t n = reg.count();
  if (n == 0) return false;
  const std::uint64_t our_ns = own_pid_namespace();
  const auto me = static_cast<std::uint32_t>(pid_);
  // A slot that is free, or whose owner is gone, becomes ours: under the
  // lock no other registrant writes meanwhile. Starting at a pid-dependent
  // slot keeps a process's slot stable across restarts of its clients.
  const std::uint32_t start = static_cast<std::uint32_t>((me * 2654435761u) % n);
  for (std::uint32_t k = 0; k < n; ++k) {
    const std::uint32_t i = (start + k) % n;
    format::RegistrySlot s{};
    if (!reg.read_slot(i, &s)) return false;
    const std::uint64_t st = format::slot_state(s.state);
    if (st != format::kSlotFree) {
      const std::uint32_t pid = format::slot_pid(s.state);
      if (pid == me) continue;  // another client of this process
      if (!owner_gone(pid, st == format::kSlotLive ? s.start_time : 0, s.pid_namespace, our_ns)) {
        continue;
      }
    }
    format::RegistrySlot mine{};
    mine.state = format::slot_next(s.state, format::kSlotLive, me);
    mine.start_time = process_start_time(pid_);
    mine.pid_namespace = our_ns;
    mine.attach_time_ns = attach_ns_;
    mine.uid = static_cast<std::uint32_t>(::getuid());
    char comm[format::kCommLength + 1] = {};
    const ssize_t len = read_small("/proc/self/comm", comm, sizeof comm);
    if (len > 0 && comm[len - 1] == '\n') comm[len - 1] = '\0';
    std::memcpy(mine.comm, comm, format::kCommLength);
    set_version(mine, version, generation, wall_ns());
    if (!reg.write_slot(i, mine)) return false;
    index_ = static_cast<int>(i);
    word_ = mine.state;
    return true;
  }
  return false;  // full: nothing recorded
}

void RegistrySlot::update(std::uint64_t version, std::uint64_t generation) noexcept {
  if (name_.empty()) return;
  if (index_ >= 0 && pid_ == ::getpid()) {
    Registry reg(name_, owner_);
    format::RegistrySlot s{};
    const auto i = static_cast<std::uint32_t>(index_);
    if (reg.read_slot(i, &s) && s.state == word_) {
      set_version(s, version, generation, wall_ns());
      (void)reg.write_slot(i, s);
      return;
    }
    if (reg.count() == 0) return;  // unusable now: try again at the next version
  }
  // No slot yet (the registry was full or absent at attach), it was taken
  // from us, or this is a forked child: claim one now.
  (void)try_claim(version, generation);
}

void RegistrySlot::release() noexcept {
  if (name_.empty() || index_ < 0 || pid_ != ::getpid()) return;
  Registry reg(name_, owner_);
  format::RegistrySlot s{};
  const auto i = static_cast<std::uint32_t>(index_);
  if (reg.read_slot(i, &s) && s.state == word_) {
    (void)reg.write_state(i, format::slot_next(word_, format::kSlotFree, 0));
  }
  index_ = -1;
}

}  // namespace shmconf::detail
