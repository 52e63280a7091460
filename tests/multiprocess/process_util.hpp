// tests/multiprocess/process_util.hpp — the building blocks of the
// multi-process harness (harness.hpp): deadlines, file descriptors and
// pipes, line readers, spawned and forked children, shared-memory object
// listings and small text checks.
//
// Synchronisation is always on an event: a pipe, a pidfd, inotify, the
// control socket answering, or the futex behind Client::wait_for_change.
// Deadlines (kWait) only turn a hang into a failure; nothing sleeps in place
// of waiting for something.
//
// Thread-safety: fork_child() must be called while the test process has no
// other threads (a Subscription in the parent would make the child unsafe).
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "control/client.hpp"
#include "shmconf/client.hpp"

extern char** environ;

namespace shmconf::mptest {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

// The bound on anything that normally takes milliseconds: reaching it is a
// failure (a hang), never a way to wait.
inline constexpr auto kWait = 30s;
inline Clock::time_point deadline(Clock::duration d = kWait) { return Clock::now() + d; }

// Milliseconds left until `t`, for poll(); 0 when past.
inline int ms_until(Clock::time_point t) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now());
  if (left.count() <= 0) return 0;
  return static_cast<int>(std::min<std::int64_t>(left.count() + 1, 1 << 30));
}

// "mp<pid>x<n>r<salt>": unique per test process and per call, a valid
// prefix. The random salt keeps a reused pid (pid_max may be 32768) from
// meeting objects an earlier, killed test process left behind.
inline std::string unique_prefix() {
  static int counter = 0;
  static const unsigned salt = std::random_device{}() & 0xffffffu;
  char tail[16];
  std::snprintf(tail, sizeof tail, "r%06x", salt);
  return "mp" + std::to_string(::getpid()) + "x" + std::to_string(++counter) + tail;
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// {read end, write end}, both close-on-exec.
inline std::pair<Fd, Fd> make_pipe() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  return {Fd(p[0]), Fd(p[1])};
}

inline bool write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// A child's report to the parent: one line per message.
inline void report(int fd, const std::string& line) { (void)write_all(fd, line + "\n"); }

// A reader child's client of `ns` under `prefix`. When it cannot attach it
// reports "error open <code>" to the parent and returns nothing (the child
// then exits 1).
inline std::optional<shmconf::Client> open_or_report(const std::string& prefix,
                                                     const std::string& ns, int out) {
  shmconf::ClientOptions o;
  o.prefix = prefix;
  auto c = shmconf::Client::try_open(ns, o);
  if (!c) {
    report(out, std::string("error open ") + to_string(c.error()));
    return std::nullopt;
  }
  return std::move(*c);
}

// Reads '\n'-terminated lines from a pipe with a deadline.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  // The next line (without '\n'); std::nullopt at end of file or when
  // `until` passes first (eof() tells which). until = now() is a try.
  std::optional<std::string> next(Clock::time_point until) {
    for (;;) {
      if (auto pos = buf_.find('\n'); pos != std::string::npos) {
        std::string line = buf_.substr(0, pos);
        buf_.erase(0, pos + 1);
        return line;
      }
      if (eof_) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      const int n = ::poll(&p, 1, ms_until(until));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;
      char chunk[4096];
      const ssize_t r = ::read(fd_, chunk, sizeof chunk);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        eof_ = true;
        continue;
      }
      buf_.append(chunk, static_cast<std::size_t>(r));
    }
  }
  bool eof() const { return eof_ && buf_.find('\n') == std::string::npos; }

 private:
  int fd_;
  std::string buf_;
  bool eof_ = false;
};

inline std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + ::strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

inline int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// A child process: a pid, a pidfd to poll for its exit, and once reaped its
// wait status.
struct Process {
  pid_t pid = -1;
  Fd pidfd;
  std::optional<int> status;
  std::string log;  // file holding its stdout and stderr, when it has one

  // Reaps the child if it has exited; true while it runs.
  bool running() {
    if (status) return false;
    int st = 0;
    const pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) status = st;
    return !status;
  }
  // Waits for the exit until `until`; the wait status, or nullopt on timeout.
  std::optional<int> wait(Clock::time_point until) {
    while (running()) {
      pollfd p{pidfd.get(), POLLIN, 0};
      const int n = ::poll(&p, 1, ms_until(until));
      if (n == 0) return std::nullopt;
      if (n < 0 && errno != EINTR) return std::nullopt;
    }
    return status;
  }
  void kill(int sig) {
    if (running()) ::kill(pid, sig);
  }
  // SIGKILL and reap: nothing of it remains.
  void kill_and_reap() {
    kill(SIGKILL);
    (void)wait(deadline());
  }
  bool exited_ok() const { return status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0; }
};

// fork(), then in the child: die with the parent, stdin from /dev/null,
// stdout and stderr to `out` and `err`, execve(argv, env).
// With `ns_fd` >= 0 the child first joins that namespace (setns), e.g. a
// user namespace with its own inotify limits.
inline Process spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                     int out, int err, int ns_fd = -1) {
  std::vector<char*> av, ev;
  for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  for (const auto& e : env) ev.push_back(const_cast<char*>(e.c_str()));
  ev.push_back(nullptr);
  Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // Async-signal-safe calls only until execve.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    if (ns_fd >= 0 && ::setns(ns_fd, 0) != 0) ::_exit(126);
    ::dup2(devnull.get(), 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    // dup2() onto itself (a test started with 0, 1 or 2 closed opens its
    // own files there) keeps O_CLOEXEC: the child would start without them.
    for (int fd = 0; fd < 3; ++fd) ::fcntl(fd, F_SETFD, 0);
    ::execve(av[0], av.data(), ev.data());
    ::_exit(127);
  }
  Process p;
  p.pid = pid;
  p.pidfd = Fd(pidfd_open(pid));
  if (!p.pidfd) throw std::runtime_error("pidfd_open failed");
  return p;
}

// The test's environment minus what would tie a child to a service manager
// or to another shmconf instance, plus `extra` (which replaces a variable of
// the same name).
inline std::vector<std::string> child_env(const std::vector<std::string>& extra) {
  static const char* const kDrop[] = {
      "NOTIFY_SOCKET=",     "WATCHDOG_PID=",     "WATCHDOG_USEC=",  "LISTEN_FDS=",
      "LISTEN_PID=",        "JOURNAL_STREAM=",   "SHMCONF_PREFIX=", "SHMCONF_SOCKET=",
      "SHMCONF_NAMESPACE=", "RUNTIME_DIRECTORY="};
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view s(*e);
    const std::string_view name = s.substr(0, s.find('=') + 1);
    const bool drop = std::any_of(std::begin(kDrop), std::end(kDrop),
                                  [&](const char* d) { return s.starts_with(d); }) ||
                      std::any_of(extra.begin(), extra.end(),
                                  [&](const std::string& x) { return x.starts_with(name); });
    if (!drop) env.emplace_back(s);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// Becomes `uid`/`gid` with exactly `groups` as supplementary groups, for
// good (real, effective and saved ids): a forked child acting as another
// user. Needs root; false (errno set) when refused.
inline bool become_user(uid_t uid, gid_t gid, const std::vector<gid_t>& groups) {
  return ::setgroups(groups.size(), groups.data()) == 0 && ::setresgid(gid, gid, gid) == 0 &&
         ::setresuid(uid, uid, uid) == 0;
}

// A forked (not exec'd) child running test code: commands go to it through
// one pipe, reports come back through another, one line each.
struct ForkedChild {
  Process proc;
  Fd to_child;
  Fd from_child;
  std::unique_ptr<LineReader> reports;

  std::optional<std::string> next_report(Clock::time_point until = deadline()) {
    return reports->next(until);
  }
  bool command(const std::string& line) { return write_all(to_child.get(), line + "\n"); }
};

// body(commands_fd, reports_fd) runs in the child; its return value is the
// child's exit code. The child leaves with _exit(): no gtest, no atexit.
template <class Body>
ForkedChild fork_child(Body body) {
  auto [cmd_r, cmd_w] = make_pipe();
  auto [rep_r, rep_w] = make_pipe();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    cmd_w.reset();
    rep_r.reset();
    int rc = 99;
    try {
      rc = body(cmd_r.get(), rep_w.get());
    } catch (const std::exception& e) {
      report(rep_w.get(), std::string("exception ") + e.what());
    } catch (...) {
      report(rep_w.get(), "exception");
    }
    ::_exit(rc);
  }
  ForkedChild c;
  c.proc.pid = pid;
  c.proc.pidfd = Fd(pidfd_open(pid));
  if (!c.proc.pidfd) throw std::runtime_error("pidfd_open failed");
  c.to_child = std::move(cmd_w);
  c.from_child = std::move(rep_r);
  c.reports = std::make_unique<LineReader>(c.from_child.get());
  return c;
}

struct CtlResult {
  int code = -1;  // exit code; -1 when killed or timed out
  std::string out;
  std::string err;
};

inline std::ostream& operator<<(std::ostream& os, const CtlResult& r) {
  return os << "shmconfctl exit " << r.code << "\nstdout:\n" << r.out << "stderr:\n" << r.err;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline bool contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

// True when `text` holds "<file>:<line>:<column>: " (decimal line and column).
inline bool has_position(std::string_view text, std::string_view file) {
  for (std::size_t pos = text.find(file); pos != std::string_view::npos;
       pos = text.find(file, pos + 1)) {
    std::size_t i = pos + file.size();
    auto number = [&] {
      const std::size_t start = i;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
      return i > start;
    };
    auto colon = [&] { return i < text.size() && text[i++] == ':'; };
    if (colon() && number() && colon() && number() && text.substr(i, 2) == ": ") return true;
  }
  return false;
}

inline void unlink_shm_objects(const std::string& prefix) {
  const std::string stem = prefix + ".";
  std::vector<std::string> names;
  if (DIR* d = ::opendir("/dev/shm")) {
    while (const dirent* e = ::readdir(d)) {
      if (std::string_view(e->d_name).starts_with(stem)) names.emplace_back(e->d_name);
    }
    ::closedir(d);
  }
  for (const auto& n : names) ::shm_unlink(("/" + n).c_str());
}

// The control blocks and segments of `prefix`, sorted. Not the reader
// registries ("<prefix>.<ns>.readers"), which readers write and which
// registry_test.cpp covers.
inline std::vector<std::string> shm_objects(const std::string& prefix) {
  const std::string stem = prefix + ".";
  std::vector<std::string> names;
  if (DIR* d = ::opendir("/dev/shm")) {
    while (const dirent* e = ::readdir(d)) {
      const std::string_view n = e->d_name;
      if (n.starts_with(stem) && !n.ends_with(".readers")) names.emplace_back(n);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace shmconf::mptest
