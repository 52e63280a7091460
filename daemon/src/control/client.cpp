// daemon/src/control/client.cpp — control_call() (see client.hpp).
#include "control/client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <stdexcept>

#include "control/protocol.hpp"
#include "control/socket_util.hpp"

namespace shmconf::daemon {

using control_detail::errno_text;
using control_detail::throw_errno;
using nlohmann::json;

namespace {

struct FdGuard {
  int fd;
  ~FdGuard() {
    if (fd >= 0) close(fd);
  }
};

// Waits for `events`; false on timeout. remaining_ms < 0 waits forever.
bool wait_for(int fd, short events, int remaining_ms) {
  for (;;) {
    pollfd p{fd, events, 0};
    int rc = poll(&p, 1, remaining_ms);
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) throw_errno("poll");
  }
}

}  // namespace

json control_call(const std::string& socket_path, const json& request,
                  std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const bool bounded = timeout.count() > 0;
  const auto deadline = Clock::now() + timeout;
  auto remaining_ms = [&]() -> int {
    if (!bounded) return -1;
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::clamp<decltype(left)>(left, 0, INT_MAX));
  };
  const std::string timeout_text = std::to_string(timeout.count()) + " ms";

  const sockaddr_un addr = control_detail::unix_address(socket_path);
  FdGuard sock{socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (sock.fd < 0) throw_errno("cannot create a socket");

  // A Unix connect() blocks only while the daemon's backlog is full (it is
  // busy, e.g. in a long reload) and honours SO_SNDTIMEO while it does.
  if (bounded) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000);
    (void)setsockopt(sock.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  if (connect(sock.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    if (err == EAGAIN || err == EINPROGRESS || err == ETIMEDOUT) {
      throw std::runtime_error("timed out after " + timeout_text + " connecting to " + socket_path +
                               " (is shmconfd busy or stuck?)");
    }
    std::string hint;
    if (err == ENOENT || err == ECONNREFUSED) hint = " (is shmconfd running?)";
    if (err == EACCES || err == EPERM) hint = " (are you root or in the socket's group?)";
    throw std::runtime_error("cannot connect to " + socket_path + ": " + errno_text(err) + hint);
  }

  const std::string line = request.dump(-1, ' ', false, json::error_handler_t::replace) + '\n';
  for (std::size_t sent = 0; sent < line.size();) {
    ssize_t n = send(sock.fd, line.data() + sent, line.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      sent += static_cast<std::size_t>(n);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_for(sock.fd, POLLOUT, remaining_ms())) {
        throw std::runtime_error("timed out after " + timeout_text + " sending to " + socket_path);
      }
    } else if (errno == EPIPE || errno == ECONNRESET) {
      break;  // the daemon hung up (e.g. request too long); read why it did
    } else if (errno != EINTR) {
      throw_errno("cannot send to " + socket_path);
    }
  }

  std::string in;
  char buf[16 * 1024];
  std::size_t nl;
  while ((nl = in.find('\n')) == std::string::npos) {
    if (in.size() > kMaxReplyLineBytes) {
      throw std::runtime_error("reply from " + socket_path + " is longer than " +
                               std::to_string(kMaxReplyLineBytes) + " bytes");
    }
    ssize_t n = recv(sock.fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      in.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno == ECONNRESET) {
      throw std::runtime_error("shmconfd closed the connection on " + socket_path +
                               " without replying");
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_for(sock.fd, POLLIN, remaining_ms())) {
        throw std::runtime_error("timed out after " + timeout_text +
                                 " waiting for the reply of shmconfd on " + socket_path +
                                 " (the command may still complete)");
      }
    } else if (errno != EINTR) {
      throw_errno("cannot read from " + socket_path);
    }
  }

  json reply;
  try {
    reply = json::parse(std::string_view(in).substr(0, nl));
  } catch (const json::exception& e) {  // parse_error, or out_of_range (1e999)
    throw std::runtime_error("invalid reply from " + socket_path + ": " + e.what());
  }
  if (!reply.is_object()) {
    throw std::runtime_error("invalid reply from " + socket_path + ": not a JSON object");
  }
  return reply;
}

}  // namespace shmconf::daemon
