// daemon/src/publish/registry.hpp — the reader registry of one namespace
// (docs/FORMAT.md "Reader registry"): created and owned by the daemon,
// written by clients (their own slot), read here for `readers`, the
// metrics and `shmconfctl wait-converged`.
//
// Readers of the registry never trust it: any process allowed to register
// may scribble on it or truncate it. read_registry() copies it with pread()
// (a truncated object cannot fault a copy) and checks every size; the
// daemon's ReaderRegistry repairs it (ftruncate back, a new header) and does
// its compare-and-swaps through a mapping guarded against SIGBUS
// (publish/bus_guard.hpp).
//
// Thread-safety: ReaderRegistry belongs to the daemon's loop thread;
// read_registry() may be called from any thread. Cost: a 33 KB copy plus a
// kill(pid, 0) and a /proc read per live slot.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "publish/shm.hpp"

namespace shmconf::daemon {

// One live slot.
struct ReaderEntry {
  std::uint32_t slot = 0;
  std::uint32_t pid = 0;
  std::uint32_t uid = 0;
  std::string exe;  // the process's comm (at most 15 characters)
  std::uint64_t version = 0;
  std::uint64_t generation = 0;
  std::uint64_t attach_time_ns = 0;
  std::uint64_t since_ns = 0;
};

struct RegistryView {
  std::string error;     // empty: read; else why not (absent, not ours, damaged)
  bool damaged = false;  // error: the object is there but its bytes are not a registry
  std::uint32_t slots = 0;
  std::vector<ReaderEntry> readers;  // live slots whose process is alive, by slot
  std::uint32_t stale = 0;           // live or claiming slots whose process is gone
};

// The registry's entries from a copy of its bytes. `check_alive`: leave out
// (and count as stale) slots whose owner is gone (detail::owner_gone).
RegistryView parse_registry(const void* bytes, std::size_t size, bool check_alive);

// Opens "/<prefix>.<ns>.readers" read-only and parses a pread() copy. The
// object must be a regular file owned by `owner` (the control block's
// owner, when known).
RegistryView read_registry(const std::string& prefix, const std::string& ns,
                           std::optional<uid_t> owner);

// The mode of the registry for a namespace whose objects have `control`'s
// mode: whoever may read may register (0644 -> 0666, 0640 -> 0660,
// 0600 -> 0600).
mode_t registry_mode(mode_t control);

class ReaderRegistry {
 public:
  // Creates the object (O_EXCL, mode registry_mode(access.mode), the group)
  // or adopts ours, repairing its header and size when damaged. Throws
  // AlarmError when the name is someone else's, std::system_error otherwise.
  ReaderRegistry(const std::string& prefix, const std::string& ns, const ShmAccess& access);
  ~ReaderRegistry();
  ReaderRegistry(const ReaderRegistry&) = delete;
  ReaderRegistry& operator=(const ReaderRegistry&) = delete;

  struct Sweep {
    std::uint32_t reclaimed = 0;  // slots of dead processes made free
    std::string repaired;         // non-empty: what was wrong and has been reset
  };
  // Puts the object right when it was resized or its header damaged, then
  // frees the slots whose owner is gone. Never throws.
  Sweep sweep() noexcept;
  // The live readers now (a pread copy; dead owners left out).
  RegistryView view() const;
  const std::string& name() const { return name_; }

 private:
  // Rewrites the header and frees every slot (the object must have its size).
  void reset();

  std::string name_;
  int fd_ = -1;
  ShmMapping map_;
};

}  // namespace shmconf::daemon
