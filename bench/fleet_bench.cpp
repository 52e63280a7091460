// bench/fleet_bench.cpp — a fleet on one machine: a real etcd on loopback
// and N shmconfd daemons as simulated hosts (each its own shm prefix, state
// directory and control socket, all watching one etcd document key), one
// reader per host blocked in Client::wait_for_change
// (docs/PERFORMANCE.md "Fleet").
//
//   BM_FleetPut/hosts:N      `changes` puts, one at a time: from just before
//                            the put request until every host's reader has
//                            read the new value. p50/p99/max over the
//                            changes (the slowest host of each change), and
//                            the per-reader p50/p99 beside them
//   BM_FleetCatchUp/hosts:N  etcd killed, down for `down_s` seconds, started
//                            again: from the moment it answers, a put, until
//                            every reader has read it (includes each
//                            daemon's reconnect backoff)
//
// A plain program, not a Google Benchmark loop (each sample is a put that
// fans out to N processes), but it writes Google Benchmark's JSON shape so
// bench/report.py reads it with the others. etcd's data directory is on
// /dev/shm, so etcd's fsync is not what is measured.
//
// Usage: fleet_bench --out FILE [--hosts 10,50] [--changes 200] [--down-s 10] [--git ID]
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "shmconf/client.hpp"
#include "sources/etcd/client.hpp"
#include "support/free_port.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

const std::string kKey = "/fleet/app/config.json";

pid_t spawn(const std::vector<std::string>& argv, const fs::path& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execv(a[0], a.data());
    ::_exit(127);
  }
  return pid;
}

void kill_wait(pid_t& pid, int sig = SIGKILL) {
  if (pid <= 0) return;
  ::kill(pid, sig);
  int st = 0;
  ::waitpid(pid, &st, 0);
  pid = -1;
}

bool wait_until(const std::function<bool()>& f, Clock::duration limit) {
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

class Etcd {
 public:
  explicit Etcd(fs::path dir)
      : dir_(std::move(dir)),
        port_(shmconf::test::free_port()),
        peer_(shmconf::test::free_port()) {}
  ~Etcd() { kill_wait(pid_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void start() {
    const std::string peer = "http://127.0.0.1:" + std::to_string(peer_);
    pid_ = spawn({"/usr/bin/etcd", "--name", "b", "--data-dir", (dir_ / "data").string(),
                  "--listen-client-urls", url(), "--advertise-client-urls", url(),
                  "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                  "--initial-cluster", "b=" + peer, "--logger", "zap", "--log-level", "error"},
                 dir_ / "etcd.log");
    if (!wait_until(
            [&] {
              try {
                (void)client().probe("/");
                return true;
              } catch (const std::exception&) {
                return false;
              }
            },
            30s)) {
      throw std::runtime_error("etcd did not start; see " + (dir_ / "etcd.log").string());
    }
  }
  void kill() { kill_wait(pid_); }
  shmconf::daemon::EtcdClient& client() {
    if (!client_) {
      shmconf::daemon::EtcdSpec s;
      s.endpoints = {url()};
      s.timeout_ms = 500;
      client_ = std::make_unique<shmconf::daemon::EtcdClient>(s, "");
    }
    return *client_;
  }

 private:
  fs::path dir_;
  int port_, peer_;
  pid_t pid_ = -1;
  std::unique_ptr<shmconf::daemon::EtcdClient> client_;
};

std::string doc(int seq) {
  return "{\"seq\": " + std::to_string(seq) +
         ", \"database\": {\"host\": \"db1\", \"port\": 5432}, \"features\": {\"new_ui\": " +
         (seq % 2 ? "true" : "false") + "}}";
}

// One simulated host: a daemon and a reader thread blocked in wait_for_change.
struct Host {
  std::string prefix;
  pid_t daemon = -1;
  std::thread reader;
};

// Each reader publishes the highest seq it has read and when.
struct Seen {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::int64_t> seq;
  std::vector<Clock::time_point> at;
};

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

nlohmann::json run(int n, int changes, int down_s, const fs::path& root, Etcd& etcd) {
  std::vector<Host> hosts(static_cast<std::size_t>(n));
  Seen seen;
  seen.seq.assign(hosts.size(), -1);
  seen.at.assign(hosts.size(), Clock::now());
  std::atomic<bool> stop{false};
  etcd.client().put(kKey, doc(0));
  for (int i = 0; i < n; ++i) {
    Host& h = hosts[static_cast<std::size_t>(i)];
    h.prefix =
        "fleet" + std::to_string(::getpid()) + "n" + std::to_string(n) + "h" + std::to_string(i);
    const fs::path dir = root / h.prefix;
    fs::create_directories(dir / "state");
    std::ofstream(dir / "shmconfd.yaml")
        << "prefix: " << h.prefix << "\nsocket_dir: " << dir.string()
        << "\nstate_dir: " << (dir / "state").string()
        << "\nlog_level: warn\nnamespaces:\n  app:\n    sources:\n      - etcd:\n"
        << "          endpoints: [" << etcd.url() << "]\n          key: " << kKey << "\n";
    h.daemon =
        spawn({SHMCONFD_BIN, "--config", (dir / "shmconfd.yaml").string()}, dir / "shmconfd.log");
  }
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    shmconf::ClientOptions o;
    o.prefix = hosts[i].prefix;
    std::optional<shmconf::Client> c;
    if (!wait_until(
            [&] {
              auto r = shmconf::Client::try_open("app", o);
              if (!r || r->version() == 0) return false;
              c.emplace(std::move(*r));
              return true;
            },
            60s)) {
      throw std::runtime_error("host " + hosts[i].prefix + " never published");
    }
    hosts[i].reader = std::thread([&seen, &stop, i, c = std::move(*c)]() mutable {
      std::uint64_t known = 0;
      while (!stop) {
        const auto v = c.wait_for_change(known, 200ms);
        if (!v) continue;
        known = *v;
        const auto seq = c.snapshot().get_int("seq");
        const auto now = Clock::now();
        if (!seq) continue;
        std::lock_guard<std::mutex> lock(seen.mu);
        seen.seq[i] = *seq;
        seen.at[i] = now;
        seen.cv.notify_all();
      }
    });
  }
  // All readers see `seq`; returns when each did (nullopt after 30 s).
  auto all_see = [&](std::int64_t seq) -> std::optional<std::vector<Clock::time_point>> {
    std::unique_lock<std::mutex> lock(seen.mu);
    const bool ok = seen.cv.wait_for(lock, 30s, [&] {
      return std::all_of(seen.seq.begin(), seen.seq.end(), [&](auto s) { return s >= seq; });
    });
    if (!ok) return std::nullopt;
    return seen.at;
  };
  std::vector<double> all_ms, each_ms;
  for (int k = 1; k <= changes; ++k) {
    std::this_thread::sleep_for(20ms);  // pacing: one change at a time, daemons idle again
    const auto t0 = Clock::now();
    etcd.client().put(kKey, doc(k));
    const auto at = all_see(k);
    if (!at) throw std::runtime_error("change " + std::to_string(k) + " not seen by every host");
    Clock::time_point last = t0;
    for (const auto& t : *at) {
      each_ms.push_back(ms(t - t0));
      last = std::max(last, t);
    }
    all_ms.push_back(ms(last - t0));
  }
  // etcd away for down_s seconds, then back: every host catches up.
  etcd.kill();
  std::this_thread::sleep_for(std::chrono::seconds(down_s));
  etcd.start();
  const auto back = Clock::now();
  etcd.client().put(kKey, doc(changes + 1));
  const auto at = all_see(changes + 1);
  if (!at) throw std::runtime_error("hosts did not catch up after etcd returned");
  const double catch_up = ms(*std::max_element(at->begin(), at->end()) - back);

  stop = true;
  for (Host& h : hosts) {
    h.reader.join();
    kill_wait(h.daemon, SIGTERM);
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/dev/shm", ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind(h.prefix + ".", 0) == 0) ::shm_unlink(("/" + name).c_str());
    }
  }
  const std::string hn = "/hosts:" + std::to_string(n);
  nlohmann::json put = {{"name", "BM_FleetPut" + hn},
                        {"run_name", "BM_FleetPut" + hn},
                        {"run_type", "iteration"},
                        {"iterations", changes},
                        {"real_time", pct(all_ms, 0.5)},
                        {"cpu_time", pct(all_ms, 0.5)},
                        {"time_unit", "ms"},
                        {"hosts", n},
                        {"changes", changes},
                        {"p50_ms", pct(all_ms, 0.5)},
                        {"p99_ms", pct(all_ms, 0.99)},
                        {"max_ms", pct(all_ms, 1.0)},
                        {"reader_p50_ms", pct(each_ms, 0.5)},
                        {"reader_p99_ms", pct(each_ms, 0.99)},
                        {"samples_ms", all_ms}};
  nlohmann::json cu = {{"name", "BM_FleetCatchUp" + hn},
                       {"run_name", "BM_FleetCatchUp" + hn},
                       {"run_type", "iteration"},
                       {"iterations", 1},
                       {"real_time", catch_up},
                       {"cpu_time", catch_up},
                       {"time_unit", "ms"},
                       {"hosts", n},
                       {"down_s", down_s},
                       {"catch_up_ms", catch_up}};
  std::fprintf(stderr,
               "hosts=%d: put -> all %d readers: p50 %.1f ms, p99 %.1f ms, max %.1f ms "
               "(per reader p50 %.1f, p99 %.1f); catch-up after %d s down: %.0f ms\n",
               n, n, pct(all_ms, 0.5), pct(all_ms, 0.99), pct(all_ms, 1.0), pct(each_ms, 0.5),
               pct(each_ms, 0.99), down_s, catch_up);
  return {put, cu};
}

std::string now_iso() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", std::localtime(&t));
  return buf;
}

std::vector<double> load_avg() {
  double l[3] = {0, 0, 0};
  if (::getloadavg(l, 3) != 3) return {};
  return {l[0], l[1], l[2]};
}

// The first CPU's clock as /proc/cpuinfo states it (Google Benchmark's
// "mhz_per_cpu" in the other binaries' context), 0 when it does not.
long cpu_mhz() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("cpu MHz", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return std::lround(std::atof(line.c_str() + colon + 1));
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out, git;
  std::vector<int> sizes{10, 50};
  int changes = 200, down_s = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--out") out = v;
    if (a == "--git") git = v;
    if (a == "--changes") changes = std::stoi(v);
    if (a == "--down-s") down_s = std::stoi(v);
    if (a == "--hosts") {
      sizes.clear();
      for (std::size_t p = 0; p < v.size();) {
        const auto c = v.find(',', p);
        sizes.push_back(std::stoi(v.substr(p, c - p)));
        p = c == std::string::npos ? v.size() : c + 1;
      }
    }
  }
  if (::access("/usr/bin/etcd", X_OK) != 0) {
    std::cerr << "fleet_bench: /usr/bin/etcd is missing (Debian etcd-server); nothing measured\n";
    return 0;
  }
  ::signal(SIGPIPE, SIG_IGN);
  char tmpl[] = "/dev/shm/shmconf-fleet-XXXXXX";  // etcd's data on tmpfs
  const fs::path root = ::mkdtemp(tmpl);
  nlohmann::json report = {{"context",
                            {{"executable", "fleet_bench"},
                             {"num_cpus", std::thread::hardware_concurrency()},
                             {"mhz_per_cpu", cpu_mhz()},
                             {"changes", changes},
                             {"down_s", down_s},
                             {"date", now_iso()},
                             {"load_avg", load_avg()},
                             {"git", git}}},
                           {"benchmarks", nlohmann::json::array()}};
  int rc = 0;
  try {
    for (const int n : sizes) {
      Etcd etcd(root / ("etcd" + std::to_string(n)));
      etcd.start();
      for (auto& b : run(n, changes, down_s, root / ("hosts" + std::to_string(n)), etcd)) {
        report["benchmarks"].push_back(b);
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "fleet_bench: " << e.what() << "\n";
    rc = 1;
  }
  std::error_code ec;
  fs::remove_all(root, ec);
  if (!out.empty()) std::ofstream(out) << report.dump(1) << "\n";
  return rc;
}
