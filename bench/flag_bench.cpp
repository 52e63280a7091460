// bench/flag_bench.cpp — feature-flag evaluation against a string-key read
// of the same flag, in one binary and one run (budget in
// docs/PERFORMANCE.md: a flag costs at most a string-key read + 10 ns, and
// allocates nothing).
//
// The namespace holds 1000 ordinary keys and 100 flags
// flags.f<i> = {enabled: true, percent: 25, allow: [8 ids], deny: [8 ids]};
// 1024 subjects ("user-<random>") are cycled, the flags too.
//
//   BM_FlagStringRead   Client::get_bool("flags.f<i>.enabled") (the bar)
//   BM_Flag             Client::flag("f<i>", subject)
//   BM_FlagKey          Client::flag(flag_key("f<i>"), subject), the key made once
//   BM_FlagBucket       flag_bucket("f<i>", subject), the hash alone
//
// Each reports allocs_per_read (the global operator new is counted).
#include <benchmark/benchmark.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "alloc_count.hpp"
#include "publish/builder.hpp"
#include "publish/publisher.hpp"
#include "publish/shm.hpp"
#include "shmconf/client.hpp"
#include "shmconf/flags.hpp"

namespace sd = shmconf::daemon;

namespace {

constexpr int kFlags = 100;
constexpr int kSubjects = 1024;

struct Bench {
  std::string prefix = "flagbench" + std::to_string(::getpid());
  std::unique_ptr<sd::Publisher> pub;
  std::shared_ptr<sd::Segment> seg;
  std::optional<shmconf::Client> client;
  std::vector<std::string> names;       // f0 .. f99
  std::vector<std::string> enabled;     // flags.f<i>.enabled
  std::vector<std::string> subjects;    // user-<random>
  std::vector<shmconf::Key> flag_keys;  // flag_key("f<i>")
};

sd::Value make_tree() {
  sd::Value root = sd::Value::object();
  sd::Value cfg = sd::Value::object();
  for (int i = 0; i < 1000; ++i) cfg.fields["key" + std::to_string(i)] = sd::Value::integer(i);
  root.fields["config"] = std::move(cfg);
  sd::Value flags = sd::Value::object();
  for (int f = 0; f < kFlags; ++f) {
    sd::Value flag = sd::Value::object();
    flag.fields["enabled"] = sd::Value::boolean(true);
    flag.fields["percent"] = sd::Value::integer(25);
    sd::Value allow = sd::Value::array();
    sd::Value deny = sd::Value::array();
    for (int j = 0; j < 8; ++j) {
      allow.items.push_back(sd::Value::string("staff-" + std::to_string(j)));
      deny.items.push_back(sd::Value::string("blocked-" + std::to_string(j)));
    }
    flag.fields["allow"] = std::move(allow);
    flag.fields["deny"] = std::move(deny);
    flags.fields["f" + std::to_string(f)] = std::move(flag);
  }
  root.fields["flags"] = std::move(flags);
  return root;
}

Bench& bench() {
  static Bench* b = [] {
    auto* x = new Bench;
    x->pub = std::make_unique<sd::Publisher>(x->prefix, "flags", sd::ShmAccess{});
    const sd::Value root = make_tree();
    static const sd::SourceList kSources{"bench:generated"};
    sd::BuildInput in;
    in.root = &root;
    in.sources = &kSources;
    in.version = 1;
    in.publish_time_ns = 1;
    in.content_hash = 1;
    in.trigger = "flag_bench";
    sd::SnapshotBuilder builder(in);
    x->seg = x->pub->create(builder);
    x->pub->flip(*x->seg);
    shmconf::ClientOptions opts;
    opts.prefix = x->prefix;
    x->client.emplace(shmconf::Client::open("flags", opts));
    std::mt19937_64 rng(42);
    for (int f = 0; f < kFlags; ++f) {
      x->names.push_back("f" + std::to_string(f));
      x->enabled.push_back("flags.f" + std::to_string(f) + ".enabled");
    }
    for (int s = 0; s < kSubjects; ++s) x->subjects.push_back("user-" + std::to_string(rng()));
    return x;
  }();
  return *b;
}

void finish(benchmark::State& state, std::uint64_t a0, std::uint64_t on) {
  const double n = static_cast<double>(state.iterations());
  state.counters["allocs_per_read"] =
      n > 0 ? static_cast<double>(shmconf::bench::allocations() - a0) / n : 0;
  state.counters["on_share"] = n > 0 ? static_cast<double>(on) / n : 0;
}

void BM_FlagStringRead(benchmark::State& state) {
  Bench& b = bench();
  const shmconf::Client& c = *b.client;
  std::size_t f = 0;
  std::uint64_t on = 0;
  benchmark::DoNotOptimize(c.get_bool(b.enabled[0]));
  const std::uint64_t a0 = shmconf::bench::allocations();
  for (auto _ : state) {
    auto r = c.get_bool(b.enabled[f]);
    on += r && *r;
    benchmark::DoNotOptimize(r);
    if (++f == kFlags) f = 0;
  }
  finish(state, a0, on);
}

void BM_Flag(benchmark::State& state) {
  Bench& b = bench();
  const shmconf::Client& c = *b.client;
  std::size_t f = 0, s = 0;
  std::uint64_t on = 0;
  benchmark::DoNotOptimize(c.flag(b.names[0], b.subjects[0]));
  const std::uint64_t a0 = shmconf::bench::allocations();
  for (auto _ : state) {
    auto r = c.flag(b.names[f], b.subjects[s]);
    on += r && *r;
    benchmark::DoNotOptimize(r);
    if (++f == kFlags) f = 0;
    if (++s == kSubjects) s = 0;
  }
  finish(state, a0, on);
}

void BM_FlagKey(benchmark::State& state) {
  Bench& b = bench();
  const shmconf::Client& c = *b.client;
  if (b.flag_keys.empty()) {
    for (const std::string& n : b.names) b.flag_keys.push_back(c.flag_key(n));
  }
  std::size_t f = 0, s = 0;
  std::uint64_t on = 0;
  benchmark::DoNotOptimize(c.flag(b.flag_keys[0], b.subjects[0]));
  const std::uint64_t a0 = shmconf::bench::allocations();
  for (auto _ : state) {
    auto r = c.flag(b.flag_keys[f], b.subjects[s]);
    on += r && *r;
    benchmark::DoNotOptimize(r);
    if (++f == kFlags) f = 0;
    if (++s == kSubjects) s = 0;
  }
  finish(state, a0, on);
}

void BM_FlagBucket(benchmark::State& state) {
  Bench& b = bench();
  std::size_t f = 0, s = 0;
  const std::uint64_t a0 = shmconf::bench::allocations();
  for (auto _ : state) {
    benchmark::DoNotOptimize(shmconf::flag_bucket(b.names[f], b.subjects[s]));
    if (++f == kFlags) f = 0;
    if (++s == kSubjects) s = 0;
  }
  finish(state, a0, 0);
}

BENCHMARK(BM_FlagStringRead);
BENCHMARK(BM_Flag);
BENCHMARK(BM_FlagKey);
BENCHMARK(BM_FlagBucket);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  for (const std::string& n : sd::shm_list(bench().prefix + ".")) ::shm_unlink(("/" + n).c_str());
  benchmark::Shutdown();
  return 0;
}
