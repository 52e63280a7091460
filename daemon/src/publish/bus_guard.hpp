// daemon/src/publish/bus_guard.hpp — runs an access to a shared mapping
// that another process may truncate, turning the SIGBUS of a page past the
// new end into a failed call instead of a dead daemon. Used for the reader
// registry (publish/registry.*), the one object the daemon maps that
// others may write, and so truncate.
//
// install_bus_guard() installs a process-wide SIGBUS handler once. A
// SIGBUS inside bus_guarded() jumps back out of it (siglongjmp); anywhere
// else it goes to the handler that was installed before, or the default
// action (the process dies with a core, as without the guard).
//
// Thread-safety: any thread; the "inside" marker is per thread. Cost:
// sigsetjmp (saves the signal mask: one rt_sigprocmask call).
#pragma once

#include <setjmp.h>

namespace shmconf::daemon {

void install_bus_guard();

namespace bus_guard_internal {
// The jump target of this thread's bus_guarded() call, or nullptr.
sigjmp_buf*& target() noexcept;
}  // namespace bus_guard_internal

// Runs fn(); false when it raised SIGBUS. fn must hold nothing with a
// destructor that matters: the jump skips destructors. Plain loads,
// stores, memcpy and compare-and-swaps on the mapping.
template <class F>
bool bus_guarded(F&& fn) {
  sigjmp_buf env;
  if (sigsetjmp(env, 1) != 0) {
    bus_guard_internal::target() = nullptr;
    return false;
  }
  bus_guard_internal::target() = &env;
  fn();
  bus_guard_internal::target() = nullptr;
  return true;
}

}  // namespace shmconf::daemon
