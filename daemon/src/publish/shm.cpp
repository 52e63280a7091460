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

// Where glibc's shm_open() keeps its objects.
constexpr const char* kShmDir = "/dev/shm";

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

// Every page is allocated and mapped before the build writes a byte:
// first-touch page faults are expensive in a VM (microseconds each, one per
// 4 KiB page: over 11000 for a 45 MiB segment). `addr` maps all `size`
// bytes of `fd` (already ftruncate()d: the size, no pages yet) read-write.
// The order lets a tmpfs hand out 2 MiB pages where it may:
//  1. MADV_HUGEPAGE. /dev/shm mounted huge=advise backs pages faulted
//     through this mapping with huge pages (huge=always or within_size needs
//     no advice; the default huge=never ignores it), and a huge page costs
//     one fault and one page-table entry, not 512.
//  2. MADV_POPULATE_WRITE (Linux 5.14): allocate and map every page in one
//     system call, through the mapping, so they can be huge.
//  3. posix_fallocate: allocates what step 2 did not, and is where a full
//     /dev/shm shows as ENOSPC (step 2 only says EFAULT), rather than as a
//     SIGBUS at the first write into a page that cannot be allocated.
//  4. Without step 2 (an older kernel, or it stopped short): map again with
//     MAP_POPULATE over the same addresses.
// Returns 0 or the errno of the step that failed.
int prefault(int fd, void* addr, std::size_t size) {
  // A huge page needs 2 MiB of the object; smaller ones skip the call. An
  // error (a kernel without transparent huge pages) changes nothing.
  if (size >= (std::size_t{2} << 20)) ::madvise(addr, size, MADV_HUGEPAGE);
  const bool populated = ::madvise(addr, size, MADV_POPULATE_WRITE) == 0;
  if (int e = ::posix_fallocate(fd, 0, static_cast<off_t>(size)); e != 0) return e;
  if (!populated && ::mmap(addr, size, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd, 0) == MAP_FAILED) {
    return errno;
  }
  return 0;
}

// The umask may have narrowed the mode; the group is set before any data is
// written, so no reader can see the object with the wrong access. Returns 0
// or errno, with `what` naming the call.
int set_access(int fd, const ShmAccess& access, const char** what) {
  if (access.group && ::fchown(fd, static_cast<uid_t>(-1), *access.group) != 0) {
    *what = "fchown";
    return errno;
  }
  if (::fchmod(fd, access.mode) != 0) {
    *what = "fchmod";
    return errno;
  }
  return 0;
}

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
  const char* what = "";
  if (int e = set_access(f.fd, access, &what); e != 0) unlink_and_throw(name, e, what);
  if (::ftruncate(f.fd, static_cast<off_t>(size)) != 0) unlink_and_throw(name, errno, "ftruncate");
  void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, f.fd, 0);
  if (addr == MAP_FAILED) unlink_and_throw(name, errno, "mmap");
  ShmMapping map(addr, size);  // unmapped again if anything below throws
  if (int e = prefault(f.fd, addr, size); e != 0) unlink_and_throw(name, e, "fallocate");
  return map;
}

ShmUnnamed::ShmUnnamed(ShmUnnamed&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), map_(std::move(o.map_)) {}

ShmUnnamed& ShmUnnamed::operator=(ShmUnnamed&& o) noexcept {
  if (this != &o) {
    map_ = std::move(o.map_);
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

ShmUnnamed::~ShmUnnamed() {
  map_.reset();
  if (fd_ >= 0) ::close(fd_);
}

std::optional<ShmUnnamed> shm_create_unnamed(std::size_t capacity, const ShmAccess& access) {
  Fd f;
  f.fd = ::open(kShmDir, O_TMPFILE | O_RDWR | O_CLOEXEC, access.mode);
  if (f.fd < 0) {
    if (errno == EOPNOTSUPP || errno == EISDIR || errno == ENOENT || errno == EINVAL) {
      return std::nullopt;
    }
    throw_errno(std::string("open(") + kShmDir + ", O_TMPFILE)");
  }
  const char* what = "";
  if (int e = set_access(f.fd, access, &what); e != 0) {
    throw std::system_error(e, std::generic_category(), what);
  }
  if (::ftruncate(f.fd, static_cast<off_t>(capacity)) != 0) throw_errno("ftruncate");
  void* addr = ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_SHARED, f.fd, 0);
  if (addr == MAP_FAILED) throw_errno("mmap");
  ShmMapping map(addr, capacity);
  if (int e = prefault(f.fd, addr, capacity); e != 0) {
    throw std::system_error(e, std::generic_category(), "fallocate");
  }
  return ShmUnnamed(std::exchange(f.fd, -1), std::move(map));
}

void shm_link(const ShmUnnamed& obj, const std::string& name, std::size_t size) {
  if (::ftruncate(obj.fd(), static_cast<off_t>(size)) != 0) throw_errno("ftruncate(" + name + ")");
  // linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the /proc link of the
  // descriptor does not.
  const std::string from = "/proc/self/fd/" + std::to_string(obj.fd());
  const std::string to = std::string(kShmDir) + name;
  if (::linkat(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), AT_SYMLINK_FOLLOW) != 0) {
    throw_errno("linkat(" + name + ")");
  }
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
