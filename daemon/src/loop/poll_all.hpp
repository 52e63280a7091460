#pragma once

// poll(2) over the loop's whole set, also when it holds more descriptors
// than RLIMIT_NOFILE allows in one call (poll() refuses that with EINVAL, e.g.
// after `prlimit --nofile` lowered the limit of a running daemon).

#include <poll.h>

#include <vector>

namespace shmconf::daemon {

// Like ::poll(fds.data(), fds.size(), timeout_ms). On EINVAL from a set
// larger than RLIMIT_NOFILE it polls the set in slices of the limit: the
// first slice waits (at most kSlicedWaitMs), the others are only checked,
// so the loop keeps serving at a coarser pace instead of failing. Logs once
// when that starts and once when the whole set fits again.
int poll_all(std::vector<pollfd>& fds, int timeout_ms);

}  // namespace shmconf::daemon
