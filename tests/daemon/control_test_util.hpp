// tests/daemon/control_test_util.hpp — what the control socket tests share:
// a temporary directory, a ServerThread that drives a ControlServer the way
// shmconfd's loop does (stopped through an eventfd), a byte-level RawClient
// and the ControlServerTest fixture. Timeouts only turn a hang into a
// failure; nothing waits on time for synchronisation.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "control/audit_log.hpp"
#include "control/auth.hpp"
#include "control/client.hpp"
#include "control/protocol.hpp"
#include "control/server.hpp"

namespace shmconf::daemon::control_test {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr int kHangGuardMs = 20000;  // a hang becomes a failure, not a stuck ctest
constexpr std::chrono::milliseconds kCallTimeout{kHangGuardMs};
constexpr uid_t kNobody = 65534;
constexpr gid_t kAdminGid = 4242;  // need not exist in /etc/group

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/shmconf-control-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline sockaddr_un address_of(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// A listening socket that never accepts: a daemon that is alive but stuck.
inline int listen_without_accepting(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = address_of(path);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(fd, 8) != 0) {
    throw std::runtime_error("cannot listen on " + path);
  }
  return fd;
}

// Drives a ControlServer the way shmconfd's loop does.
class ServerThread {
 public:
  ServerThread(std::string path, ControlServer::Handler handler,
               std::optional<gid_t> group = std::nullopt)
      : server_(std::move(path), group, std::move(handler)),
        stop_fd_(eventfd(0, EFD_CLOEXEC)),
        thread_([this] { run(); }) {}
  ~ServerThread() {
    stop();
    close(stop_fd_);
  }

  void stop() {
    if (!thread_.joinable()) return;
    std::uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof one);
    thread_.join();
  }

  // Only after stop(): while running, the loop thread owns the server.
  ControlServer& server() { return server_; }

 private:
  void run() {
    std::vector<pollfd> fds;
    for (;;) {
      fds.clear();
      fds.push_back(pollfd{stop_fd_, POLLIN, 0});
      server_.fill_pollfds(fds);
      if (poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        ADD_FAILURE() << "poll: " << std::strerror(errno);
        return;
      }
      if (fds[0].revents != 0) return;
      server_.on_poll(fds);
    }
  }

  ControlServer server_;
  int stop_fd_;
  std::thread thread_;
};

// A client at the byte level, for what control_call() cannot do: pipelining,
// partial lines, not reading, hanging up.
class RawClient {
 public:
  explicit RawClient(const std::string& path)
      : fd_(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un addr = address_of(path);
    if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("cannot connect to " + path + ": " + std::strerror(errno));
    }
  }
  ~RawClient() {
    if (fd_ >= 0) close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void send_all(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void shutdown_write() { shutdown(fd_, SHUT_WR); }

  // One line without its '\n'; nullopt once the server has closed.
  std::optional<std::string> read_line() {
    for (;;) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, kHangGuardMs) != 1) throw std::runtime_error("no reply within the guard");
      char chunk[64 * 1024];
      ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n == 0 || (n < 0 && errno == ECONNRESET)) return std::nullopt;
      if (n < 0) throw std::runtime_error(std::string("recv: ") + std::strerror(errno));
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  // Blocks until the server has started replying.
  void read_first_byte() {
    pollfd p{fd_, POLLIN, 0};
    char byte;
    if (poll(&p, 1, kHangGuardMs) != 1 || recv(fd_, &byte, 1, 0) != 1) {
      throw std::runtime_error("no reply within the guard");
    }
  }

  json read_reply() {
    auto line = read_line();
    if (!line) throw std::runtime_error("connection closed instead of a reply");
    return json::parse(*line);
  }

  json call(const json& request) {
    send_all(request.dump() + "\n");
    return read_reply();
  }

 private:
  int fd_;
  std::string buffer_;
};

class ControlServerTest : public ::testing::Test {
 protected:
  std::string socket_path() const { return dir_.file("ctl.sock"); }

  std::unique_ptr<ServerThread> start(std::optional<gid_t> group = std::nullopt) {
    return std::make_unique<ServerThread>(
        socket_path(),
        [this](const json& request, const Peer& peer) { return handle(request, peer); }, group);
  }

  // Mimics shmconfd's dispatcher closely enough to test what the server and
  // the authorisation rule do; runs on the loop thread.
  json handle(const json& request, const Peer& peer) {
    ++handler_calls_;
    const std::string cmd = request.at("cmd").get<std::string>();
    if (cmd == "echo") return json{{"ok", true}, {"echo", request.value("arg", json())}};
    if (cmd == "whoami") {  // no "ok": the server adds it
      return json{{"pid", peer.pid}, {"uid", peer.uid}, {"gid", peer.gid}, {"groups", peer.groups}};
    }
    if (cmd == "big") return json{{"data", std::string(request.at("n").get<std::size_t>(), 'x')}};
    if (cmd == "throw") throw std::runtime_error("boom");
    if (cmd == "array") return json::array();
    if (is_mutating_command(cmd)) {
      if (!is_authorized(peer, policy_)) {
        return error_reply(kCodeUnauthorized,
                           cmd + " needs root, the daemon's user or the admin group");
      }
      return json{{"ok", true}, {"done", cmd}};
    }
    return error_reply(kCodeUnknownCommand, "unknown command: " + cmd);
  }

  TempDir dir_;
  AuthPolicy policy_;  // set before start(); the thread start orders it before the loop's reads
  std::atomic<int> handler_calls_{0};
};

}  // namespace shmconf::daemon::control_test
