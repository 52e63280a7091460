// tests/multiprocess/ops_util.hpp — helpers for the operations tests
// (ops_*_test.cpp): run the real shmconfd and shmconfctl binaries (OpsDaemon,
// OpsFixture), play the systemd notify socket, and clean up shared memory
// afterwards. The process and file helpers they use are in ops_process.hpp.
//
// Everything is prefixed Ops (and lives in shmconf::ops_test) so it cannot
// collide with the other multiprocess helpers linked into the same binary.
//
// Waiting: nothing here sleeps for a fixed time to synchronise. Readiness is
// a deadline-bounded retry of the control socket, a notify datagram, or a
// futex wait on the namespace; deadlines only turn a hang into a failure.
//
// Thread-safety: none needed; each test uses its own objects.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops_process.hpp"

namespace shmconf::ops_test {

// A shmconfd child process with its own prefix, directory and log.
class OpsDaemon {
 public:
  OpsDaemon() = default;
  OpsDaemon(const OpsDaemon&) = delete;
  OpsDaemon& operator=(const OpsDaemon&) = delete;
  ~OpsDaemon() { Kill(); }

  // argv after the binary; env entries added to the cleaned environment.
  void Start(const std::vector<std::string>& args, const std::vector<std::string>& env,
             const fs::path& log) {
    std::vector<std::string> argv{SHMCONFD_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    log_ = log;
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pid_ = OpsSpawn(argv, OpsChildEnv(env), fd, fd);
    if (fd >= 0) ::close(fd);
    exited_ = false;
  }

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !exited_; }
  void Signal(int sig) const {
    if (running()) ::kill(pid_, sig);
  }

  // Waits for the exit; returns the exit status (128 + signal), or nullopt
  // at the deadline.
  std::optional<int> WaitExit(OpsClock::duration limit = kOpsDeadline) {
    if (pid_ <= 0) return std::nullopt;
    if (exited_) return status_;
    std::optional<int> result;
    OpsWaitUntil(
        [&] {
          int st = 0;
          const pid_t r = ::waitpid(pid_, &st, WNOHANG);
          if (r == pid_) {
            exited_ = true;
            status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            result = status_;
            return true;
          }
          return false;
        },
        limit);
    return result;
  }

  void Kill() {
    if (!running()) return;
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    exited_ = true;
    status_ = 128 + SIGKILL;
  }

  std::string Log() const { return OpsReadFile(log_); }

 private:
  pid_t pid_ = -1;
  bool exited_ = true;
  int status_ = -1;
  fs::path log_;
};

// An AF_UNIX datagram socket standing in for systemd's NOTIFY_SOCKET.
class OpsNotifySocket {
 public:
  explicit OpsNotifySocket(fs::path path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket(AF_UNIX, SOCK_DGRAM) failed");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string p = path_.string();
    if (p.size() >= sizeof addr.sun_path) throw std::runtime_error("notify path too long: " + p);
    std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      throw std::runtime_error("bind " + p + ": " + std::strerror(errno));
    }
  }
  ~OpsNotifySocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  OpsNotifySocket(const OpsNotifySocket&) = delete;
  OpsNotifySocket& operator=(const OpsNotifySocket&) = delete;

  std::string env() const { return "NOTIFY_SOCKET=" + path_.string(); }

  // The next datagram, or nullopt when none arrives within `limit`.
  std::optional<std::string> Receive(OpsClock::duration limit) {
    const auto deadline = OpsClock::now() + limit;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - OpsClock::now()).count();
      pollfd p{fd_, POLLIN, 0};
      const int n = ::poll(&p, 1, static_cast<int>(std::max<long long>(left, 0)));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;
      char buf[4096];
      const ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return std::nullopt;
      std::string msg(buf, static_cast<std::size_t>(got));
      received_.push_back(msg);
      return msg;
    }
  }

  // Datagrams until one satisfies `pred` (returned), or nullopt at the deadline.
  std::optional<std::string> ReceiveUntil(const std::function<bool(const std::string&)>& pred,
                                          OpsClock::duration limit = kOpsDeadline) {
    const auto deadline = OpsClock::now() + limit;
    while (OpsClock::now() < deadline) {
      auto msg = Receive(deadline - OpsClock::now());
      if (!msg) return std::nullopt;
      if (pred(*msg)) return msg;
    }
    return std::nullopt;
  }

  // Everything already queued, without waiting.
  std::vector<std::string> Drain() {
    std::vector<std::string> out;
    while (auto msg = Receive(0ms)) out.push_back(*msg);
    return out;
  }

  // Every datagram received so far, for failure messages.
  std::string History() const {
    std::string s;
    for (const auto& m : received_) s += "[" + m + "] ";
    return s;
  }

 private:
  fs::path path_;
  int fd_ = -1;
  std::vector<std::string> received_;
};

// True when `msg` (newline-separated assignments) has the line `line`.
inline bool OpsHasLine(const std::string& msg, const std::string& line) {
  std::istringstream in(msg);
  std::string l;
  while (std::getline(in, l)) {
    if (l == line) return true;
  }
  return false;
}

// The value of `key=` in a notify message, if present.
inline std::optional<std::string> OpsField(const std::string& msg, const std::string& key) {
  std::istringstream in(msg);
  std::string l;
  while (std::getline(in, l)) {
    if (l.rfind(key + "=", 0) == 0) return l.substr(key.size() + 1);
  }
  return std::nullopt;
}

inline std::uint64_t OpsMonotonicUsec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

// The base fixture: a private directory, prefix and namespace "app" with one
// YAML source; a daemon started with --prefix, --socket, --state-dir,
// --audit-log and --debounce-ms 20 in that directory. TearDown kills the
// daemon and unlinks the prefix's shared-memory objects.
class OpsFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    prefix_ = OpsUniquePrefix();
    char tmpl[] = "/tmp/shmconf-ops-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    socket_ = dir_ / "ctl.sock";
    state_ = dir_ / "state";
    audit_ = dir_ / "audit.log";
    source_ = dir_ / "app.yaml";
  }

  void TearDown() override {
    daemon_.Kill();
    OpsUnlinkShm(prefix_);
    if (HasFailure()) {
      std::cerr << "---- shmconfd log (" << dir_ << ") ----\n" << daemon_.Log() << "----\n";
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::vector<std::string> DaemonArgs(const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args{
        "--name",         kName,           "--prefix",       prefix_,       "--source",
        source_.string(), "--socket",      socket_.string(), "--state-dir", state_.string(),
        "--audit-log",    audit_.string(), "--debounce-ms",  "20",          "--log-level",
        "debug"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  void StartDaemon(const std::vector<std::string>& extra = {},
                   const std::vector<std::string>& env = {}) {
    daemon_.Start(DaemonArgs(extra), env, dir_ / "shmconfd.log");
  }

  // Waits until the control socket answers status; returns the reply.
  nlohmann::json WaitStatus() {
    std::optional<nlohmann::json> reply;
    const bool ok = OpsWaitUntil([&] {
      if (!daemon_.running()) return false;
      reply = OpsCall(socket_, {{"cmd", "status"}});
      return reply.has_value();
    });
    if (!ok || !reply) throw std::runtime_error("shmconfd never answered on " + socket_.string());
    return *reply;
  }

  // Waits until a snapshot is live (status ok); returns the status reply.
  nlohmann::json WaitLive() {
    std::optional<nlohmann::json> reply;
    const bool ok = OpsWaitUntil([&] {
      reply = OpsCall(socket_, {{"cmd", "status"}});
      return reply && reply->value("ok", false);
    });
    if (!ok)
      throw std::runtime_error("no live snapshot; last status: " +
                               (reply ? reply->dump() : "none"));
    return *reply;
  }

  // shmconfctl with this fixture's socket, namespace and prefix.
  OpsResult Ctl(const std::vector<std::string>& args, const std::vector<std::string>& pre = {}) {
    std::vector<std::string> argv = pre;
    argv.insert(argv.end(), {SHMCONFCTL_BIN, "--socket", socket_.string(), "--name", kName,
                             "--prefix", prefix_});
    argv.insert(argv.end(), args.begin(), args.end());
    return OpsRun(argv);
  }

  static constexpr const char* kName = "app";
  std::string prefix_;
  fs::path dir_, socket_, state_, audit_, source_;
  OpsDaemon daemon_;
};

}  // namespace shmconf::ops_test
