// bench/read_bench.cpp — the read path against its baselines, in one binary
// and one run (the budgets of docs/PERFORMANCE.md are ratios between these
// numbers).
//
// Every benchmark reads the SAME keys in the SAME order:
//   keys:N     a namespace of N int keys "section<i/100>.key<i>" (100 keys
//              per section) plus a few strings, N in {1k, 100k, 1M};
//   random:0   "hot": a fixed set of 1000 keys spread over the N, cycled;
//   random:1   a precomputed random permutation of all N keys.
// Each thread starts at its own offset of the sequence. Times are wall
// clock (UseRealTime). With threads:T, Google Benchmark divides the mean
// per-thread wall time by the reads of all threads: the figure is the
// inverse of the aggregate throughput, comparable between benchmarks with
// the same T.
//
//   BM_UnorderedMapFind        std::unordered_map<std::string, int64_t>::find (the bar)
//   BM_CachedVariable          a plain load of a cached int64 (the floor)
//   BM_ReloadableVariable      the same behind an acquire load and compare of a
//                              version word (the floor for a value that can change)
//   BM_ShmconfGetByString      Client::get_int(std::string_view)
//   BM_ShmconfGetByHandle      Client::get_int(const Key&)
//   BM_ShmconfSnapshotGet      Snapshot::get_int, 16 reads per pin
//   BM_ShmconfCApi             shmconf_get_int64, 16 reads per acquired snapshot
//   BM_ShmconfIterateSection   Snapshot::get(section) + Value::children (100 ints)
//   BM_LmdbGet                 mdb_get in a read txn, reset/renewed every 1024 reads
//   BM_RedisGet                hiredis GET to a redis-server on loopback (keys:1000 only)
//   BM_ReadUnderReloadStorm    get_int(string) per-read latency percentiles, with and
//                              without a thread publishing new versions flat out
//
// Every shmconf benchmark reports `allocs_per_read`, counted by the global
// operator new of alloc_count.cpp during the timed loop only: 0 for the Client getters
// (the C ABI's shmconf_snapshot_acquire allocates its handle, documented).
// System calls are not counted: the fast path (ClientImpl::current() in
// libclient/src/client.cpp) is one acquire load of the control block's
// generation and a compare with this thread's TLS cache, then a lookup in
// memory already mapped (MAP_POPULATE); a syscall happens only on the first
// read after a publish, which BM_ReadUnderReloadStorm shows in its tail.
//
// Redis: only keys:1000 is loaded. Loading 1M keys over loopback takes
// tens of seconds and a GET is a network round trip whatever the key count,
// so larger sets would show the same ~35 us.
//
// This file registers the benchmarks, in the order of the report, and runs
// them; the data sets are in read_fixture.{hpp,cpp}, the benchmarks in
// read_baseline_bench.cpp, read_shmconf_bench.cpp and read_storm_bench.cpp.
#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "publish/shm.hpp"
#include "read_fixture.hpp"

namespace shmconf::bench::reads {
namespace {

int cores() { return std::max(1, static_cast<int>(std::thread::hardware_concurrency())); }

// With --benchmark_repetitions, also report the fastest repetition: on a
// shared machine noise only ever adds time, so ratios of minima (taken with
// --benchmark_enable_random_interleaving) are the steadiest figures.
double min_of(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

// keys:K for K in `keys`, random:0 and 1; one thread, then one per core.
void key_args(benchmark::internal::Benchmark* b, const std::vector<std::int64_t>& keys) {
  b->ComputeStatistics("min", min_of);
  b->ArgNames({"keys", "random"})->ArgsProduct({keys, {0, 1}});
  b->UseRealTime()->Threads(1);
  if (cores() > 1) b->Threads(cores());
}
void ReadArgs(benchmark::internal::Benchmark* b) { key_args(b, {1000, 100000, 1000000}); }
void SectionArgs(benchmark::internal::Benchmark* b) { key_args(b, {1000, 1000000}); }
void RedisArgs(benchmark::internal::Benchmark* b) { key_args(b, {1000}); }
void StormArgs(benchmark::internal::Benchmark* b) {
  b->ComputeStatistics("min", min_of);
  // One reader thread per core left over by the publisher: more would
  // measure the scheduler (a preempted reader), not the read path.
  b->ArgNames({"publisher"})->Arg(0)->Arg(1)->UseRealTime()->Threads(1);
  if (cores() > 2) b->Threads(cores() - 1);
}

BENCHMARK(BM_CachedVariable)->Apply(ReadArgs);
BENCHMARK(BM_ReloadableVariable)->Apply(ReadArgs);
BENCHMARK(BM_UnorderedMapFind)->Apply(ReadArgs);
BENCHMARK(BM_ShmconfGetByString)->Apply(ReadArgs);
BENCHMARK(BM_ShmconfGetByHandle)->Apply(ReadArgs);
BENCHMARK(BM_ShmconfSnapshotGet)->Apply(ReadArgs);
BENCHMARK(BM_ShmconfCApi)->Apply(ReadArgs);
BENCHMARK(BM_ShmconfIterateSection)->Apply(SectionArgs);
BENCHMARK(BM_LmdbGet)->Apply(ReadArgs);
BENCHMARK(BM_RedisGet)->Apply(RedisArgs);
BENCHMARK(BM_ReadUnderReloadStorm)->Apply(StormArgs);

void cleanup() {
  stop_redis();
  stop_storm();
  close_datasets();
  remove_our_shm();
  std::error_code ec;
  fs::remove_all(g_tmp, ec);
}

extern "C" void on_signal(int sig) {
  // Best effort: stop redis and remove our shm names, then die of `sig`.
  if (redis_pid() > 0) ::kill(redis_pid(), SIGKILL);
  if (storm_pid() > 0) ::kill(storm_pid(), SIGKILL);
  for (const std::string& n : sd::shm_list(g_prefix + ".")) ::shm_unlink(("/" + n).c_str());
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace
}  // namespace shmconf::bench::reads

int main(int argc, char** argv) {
  using namespace shmconf::bench::reads;
  g_prefix = "bench" + std::to_string(::getpid());
  g_tmp = fs::temp_directory_path() / ("shmconf-read-bench-" + std::to_string(::getpid()));
  fs::create_directories(g_tmp);
  ::signal(SIGINT, on_signal);
  ::signal(SIGTERM, on_signal);
  calibrate_tsc();
  benchmark::AddCustomContext("shm_prefix", g_prefix);
  benchmark::AddCustomContext("tsc_ns_per_tick", std::to_string(g_ns_per_tick));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  cleanup();
  benchmark::Shutdown();
  return 0;
}
