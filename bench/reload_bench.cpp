// bench/reload_bench.cpp — the write side, end to end, against the parsers'
// own speed, in one binary and one run (docs/PERFORMANCE.md "Budgets").
//
// Inputs: generated, realistic nested configs (a global section, feature
// flags and N services with ports, limits, env, endpoints, tags), in JSON
// and YAML, of about 1 KB, 100 KB, 1 MB and 10 MB. Two variants of each (A
// and B differ in two values) so every reload really publishes.
//
//   BM_SimdjsonParse/kb        simdjson::dom::parser::load (the floor for JSON)
//   BM_YamlCppLoad/kb          YAML::Load of the file's bytes (yaml-cpp's own parse)
//   BM_YamlCppEvents/kb        YAML::Parser + an EventHandler that does nothing
//                              (the floor for YAML)
//   BM_ParseFile/fmt/kb        shmconf's parse_file (read + parse + checks -> Value)
//   BM_Reload/fmt/kb           NamespaceService::reload: parse + merge + hash +
//                              build + publish, what a control reply waits for;
//                              persist_ms: the flush_state() that follows the
//                              reply (state dir in /tmp), untimed
//   BM_ReloadVisible/fmt/kb    rename(new file over the source) -> reload() -> a
//                              thread blocked in Client::wait_for_change wakes
//                              and its snapshot() serves the new version; each
//                              iteration also times the bare parser (YAML::Load
//                              or simdjson) on the same file just before, and
//                              reports the median per-iteration ratio
//                              (per_baseline): the load on a shared machine
//                              changes between benchmarks, less within a pair
//   BM_ReloadShape/shape/kb    BM_ReloadVisible for JSON inputs of other shapes
//                              (reload_shapes.cpp: keys unsorted, one flat
//                              object, long escaped strings, with a JSON
//                              Schema), 1 MB and 10 MB
//   BM_ReloadStages/fmt/kb     the same steps one by one (parse, merge, hash, build,
//                              create, flip, a client's attach), for the breakdown
//   BM_Rollback/kb             NamespaceService::rollback between two retained
//                              versions: the call until the flip (the service's
//                              ReloadOutcome::duration_ms), the whole call (what
//                              the reply waits for), when a waiting client woke
//                              and could read, and the flush_state() after it
//   BM_Wakeup/process          Publisher::flip -> a waiter in another process
//                              (fork) or thread returns from wait_for_change
//
// fmt: 0 = JSON, 1 = YAML, 2 = TOML. kb: input size in KB (1 KB = 1000 bytes).
// All timings are manual (SetIterationTime) with fixed iteration counts:
// these are milliseconds-to-seconds operations with side effects, and a
// 10 MB YAML parse takes about a second here. Counters: bytes (the input),
// ms_per_MB and MB_per_s from the mean, median_ms from the samples.
//
// Not measured here: the daemon's inotify path (FileWatcher + debounce). A
// rename reaches shmconfd as an inotify event (about 25 us) and then the
// debounce delay, which is configuration, not cost; BM_ReloadVisible starts
// at the rename and runs the same reload() the daemon's loop would.
//
// This file holds the parse floors, registers every benchmark and runs
// them; BM_Reload, BM_ReloadVisible and BM_Rollback are in
// reload_service_bench.cpp, BM_ReloadStages and BM_Wakeup in
// reload_stages_bench.cpp, the inputs in reload_inputs.cpp.
#include <benchmark/benchmark.h>
#include <signal.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <toml++/toml.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "alloc_count.hpp"
#include "core/namespace_service.hpp"
#include "parse/parse.hpp"
#include "publish/builder.hpp"
#include "publish/publisher.hpp"
#include "publish/shm.hpp"
#include "reload_common.hpp"
#include "shmconf/client.hpp"
#include "tree/value.hpp"

namespace shmconf::bench::reload {

std::string g_prefix;
fs::path g_tmp;

namespace {

void remove_our_shm() {
  for (const std::string& n : sd::shm_list(g_prefix + ".")) sd::shm_remove("/" + n);
}

// --- parse floors ------------------------------------------------------------------------

void BM_SimdjsonParse(benchmark::State& state) {
  const Input& in = input(sd::Format::kJson, state.range(0));
  simdjson::dom::parser parser;
  Samples t;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    auto doc = parser.load(in.file[0].string());
    if (doc.error()) {
      state.SkipWithError(simdjson::error_message(doc.error()));
      break;
    }
    benchmark::DoNotOptimize(doc.value_unsafe());
    const double dt = seconds(Clock::now() - t0);
    state.SetIterationTime(dt);
    t.add(dt);
  }
  size_counters(state, in.bytes, t);
}

void BM_YamlCppLoad(benchmark::State& state) {
  const Input& in = input(sd::Format::kYaml, state.range(0));
  Samples t;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    YAML::Node n = YAML::Load(read_file(in.file[0]));
    benchmark::DoNotOptimize(n.size());
    const double dt = seconds(Clock::now() - t0);  // the Node tree's destruction excluded
    state.SetIterationTime(dt);
    t.add(dt);
  }
  size_counters(state, in.bytes, t);
}

class NullHandler : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string& value) override {
    n_ += value.size();
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
  std::size_t n_ = 0;
};

void BM_YamlCppEvents(benchmark::State& state) {
  const Input& in = input(sd::Format::kYaml, state.range(0));
  Samples t;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    std::istringstream ss(read_file(in.file[0]));
    YAML::Parser parser(ss);
    NullHandler h;
    while (parser.HandleNextDocument(h)) {
    }
    benchmark::DoNotOptimize(h.n_);
    const double dt = seconds(Clock::now() - t0);
    state.SetIterationTime(dt);
    t.add(dt);
  }
  size_counters(state, in.bytes, t);
}

void BM_ParseFile(benchmark::State& state) {
  const auto f = static_cast<sd::Format>(state.range(0));
  const Input& in = input(f, state.range(1));
  Samples t;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    sd::Value v = sd::parse_file(in.file[0].string(), 0);
    benchmark::DoNotOptimize(v.fields.size());
    const double dt = seconds(Clock::now() - t0);  // the tree's destruction excluded
    state.SetIterationTime(dt);
    t.add(dt);
  }
  size_counters(state, in.bytes, t);
}

// --- registration -----------------------------------------------------------------------

void register_all() {
  for (std::int64_t kb : kSizesKb) {
    benchmark::RegisterBenchmark("BM_SimdjsonParse", BM_SimdjsonParse)
        ->ArgName("kb")
        ->Arg(kb)
        ->UseManualTime()
        ->Iterations(iters(kb, false, true));
  }
  for (std::int64_t kb : kSizesKb) {
    benchmark::RegisterBenchmark("BM_YamlCppLoad", BM_YamlCppLoad)
        ->ArgName("kb")
        ->Arg(kb)
        ->UseManualTime()
        ->Iterations(iters(kb, true, false));
    benchmark::RegisterBenchmark("BM_YamlCppEvents", BM_YamlCppEvents)
        ->ArgName("kb")
        ->Arg(kb)
        ->UseManualTime()
        ->Iterations(iters(kb, true, false));
  }
  for (int f = 0; f < 3; ++f) {
    const bool yaml = f != 0;  // YAML and TOML parse slowly: fewer iterations
    for (std::int64_t kb : kSizesKb) {
      using Fn = void (*)(benchmark::State&);
      const std::pair<const char*, Fn> kinds[] = {{"BM_ParseFile", BM_ParseFile},
                                                  {"BM_Reload", BM_Reload},
                                                  {"BM_ReloadVisible", BM_ReloadVisible}};
      for (auto [name, fn] : kinds) {
        benchmark::RegisterBenchmark(name, fn)
            ->ArgNames({"fmt", "kb"})
            ->Args({f, kb})
            ->UseManualTime()
            ->Iterations(iters(kb, yaml, false));
      }
    }
  }
  for (int shape = 1; shape <= 4; ++shape) {
    for (std::int64_t kb : {std::int64_t{1000}, std::int64_t{10000}}) {
      benchmark::RegisterBenchmark("BM_ReloadShape", BM_ReloadShape)
          ->ArgNames({"shape", "kb"})
          ->Args({shape, kb})
          ->UseManualTime()
          ->Iterations(iters(kb, false, false));
    }
  }
  for (std::int64_t kb : kSizesKb) {
    benchmark::RegisterBenchmark("BM_Rollback", BM_Rollback)
        ->ArgName("kb")
        ->Arg(kb)
        ->UseManualTime()
        ->Iterations(kb >= 10000 ? 10 : 30);
  }
  register_stage_benchmarks();
}

extern "C" void on_signal(int sig) {
  for (const std::string& n : sd::shm_list(g_prefix + ".")) ::shm_unlink(("/" + n).c_str());
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace
}  // namespace shmconf::bench::reload

int main(int argc, char** argv) {
  using namespace shmconf::bench::reload;
  g_prefix = "rbench" + std::to_string(::getpid());
  g_tmp = fs::temp_directory_path() / ("shmconf-reload-bench-" + std::to_string(::getpid()));
  fs::create_directories(g_tmp);
  ::signal(SIGINT, on_signal);
  ::signal(SIGTERM, on_signal);
  ::signal(SIGPIPE, SIG_IGN);
  spdlog::set_level(spdlog::level::warn);  // one info line per reload otherwise
  benchmark::AddCustomContext("shm_prefix", g_prefix);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  remove_our_shm();
  std::error_code ec;
  fs::remove_all(g_tmp, ec);
  return 0;
}
