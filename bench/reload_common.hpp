// bench/reload_common.hpp — what the reload benchmarks share
// (reload_bench.cpp, reload_service_bench.cpp, reload_stages_bench.cpp):
// the generated inputs (reload_inputs.cpp), sample sets and counters, the
// run's shared-memory prefix and temporary directory.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "parse/parse.hpp"
#include "tree/value.hpp"

namespace shmconf::bench::reload {

namespace sd = shmconf::daemon;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

extern std::string g_prefix;  // "rbench<pid>"
extern fs::path g_tmp;        // the inputs and state directories

inline constexpr std::int64_t kSizesKb[] = {1, 100, 1000, 10000};

inline double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// --- inputs (reload_inputs.cpp) --------------------------------------------------------

// A realistic nested config: a global section, feature flags and
// `services` services; variants 0 and 1 differ in two values.
sd::Value config(std::size_t services, int variant);
// `v` as a file of format `f` (JSON and YAML by hand, TOML by toml++).
std::string render(const sd::Value& v, sd::Format f);
std::string read_file(const fs::path& p);
void write_file(const fs::path& p, const std::string& s);

// Two variants of one input, on disk.
struct Input {
  fs::path file[2];
  std::size_t bytes = 0;
  const char* ext = "";
  fs::path schema;  // the namespace's JSON Schema, if any (shape 4)
};
const char* fmt_name(sd::Format f);
// The input of about `kb` KB in format `f`, written under g_tmp on first use.
Input& input(sd::Format f, std::int64_t kb);

// JSON inputs of other shapes (reload_shapes.cpp), for BM_ReloadShape:
// 1 = the services config with its keys unsorted, 2 = one flat object of
// routes, 3 = long escaped strings, 4 = the services config with a JSON
// Schema (Input::schema). Two variants each, as input().
const char* shape_name(int shape);
Input& shaped_input(int shape, std::int64_t kb);

// --- counters ---------------------------------------------------------------------------

struct Samples {
  std::vector<double> s;  // seconds
  void add(double x) { s.push_back(x); }
  double pct(double p) {
    if (s.empty()) return 0;
    std::sort(s.begin(), s.end());
    return s[static_cast<std::size_t>(p * static_cast<double>(s.size() - 1) + 0.5)];
  }
  double mean() const {
    double t = 0;
    for (double x : s) t += x;
    return s.empty() ? 0 : t / static_cast<double>(s.size());
  }
};

inline void size_counters(benchmark::State& state, std::size_t bytes, Samples& t) {
  const double mb = static_cast<double>(bytes) / 1e6;
  state.counters["bytes"] = static_cast<double>(bytes);
  state.counters["median_ms"] = t.pct(0.5) * 1e3;
  state.counters["ms_per_MB"] = t.pct(0.5) * 1e3 / mb;
  state.counters["MB_per_s"] = t.pct(0.5) > 0 ? mb / t.pct(0.5) : 0;
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
}

// Fixed iteration counts per input size: bounded run time, enough samples
// for a median.
inline benchmark::IterationCount iters(std::int64_t kb, bool yaml, bool cheap) {
  if (cheap) return kb <= 1 ? 2000 : kb <= 100 ? 200 : kb <= 1000 ? 30 : 6;
  if (yaml) return kb <= 1 ? 100 : kb <= 100 ? 20 : kb <= 1000 ? 5 : 2;
  return kb <= 1 ? 100 : kb <= 100 ? 40 : kb <= 1000 ? 10 : 4;
}

// BM_Reload, BM_ReloadVisible and BM_Rollback (reload_service_bench.cpp),
// registered by reload_bench.cpp among the parse floors.
void BM_Reload(benchmark::State& state);
void BM_ReloadVisible(benchmark::State& state);
void BM_Rollback(benchmark::State& state);
// BM_ReloadVisible on shaped_input(shape, kb): args shape, kb.
void BM_ReloadShape(benchmark::State& state);

// BM_ReloadStages and BM_Wakeup (reload_stages_bench.cpp).
void register_stage_benchmarks();

}  // namespace shmconf::bench::reload
