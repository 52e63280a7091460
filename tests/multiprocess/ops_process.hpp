// tests/multiprocess/ops_process.hpp — the process and file helpers under
// the operations tests (tests/multiprocess/ops_util.hpp builds its daemon
// and fixture on them): unique prefixes, file writes and reads, the
// prefix's shared-memory objects, a child's environment, spawning and
// running commands with captured output, deadline-bounded waits, one
// control request, tools on $PATH and a connect() probe.
//
// Everything is prefixed Ops (and lives in shmconf::ops_test) so it cannot
// collide with the other multiprocess helpers linked into the same binary.
//
// Waiting: nothing here sleeps for a fixed time to synchronise; deadlines
// only turn a hang into a failure.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "control/client.hpp"

extern char** environ;

namespace shmconf::ops_test {

namespace fs = std::filesystem;
using OpsClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Generous: these only bound a hang on a loaded 2-core machine.
constexpr auto kOpsDeadline = 10s;

// "ops" + pid + a per-process counter: unique across parallel ctest runs.
inline std::string OpsUniquePrefix() {
  static std::atomic<unsigned> counter{0};
  return "ops" + std::to_string(::getpid()) + "x" + std::to_string(counter++);
}

inline void OpsWriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
}

// Write a temporary file next to `path`, then rename it over: an editor's save.
inline void OpsWriteAtomic(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.parent_path() / ("." + path.filename().string() + ".tmp");
  OpsWriteFile(tmp, text);
  fs::rename(tmp, path);
}

inline std::string OpsReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Removes every /dev/shm object of `prefix` ("/<prefix>.<ns>.ctl", ".seg.N").
inline void OpsUnlinkShm(const std::string& prefix) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/dev/shm", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix + ".", 0) == 0) ::shm_unlink(("/" + name).c_str());
  }
}

inline std::vector<std::string> OpsListShm(const std::string& prefix) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/dev/shm", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix + ".", 0) == 0) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The environment for a child: ours, minus variables that would make a test
// daemon talk to a real systemd or a real namespace, plus `extra`.
inline std::vector<std::string> OpsChildEnv(const std::vector<std::string>& extra) {
  static const char* const kDrop[] = {
      "NOTIFY_SOCKET=",     "WATCHDOG_USEC=",  "WATCHDOG_PID=",   "LISTEN_FDS=",
      "LISTEN_PID=",        "SHMCONF_SOCKET=", "SHMCONF_PREFIX=", "SHMCONF_NAMESPACE=",
      "RUNTIME_DIRECTORY=", "JOURNAL_STREAM="};
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view var(*e);
    const bool drop = std::any_of(std::begin(kDrop), std::end(kDrop),
                                  [&](const char* d) { return var.rfind(d, 0) == 0; });
    if (!drop) env.emplace_back(var);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// fork + execve with stdout/stderr to the given fds (-1: /dev/null). Never
// returns in the child.
inline pid_t OpsSpawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                      int out_fd, int err_fd) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(out_fd >= 0 ? out_fd : null, 1);
    ::dup2(err_fd >= 0 ? err_fd : null, 2);
    // Undo anything the test runner blocked; the daemon sets its own mask.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

struct OpsResult {
  int rc = -1;  // exit status, or 128 + signal
  std::string out;
  std::string err;
};

// Runs a command to completion (killed at the deadline) and captures output.
inline OpsResult OpsRun(const std::vector<std::string>& argv,
                        const std::vector<std::string>& extra_env = {},
                        std::chrono::milliseconds timeout = 20s) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe2 failed");
  }
  const pid_t pid = OpsSpawn(argv, OpsChildEnv(extra_env), out_pipe[1], err_pipe[1]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  OpsResult r;
  const auto deadline = OpsClock::now() + timeout;
  bool killed = false;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - OpsClock::now());
    if (left.count() <= 0 && !killed) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
    const int n = ::poll(fds, 2, killed ? 1000 : static_cast<int>(left.count()) + 1);
    if (n < 0 && errno != EINTR) break;
    if (n == 0 && killed) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
      }
    }
  }
  for (auto& p : fds) {
    if (p.fd >= 0) ::close(p.fd);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (killed) r.err += "\n[killed at the test deadline]";
  return r;
}

inline std::string OpsDescribe(const OpsResult& r) {
  return "rc=" + std::to_string(r.rc) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

// Polls `pred` until true or the deadline; the short back-off is a retry
// interval, not a synchronising sleep.
inline bool OpsWaitUntil(const std::function<bool()>& pred,
                         OpsClock::duration limit = kOpsDeadline) {
  const auto deadline = OpsClock::now() + limit;
  auto backoff = 1ms;
  for (;;) {
    if (pred()) return true;
    if (OpsClock::now() >= deadline) return false;
    std::this_thread::sleep_for(backoff);
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, 20ms);
  }
}

// One control request, in-process; nullopt when nobody answers yet.
inline std::optional<nlohmann::json> OpsCall(const std::string& socket, const nlohmann::json& req) {
  try {
    return daemon::control_call(socket, req, std::chrono::milliseconds(5000));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// `name` looked up in $PATH (then /usr/sbin, /sbin); nullopt when absent.
inline std::optional<fs::path> OpsFindTool(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  dirs += ":/usr/sbin:/sbin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const std::size_t colon = std::min(dirs.find(':', start), dirs.size());
    const fs::path candidate = fs::path(dirs.substr(start, colon - start)) / name;
    if (!candidate.parent_path().empty() && ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    start = colon + 1;
  }
  return std::nullopt;
}

// True when a stream connect() to `path` succeeds now (the listener exists;
// no reply is awaited, so a daemon busy in a reload still counts).
inline bool OpsCanConnect(const fs::path& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string p = path.string();
  if (p.size() >= sizeof addr.sun_path) {
    ::close(fd);
    return false;
  }
  std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace shmconf::ops_test
