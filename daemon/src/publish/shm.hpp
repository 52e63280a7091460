// daemon/src/publish/shm.hpp — POSIX shared-memory objects as the daemon
// creates and adopts them: O_EXCL creation, ownership checks, pre-faulting.
//
// Thread-safety: none needed (one daemon thread). Cost: system calls; a
// created object has every page allocated and mapped before it is returned
// (MADV_POPULATE_WRITE, posix_fallocate), so publishing into it takes no
// page faults, and its pages are huge where /dev/shm allows (see
// shm_create).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace shmconf::daemon {

// Someone else's object sits on one of our names: never open it.
class AlarmError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ShmMapping {
 public:
  ShmMapping() = default;
  ShmMapping(void* addr, std::size_t length) : addr_(addr), length_(length) {}
  ShmMapping(ShmMapping&& o) noexcept;
  ShmMapping& operator=(ShmMapping&& o) noexcept;
  ~ShmMapping();
  void* data() const { return addr_; }
  std::size_t size() const { return length_; }
  void reset();

 private:
  void* addr_ = nullptr;
  std::size_t length_ = 0;
};

struct ShmAccess {
  mode_t mode = 0644;          // 0644, or 0640 with a group
  std::optional<gid_t> group;  // owner group of the objects
};

// Creates `name` with O_CREAT|O_EXCL, sets mode and group, allocates `size`
// bytes and maps it read-write, pre-faulted, asking for huge pages
// (MADV_HUGEPAGE) when it is 2 MiB or more. Throws std::system_error (EEXIST
// when the name is taken, ENOSPC from "fallocate(name)" when /dev/shm is
// full); the object is removed again on any failure.
ShmMapping shm_create(const std::string& name, std::size_t size, const ShmAccess& access);

// Opens an existing object that must be ours (owner = our euid, a regular
// file, not writable by group or others): read-only unless `writable`.
// Returns std::nullopt when it does not exist; throws AlarmError when it is
// not ours, std::system_error on other failures. `size` = 0 maps the whole
// object.
// An object in /dev/shm that has no name yet (O_TMPFILE): sized, access
// set and pre-faulted as shm_create does, mapped read-write. Nothing can
// open it until shm_link names it; closing it frees it.
class ShmUnnamed {
 public:
  ShmUnnamed() = default;
  ShmUnnamed(int fd, ShmMapping map) : fd_(fd), map_(std::move(map)) {}
  ShmUnnamed(ShmUnnamed&& o) noexcept;
  ShmUnnamed& operator=(ShmUnnamed&& o) noexcept;
  ~ShmUnnamed();
  int fd() const { return fd_; }
  void* data() const { return map_.data(); }
  std::size_t capacity() const { return map_.size(); }

 private:
  int fd_ = -1;
  ShmMapping map_;
};

// std::nullopt where /dev/shm offers no O_TMPFILE (then shm_create is the
// only way); throws std::system_error otherwise (ENOSPC when it is full).
std::optional<ShmUnnamed> shm_create_unnamed(std::size_t capacity, const ShmAccess& access);

// Shrinks `obj` to `size` bytes (what was written) and gives it `name`,
// which must not exist (std::system_error EEXIST otherwise: `obj` stays
// usable for another name).
void shm_link(const ShmUnnamed& obj, const std::string& name, std::size_t size);

std::optional<ShmMapping> shm_open_ours(const std::string& name, bool writable,
                                        std::size_t size = 0);

void shm_remove(const std::string& name);  // unlink; a missing name is fine

// Names (without the leading '/') of objects in /dev/shm starting with `stem`.
std::vector<std::string> shm_list(const std::string& stem);

}  // namespace shmconf::daemon
