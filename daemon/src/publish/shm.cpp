#include "publish/shm.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>
#include <utility>

namespace shmconf::daemon {
namespace {

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// For shm_create: the half-made object must not stay behind.
[[noreturn]] void unlink_and_throw(const std::string& name, int e, const char* what) {
  ::shm_unlink(name.c_str());
  throw std::system_error(e, std::generic_category(), std::string(what) + "(" + name + ")");
}

std::string octal(unsigned mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0%o", mode);
  return buf;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

ShmMapping::ShmMapping(ShmMapping&& o) noexcept
    : addr_(std::exchange(o.addr_, nullptr)), length_(std::exchange(o.length_, 0)) {}

ShmMapping& ShmMapping::operator=(ShmMapping&& o) noexcept {
  if (this != &o) {
    reset();
    addr_ = std::exchange(o.addr_, nullptr);
    length_ = std::exchange(o.length_, 0);
  }
  return *this;
}

ShmMapping::~ShmMapping() { reset(); }

void ShmMapping::reset() {
  if (addr_ != nullptr) ::munmap(addr_, length_);
  addr_ = nullptr;
  length_ = 0;
}

ShmMapping shm_create(const std::string& name, std::size_t size, const ShmAccess& access) {
  Fd f;
  f.fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, access.mode);
  if (f.fd < 0) throw_errno("shm_open(" + name + ")");
  // The umask may have narrowed the mode; the group is set before any data
  // is written, so no reader can see the object with the wrong access.
  if (access.group && ::fchown(f.fd, static_cast<uid_t>(-1), *access.group) != 0) {
    unlink_and_throw(name, errno, "fchown");
  }
  if (::fchmod(f.fd, access.mode) != 0) unlink_and_throw(name, errno, "fchmod");
  // Every page is allocated and mapped here, before the build writes a byte:
  // first-touch page faults are expensive in a VM (microseconds each, one
  // per 4 KiB page: over 11000 for a 45 MiB segment). The order lets a
  // tmpfs hand out 2 MiB pages where it may:
  //  1. ftruncate: the size, no pages yet.
  //  2. mmap read-write; MADV_HUGEPAGE. /dev/shm mounted huge=advise backs
  //     pages faulted through this mapping with huge pages (huge=always or
  //     within_size needs no advice; the default huge=never ignores it), and
  //     a huge page costs one fault and one page-table entry, not 512.
  //  3. MADV_POPULATE_WRITE (Linux 5.14): allocate and map every page in one
  //     system call, through the mapping, so they can be huge.
  //  4. posix_fallocate: allocates what step 3 did not, and is where a full
  //     /dev/shm shows as ENOSPC (step 3 only says EFAULT), rather than as a
  //     SIGBUS at the first write into a page that cannot be allocated.
  //  5. Without step 3 (an older kernel, or it stopped short): map again
  //     with MAP_POPULATE over the same addresses.
  // A published segment is never resized.
  if (::ftruncate(f.fd, static_cast<off_t>(size)) != 0) unlink_and_throw(name, errno, "ftruncate");
  void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, f.fd, 0);
  if (addr == MAP_FAILED) unlink_and_throw(name, errno, "mmap");
  ShmMapping map(addr, size);  // unmapped again if anything below throws
  // A huge page needs 2 MiB of the object; smaller ones skip the call. An
  // error (a kernel without transparent huge pages) changes nothing.
  if (size >= (std::size_t{2} << 20)) ::madvise(addr, size, MADV_HUGEPAGE);
  const bool populated = ::madvise(addr, size, MADV_POPULATE_WRITE) == 0;
  if (int e = ::posix_fallocate(f.fd, 0, static_cast<off_t>(size)); e != 0) {
    unlink_and_throw(name, e, "fallocate");
  }
  if (!populated && ::mmap(addr, size, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_FIXED | MAP_POPULATE, f.fd, 0) == MAP_FAILED) {
    unlink_and_throw(name, errno, "mmap");
  }
  return map;
}

std::optional<ShmMapping> shm_open_ours(const std::string& name, bool writable, std::size_t size) {
  Fd f;
  f.fd = ::shm_open(name.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW, 0);
  if (f.fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    if (errno == EACCES) {
      throw AlarmError("/dev/shm" + name +
                       " exists but is not accessible to this daemon: someone may be squatting "
                       "the name; refusing to use it");
    }
    if (errno == ELOOP) {
      throw AlarmError("/dev/shm" + name +
                       " is a symbolic link, which this daemon never creates: someone may be "
                       "squatting the name; refusing to use it");
    }
    throw_errno("shm_open(" + name + ")");
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) throw_errno("fstat(" + name + ")");
  if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
    throw AlarmError("/dev/shm" + name + " exists with owner uid " + std::to_string(st.st_uid) +
                     " and mode " + octal(st.st_mode & 07777) +
                     ", not this daemon's: someone may be squatting the name; refusing to use it");
  }
  if (size == 0) size = static_cast<std::size_t>(st.st_size);
  if (size == 0 || static_cast<std::size_t>(st.st_size) < size) {
    throw AlarmError("/dev/shm" + name + " is smaller than expected");
  }
  void* addr = ::mmap(nullptr, size, writable ? PROT_READ | PROT_WRITE : PROT_READ,
                      MAP_SHARED | MAP_POPULATE, f.fd, 0);
  if (addr == MAP_FAILED) throw_errno("mmap(" + name + ")");
  return ShmMapping(addr, size);
}

void shm_remove(const std::string& name) {
  if (::shm_unlink(name.c_str()) != 0 && errno != ENOENT) throw_errno("shm_unlink(" + name + ")");
}

std::vector<std::string> shm_list(const std::string& stem) {
  std::vector<std::string> out;
  DIR* d = ::opendir("/dev/shm");
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.compare(0, stem.size(), stem) == 0) out.push_back(std::move(n));
  }
  ::closedir(d);
  return out;
}

}  // namespace shmconf::daemon
