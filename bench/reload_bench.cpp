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

// --- the service, in-process -------------------------------------------------------------

// A thread blocked in Client::wait_for_change; reports when it woke and
// when its snapshot() could serve the new version (mapped and validated).
class Waiter {
 public:
  explicit Waiter(const std::string& ns) {
    shmconf::ClientOptions o;
    o.prefix = g_prefix;
    client_.emplace(shmconf::Client::open(ns, o));
    thread_ = std::thread([this] { run(); });
  }
  ~Waiter() {
    stop_ = true;
    thread_.join();
  }
  // Blocks until the waiter is about to sleep again, then gives it 1 ms to
  // get into FUTEX_WAIT, so what follows measures a real wake-up.
  void arm() {
    while (!ready_.load()) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  struct Seen {
    Clock::time_point woke, readable;
    std::uint64_t version;
  };
  Seen next() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return have_; });
    have_ = false;
    return seen_;
  }

 private:
  void run() {
    std::uint64_t known = client_->version();
    while (!stop_) {
      ready_ = true;
      auto r = client_->wait_for_change(known, std::chrono::milliseconds(100));
      if (!r) continue;
      const auto woke = Clock::now();
      const shmconf::Snapshot snap = client_->snapshot();
      const auto readable = Clock::now();
      known = snap.version();
      ready_ = false;
      {
        std::lock_guard lock(mu_);
        seen_ = Seen{woke, readable, known};
        have_ = true;
      }
      cv_.notify_one();
    }
  }

  std::optional<shmconf::Client> client_;
  std::thread thread_;
  std::atomic<bool> ready_{false}, stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool have_ = false;
  Seen seen_{};
};

struct Service {
  std::string ns;
  fs::path source;
  std::unique_ptr<sd::NamespaceService> svc;
  int next_variant = 0;
  std::vector<std::uint64_t> versions;  // published by reload(), in order
  const Input* in = nullptr;

  // Puts the other variant in place by rename, as an editor or a
  // deployment tool would.
  void swap_source() {
    const fs::path tmp = source.string() + ".tmp";
    fs::copy_file(in->file[next_variant], tmp, fs::copy_options::overwrite_existing);
    fs::rename(tmp, source);
    next_variant ^= 1;
  }
  void stage_next() {
    const fs::path tmp = source.string() + ".tmp";
    fs::copy_file(in->file[next_variant], tmp, fs::copy_options::overwrite_existing);
  }
  void rename_staged() {
    fs::rename(source.string() + ".tmp", source);
    next_variant ^= 1;
  }
};

Service& service_for(sd::Format f, std::int64_t kb) {
  static std::mutex mu;
  static std::map<std::pair<int, std::int64_t>, std::unique_ptr<Service>> services;
  std::lock_guard lock(mu);
  auto& slot = services[{static_cast<int>(f), kb}];
  if (slot) return *slot;
  auto s = std::make_unique<Service>();
  s->in = &input(f, kb);
  s->ns = std::string(fmt_name(f)) + std::to_string(kb);
  const fs::path dir = g_tmp / s->ns;
  fs::create_directories(dir / "state");
  s->source = dir / (std::string("config.") + fmt_name(f));
  sd::ServiceOptions o;
  o.name = s->ns;
  o.prefix = g_prefix;
  o.sources = {sd::file_source(s->source.string())};
  o.state_dir = (dir / "state").string();
  o.keep = 2;
  s->svc = std::make_unique<sd::NamespaceService>(o);
  s->swap_source();
  s->svc->start();
  const sd::ReloadOutcome out = s->svc->reload("bench setup");
  if (!out.published) {
    std::fprintf(stderr, "reload_bench: first reload of %s failed: %s\n", s->ns.c_str(),
                 out.error.c_str());
    std::abort();
  }
  s->versions.push_back(out.version);
  slot = std::move(s);
  return *slot;
}

void BM_Reload(benchmark::State& state) {
  const auto f = static_cast<sd::Format>(state.range(0));
  Service& s = service_for(f, state.range(1));
  Samples t, persist;
  std::uint64_t allocs = 0;
  for (auto _ : state) {
    s.swap_source();
    const std::uint64_t a0 = shmconf::bench::allocations();
    const auto t0 = Clock::now();
    const sd::ReloadOutcome out = s.svc->reload("bench");
    const double dt = seconds(Clock::now() - t0);
    allocs += shmconf::bench::allocations() - a0;
    if (!out.published) {
      state.SkipWithError(("reload did not publish: " + out.message + " " + out.error).c_str());
      break;
    }
    s.versions.push_back(out.version);
    state.SetIterationTime(dt);
    t.add(dt);
    persist.add(s.svc->flush_state().value_or(0));  // after the reply, as the daemon does
  }
  size_counters(state, s.in->bytes, t);
  // Everything reload() allocates, the reply's change list included.
  state.counters["allocs_per_reload"] =
      static_cast<double>(allocs) /
      static_cast<double>(std::max<std::int64_t>(state.iterations(), 1));
  state.counters["persist_ms"] = persist.pct(0.5) * 1e3;
}

void BM_ReloadVisible(benchmark::State& state) {
  const auto f = static_cast<sd::Format>(state.range(0));
  Service& s = service_for(f, state.range(1));
  Waiter w(s.ns);
  Samples visible, woke, call, base, ratio;
  simdjson::dom::parser parser;
  for (auto _ : state) {
    // Paired baseline: the parser's own time on the same bytes, just before,
    // so both figures see the same load on this shared machine (the
    // budgets are ratios; the per-iteration ratio is the steadiest one).
    const fs::path& next = s.in->file[s.next_variant];
    double b = 0;
    if (f == sd::Format::kYaml) {
      const auto b0 = Clock::now();
      YAML::Node n = YAML::Load(read_file(next));
      benchmark::DoNotOptimize(n.size());
      b = seconds(Clock::now() - b0);  // the Node tree's destruction excluded
    } else if (f == sd::Format::kToml) {
      const auto b0 = Clock::now();
      toml::table t = toml::parse(read_file(next));
      benchmark::DoNotOptimize(t.size());
      b = seconds(Clock::now() - b0);  // the table's destruction excluded
    } else {
      const auto b0 = Clock::now();
      auto doc = parser.load(next.string());
      benchmark::DoNotOptimize(doc.error());
      b = seconds(Clock::now() - b0);
    }
    s.stage_next();
    w.arm();
    const auto t0 = Clock::now();
    s.rename_staged();
    const sd::ReloadOutcome out = s.svc->reload("bench");
    const auto t1 = Clock::now();
    if (!out.published) {
      state.SkipWithError(("reload did not publish: " + out.message + " " + out.error).c_str());
      break;
    }
    s.versions.push_back(out.version);
    (void)s.svc->flush_state();
    const Waiter::Seen seen = w.next();
    if (seen.version != out.version) {
      state.SkipWithError("the waiter saw another version");
      break;
    }
    const double dt = seconds(seen.readable - t0);
    state.SetIterationTime(dt);
    visible.add(dt);
    woke.add(seconds(seen.woke - t0));
    call.add(seconds(t1 - t0));
    base.add(b);
    ratio.add(dt / b);
  }
  size_counters(state, s.in->bytes, visible);
  state.counters["woke_ms"] = woke.pct(0.5) * 1e3;
  state.counters["reload_call_ms"] = call.pct(0.5) * 1e3;
  // YAML: YAML::Load of the file; TOML: toml::parse; JSON: simdjson's
  // parser.load of the file.
  state.counters["baseline_ms"] = base.pct(0.5) * 1e3;
  state.counters["per_baseline"] = ratio.pct(0.5);
}

void BM_Rollback(benchmark::State& state) {
  Service& s = service_for(sd::Format::kJson, state.range(0));
  while (s.versions.size() < 2) {
    s.swap_source();
    const sd::ReloadOutcome out = s.svc->reload("bench setup");
    if (!out.published) {
      state.SkipWithError("set-up reload did not publish");
      return;
    }
    s.versions.push_back(out.version);
  }
  const std::uint64_t a = s.versions[s.versions.size() - 2];
  const std::uint64_t b = s.versions.back();
  Waiter w(s.ns);
  Samples call, woke, readable, to_flip, persist;
  for (auto _ : state) {
    const std::uint64_t target = s.svc->live_version() == b ? a : b;
    w.arm();
    const auto t0 = Clock::now();
    const sd::ReloadOutcome out = s.svc->rollback(std::nullopt, target, "bench");
    const auto t1 = Clock::now();
    if (!out.ok || out.version != target) {
      state.SkipWithError(("rollback failed: " + out.error).c_str());
      break;
    }
    persist.add(s.svc->flush_state().value_or(0));
    const Waiter::Seen seen = w.next();
    state.SetIterationTime(seconds(t1 - t0));
    call.add(seconds(t1 - t0));
    to_flip.add(out.duration_ms / 1e3);  // the service's own clock: call -> flip done
    woke.add(seconds(seen.woke - t0));
    readable.add(seconds(seen.readable - t0));
  }
  state.counters["bytes"] = static_cast<double>(s.in->bytes);
  state.counters["call_median_ms"] = call.pct(0.5) * 1e3;
  state.counters["flip_median_ms"] = to_flip.pct(0.5) * 1e3;
  state.counters["woke_median_ms"] = woke.pct(0.5) * 1e3;
  state.counters["readable_median_ms"] = readable.pct(0.5) * 1e3;
  state.counters["call_max_ms"] = call.pct(1.0) * 1e3;
  state.counters["persist_median_ms"] = persist.pct(0.5) * 1e3;
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
