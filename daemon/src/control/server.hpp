// daemon/src/control/server.hpp — the control socket of shmconfd: a Unix
// stream socket carrying one JSON request and one JSON reply per line.
//
// The server owns framing and nothing else: it accepts, reads, splits lines,
// rejects what is not a request (invalid JSON, not an object, no string
// "cmd", too long, too deep) and hands every well-formed request to the
// Handler together with the peer's credentials. Authorisation, dispatch and
// audit are the Handler's business (see auth.hpp, audit_log.hpp).
//
// Thread-safety: none; one thread (shmconfd's poll() loop) calls
// fill_pollfds() and on_poll(). The Handler runs synchronously inside
// on_poll(), so a reload request blocks the loop until it is done — on
// purpose: reloads are serialised and their reply tells the outcome.
//
// Cost: per connection, one fd and buffers sized by the largest pending
// request line (≤ 1 MiB) and reply. All I/O is non-blocking; a client that
// stops reading gets no more requests served (back-pressure) but never stalls
// the loop, and one that vanishes mid-reply costs an EPIPE, not a SIGPIPE.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "control/auth.hpp"
#include "control/protocol.hpp"

namespace shmconf::daemon {

class ControlServer {
 public:
  // Gets the parsed request (a JSON object with a string "cmd") and the peer;
  // returns the reply object. A reply without "ok" gets "ok": true; a request
  // "id" is copied into a reply that has none. An exception becomes
  // {"ok": false, "code": "failed", "error": what()}.
  using Handler = std::function<nlohmann::json(const nlohmann::json& request, const Peer& peer)>;

  // Counters for the metrics command. Written by on_poll() only.
  struct Stats {
    std::uint64_t accepted = 0;          // connections accepted (including rejected ones)
    std::uint64_t rejected = 0;          // closed at once: over kMaxControlConnections
    std::uint64_t requests = 0;          // lines handed to the Handler
    std::uint64_t bad_requests = 0;      // lines refused by the framing checks
    std::uint64_t handler_failures = 0;  // Handler threw or returned a non-object
  };

  // Creates the listening socket at `path`. An existing socket file is
  // removed only if connect() to it is refused (a stale one from a crashed
  // daemon); a live one, or anything that is not a socket, is an error.
  // Then: bind, optional chown to `group`, chmod 0660, listen; the socket is
  // O_NONBLOCK|O_CLOEXEC. The mode is final before listen(), so no client can
  // connect through a wider one. Throws std::runtime_error naming the path.
  //
  // The directory holding `path` should be writable by the daemon only (e.g.
  // /run/shmconf, mode 0755): the chown/chmod go by name.
  ControlServer(std::string path, std::optional<gid_t> group, Handler handler);

  // Closes every connection and unlinks the socket path if it is still ours.
  ~ControlServer();

  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Appends one pollfd for the listener and one per connection: POLLIN, or
  // POLLOUT while a reply is only partly written. While accepting is paused
  // (see accept_deadline()) the listener asks for no events.
  void fill_pollfds(std::vector<pollfd>& out) const;

  // When accepting resumes after running out of descriptors with no spare
  // one left to shed the client: the pending client keeps the listener
  // readable, so polling it meanwhile would spin the loop.
  std::optional<std::chrono::steady_clock::time_point> accept_deadline() const;

  // Acts on the entries of `fds` that are ours (by fd; others are ignored):
  // flushes pending replies, reads, handles complete lines, accepts.
  void on_poll(const std::vector<pollfd>& fds);

  const std::string& path() const { return path_; }
  std::size_t connection_count() const { return connections_.size(); }
  const Stats& stats() const { return stats_; }

 private:
  struct Connection {
    int fd = -1;
    Peer peer;
    std::string in;           // bytes read, not yet consumed as lines
    std::size_t scanned = 0;  // in[0, scanned) is known to hold no '\n'
    std::string out;          // reply bytes not yet written
    std::size_t out_pos = 0;  // out[0, out_pos) is written
    bool peer_eof = false;    // the peer shut down its writing side
    bool closing = false;     // close once `out` is written
  };

  bool service(Connection& conn, short revents);
  bool handle_lines(Connection& conn);
  void queue_reply(Connection& conn, const nlohmann::json& reply);
  bool flush(Connection& conn);
  nlohmann::json dispatch(std::string_view line, const Peer& peer);
  void accept_all();
  bool shed_one();
  void close_connection(int fd);

  std::string path_;
  Handler handler_;
  std::vector<char> read_buf_;  // scratch for recv(), shared by all connections
  int listen_fd_ = -1;
  int spare_fd_ = -1;  // kept open so accept() can shed a client at EMFILE
  std::chrono::steady_clock::time_point accept_paused_until_{};
  dev_t dev_ = 0;  // identity of the socket file we bound, so the
  ino_t ino_ = 0;  // destructor never unlinks a successor's socket
  std::unordered_map<int, Connection> connections_;
  Stats stats_;
};

}  // namespace shmconf::daemon
