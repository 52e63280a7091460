#include "loop/poll_all.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>

namespace shmconf::daemon {
namespace {

// How long a sliced poll waits in its first slice: descriptors in the other
// slices are seen at least this often.
constexpr int kSlicedWaitMs = 50;

bool g_sliced = false;  // the loop is one thread: no synchronisation

std::size_t descriptor_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  return static_cast<std::size_t>(rl.rlim_cur);
}

int poll_sliced(std::vector<pollfd>& fds, int timeout_ms) {
  const std::size_t slice = descriptor_limit();
  const int wait = timeout_ms < 0 ? kSlicedWaitMs : std::min(timeout_ms, kSlicedWaitMs);
  if (slice == 0) return ::poll(nullptr, 0, wait);  // nothing may be polled: just wait
  int ready = 0;
  for (std::size_t i = 0; i < fds.size(); i += slice) {
    const std::size_t n = std::min(slice, fds.size() - i);
    const int r = ::poll(fds.data() + i, n, i == 0 ? wait : 0);
    if (r < 0 && errno == EINVAL) {
      // The limit went down again between reading it and polling (another
      // process may change it with prlimit at any time): nothing is known
      // to be ready; wait a slice and let the loop come round again.
      for (pollfd& p : fds) p.revents = 0;
      (void)::poll(nullptr, 0, wait);
      return 0;
    }
    if (r < 0) return r;
    ready += r;
  }
  return ready;
}

}  // namespace

int poll_all(std::vector<pollfd>& fds, int timeout_ms) {
  int n = ::poll(fds.data(), fds.size(), timeout_ms);
  // The limit may be raised between the refusal and the check below (the
  // administrator, or prlimit from another process): the set fits now, so
  // poll it whole again rather than report the stale EINVAL.
  for (int again = 0; n < 0 && errno == EINVAL && again < 3 && fds.size() <= descriptor_limit();
       ++again) {
    n = ::poll(fds.data(), fds.size(), timeout_ms);
  }
  if (n >= 0 || errno != EINVAL || fds.size() <= descriptor_limit()) {
    if (n >= 0 && g_sliced) {
      g_sliced = false;
      spdlog::info("poll: all {} descriptors polled at once again", fds.size());
    }
    return n;
  }
  if (!g_sliced) {
    g_sliced = true;
    spdlog::warn(
        "poll: {} descriptors to poll but RLIMIT_NOFILE is {}; polling them in slices until "
        "the limit is raised",
        fds.size(), descriptor_limit());
  }
  return poll_sliced(fds, timeout_ms);
}

}  // namespace shmconf::daemon
