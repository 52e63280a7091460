// shmconf/detail/registry.hpp — the reader registry's shared pieces: its
// object name, the header check, and telling whether a slot's owner is
// still the process that claimed it. Shared by the client (which writes its
// own slot) and the daemon and shmconfctl (which read and reclaim); not
// part of the stable API. The layout is in format.hpp, the protocol in
// docs/FORMAT.md "Reader registry".
//
// Thread-safety: the functions are pure or read /proc. Cost: owner_gone()
// is a kill(pid, 0) and, for a live pid, one read of /proc/PID/stat.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "shmconf/format.hpp"

namespace shmconf::detail {

// "/<prefix>.<namespace>.readers"
std::string registry_object_name(std::string_view prefix, std::string_view ns);

// Checks a registry header against the size of the object it came from;
// returns nullptr when usable, else what is wrong.
const char* registry_header_problem(const format::RegistryHeader& h,
                                    std::uint64_t object_size) noexcept;

// Field 22 of /proc/PID/stat (start time in clock ticks since boot); 0 when
// it cannot be read.
std::uint64_t process_start_time(pid_t pid) noexcept;
// The inode of /proc/self/ns/pid; 0 when it cannot be read.
std::uint64_t own_pid_namespace() noexcept;

// True when the process recorded as a slot's owner is certainly gone: the
// pid is 0 or above kPidMaxLimit, the pid no longer exists (kill(pid, 0) fails with ESRCH), or it
// now belongs to a process with another start time (the pid was reused). A slot written from
// another pid namespace (`slot_pid_namespace` differs from `ours`, both known) cannot be judged
// from here and is never called gone. Above the kernel's PID_MAX_LIMIT, which bounds pids in every
// namespace.
inline constexpr std::uint32_t kPidMaxLimit = 4u << 20;
bool owner_gone(std::uint32_t pid, std::uint64_t start_time, std::uint64_t slot_pid_namespace,
                std::uint64_t ours) noexcept;

}  // namespace shmconf::detail
