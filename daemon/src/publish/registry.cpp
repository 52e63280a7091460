#include "publish/registry.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>

#include "publish/bus_guard.hpp"
#include "shmconf/detail/registry.hpp"
#include "shmconf/format.hpp"

namespace shmconf::daemon {
namespace {

constexpr std::size_t kObjectSize = format::registry_object_size(format::kRegistrySlots);

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

std::string comm_of(const format::RegistrySlot& s) {
  std::size_t n = 0;
  while (n < format::kCommLength && s.comm[n] != '\0') ++n;
  std::string out(s.comm, n);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  }
  return out;
}

}  // namespace

RegistryView parse_registry(const void* bytes, std::size_t size, bool check_alive) {
  RegistryView v;
  if (size < sizeof(format::RegistryHeader)) {
    v.error = "smaller than its header";
    return v;
  }
  format::RegistryHeader h;
  std::memcpy(&h, bytes, sizeof h);
  if (const char* why = detail::registry_header_problem(h, size)) {
    v.error = why;
    return v;
  }
  v.slots = h.slot_count;
  const std::uint64_t ours = check_alive ? detail::own_pid_namespace() : 0;
  const auto* base = static_cast<const char*>(bytes) + h.header_size;
  for (std::uint32_t i = 0; i < h.slot_count; ++i) {
    format::RegistrySlot s;
    std::memcpy(&s, base + std::size_t{i} * sizeof s, sizeof s);
    const std::uint64_t state = format::slot_state(s.state);
    if (state == format::kSlotFree) continue;
    const std::uint32_t pid = format::slot_pid(s.state);
    const bool gone =
        pid == 0 ||
        (check_alive && detail::owner_gone(pid, state == format::kSlotLive ? s.start_time : 0,
                                           s.pid_namespace, ours));
    if (gone) {
      ++v.stale;
      continue;
    }
    if (state != format::kSlotLive) continue;  // claiming: not listed yet
    v.readers.push_back(ReaderEntry{i, pid, s.uid, comm_of(s), s.version, s.generation,
                                    s.attach_time_ns, s.since_ns});
  }
  return v;
}

RegistryView read_registry(const std::string& prefix, const std::string& ns,
                           std::optional<uid_t> owner) {
  RegistryView v;
  const std::string name = detail::registry_object_name(prefix, ns);
  const int fd = ::shm_open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
  if (fd < 0) {
    v.error = "/dev/shm" + name + ": " + std::strerror(errno);
    return v;
  }
  struct stat st {};
  std::vector<char> buf;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (owner && st.st_uid != *owner)) {
    v.error = "/dev/shm" + name + " is not a regular file owned by the daemon's user";
  } else if (static_cast<std::uint64_t>(st.st_size) >
             format::registry_object_size(format::kRegistryMaxSlots)) {
    v.error = "/dev/shm" + name + " is larger than any registry";
    v.damaged = true;
  } else {
    buf.resize(static_cast<std::size_t>(st.st_size));
    const ssize_t n = ::pread(fd, buf.data(), buf.size(), 0);
    buf.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  }
  ::close(fd);
  if (!v.error.empty()) return v;
  v = parse_registry(buf.data(), buf.size(), true);
  if (!v.error.empty()) {
    v.error = "/dev/shm" + name + ": " + v.error;
    v.damaged = true;
  }
  return v;
}

mode_t registry_mode(mode_t control) {
  mode_t m = control & 0666;
  if (m & S_IRGRP) m |= S_IWGRP;
  if (m & S_IROTH) m |= S_IWOTH;
  return m | S_IRUSR | S_IWUSR;
}

ReaderRegistry::ReaderRegistry(const std::string& prefix, const std::string& ns,
                               const ShmAccess& access)
    : name_(detail::registry_object_name(prefix, ns)) {
  install_bus_guard();
  const mode_t mode = registry_mode(access.mode);
  fd_ = ::shm_open(name_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  bool created = fd_ >= 0;
  if (!created && errno == EEXIST) {
    fd_ = ::shm_open(name_.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
    if (fd_ < 0 && (errno == EACCES || errno == ELOOP)) {
      throw AlarmError("/dev/shm" + name_ +
                       " exists but is not this daemon's: someone may be squatting the name; "
                       "running without a reader registry");
    }
  }
  if (fd_ < 0) {
    throw std::system_error(errno, std::generic_category(), "shm_open(" + name_ + ")");
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
    ::close(fd_);
    fd_ = -1;
    throw AlarmError("/dev/shm" + name_ +
                     " exists with another owner: someone may be squatting the name; running "
                     "without a reader registry");
  }
  // Ours: the configured access (a changed mode or group applies now).
  if ((access.group && ::fchown(fd_, static_cast<uid_t>(-1), *access.group) != 0) ||
      ::fchmod(fd_, mode) != 0 || (created && ::ftruncate(fd_, kObjectSize) != 0)) {
    const int e = errno;
    ::close(fd_);
    fd_ = -1;
    if (created) ::shm_unlink(name_.c_str());
    throw std::system_error(e, std::generic_category(), "registry access(" + name_ + ")");
  }
  if (created) {
    void* a = ::mmap(nullptr, kObjectSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (a == MAP_FAILED) {
      const int e = errno;
      ::close(fd_);
      fd_ = -1;
      ::shm_unlink(name_.c_str());
      throw std::system_error(e, std::generic_category(), "mmap(" + name_ + ")");
    }
    map_ = ShmMapping(a, kObjectSize);
    reset();
    return;
  }
  // Adopted: the first sweep() checks it, repairs it if need be and maps it.
}

ReaderRegistry::~ReaderRegistry() {
  map_.reset();
  if (fd_ >= 0) ::close(fd_);
}

void ReaderRegistry::reset() {
  // Slots first, magic last (release): a client that maps the object in
  // between sees a bad magic and registers nothing.
  auto* base = static_cast<char*>(map_.data());
  auto* h = reinterpret_cast<format::RegistryHeader*>(base);
  (void)bus_guarded([&] {
    __atomic_store_n(&h->magic, std::uint64_t{0}, __ATOMIC_RELAXED);
    std::memset(base + sizeof(format::RegistryHeader), 0,
                kObjectSize - sizeof(format::RegistryHeader));
    h->format_version = format::kRegistryVersion;
    h->layout_signature = format::kRegistryLayoutSignature;
    h->header_size = sizeof(format::RegistryHeader);
    h->slot_size = sizeof(format::RegistrySlot);
    h->slot_count = format::kRegistrySlots;
    h->reserved0 = 0;
    h->created_time_ns = now_ns();
    std::memset(h->reserved, 0, sizeof h->reserved);
    __atomic_store_n(&h->magic, format::kRegistryMagic, __ATOMIC_RELEASE);
  });
}

ReaderRegistry::Sweep ReaderRegistry::sweep() noexcept {
  Sweep out;
  try {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return out;
    if (static_cast<std::size_t>(st.st_size) != kObjectSize) {
      // Resized by a process with write access: back to our size (the
      // lost part reads as zeros) and start afresh below.
      out.repaired = "size was " + std::to_string(st.st_size) + " bytes";
      if (::ftruncate(fd_, kObjectSize) != 0) return out;
    }
    if (map_.data() == nullptr) {
      void* a = ::mmap(nullptr, kObjectSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
      if (a == MAP_FAILED) return out;
      map_ = ShmMapping(a, kObjectSize);
    }
    format::RegistryHeader h{};
    if (!bus_guarded([&] { std::memcpy(&h, map_.data(), sizeof h); })) {
      out.repaired = "truncated while being read";
      return out;
    }
    if (const char* why = detail::registry_header_problem(h, kObjectSize)) {
      if (out.repaired.empty()) out.repaired = why;
    }
    if (!out.repaired.empty()) {
      reset();
      return out;
    }
    const std::uint64_t ours = detail::own_pid_namespace();
    auto* slots = reinterpret_cast<format::RegistrySlot*>(static_cast<char*>(map_.data()) +
                                                          sizeof(format::RegistryHeader));
    std::uint32_t reclaimed = 0;
    (void)bus_guarded([&] {
      for (std::uint32_t i = 0; i < format::kRegistrySlots; ++i) {
        format::RegistrySlot* s = &slots[i];
        std::uint64_t w = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
        const std::uint64_t state = format::slot_state(w);
        if (state == format::kSlotFree) continue;
        const std::uint64_t started =
            state == format::kSlotLive ? __atomic_load_n(&s->start_time, __ATOMIC_RELAXED) : 0;
        const std::uint64_t pidns = __atomic_load_n(&s->pid_namespace, __ATOMIC_RELAXED);
        if (!detail::owner_gone(format::slot_pid(w), started, pidns, ours)) continue;
        // Fails when the slot changed since the load (its owner moved on,
        // or a client reclaimed it first): left for the next sweep.
        if (__atomic_compare_exchange_n(&s->state, &w, format::slot_next(w, format::kSlotFree, 0),
                                        false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
          ++reclaimed;
        }
      }
    });
    out.reclaimed = reclaimed;
  } catch (...) {
  }
  return out;
}

RegistryView ReaderRegistry::view() const {
  RegistryView v;
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || static_cast<std::size_t>(st.st_size) != kObjectSize) {
    v.error = "/dev/shm" + name_ + " has been resized (repaired at the next sweep)";
    return v;
  }
  std::vector<char> buf(kObjectSize);
  const ssize_t n = ::pread(fd_, buf.data(), buf.size(), 0);
  v = parse_registry(buf.data(), n > 0 ? static_cast<std::size_t>(n) : 0, true);
  if (!v.error.empty()) v.error = "/dev/shm" + name_ + ": " + v.error;
  return v;
}

}  // namespace shmconf::daemon
