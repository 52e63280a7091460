// bench/read_fixture.hpp — what the read benchmarks share (read_bench.cpp
// and the read_*_bench.cpp files): the key set and its access patterns, the
// data sets built on first use (an unordered_map, a published shmconf
// namespace with a client and C ABI handle, an LMDB environment), the run's
// shared-memory prefix and temporary directory, and the counters every read
// benchmark reports. Set-up is once per data set (std::call_once), so
// threads of one benchmark share it.
#pragma once

#include <benchmark/benchmark.h>
#include <lmdb.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "publish/publisher.hpp"
#include "shmconf/client.hpp"
#include "shmconf/shmconf.h"
#include "tree/value.hpp"

namespace shmconf::bench::reads {

namespace sd = shmconf::daemon;
namespace fs = std::filesystem;

inline constexpr std::size_t kHotKeys = 1000;
inline constexpr std::size_t kPerSection = 100;
inline constexpr int kReadsPerPin = 16;
inline constexpr int kLmdbBatch = 1024;

extern std::string g_prefix;  // "bench<pid>": every shm object of this run
extern fs::path g_tmp;        // LMDB environments and the redis dir

inline std::string key_name(std::size_t i) {
  return "section" + std::to_string(i / kPerSection) + ".key" + std::to_string(i);
}
inline std::int64_t key_value(std::size_t i) { return static_cast<std::int64_t>(i) * 7 + 1; }

// Where thread t starts in a sequence of `size`.
inline std::size_t start_of(const benchmark::State& state, std::size_t size) {
  return (static_cast<std::size_t>(state.thread_index()) * 7919u) % size;
}

// --- data sets -------------------------------------------------------------------

struct Pattern {
  std::vector<std::uint32_t> idx;  // key indices in access order
  std::vector<std::string> keys;   // key_name(idx[j]), allocated in access order
};

// A published namespace of N keys and a client attached to it.
struct Shm {
  std::unique_ptr<sd::Publisher> pub;
  std::shared_ptr<sd::Segment> seg;
  std::optional<shmconf::Client> client;
  shmconf_client* capi = nullptr;
  std::vector<shmconf::Key> handles[2];  // per pattern, in access order
  std::vector<std::string> sections[2];  // hot: 10 sections; random: all, shuffled
};

struct Lmdb {
  MDB_env* env = nullptr;
  MDB_dbi dbi = 0;
};

struct Dataset {
  std::size_t n = 0;
  Pattern pattern[2];                // [0] hot, [1] random
  std::vector<std::int64_t> values;  // the "cached variables"

  std::once_flag umap_once, shm_once, lmdb_once;
  std::unordered_map<std::string, std::int64_t> umap;
  Shm shm;
  Lmdb lmdb;
};

// The data set of N keys, built on first use.
Dataset& dataset(std::size_t n);
std::unordered_map<std::string, std::int64_t>& umap_of(Dataset& d);
Shm& shm_of(Dataset& d);
Lmdb& lmdb_of(Dataset& d);
// Closes every data set's C ABI client and LMDB environment.
void close_datasets();

// The namespace of N int keys in sections of kPerSection, plus "meta" strings.
sd::Value make_tree(std::size_t n);
// Publishes `root` as `version` and makes it live.
std::shared_ptr<sd::Segment> publish_tree(sd::Publisher& pub, const sd::Value& root,
                                          std::uint64_t version,
                                          const shmconf::SegmentView* previous);
// Removes every shm object of this run (g_prefix).
void remove_our_shm();
// Aborts with LMDB's message unless `rc` is 0.
void check(int rc, const char* what);
// The counters of a read benchmark: allocs_per_read (allocations since
// `allocs0`), errors, items processed.
void finish_reads(benchmark::State& state, std::uint64_t allocs0, std::uint64_t errors);

// --- the benchmarks (registered in read_bench.cpp) ---------------------------------

// read_baseline_bench.cpp
void BM_UnorderedMapFind(benchmark::State& state);
void BM_CachedVariable(benchmark::State& state);
void BM_ReloadableVariable(benchmark::State& state);
void BM_LmdbGet(benchmark::State& state);
void BM_RedisGet(benchmark::State& state);
void stop_redis();
pid_t redis_pid();  // -1 when none runs

// read_shmconf_bench.cpp
void BM_ShmconfGetByString(benchmark::State& state);
void BM_ShmconfGetByHandle(benchmark::State& state);
void BM_ShmconfSnapshotGet(benchmark::State& state);
void BM_ShmconfCApi(benchmark::State& state);
void BM_ShmconfIterateSection(benchmark::State& state);

// read_storm_bench.cpp
extern double g_ns_per_tick;  // rdtsc ticks to ns, from calibrate_tsc()
void calibrate_tsc();
void BM_ReadUnderReloadStorm(benchmark::State& state);
// Stops the publishing child and closes the storm's client.
void stop_storm();
pid_t storm_pid();  // -1 when none runs

}  // namespace shmconf::bench::reads
