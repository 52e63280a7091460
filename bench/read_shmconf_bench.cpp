// bench/read_shmconf_bench.cpp — shmconf's read paths on the same keys as
// the baselines: Client::get_int by string and by pre-resolved Key, 16
// reads per pinned Snapshot, the C ABI, and iterating a section.
#include <cstdlib>

#include "alloc_count.hpp"
#include "read_fixture.hpp"

namespace shmconf::bench::reads {

void BM_ShmconfGetByString(benchmark::State& state) {
  Dataset& d = dataset(static_cast<std::size_t>(state.range(0)));
  const shmconf::Client& client = *shm_of(d).client;
  const auto& keys = d.pattern[state.range(1)].keys;
  const std::size_t n = keys.size();
  std::size_t i = start_of(state, n);
  std::uint64_t errors = 0;
  benchmark::DoNotOptimize(client.get_int(keys[i]));  // this thread's first read maps
  const std::uint64_t a0 = shmconf::bench::allocations();
  for (auto _ : state) {
    auto r = client.get_int(keys[i]);
    if (!r) ++errors;
    benchmark::DoNotOptimize(r);
    if (++i == n) i = 0;
  }
  finish_reads(state, a0, errors);
}

void BM_ShmconfGetByHandle(benchmark::State& state) {
  Dataset& d = dataset(static_cast<std::size_t>(state.range(0)));
  Shm& shm = shm_of(d);
  const shmconf::Client& client = *shm.client;
  const auto& handles = shm.handles[state.range(1)];
  const std::size_t n = handles.size();
  std::size_t i = start_of(state, n);
  std::uint64_t errors = 0;
  // Resolve once outside the timed loop, as a long-lived handle would be.
  for (const auto& h : handles) benchmark::DoNotOptimize(client.get_int(h));
  const std::uint64_t a0 = shmconf::bench::allocations();
  for (auto _ : state) {
    auto r = client.get_int(handles[i]);
    if (!r) ++errors;
    benchmark::DoNotOptimize(r);
    if (++i == n) i = 0;
  }
  finish_reads(state, a0, errors);
}

void BM_ShmconfSnapshotGet(benchmark::State& state) {
  Dataset& d = dataset(static_cast<std::size_t>(state.range(0)));
  const shmconf::Client& client = *shm_of(d).client;
  const auto& keys = d.pattern[state.range(1)].keys;
  const std::size_t n = keys.size();
  std::size_t i = start_of(state, n);
  std::uint64_t errors = 0;
  int left = 0;
  shmconf::Snapshot snap = client.snapshot();  // this thread's first read maps
  const std::uint64_t a0 = shmconf::bench::allocations();
  for (auto _ : state) {
    if (left-- == 0) {
      snap = client.snapshot();
      left = kReadsPerPin - 1;
    }
    auto r = snap.get_int(keys[i]);
    if (!r) ++errors;
    benchmark::DoNotOptimize(r);
    if (++i == n) i = 0;
  }
  finish_reads(state, a0, errors);
  state.counters["reads_per_pin"] =
      benchmark::Counter(kReadsPerPin, benchmark::Counter::kAvgThreads);
}

void BM_ShmconfCApi(benchmark::State& state) {
  Dataset& d = dataset(static_cast<std::size_t>(state.range(0)));
  shmconf_client* c = shm_of(d).capi;
  const auto& keys = d.pattern[state.range(1)].keys;
  const std::size_t n = keys.size();
  std::size_t i = start_of(state, n);
  std::uint64_t errors = 0;
  int left = 0;
  shmconf_snapshot* snap = nullptr;
  if (shmconf_snapshot_acquire(c, &snap) != 0) std::abort();  // this thread's first read maps
  const std::uint64_t a0 = shmconf::bench::allocations();
  for (auto _ : state) {
    if (left-- == 0) {
      if (snap != nullptr) shmconf_snapshot_release(snap);
      if (shmconf_snapshot_acquire(c, &snap) != 0) std::abort();
      left = kReadsPerPin - 1;
    }
    std::int64_t v = 0;
    if (shmconf_get_int64(snap, keys[i].c_str(), &v) != 0) ++errors;
    benchmark::DoNotOptimize(v);
    if (++i == n) i = 0;
  }
  finish_reads(state, a0, errors);
  if (snap != nullptr) shmconf_snapshot_release(snap);
  state.counters["reads_per_pin"] =
      benchmark::Counter(kReadsPerPin, benchmark::Counter::kAvgThreads);
}

void BM_ShmconfIterateSection(benchmark::State& state) {
  Dataset& d = dataset(static_cast<std::size_t>(state.range(0)));
  Shm& shm = shm_of(d);
  const shmconf::Client& client = *shm.client;
  const auto& sections = shm.sections[state.range(1)];
  const std::size_t n = sections.size();
  std::size_t i = start_of(state, n);
  std::uint64_t errors = 0, children = 0;
  benchmark::DoNotOptimize(client.snapshot());  // this thread's first read maps
  const std::uint64_t a0 = shmconf::bench::allocations();
  for (auto _ : state) {
    const shmconf::Snapshot snap = client.snapshot();
    auto sec = snap.get(sections[i]);
    if (!sec) {
      ++errors;
    } else {
      std::int64_t sum = 0;
      for (shmconf::Value v : sec->children()) {
        sum += v.as_int().value_or(0);
        ++children;
      }
      benchmark::DoNotOptimize(sum);
    }
    if (++i == n) i = 0;
  }
  const double iters = static_cast<double>(state.iterations());
  state.counters["allocs_per_section"] = benchmark::Counter(
      iters > 0 ? static_cast<double>(shmconf::bench::allocations() - a0) / iters : 0,
      benchmark::Counter::kAvgThreads);
  state.counters["errors"] = static_cast<double>(errors);
  state.SetItemsProcessed(static_cast<std::int64_t>(children));
}

}  // namespace shmconf::bench::reads
