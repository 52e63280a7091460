// bench/read_storm_bench.cpp — reads under a reload storm: per-read
// latency percentiles of get_int(string), timed with rdtsc, with and without
// a child process publishing new versions of a 1k-key namespace flat out.
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <thread>

#include "alloc_count.hpp"
#include "read_fixture.hpp"

namespace shmconf::bench::reads {

double g_ns_per_tick = 1.0;

void calibrate_tsc() {
  const auto t0 = std::chrono::steady_clock::now();
  const std::uint64_t c0 = __rdtsc();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::uint64_t c1 = __rdtsc();
  const auto t1 = std::chrono::steady_clock::now();
  g_ns_per_tick =
      std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(c1 - c0);
}

namespace {

// A 1k-key namespace of its own, published by a child process (shmconfd is
// another process too: an in-process publisher would also contend with the
// readers for this process's mmap lock, which no deployment does). The
// child publishes flat out between 'g' and 's' on its command pipe.
struct Storm {
  pid_t pid = -1;
  int cmd = -1;    // parent -> child: 'g' go, 's' stop (reply: count), 'q' quit
  int reply = -1;  // child -> parent
  std::optional<shmconf::Client> client;
  std::vector<std::string> keys;  // the hot pattern of keys:1000
};
std::once_flag g_storm_once;
Storm g_storm;

[[noreturn]] void storm_child(int cmd, int reply) {
  sd::Publisher pub(g_prefix, "storm", sd::ShmAccess{});
  sd::Value root = make_tree(1000);
  root.fields["storm"] = sd::Value::object();
  std::deque<std::shared_ptr<sd::Segment>> retained;  // live one last
  std::uint64_t version = 0;
  auto publish_one = [&] {
    ++version;
    root.fields["storm"].fields["counter"] = sd::Value::integer(static_cast<std::int64_t>(version));
    const shmconf::SegmentView* prev = retained.empty() ? nullptr : &retained.back()->view;
    retained.push_back(publish_tree(pub, root, version, prev));
    while (retained.size() > 9) {  // the live one plus keep_versions = 8
      pub.unlink(retained.front()->id);
      retained.pop_front();
    }
  };
  publish_one();
  char c = 'R';
  if (::write(reply, &c, 1) != 1) ::_exit(1);
  while (::read(cmd, &c, 1) == 1 && c == 'g') {
    std::uint64_t count = 0;
    pollfd p{cmd, POLLIN, 0};
    while (::poll(&p, 1, 0) == 0) {
      publish_one();
      ++count;
    }
    if (::read(cmd, &c, 1) != 1 || c != 's') break;
    if (::write(reply, &count, sizeof count) != sizeof count) break;
  }
  ::_exit(0);
}

Storm& storm() {
  std::call_once(g_storm_once, [] {
    g_storm.keys = dataset(1000).pattern[0].keys;
    int to_child[2], from_child[2];
    if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) std::abort();
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::close(to_child[1]);
      ::close(from_child[0]);
      storm_child(to_child[0], from_child[1]);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    g_storm.pid = pid;
    g_storm.cmd = to_child[1];
    g_storm.reply = from_child[0];
    char c = 0;
    if (::read(g_storm.reply, &c, 1) != 1 || c != 'R') std::abort();
    shmconf::ClientOptions opts;
    opts.prefix = g_prefix;
    g_storm.client.emplace(shmconf::Client::open("storm", opts));
  });
  return g_storm;
}

std::chrono::steady_clock::time_point g_storm_t0;

}  // namespace

void stop_storm() {
  if (g_storm.pid > 0) {
    const char q = 'q';
    (void)!::write(g_storm.cmd, &q, 1);
    ::waitpid(g_storm.pid, nullptr, 0);
    ::close(g_storm.cmd);
    ::close(g_storm.reply);
    g_storm.pid = -1;
  }
  g_storm.client.reset();
}

pid_t storm_pid() { return g_storm.pid; }

void BM_ReadUnderReloadStorm(benchmark::State& state) {
  Storm& s = storm();
  const bool publishing = state.range(0) != 0;
  const shmconf::Client& client = *s.client;
  const auto& keys = s.keys;
  const std::size_t n = keys.size();
  std::size_t i = start_of(state, n);
  std::uint64_t errors = 0;
  const std::size_t cap =
      static_cast<std::size_t>(std::min<benchmark::IterationCount>(state.max_iterations, 1 << 23));
  std::vector<std::uint32_t> samples(cap);
  std::size_t k = 0;
  benchmark::DoNotOptimize(client.get_int(keys[i]));  // this thread's first read maps
  if (publishing && state.thread_index() == 0) {
    g_storm_t0 = std::chrono::steady_clock::now();
    const char g = 'g';
    if (::write(s.cmd, &g, 1) != 1) std::abort();
  }
  const std::uint64_t a0 = shmconf::bench::allocations();
  for (auto _ : state) {
    const std::uint64_t t0 = __rdtsc();
    auto r = client.get_int(keys[i]);
    const std::uint64_t t1 = __rdtsc();
    if (!r) ++errors;
    benchmark::DoNotOptimize(r);
    if (k < cap) samples[k] = static_cast<std::uint32_t>(std::min<std::uint64_t>(t1 - t0, ~0u));
    ++k;
    if (++i == n) i = 0;
  }
  const std::uint64_t allocs = shmconf::bench::allocations() - a0;
  if (publishing && state.thread_index() == 0) {
    const char stop = 's';
    std::uint64_t count = 0;
    if (::write(s.cmd, &stop, 1) != 1 || ::read(s.reply, &count, sizeof count) != sizeof count) {
      std::abort();
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - g_storm_t0).count();
    state.counters["publishes_per_s"] = static_cast<double>(count) / secs;
  }
  samples.resize(std::min(k, cap));
  std::sort(samples.begin(), samples.end());
  auto pct = [&](double p) {
    if (samples.empty()) return 0.0;
    const auto at = static_cast<std::size_t>(p * static_cast<double>(samples.size() - 1));
    return samples[at] * g_ns_per_tick;
  };
  const auto avg = benchmark::Counter::kAvgThreads;
  state.counters["p50_ns"] = benchmark::Counter(pct(0.50), avg);
  state.counters["p99_ns"] = benchmark::Counter(pct(0.99), avg);
  state.counters["p999_ns"] = benchmark::Counter(pct(0.999), avg);
  state.counters["p9999_ns"] = benchmark::Counter(pct(0.9999), avg);
  state.counters["max_ns"] = benchmark::Counter(pct(1.0), avg);
  const double reads = static_cast<double>(state.iterations());
  state.counters["allocs_per_read"] =
      benchmark::Counter(reads > 0 ? static_cast<double>(allocs) / reads : 0, avg);
  state.counters["errors"] = static_cast<double>(errors);
  state.SetItemsProcessed(state.iterations());
}

}  // namespace shmconf::bench::reads
