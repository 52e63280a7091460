// Private to libshmconf: a client's own slot in the reader registry
// (docs/FORMAT.md "Reader registry"), claimed at attach, updated when the
// client adopts a new version, freed when it closes.
//
// Never on the read path: these run at attach, under ClientImpl's mutex in
// the slow path that maps a new segment, and in the destructor. Every
// operation opens the registry for its own duration, takes the registrants'
// OFD lock (a few tries), checks the object, and reads and writes slots
// with pread/pwrite, never through a mapping, so a registrant truncating
// the object cannot make this process fault. It does nothing at all when
// the registry is absent, not the daemon's, not writable by this process,
// locked, damaged or full: the registry can never make a read fail.
// noexcept throughout.
//
// Thread-safety: the owner serialises calls (ClientImpl's mutex or
// construction/destruction). Cost: shm_open, fstat, fcntl and a pread and
// pwrite of 128 bytes, plus a pread per slot scanned when claiming.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace shmconf::detail {

class RegistrySlot {
 public:
  RegistrySlot() = default;
  RegistrySlot(const RegistrySlot&) = delete;
  RegistrySlot& operator=(const RegistrySlot&) = delete;
  ~RegistrySlot() { release(); }

  // Remembers where the registry is and claims a slot holding `version`
  // (0: nothing adopted yet). `owner`: the control block's owner, which the
  // registry must have too.
  void claim(const std::string& prefix, const std::string& ns, uid_t owner, std::uint64_t version,
             std::uint64_t generation) noexcept;
  // Records that the client now serves `version`; claims a slot again when
  // its slot was taken from it (or the process forked).
  void update(std::uint64_t version, std::uint64_t generation) noexcept;
  // Frees the slot.
  void release() noexcept;

  bool enabled() const noexcept { return !name_.empty(); }
  int index() const noexcept { return index_; }

 private:
  bool try_claim(std::uint64_t version, std::uint64_t generation) noexcept;

  std::string name_;  // empty: registration off
  uid_t owner_ = 0;
  int index_ = -1;          // slot held, -1 none
  std::uint64_t word_ = 0;  // the state word we published for it
  pid_t pid_ = 0;           // who claimed it (a forked child is not its owner)
  std::uint64_t attach_ns_ = 0;
};

}  // namespace shmconf::detail
