// daemon/src/control/socket_util.hpp — small helpers shared by the control
// server and client. Internal to daemon/src/control/.
//
// Thread-safety: reentrant. Cost: trivial.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

namespace shmconf::daemon::control_detail {

// strerror() text for `err`, via strerror_r (std::strerror may share a buffer).
inline std::string errno_text(int err) { return std::generic_category().message(err); }

[[noreturn]] inline void throw_errno(const std::string& what, int err = errno) {
  throw std::runtime_error(what + ": " + errno_text(err));
}

// A filesystem-path address. sun_path holds 108 bytes including the NUL, so
// a longer path would be silently truncated by the kernel: refuse it instead.
inline sockaddr_un unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    throw std::runtime_error("control socket path '" + path + "' is empty or longer than " +
                             std::to_string(sizeof addr.sun_path - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

}  // namespace shmconf::daemon::control_detail
