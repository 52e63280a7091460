// tests/multiprocess/harness.hpp — real processes for the multi-process tests:
// a unique shared-memory prefix and temporary directory per test, shmconfd
// spawned as a child, shmconfctl run with its output captured, forked reader
// processes that report through pipes, and a TearDown that kills every child
// and removes every shared-memory object and file the test made.
//
// Synchronisation is always on an event: a pipe, a pidfd, inotify, the
// control socket answering, or the futex behind Client::wait_for_change.
// Deadlines (kWait) only turn a hang into a failure; nothing sleeps in place
// of waiting for something.
//
// Thread-safety: a fixture is used by the test's thread. fork_child() must be
// called while the test process has no other threads (a Subscription in the
// parent would make the child unsafe); the tests keep it so.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "control/client.hpp"
#include "process_util.hpp"
#include "shmconf/client.hpp"

namespace shmconf::mptest {

// The fixture: one namespace ("app") under a unique prefix, a temporary
// directory holding sources, state, socket, audit log and daemon logs.
class MultiProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    prefix_ = unique_prefix();
    std::string base = "/tmp";
    if (const char* t = std::getenv("TMPDIR"); t && *t && std::strlen(t) < 60) base = t;
    std::string tmpl = base + "/shmconf-mp-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    dir_ = tmpl;
    socket_ = dir_ + "/ctl.sock";
    state_dir_ = dir_ + "/state";
    audit_log_ = dir_ + "/audit.log";
  }

  void TearDown() override {
    for (auto& c : children_) c.proc.kill_and_reap();
    for (auto& p : procs_) p.kill_and_reap();
    // SHMCONF_MP_LOGS=1 prints the daemons' logs of passing tests too.
    if (HasFailure() || std::getenv("SHMCONF_MP_LOGS") != nullptr) {
      for (const auto& p : procs_) {
        if (p.log.empty()) continue;
        std::string text = read_text(p.log);
        if (text.size() > 8000) text = "..." + text.substr(text.size() - 8000);
        std::cerr << "---- " << p.log << " (pid " << p.pid << ", "
                  << (p.status ? describe_status(*p.status) : "running") << ")\n"
                  << text;
      }
    }
    unlink_shm_objects(prefix_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string path(std::string_view name) const { return dir_ + "/" + std::string(name); }

  // Replaces `name` in the temporary directory the way editors and config
  // management do: write a temporary file, then rename it over the name.
  void write_source(std::string_view name, std::string_view content) {
    const std::string tmp = path(std::string(".") + std::string(name) + ".tmp");
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << content;
      ASSERT_TRUE(out.good()) << tmp;
    }
    ASSERT_EQ(::rename(tmp.c_str(), path(name).c_str()), 0) << std::strerror(errno);
  }

  // The daemon's command line for the sources in sources_.
  std::vector<std::string> daemon_argv(const std::vector<std::string>& extra) const {
    std::vector<std::string> a = {SHMCONFD_BIN, "--name",        ns_,     "--prefix",
                                  prefix_,      "--socket",      socket_, "--audit-log",
                                  audit_log_,   "--debounce-ms", "20"};
    if (!state_dir_.empty()) {
      a.push_back("--state-dir");
      a.push_back(state_dir_);
    }
    for (const auto& s : sources_) {
      a.push_back("--source");
      a.push_back(path(s));
    }
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  // Starts shmconfd (output to a log file in the temporary directory); does
  // not wait for it. The reference stays valid for the test.
  Process& start_daemon(const std::vector<std::string>& extra = {}) {
    return start_daemon_argv(daemon_argv(extra));
  }

  // Starts shmconfd with exactly `argv` (argv[0] the binary), like start_daemon().
  Process& start_daemon_argv(const std::vector<std::string>& argv) {
    const std::string log = path("shmconfd." + std::to_string(procs_.size()) + ".log");
    Fd out(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!out) throw std::runtime_error("cannot create " + log);
    std::vector<std::string> env = daemon_env_;
    env.push_back("SHMCONF_PREFIX=" + prefix_);
    procs_.push_back(spawn(argv, child_env(env), out.get(), out.get(), daemon_ns_fd_));
    procs_.back().log = log;
    return procs_.back();
  }

  // Ready = the control socket answers a request, which shmconfd opens only
  // after its start-up publish. Woken by inotify on the directory (the
  // socket appears) and the daemon's pidfd (it died); while a socket file
  // exists that refuses connections (bound but not yet listening, or left
  // by a killed daemon) the connect is retried after a short poll.
  ::testing::AssertionResult wait_ready(Process& d) {
    Fd ino(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (!ino || ::inotify_add_watch(ino.get(), dir_.c_str(), IN_CREATE | IN_MOVED_TO) < 0) {
      return ::testing::AssertionFailure() << "inotify: " << std::strerror(errno);
    }
    const auto until = deadline();
    for (int retry_ms = 1;;) {
      struct stat st {};
      const bool present = ::lstat(socket_.c_str(), &st) == 0;
      if (present) {
        try {
          // The daemon answers once its start-up publish is done.
          auto reply = daemon::control_call(socket_, {{"cmd", "version"}}, kWait);
          if (reply.value("ok", false) || reply.contains("version")) {
            return ::testing::AssertionSuccess();
          }
        } catch (const std::exception&) {
          // Not listening yet: retry below.
        }
      }
      if (!d.running()) {
        return ::testing::AssertionFailure()
               << "shmconfd exited (" << describe_status(*d.status) << ") before it was ready:\n"
               << read_text(d.log);
      }
      if (Clock::now() >= until) {
        return ::testing::AssertionFailure()
               << "shmconfd not ready after " << kWait.count() << " s:\n"
               << read_text(d.log);
      }
      pollfd p[2] = {{ino.get(), POLLIN, 0}, {d.pidfd.get(), POLLIN, 0}};
      const int timeout = present ? std::min(retry_ms, ms_until(until)) : ms_until(until);
      if (present) retry_ms = std::min(retry_ms * 2, 50);
      (void)::poll(p, 2, timeout);
      char drain[4096];
      while (::read(ino.get(), drain, sizeof drain) > 0) {
      }
    }
  }

  // start_daemon() + wait_ready(), failing the test if it does not come up.
  Process& run_daemon(const std::vector<std::string>& extra = {}) {
    Process& d = start_daemon(extra);
    EXPECT_TRUE(wait_ready(d));
    return d;
  }

  // SIGTERM, then the exit status (nullopt if it did not exit in time).
  std::optional<int> stop_daemon(Process& d) {
    d.kill(SIGTERM);
    return d.wait(deadline());
  }

  // Runs shmconfctl with --name, --prefix and --socket of this test.
  CtlResult ctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"--name", ns_, "--prefix", prefix_, "--socket", socket_};
    argv.insert(argv.end(), args.begin(), args.end());
    return ctl_raw(argv);
  }

  // Runs shmconfctl with exactly `args` (and SHMCONF_PREFIX of this test).
  CtlResult ctl_raw(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {SHMCONFCTL_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_captured(argv);
  }

  // ctl(args) run through `wrapper` (e.g. setpriv with another uid).
  CtlResult ctl_via(const std::vector<std::string>& wrapper, const std::vector<std::string>& args) {
    std::vector<std::string> argv = wrapper;
    for (const char* a : {SHMCONFCTL_BIN, "--name"}) argv.emplace_back(a);
    argv.insert(argv.end(), {ns_, "--prefix", prefix_, "--socket", socket_});
    argv.insert(argv.end(), args.begin(), args.end());
    return run_captured(argv);
  }

  // Runs argv (argv[0] a path) with its stdout and stderr captured.
  CtlResult run_captured(const std::vector<std::string>& argv) {
    const std::vector<std::string>& args = argv;
    auto [out_r, out_w] = make_pipe();
    auto [err_r, err_w] = make_pipe();
    Process p = spawn(argv, child_env({"SHMCONF_PREFIX=" + prefix_}), out_w.get(), err_w.get());
    out_w.reset();
    err_w.reset();
    CtlResult r;
    const auto until = deadline();
    Fd* fds[2] = {&out_r, &err_r};
    std::string* bufs[2] = {&r.out, &r.err};
    while ((out_r || err_r) && Clock::now() < until) {
      pollfd pf[2];
      for (int i = 0; i < 2; ++i) pf[i] = {fds[i]->get(), POLLIN, 0};
      if (::poll(pf, 2, ms_until(until)) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (pf[i].revents == 0) continue;
        char chunk[4096];
        const ssize_t n = ::read(fds[i]->get(), chunk, sizeof chunk);
        if (n > 0) {
          bufs[i]->append(chunk, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
          fds[i]->reset();
        }
      }
    }
    auto st = p.wait(until);
    if (!st) {
      p.kill_and_reap();
      ADD_FAILURE() << "shmconfctl did not finish in time:" << testing::PrintToString(args);
      return r;
    }
    r.code = WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
    return r;
  }

  shmconf::ClientOptions client_options() const {
    shmconf::ClientOptions o;
    o.prefix = prefix_;
    return o;
  }
  shmconf::Client open_client() const { return shmconf::Client::open(ns_, client_options()); }

  // Waits (futex) until `c` serves version `want`.
  ::testing::AssertionResult await_version(const shmconf::Client& c, std::uint64_t want) {
    const auto until = deadline();
    for (;;) {
      const std::uint64_t have = c.version();
      if (have == want) return ::testing::AssertionSuccess();
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      if (left.count() <= 0) {
        return ::testing::AssertionFailure()
               << "version " << want << " not seen; client serves " << have
               << (c.last_error().empty() ? "" : " (" + c.last_error() + ")");
      }
      (void)c.wait_for_change(have, left);
    }
  }

  // Waits until the audit log holds `count` lines containing `needle`
  // (inotify on the directory: the daemon appends one line per event).
  ::testing::AssertionResult wait_for_audit(std::string_view needle, std::size_t count = 1) {
    Fd ino(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (!ino || ::inotify_add_watch(ino.get(), dir_.c_str(), IN_CREATE | IN_MODIFY) < 0) {
      return ::testing::AssertionFailure() << "inotify: " << std::strerror(errno);
    }
    const auto until = deadline();
    for (;;) {
      const std::string text = read_text(audit_log_);
      std::size_t n = 0;
      for (std::size_t pos = text.find(needle); pos != std::string::npos;
           pos = text.find(needle, pos + 1)) {
        ++n;
      }
      if (n >= count) return ::testing::AssertionSuccess();
      if (Clock::now() >= until) {
        return ::testing::AssertionFailure()
               << count << " audit line(s) with " << needle << " not seen; log:\n"
               << text;
      }
      pollfd p{ino.get(), POLLIN, 0};
      (void)::poll(&p, 1, ms_until(until));
      char drain[4096];
      while (::read(ino.get(), drain, sizeof drain) > 0) {
      }
    }
  }

  // Forks a test child and registers it for TearDown.
  template <class Body>
  ForkedChild& start_child(Body body) {
    children_.push_back(fork_child(std::move(body)));
    return children_.back();
  }

  // The live snapshot as JSON, read by `shmconfctl dump`.
  nlohmann::json dump() {
    const CtlResult r = ctl({"dump"});
    EXPECT_EQ(r.code, 0) << r;
    return r.code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
  }

  // One request on the control socket from this process: for set-up and
  // checks where shmconfctl itself is not under test (each shmconfctl run
  // costs a process start, about a second under TSan).
  nlohmann::json control(const nlohmann::json& request) {
    try {
      return daemon::control_call(socket_, request, kWait);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "control call " << request.dump() << ": " << e.what();
      return nlohmann::json::object();
    }
  }

  // The daemon's status reply (what `shmconfctl --json status` prints).
  nlohmann::json status_json() { return control({{"cmd", "status"}}); }

  std::string prefix_;
  std::string ns_ = "app";
  std::string dir_;
  std::string socket_;
  std::string state_dir_;  // empty: the daemon runs without a state directory
  std::string audit_log_;
  std::vector<std::string> sources_;     // names in dir_, in priority order
  int daemon_ns_fd_ = -1;                // >= 0: daemons start in this namespace (setns)
  std::vector<std::string> daemon_env_;  // NAME=value for daemons started from now on
  std::deque<Process> procs_;            // daemons (stable references)
  std::deque<ForkedChild> children_;     // forked test children
};

}  // namespace shmconf::mptest
