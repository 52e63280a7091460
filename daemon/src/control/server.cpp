// daemon/src/control/server.cpp — the control socket server (see server.hpp).
#include "control/server.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <stdexcept>

#include "control/request.hpp"
#include "control/socket_util.hpp"

namespace shmconf::daemon {

using control_detail::throw_errno;
using nlohmann::json;

namespace {

// Reads per connection per wakeup: one chatty client cannot starve the rest
// of the loop; poll() is level-triggered, so leftover input wakes us again.
constexpr int kReadsPerWakeup = 16;
constexpr int kAcceptsPerWakeup = 16;
// How long the listener rests when no descriptor is left to accept with.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
constexpr std::size_t kReadChunk = 64 * 1024;
// Buffers above this are released once drained, so one large reply (history,
// diff) does not stay allocated for the life of an idle connection.
constexpr std::size_t kKeepCapacity = 64 * 1024;

bool is_blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

// Removes `path` only if it is a socket nobody answers on: what a crashed
// daemon leaves behind. Anything else is an operator's file, or a live
// daemon, and replacing it would be a silent takeover.
void remove_stale_socket(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw_errno("cannot stat control socket path " + path);
  }
  if (!S_ISSOCK(st.st_mode)) {
    throw std::runtime_error("control socket path " + path +
                             " exists and is not a socket; refusing to replace it");
  }
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (probe < 0) throw_errno("cannot create a socket");
  int rc = connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  int err = errno;
  close(probe);
  // EAGAIN: a listener whose backlog is full is still alive.
  if (rc == 0 || err == EAGAIN || err == EINPROGRESS) {
    throw std::runtime_error("another process (shmconfd?) is already listening on " + path);
  }
  if (err == ENOENT) return;  // removed in the meantime
  if (err != ECONNREFUSED) throw_errno("cannot probe existing socket " + path, err);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    throw_errno("cannot remove stale socket " + path);
  }
}

}  // namespace

ControlServer::ControlServer(std::string path, std::optional<gid_t> group, Handler handler)
    : path_(std::move(path)), handler_(std::move(handler)), read_buf_(kReadChunk) {
  const sockaddr_un addr = control_detail::unix_address(path_);
  remove_stale_socket(path_, addr);

  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw_errno("cannot create control socket");
  bool bound = false;
  try {
    // Linux creates the socket file with the socket inode's mode minus the
    // umask: this keeps the file from ever being wider than 0660, even in
    // the moment between bind() and chmod(). Best effort; chmod() decides.
    (void)fchmod(listen_fd_, 0660);
    if (bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      throw_errno("cannot bind control socket " + path_);
    }
    bound = true;
    struct stat st {};
    if (lstat(path_.c_str(), &st) != 0) throw_errno("cannot stat control socket " + path_);
    dev_ = st.st_dev;
    ino_ = st.st_ino;
    if (group && lchown(path_.c_str(), static_cast<uid_t>(-1), *group) != 0) {
      throw_errno("cannot give control socket " + path_ + " to group " + std::to_string(*group));
    }
    // Exactly 0660 whatever the umask took away: the group is the gate.
    if (chmod(path_.c_str(), 0660) != 0) throw_errno("cannot chmod control socket " + path_);
    if (listen(listen_fd_, SOMAXCONN) != 0) throw_errno("cannot listen on " + path_);
  } catch (...) {
    if (bound) unlink(path_.c_str());
    close(listen_fd_);
    throw;
  }
  spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

ControlServer::~ControlServer() {
  for (auto& entry : connections_) close(entry.first);
  // Unlink before closing, so a client that comes now sees ENOENT ("is
  // shmconfd running?") rather than ECONNREFUSED; and only our own file.
  struct stat st {};
  if (lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == dev_ &&
      st.st_ino == ino_) {
    unlink(path_.c_str());
  }
  close(listen_fd_);
  if (spare_fd_ >= 0) close(spare_fd_);
}

void ControlServer::fill_pollfds(std::vector<pollfd>& out) const {
  const bool paused = accept_deadline().has_value();
  out.push_back(pollfd{listen_fd_, static_cast<short>(paused ? 0 : POLLIN), 0});
  for (const auto& [fd, conn] : connections_) {
    // While a reply is pending we stop reading: a client that does not read
    // its replies cannot make us buffer without bound.
    const bool pending = conn.out_pos < conn.out.size();
    out.push_back(pollfd{fd, static_cast<short>(pending ? POLLOUT : POLLIN), 0});
  }
}

void ControlServer::on_poll(const std::vector<pollfd>& fds) {
  bool listener_ready = false;
  for (const pollfd& p : fds) {
    if (p.revents == 0) continue;
    if (p.fd == listen_fd_) {
      listener_ready = true;
      continue;
    }
    auto it = connections_.find(p.fd);
    if (it == connections_.end()) continue;
    if (!service(it->second, p.revents)) close_connection(p.fd);
  }
  // Accept last: a connection closed above frees its fd number, and a new
  // connection that reuses it must not be handed the old entry's revents.
  if (listener_ready) accept_all();
}

// Returns false when the connection is to be closed.
bool ControlServer::service(Connection& conn, short revents) {
  if (revents & POLLNVAL) return false;
  if (!flush(conn)) return false;
  for (int reads = 0;;) {
    if (!handle_lines(conn)) return false;
    if (conn.out_pos < conn.out.size()) return true;  // wait for POLLOUT
    if (conn.closing) return false;                   // last reply is out
    // handle_lines() consumed every complete line, so `in` is one partial line.
    if (conn.in.size() > kMaxRequestLineBytes) {
      ++stats_.bad_requests;
      queue_reply(conn, error_reply(kCodeBadRequest, "request line longer than " +
                                                         std::to_string(kMaxRequestLineBytes) +
                                                         " bytes; closing the connection"));
      conn.closing = true;
      if (!flush(conn)) return false;
      continue;
    }
    if (conn.peer_eof) {
      // The client shut down its side; a last request without its '\n'
      // (printf '{"cmd":"status"}' | socat …) still gets a reply.
      if (is_blank(conn.in)) {
        conn.closing = true;
      } else {
        conn.in += '\n';
      }
      continue;
    }
    if (reads++ == kReadsPerWakeup) return true;
    ssize_t n = recv(conn.fd, read_buf_.data(), read_buf_.size(), MSG_DONTWAIT);
    if (n > 0) {
      conn.in.append(read_buf_.data(), static_cast<std::size_t>(n));
    } else if (n == 0) {
      conn.peer_eof = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return true;
    } else if (errno != EINTR) {
      return false;  // ECONNRESET and friends
    }
  }
}

// Handles complete lines while no reply is pending. Returns false when a
// write failed (the peer is gone).
bool ControlServer::handle_lines(Connection& conn) {
  std::size_t pos = 0;  // start of the first unconsumed line
  bool alive = true;
  while (conn.out_pos == conn.out.size() && !conn.closing) {
    const std::size_t nl = conn.in.find('\n', std::max(pos, conn.scanned));
    if (nl == std::string::npos) {
      conn.scanned = conn.in.size();
      break;
    }
    std::string_view line(conn.in.data() + pos, nl - pos);
    pos = nl + 1;
    conn.scanned = pos;
    if (line.size() > kMaxRequestLineBytes) {
      ++stats_.bad_requests;
      queue_reply(conn, error_reply(kCodeBadRequest, "request line longer than " +
                                                         std::to_string(kMaxRequestLineBytes) +
                                                         " bytes; closing the connection"));
      conn.closing = true;
    } else if (!is_blank(line)) {
      if (line.back() == '\r') line.remove_suffix(1);
      queue_reply(conn, dispatch(line, conn.peer));
    } else {
      continue;
    }
    if (!flush(conn)) {
      alive = false;
      break;
    }
  }
  conn.in.erase(0, pos);
  conn.scanned -= pos;
  if (conn.in.empty() && conn.in.capacity() > kKeepCapacity) std::string().swap(conn.in);
  return alive;
}

json ControlServer::dispatch(std::string_view line, const Peer& peer) {
  ParsedRequest parsed = parse_request(line);
  if (!parsed.ok()) {
    ++stats_.bad_requests;
    return std::move(parsed.error);
  }
  const json& request = parsed.request;
  // An "id" is echoed so a client pipelining requests can match replies.
  auto with_id = [&request](json reply) {
    if (auto id = request.find("id"); id != request.end() && !reply.contains("id")) {
      reply["id"] = *id;
    }
    return reply;
  };

  ++stats_.requests;
  json reply;
  try {
    reply = handler_(request, peer);
  } catch (const std::exception& e) {
    ++stats_.handler_failures;
    return with_id(error_reply(kCodeFailed, e.what()));
  } catch (...) {
    ++stats_.handler_failures;
    return with_id(error_reply(kCodeFailed, "internal error"));
  }
  if (!reply.is_object()) {
    ++stats_.handler_failures;
    return with_id(
        error_reply(kCodeFailed, "internal error: the handler's reply is not an object"));
  }
  if (!reply.contains("ok")) reply["ok"] = true;
  return with_id(std::move(reply));
}

void ControlServer::queue_reply(Connection& conn, const json& reply) {
  if (conn.out_pos == conn.out.size()) {
    conn.out.clear();
    conn.out_pos = 0;
  }
  // `replace`: a stray invalid UTF-8 byte in a value (a file name, a parse
  // error quoting its input) becomes U+FFFD instead of an exception.
  conn.out += reply.dump(-1, ' ', false, json::error_handler_t::replace);
  conn.out += '\n';
}

// Writes what fits. Returns false when the peer is gone (EPIPE, ECONNRESET);
// MSG_NOSIGNAL makes that an error code instead of a SIGPIPE to the daemon.
bool ControlServer::flush(Connection& conn) {
  while (conn.out_pos < conn.out.size()) {
    ssize_t n = send(conn.fd, conn.out.data() + conn.out_pos, conn.out.size() - conn.out_pos,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      conn.out_pos += static_cast<std::size_t>(n);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return true;
    } else if (errno != EINTR) {
      return false;
    }
  }
  conn.out.clear();
  conn.out_pos = 0;
  if (conn.out.capacity() > kKeepCapacity) std::string().swap(conn.out);
  return true;
}

std::optional<std::chrono::steady_clock::time_point> ControlServer::accept_deadline() const {
  if (std::chrono::steady_clock::now() < accept_paused_until_) return accept_paused_until_;
  return std::nullopt;
}

// Out of descriptors: the pending client would keep the listener readable
// and poll() would spin. Spends the spare fd to accept it and hang up, which
// the client sees as an immediate EOF. False when that did not work.
bool ControlServer::shed_one() {
  if (spare_fd_ < 0) {
    spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return false;
  }
  close(spare_fd_);
  const int shed = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (shed >= 0) {
    ++stats_.accepted;
    ++stats_.rejected;
    close(shed);
  }
  spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return shed >= 0;
}

void ControlServer::accept_all() {
  for (int i = 0; i < kAcceptsPerWakeup; ++i) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EMFILE && errno != ENFILE) return;  // EAGAIN: backlog drained
      if (shed_one()) continue;
      // No descriptor to shed the client with (the spare is gone, or its
      // number is above a lowered RLIMIT_NOFILE): the clients wait in the
      // backlog while the listener rests, and are taken when it wakes.
      accept_paused_until_ = std::chrono::steady_clock::now() + kAcceptPause;
      return;
    }
    ++stats_.accepted;
    if (connections_.size() >= kMaxControlConnections) {
      // Tell the client why rather than leave it waiting in the backlog. A
      // fresh socket's send buffer takes this short line whole.
      ++stats_.rejected;
      const std::string line =
          error_reply(kCodeFailed, "too many control connections (limit " +
                                       std::to_string(kMaxControlConnections) + "); try again")
              .dump() +
          "\n";
      (void)send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      close(fd);
      continue;
    }
    auto peer = peer_credentials(fd);
    if (!peer) {  // no credentials, no authorisation decision possible
      close(fd);
      continue;
    }
    Connection conn;
    conn.fd = fd;
    conn.peer = std::move(*peer);
    connections_.emplace(fd, std::move(conn));
  }
}

void ControlServer::close_connection(int fd) {
  close(fd);
  connections_.erase(fd);
}

}  // namespace shmconf::daemon
