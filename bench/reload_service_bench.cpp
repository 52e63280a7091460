// bench/reload_service_bench.cpp — the write side in process, through a
// NamespaceService on the generated inputs: BM_Reload (what a control reply
// waits for), BM_ReloadVisible (rename -> reload -> a waiting client serves
// the new version, against the bare parser on the same file) and
// BM_Rollback. Registered by reload_bench.cpp.
#include <benchmark/benchmark.h>
#include <simdjson.h>
#include <toml++/toml.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "alloc_count.hpp"
#include "core/namespace_service.hpp"
#include "reload_common.hpp"
#include "shmconf/client.hpp"

namespace shmconf::bench::reload {
namespace {

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

// The service reloading `in` (a file of format `f`) as namespace `ns`,
// set up and published once on first use.
Service& service_of(const std::string& ns, sd::Format f, const Input& in) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<Service>> services;
  std::lock_guard lock(mu);
  auto& slot = services[ns];
  if (slot) return *slot;
  auto s = std::make_unique<Service>();
  s->in = &in;
  s->ns = ns;
  const fs::path dir = g_tmp / s->ns;
  fs::create_directories(dir / "state");
  s->source = dir / (std::string("config.") + fmt_name(f));
  sd::ServiceOptions o;
  o.name = s->ns;
  o.prefix = g_prefix;
  o.sources = {sd::file_source(s->source.string())};
  o.state_dir = (dir / "state").string();
  o.keep = 2;
  o.schema = in.schema.string();
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

Service& service_for(sd::Format f, std::int64_t kb) {
  return service_of(std::string(fmt_name(f)) + std::to_string(kb), f, input(f, kb));
}

// The parser's own time on the file at `next`: YAML::Load, toml::parse or
// simdjson's parser.load (the tree's destruction excluded).
double baseline_parse(sd::Format f, const fs::path& next, simdjson::dom::parser& parser) {
  const auto b0 = Clock::now();
  if (f == sd::Format::kYaml) {
    YAML::Node n = YAML::Load(read_file(next));
    benchmark::DoNotOptimize(n.size());
    return seconds(Clock::now() - b0);
  }
  if (f == sd::Format::kToml) {
    toml::table t = toml::parse(read_file(next));
    benchmark::DoNotOptimize(t.size());
    return seconds(Clock::now() - b0);
  }
  auto doc = parser.load(next.string());
  benchmark::DoNotOptimize(doc.error());
  return seconds(Clock::now() - b0);
}

// rename -> reload() -> a waiting client serves the new version, paired
// with the bare parser on the same bytes just before (BM_ReloadVisible).
void reload_visible(benchmark::State& state, Service& s, sd::Format f) {
  Waiter w(s.ns);
  Samples visible, woke, call, base, ratio;
  std::map<std::string, Samples> stages;  // the service's own breakdown
  simdjson::dom::parser parser;
  for (auto _ : state) {
    // Paired baseline: both figures see the same load on this shared
    // machine (the budgets are ratios; the per-iteration ratio is the
    // steadiest one).
    const double b = baseline_parse(f, s.in->file[s.next_variant], parser);
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
    for (const auto& [stage, sec] : out.stages) stages[stage].add(sec);
  }
  size_counters(state, s.in->bytes, visible);
  for (auto& [stage, samples] : stages)
    state.counters["stage_" + stage + "_ms"] = samples.pct(0.5) * 1e3;
  state.counters["woke_ms"] = woke.pct(0.5) * 1e3;
  state.counters["reload_call_ms"] = call.pct(0.5) * 1e3;
  state.counters["baseline_ms"] = base.pct(0.5) * 1e3;
  state.counters["per_baseline"] = ratio.pct(0.5);
  if (const sd::Segment* live = s.svc->live()) {
    state.counters["keys"] = live->view.node_count() - 1.0;
  }
}

}  // namespace

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
  reload_visible(state, service_for(f, state.range(1)), f);
}

void BM_ReloadShape(benchmark::State& state) {
  const int shape = static_cast<int>(state.range(0));
  const std::int64_t kb = state.range(1);
  Service& s = service_of("shape" + std::to_string(shape) + "-" + std::to_string(kb),
                          sd::Format::kJson, shaped_input(shape, kb));
  reload_visible(state, s, sd::Format::kJson);
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

}  // namespace shmconf::bench::reload
