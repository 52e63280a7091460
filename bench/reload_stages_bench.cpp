// bench/reload_stages_bench.cpp — where a reload's time goes (BM_ReloadStages:
// parse, merge, hash, build, create, flip, a client's attach, one by one)
// and the futex wake-up from Publisher::flip to a waiter in another process
// or thread (BM_Wakeup). Registered by reload_bench.cpp's main.
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
namespace {

// --- where a reload's time goes ---------------------------------------------------------

// The steps of NamespaceService::reload, timed one by one on the same input
// (the service runs them in this order; state-directory writes come after
// the flip and are left out). Counters are medians in ms.
void BM_ReloadStages(benchmark::State& state) {
  const auto f = static_cast<sd::Format>(state.range(0));
  const Input& in = input(f, state.range(1));
  const std::string ns = std::string("st") + fmt_name(f) + std::to_string(state.range(1));
  sd::Publisher pub(g_prefix, ns, sd::ShmAccess{});
  const sd::SourceList sources{"file:" + in.file[0].string()};
  std::shared_ptr<sd::Segment> live;
  std::optional<shmconf::Client> client;
  // The memory budget's yardstick: the canonical (compact) JSON of the tree.
  const double canonical =
      static_cast<double>(sd::to_json(sd::parse_file(in.file[0].string(), 0)).size());
  Samples parse, merge, hash, build, create, flip, attach, destroy, total;
  // Heap allocations per stage, summed over the iterations.
  std::uint64_t a_parse = 0, a_merge = 0, a_hash = 0, a_build = 0, a_create = 0;
  int variant = 0;
  std::uint64_t version = 0;
  for (auto _ : state) {
    const std::uint64_t a0 = shmconf::bench::allocations();
    const auto t0 = Clock::now();
    sd::Value parsed = sd::parse_file(in.file[variant].string(), 0);
    const auto t1 = Clock::now();
    const std::uint64_t a1 = shmconf::bench::allocations();
    sd::Value merged = sd::Value::object();
    sd::merge_into(merged, std::move(parsed));
    const auto t2 = Clock::now();
    const std::uint64_t a2 = shmconf::bench::allocations();
    sd::BuildInput bi;
    bi.root = &merged;
    bi.sources = &sources;
    bi.version = ++version;
    bi.content_hash = sd::content_hash(merged);
    bi.trigger = "bench";
    bi.previous = live ? &live->view : nullptr;
    const auto t3 = Clock::now();
    const std::uint64_t a3 = shmconf::bench::allocations();
    sd::SnapshotBuilder builder(bi);
    const auto t4 = Clock::now();
    const std::uint64_t a4 = shmconf::bench::allocations();
    auto seg = pub.create(builder);
    const auto t5 = Clock::now();
    const std::uint64_t a5 = shmconf::bench::allocations();
    a_parse += a1 - a0;
    a_merge += a2 - a1;
    a_hash += a3 - a2;
    a_build += a4 - a3;
    a_create += a5 - a4;
    pub.flip(*seg);
    const auto t6 = Clock::now();
    if (!client) {
      shmconf::ClientOptions o;
      o.prefix = g_prefix;
      client.emplace(shmconf::Client::open(ns, o));
    }
    const shmconf::Snapshot snap = client->snapshot();  // map + validate, as each client does
    const auto t7 = Clock::now();
    if (snap.version() != version) {
      state.SkipWithError("client did not see the new version");
      break;
    }
    { [[maybe_unused]] sd::Value gone = std::move(merged); }
    const auto t8 = Clock::now();
    if (live) pub.unlink(live->id);
    live = seg;
    variant ^= 1;
    parse.add(seconds(t1 - t0));
    merge.add(seconds(t2 - t1));
    hash.add(seconds(t3 - t2));
    build.add(seconds(t4 - t3));
    create.add(seconds(t5 - t4));
    flip.add(seconds(t6 - t5));
    attach.add(seconds(t7 - t6));
    destroy.add(seconds(t8 - t7));
    total.add(seconds(t6 - t0));
    state.SetIterationTime(seconds(t8 - t0));
  }
  state.counters["bytes"] = static_cast<double>(in.bytes);
  state.counters["segment_bytes"] = live ? static_cast<double>(live->size()) : 0;
  state.counters["keys"] = live ? live->view.node_count() - 1.0 : 0;
  state.counters["canonical_json_bytes"] = canonical;
  state.counters["segment_per_json"] = live ? static_cast<double>(live->size()) / canonical : 0;
  if (live) {
    // Where the segment's bytes go (docs/FORMAT.md sections), per key.
    const auto& h = live->view.header();
    const double keys = live->view.node_count() - 1.0;
    state.counters["B_per_key_nodes"] = (h.origins_off - h.nodes_off) / keys;
    state.counters["B_per_key_origins"] = (h.index_off - h.origins_off) / keys;
    state.counters["B_per_key_index"] = (h.meta_off - h.index_off) / keys;
    state.counters["B_per_key_pool"] = h.strings_size / keys;
    state.counters["json_B_per_key"] = canonical / keys;
  }
  state.counters["parse_ms"] = parse.pct(0.5) * 1e3;
  state.counters["merge_ms"] = merge.pct(0.5) * 1e3;
  state.counters["hash_ms"] = hash.pct(0.5) * 1e3;
  state.counters["build_ms"] = build.pct(0.5) * 1e3;
  state.counters["create_ms"] = create.pct(0.5) * 1e3;
  state.counters["flip_ms"] = flip.pct(0.5) * 1e3;
  state.counters["client_attach_ms"] = attach.pct(0.5) * 1e3;
  state.counters["free_tree_ms"] = destroy.pct(0.5) * 1e3;
  state.counters["to_flip_ms"] = total.pct(0.5) * 1e3;
  // Allocations per reload, by stage, and per key (the budget: none per key).
  const double iters = static_cast<double>(state.iterations());
  const double keys = live ? live->view.node_count() - 1.0 : 1.0;
  state.counters["allocs_parse"] = static_cast<double>(a_parse) / iters;
  state.counters["allocs_merge"] = static_cast<double>(a_merge) / iters;
  state.counters["allocs_hash"] = static_cast<double>(a_hash) / iters;
  state.counters["allocs_build"] = static_cast<double>(a_build) / iters;
  state.counters["allocs_create"] = static_cast<double>(a_create) / iters;
  state.counters["allocs_per_key"] =
      static_cast<double>(a_parse + a_merge + a_hash + a_build + a_create) / iters / keys;
  if (live) pub.unlink(live->id);
}

// --- futex wake-up, publish -> waiter --------------------------------------------------

std::int64_t mono_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

bool read_all(int fd, void* p, std::size_t n) {
  auto* c = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = ::read(fd, c, n);
    if (r <= 0) return false;
    c += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// The waiter: sends 0 when about to wait, then the CLOCK_MONOTONIC time it
// woke at; stops when the wait times out or the pipe closes.
void wake_waiter(const std::string& ns, int fd) {
  shmconf::ClientOptions o;
  o.prefix = g_prefix;
  auto c = shmconf::Client::try_open(ns, o);
  if (!c) return;
  std::uint64_t known = c->version();
  for (;;) {
    std::int64_t msg = 0;
    if (::write(fd, &msg, sizeof msg) != sizeof msg) return;
    auto r = c->wait_for_change(known, std::chrono::milliseconds(5000));
    msg = mono_ns();
    if (!r) return;
    known = *r;
    if (::write(fd, &msg, sizeof msg) != sizeof msg) return;
  }
}

void BM_Wakeup(benchmark::State& state) {
  const bool process = state.range(0) != 0;
  const std::string ns = process ? "wakeproc" : "wakethread";
  sd::Publisher pub(g_prefix, ns, sd::ShmAccess{});
  std::shared_ptr<sd::Segment> seg[2];
  const sd::SourceList sources{"bench:generated"};
  for (int i = 0; i < 2; ++i) {
    const sd::Value root = config(1, i);
    sd::BuildInput in;
    in.root = &root;
    in.sources = &sources;
    in.version = static_cast<std::uint64_t>(i + 1);
    in.content_hash = in.version;
    in.trigger = "bench";
    seg[i] = pub.create(sd::SnapshotBuilder(in));
  }
  pub.flip(*seg[0]);
  int fds[2];
  if (::pipe(fds) != 0) {
    state.SkipWithError("pipe failed");
    return;
  }
  pid_t child = -1;
  std::thread thread;
  if (process) {
    std::fflush(nullptr);
    child = ::fork();
    if (child == 0) {
      ::close(fds[0]);
      wake_waiter(ns, fds[1]);
      ::_exit(0);
    }
    ::close(fds[1]);
    fds[1] = -1;
  } else {
    thread = std::thread(wake_waiter, ns, fds[1]);
  }
  Samples lat;
  int k = 1;
  for (auto _ : state) {
    std::int64_t msg = -1;
    if (!read_all(fds[0], &msg, sizeof msg) || msg != 0) {
      state.SkipWithError("waiter died");
      break;
    }
    // Let the waiter get into FUTEX_WAIT: the figure is a wake-up, not a
    // waiter that had not gone to sleep yet.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const std::int64_t t0 = mono_ns();
    pub.flip(*seg[k]);
    k ^= 1;
    if (!read_all(fds[0], &msg, sizeof msg)) {
      state.SkipWithError("waiter died");
      break;
    }
    const double dt = static_cast<double>(msg - t0) / 1e9;
    state.SetIterationTime(dt);
    lat.add(dt);
  }
  ::close(fds[0]);
  if (process) {
    ::kill(child, SIGTERM);
    ::waitpid(child, nullptr, 0);
  } else {
    // The waiter's next write fails on the closed pipe (EPIPE: ignored,
    // SIGPIPE is blocked in main) or its wait times out.
    pub.flip(*seg[k]);
    thread.join();
    ::close(fds[1]);
  }
  state.counters["p50_us"] = lat.pct(0.5) * 1e6;
  state.counters["p90_us"] = lat.pct(0.9) * 1e6;
  state.counters["p99_us"] = lat.pct(0.99) * 1e6;
  state.counters["max_us"] = lat.pct(1.0) * 1e6;
  pub.unlink(seg[0]->id);
  pub.unlink(seg[1]->id);
}

}  // namespace

void register_stage_benchmarks() {
  for (int f = 0; f < 3; ++f) {
    for (std::int64_t kb : kSizesKb) {
      benchmark::RegisterBenchmark("BM_ReloadStages", BM_ReloadStages)
          ->ArgNames({"fmt", "kb"})
          ->Args({f, kb})
          ->UseManualTime()
          ->Iterations(iters(kb, f != 0, false));
    }
  }
  for (int process = 1; process >= 0; --process) {
    benchmark::RegisterBenchmark("BM_Wakeup", BM_Wakeup)
        ->ArgName("process")
        ->Arg(process)
        ->UseManualTime()
        ->Iterations(200);
  }
}

}  // namespace shmconf::bench::reload
