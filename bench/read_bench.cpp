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
// operator new below during the timed loop only: 0 for the Client getters
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
#include <benchmark/benchmark.h>
#include <hiredis/hiredis.h>
#include <lmdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "alloc_count.hpp"
#include "publish/builder.hpp"
#include "publish/publisher.hpp"
#include "publish/shm.hpp"
#include "shmconf/client.hpp"
#include "shmconf/shmconf.h"
#include "tree/value.hpp"

namespace {

namespace sd = shmconf::daemon;
namespace fs = std::filesystem;

constexpr std::size_t kHotKeys = 1000;
constexpr std::size_t kPerSection = 100;
constexpr int kReadsPerPin = 16;
constexpr int kLmdbBatch = 1024;

std::string g_prefix;  // "bench<pid>": every shm object of this run
fs::path g_tmp;        // LMDB environments and the redis dir

std::string key_name(std::size_t i) {
  return "section" + std::to_string(i / kPerSection) + ".key" + std::to_string(i);
}
std::int64_t key_value(std::size_t i) { return static_cast<std::int64_t>(i) * 7 + 1; }

std::uint64_t wall_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

void remove_our_shm() {
  for (const std::string& n : sd::shm_list(g_prefix + ".")) sd::shm_remove("/" + n);
}

// Where thread t starts in a sequence of `size`.
std::size_t start_of(const benchmark::State& state, std::size_t size) {
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

std::mutex g_sets_mu;
std::map<std::size_t, std::unique_ptr<Dataset>> g_sets;

Dataset& dataset(std::size_t n) {
  std::lock_guard lock(g_sets_mu);
  auto& slot = g_sets[n];
  if (slot) return *slot;
  auto d = std::make_unique<Dataset>();
  d->n = n;
  std::mt19937_64 rng(42 + n);
  std::vector<std::uint32_t> perm(n);
  for (std::size_t i = 0; i < n; ++i) perm[i] = static_cast<std::uint32_t>(i);
  std::shuffle(perm.begin(), perm.end(), rng);
  d->pattern[1].idx = perm;
  std::shuffle(perm.begin(), perm.end(), rng);  // the hot set: another sample, another order
  d->pattern[0].idx.assign(perm.begin(), perm.begin() + std::min(n, kHotKeys));
  for (Pattern& p : d->pattern) {
    p.keys.reserve(p.idx.size());
    for (std::uint32_t i : p.idx) p.keys.push_back(key_name(i));
  }
  d->values.resize(n);
  for (std::size_t i = 0; i < n; ++i) d->values[i] = key_value(i);
  slot = std::move(d);
  return *slot;
}

std::unordered_map<std::string, std::int64_t>& umap_of(Dataset& d) {
  std::call_once(d.umap_once, [&] {
    d.umap.reserve(d.n);
    for (std::size_t i = 0; i < d.n; ++i) d.umap.emplace(key_name(i), key_value(i));
  });
  return d.umap;
}

sd::Value make_tree(std::size_t n) {
  sd::Value root = sd::Value::object();
  sd::Value* sec = nullptr;
  for (std::size_t i = 0; i < n; ++i) {
    if (i % kPerSection == 0) {
      sec = &root.fields["section" + std::to_string(i / kPerSection)];
      *sec = sd::Value::object();
    }
    sec->fields["key" + std::to_string(i)] = sd::Value::integer(key_value(i));
  }
  sd::Value meta = sd::Value::object();
  meta.fields["name"] = sd::Value::string("read_bench");
  meta.fields["owner"] = sd::Value::string("team-config");
  meta.fields["region"] = sd::Value::string("eu-west-1");
  root.fields["meta"] = std::move(meta);
  return root;
}

std::shared_ptr<sd::Segment> publish_tree(sd::Publisher& pub, const sd::Value& root,
                                          std::uint64_t version,
                                          const shmconf::SegmentView* previous) {
  static const sd::SourceList kSources{"bench:generated"};
  sd::BuildInput in;
  in.root = &root;
  in.sources = &kSources;
  in.version = version;
  in.publish_time_ns = wall_ns();
  in.content_hash = version;  // not checked by readers; hashing 1M keys would dominate set-up
  in.trigger = "read_bench";
  in.previous = previous;
  sd::SnapshotBuilder builder(in);
  auto seg = pub.create(builder);
  pub.flip(*seg);
  return seg;
}

Shm& shm_of(Dataset& d) {
  std::call_once(d.shm_once, [&] {
    const std::string ns = "r" + std::to_string(d.n);
    d.shm.pub = std::make_unique<sd::Publisher>(g_prefix, ns, sd::ShmAccess{});
    d.shm.seg = publish_tree(*d.shm.pub, make_tree(d.n), 1, nullptr);
    shmconf::ClientOptions opts;
    opts.prefix = g_prefix;
    d.shm.client.emplace(shmconf::Client::open(ns, opts));
    if (shmconf_open_prefix(ns.c_str(), g_prefix.c_str(), &d.shm.capi) != 0) std::abort();
    for (int p = 0; p < 2; ++p) {
      d.shm.handles[p].reserve(d.pattern[p].keys.size());
      for (const std::string& k : d.pattern[p].keys)
        d.shm.handles[p].push_back(d.shm.client->key(k));
    }
    const std::size_t nsec = (d.n + kPerSection - 1) / kPerSection;
    std::vector<std::size_t> secs(nsec);
    for (std::size_t i = 0; i < nsec; ++i) secs[i] = i;
    std::shuffle(secs.begin(), secs.end(), std::mt19937_64(7 + d.n));
    for (std::size_t j = 0; j < nsec; ++j) {
      const std::string s = "section" + std::to_string(secs[j]);
      if (j < 10) d.shm.sections[0].push_back(s);
      d.shm.sections[1].push_back(s);
    }
  });
  return d.shm;
}

void check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "read_bench: %s: %s\n", what, mdb_strerror(rc));
    std::abort();
  }
}

Lmdb& lmdb_of(Dataset& d) {
  std::call_once(d.lmdb_once, [&] {
    const fs::path dir = g_tmp / ("lmdb" + std::to_string(d.n));
    fs::create_directories(dir);
    const std::size_t map_size = std::max<std::size_t>(64u << 20, d.n * 256);
    // Load: one write txn, keys appended in sorted order.
    {
      MDB_env* env = nullptr;
      check(mdb_env_create(&env), "mdb_env_create");
      check(mdb_env_set_mapsize(env, map_size), "mdb_env_set_mapsize");
      check(mdb_env_open(env, dir.c_str(), MDB_NOSYNC | MDB_WRITEMAP | MDB_NOMETASYNC, 0644),
            "mdb_env_open");
      std::vector<std::pair<std::string, std::int64_t>> kv;
      kv.reserve(d.n);
      for (std::size_t i = 0; i < d.n; ++i) kv.emplace_back(key_name(i), key_value(i));
      std::sort(kv.begin(), kv.end());
      MDB_txn* txn = nullptr;
      MDB_dbi dbi = 0;
      check(mdb_txn_begin(env, nullptr, 0, &txn), "mdb_txn_begin");
      check(mdb_dbi_open(txn, nullptr, 0, &dbi), "mdb_dbi_open");
      for (auto& [k, v] : kv) {
        MDB_val key{k.size(), k.data()};
        MDB_val val{sizeof v, &v};
        check(mdb_put(txn, dbi, &key, &val, MDB_APPEND), "mdb_put");
      }
      check(mdb_txn_commit(txn), "mdb_txn_commit");
      mdb_env_sync(env, 1);
      mdb_env_close(env);
    }
    // Read like a reader process would: a read-only environment.
    check(mdb_env_create(&d.lmdb.env), "mdb_env_create");
    check(mdb_env_set_mapsize(d.lmdb.env, map_size), "mdb_env_set_mapsize");
    check(mdb_env_set_maxreaders(d.lmdb.env, 256), "mdb_env_set_maxreaders");
    check(mdb_env_open(d.lmdb.env, dir.c_str(), MDB_RDONLY, 0644), "mdb_env_open");
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(d.lmdb.env, nullptr, MDB_RDONLY, &txn), "mdb_txn_begin");
    check(mdb_dbi_open(txn, nullptr, 0, &d.lmdb.dbi), "mdb_dbi_open");
    mdb_txn_abort(txn);
  });
  return d.lmdb;
}

// --- redis-server, started on demand ------------------------------------------------

struct Redis {
  pid_t pid = -1;
  int port = 0;
  std::string error;  // why it is unavailable
};
std::once_flag g_redis_once;
Redis g_redis;

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  dirs += ":/usr/sbin:/sbin";
  std::size_t pos = 0;
  while (pos <= dirs.size()) {
    const std::size_t end = std::min(dirs.find(':', pos), dirs.size());
    const std::string cand = dirs.substr(pos, end - pos) + "/" + name;
    if (end > pos && access(cand.c_str(), X_OK) == 0) return cand;
    pos = end + 1;
  }
  return "";
}

int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

redisContext* redis_connect() {
  timeval tv{1, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", g_redis.port, tv);
  if (c != nullptr && c->err != 0) {
    redisFree(c);
    return nullptr;
  }
  return c;
}

void stop_redis() {
  if (g_redis.pid > 0) {
    ::kill(g_redis.pid, SIGTERM);
    ::waitpid(g_redis.pid, nullptr, 0);
    g_redis.pid = -1;
  }
}

void start_redis(std::size_t n) {
  const std::string exe = find_program(SHMCONF_REDIS_SERVER);
  if (exe.empty()) {
    g_redis.error = "redis-server not found (apt-get install redis-server); Redis baseline skipped";
    return;
  }
  const fs::path dir = g_tmp / "redis";
  fs::create_directories(dir);
  g_redis.port = free_loopback_port();
  const std::string port = std::to_string(g_redis.port);
  const std::string log = (dir / "redis.log").string();
  const char* argv[] = {exe.c_str(), "--port",      port.c_str(), "--bind",
                        "127.0.0.1", "--save",      "",           "--appendonly",
                        "no",        "--dir",       dir.c_str(),  "--logfile",
                        log.c_str(), "--daemonize", "no",         nullptr};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::execv(exe.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  if (pid < 0) {
    g_redis.error = "fork failed";
    return;
  }
  g_redis.pid = pid;
  redisContext* c = nullptr;
  for (int i = 0; i < 100 && c == nullptr; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    c = redis_connect();
  }
  if (c == nullptr) {
    stop_redis();
    g_redis.error = "redis-server did not accept connections within 5 s";
    return;
  }
  // Pipelined SETs of the keys of the data set.
  for (std::size_t i = 0; i < n; ++i) {
    const std::string k = key_name(i);
    redisAppendCommand(c, "SET %b %lld", k.data(), k.size(), static_cast<long long>(key_value(i)));
  }
  for (std::size_t i = 0; i < n; ++i) {
    void* reply = nullptr;
    if (redisGetReply(c, &reply) != REDIS_OK) {
      g_redis.error = "loading keys into redis failed";
      break;
    }
    freeReplyObject(reply);
  }
  redisFree(c);
}

// --- read benchmarks --------------------------------------------------------------

void finish_reads(benchmark::State& state, std::uint64_t allocs0, std::uint64_t errors) {
  const double reads = static_cast<double>(state.iterations());
  state.counters["allocs_per_read"] = benchmark::Counter(
      reads > 0 ? static_cast<double>(shmconf::bench::allocations() - allocs0) / reads : 0,
      benchmark::Counter::kAvgThreads);
  state.counters["errors"] = static_cast<double>(errors);
  state.SetItemsProcessed(state.iterations());
}

void BM_UnorderedMapFind(benchmark::State& state) {
  Dataset& d = dataset(static_cast<std::size_t>(state.range(0)));
  auto& map = umap_of(d);
  const auto& keys = d.pattern[state.range(1)].keys;
  const std::size_t n = keys.size();
  std::size_t i = start_of(state, n);
  std::uint64_t errors = 0;
  const std::uint64_t a0 = shmconf::bench::allocations();
  for (auto _ : state) {
    auto it = map.find(keys[i]);
    if (it == map.end()) ++errors;
    benchmark::DoNotOptimize(it->second);
    if (++i == n) i = 0;
  }
  finish_reads(state, a0, errors);
}

void BM_CachedVariable(benchmark::State& state) {
  Dataset& d = dataset(static_cast<std::size_t>(state.range(0)));
  const auto& idx = d.pattern[state.range(1)].idx;
  const std::int64_t* values = d.values.data();
  const std::size_t n = idx.size();
  std::size_t i = start_of(state, n);
  const std::uint64_t a0 = shmconf::bench::allocations();
  for (auto _ : state) {
    benchmark::DoNotOptimize(values[idx[i]]);
    if (++i == n) i = 0;
  }
  finish_reads(state, a0, 0);
}

// What a hand-rolled hot-reloadable global costs at least: an acquire load
// of a version word another thread may bump, a compare with this thread's
// copy, then the value. The honest floor for any value that can change
// under the reader (a plain cached variable cannot).
std::atomic<std::uint64_t> g_reload_generation{1};
thread_local std::uint64_t t_seen_generation = 1;

void BM_ReloadableVariable(benchmark::State& state) {
  Dataset& d = dataset(static_cast<std::size_t>(state.range(0)));
  const auto& idx = d.pattern[state.range(1)].idx;
  const std::int64_t* values = d.values.data();
  const std::size_t n = idx.size();
  std::size_t i = start_of(state, n);
  std::uint64_t stale = 0;
  const std::uint64_t a0 = shmconf::bench::allocations();
  for (auto _ : state) {
    const std::uint64_t g = g_reload_generation.load(std::memory_order_acquire);
    if (g != t_seen_generation) {
      t_seen_generation = g;
      ++stale;
    }
    benchmark::DoNotOptimize(values[idx[i]]);
    if (++i == n) i = 0;
  }
  benchmark::DoNotOptimize(stale);
  finish_reads(state, a0, 0);
}

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

void BM_LmdbGet(benchmark::State& state) {
  Dataset& d = dataset(static_cast<std::size_t>(state.range(0)));
  Lmdb& db = lmdb_of(d);
  const auto& keys = d.pattern[state.range(1)].keys;
  const std::size_t n = keys.size();
  std::size_t i = start_of(state, n);
  std::uint64_t errors = 0;
  MDB_txn* txn = nullptr;
  check(mdb_txn_begin(db.env, nullptr, MDB_RDONLY, &txn), "mdb_txn_begin");
  int batch = 0;
  for (auto _ : state) {
    MDB_val k{keys[i].size(), const_cast<char*>(keys[i].data())};
    MDB_val v;
    std::int64_t out = 0;
    if (mdb_get(txn, db.dbi, &k, &v) == 0 && v.mv_size == sizeof out) {
      std::memcpy(&out, v.mv_data, sizeof out);
    } else {
      ++errors;
    }
    benchmark::DoNotOptimize(out);
    if (++i == n) i = 0;
    if (++batch == kLmdbBatch) {
      mdb_txn_reset(txn);
      check(mdb_txn_renew(txn), "mdb_txn_renew");
      batch = 0;
    }
  }
  mdb_txn_abort(txn);
  state.counters["errors"] = static_cast<double>(errors);
  state.SetItemsProcessed(state.iterations());
}

void BM_RedisGet(benchmark::State& state) {
  Dataset& d = dataset(static_cast<std::size_t>(state.range(0)));
  std::call_once(g_redis_once, [&] { start_redis(d.n); });
  if (!g_redis.error.empty()) {
    state.SkipWithError(g_redis.error.c_str());
    return;
  }
  redisContext* c = redis_connect();
  if (c == nullptr) {
    state.SkipWithError("cannot connect to redis-server");
    return;
  }
  const auto& keys = d.pattern[state.range(1)].keys;
  const std::size_t n = keys.size();
  std::size_t i = start_of(state, n);
  std::uint64_t errors = 0;
  for (auto _ : state) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "GET %b", keys[i].data(), keys[i].size()));
    if (r == nullptr || r->type != REDIS_REPLY_STRING) {
      ++errors;
    } else {
      benchmark::DoNotOptimize(std::strtoll(r->str, nullptr, 10));
    }
    if (r != nullptr) freeReplyObject(r);
    if (++i == n) i = 0;
  }
  redisFree(c);
  state.counters["errors"] = static_cast<double>(errors);
  state.SetItemsProcessed(state.iterations());
}

// --- reads under a reload storm ------------------------------------------------------

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

void stop_storm() {
  if (g_storm.pid <= 0) return;
  const char q = 'q';
  (void)!::write(g_storm.cmd, &q, 1);
  ::waitpid(g_storm.pid, nullptr, 0);
  ::close(g_storm.cmd);
  ::close(g_storm.reply);
  g_storm.pid = -1;
}

std::chrono::steady_clock::time_point g_storm_t0;

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

// --- registration -------------------------------------------------------------------

int cores() { return std::max(1, static_cast<int>(std::thread::hardware_concurrency())); }

// With --benchmark_repetitions, also report the fastest repetition: on a
// shared machine noise only ever adds time, so ratios of minima (taken with
// --benchmark_enable_random_interleaving) are the steadiest figures.
double min_of(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

void ReadArgs(benchmark::internal::Benchmark* b) {
  b->ComputeStatistics("min", min_of);
  b->ArgNames({"keys", "random"})->ArgsProduct({{1000, 100000, 1000000}, {0, 1}});
  b->UseRealTime()->Threads(1);
  if (cores() > 1) b->Threads(cores());
}
void SectionArgs(benchmark::internal::Benchmark* b) {
  b->ComputeStatistics("min", min_of);
  b->ArgNames({"keys", "random"})->ArgsProduct({{1000, 1000000}, {0, 1}});
  b->UseRealTime()->Threads(1);
  if (cores() > 1) b->Threads(cores());
}
void RedisArgs(benchmark::internal::Benchmark* b) {
  b->ComputeStatistics("min", min_of);
  b->ArgNames({"keys", "random"})->ArgsProduct({{1000}, {0, 1}});
  b->UseRealTime()->Threads(1);
  if (cores() > 1) b->Threads(cores());
}
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
  g_storm.client.reset();
  for (auto& [n, d] : g_sets) {
    if (d->shm.capi != nullptr) shmconf_close(d->shm.capi);
    if (d->lmdb.env != nullptr) mdb_env_close(d->lmdb.env);
  }
  g_sets.clear();
  remove_our_shm();
  std::error_code ec;
  fs::remove_all(g_tmp, ec);
}

extern "C" void on_signal(int sig) {
  // Best effort: stop redis and remove our shm names, then die of `sig`.
  if (g_redis.pid > 0) ::kill(g_redis.pid, SIGKILL);
  if (g_storm.pid > 0) ::kill(g_storm.pid, SIGKILL);
  for (const std::string& n : sd::shm_list(g_prefix + ".")) ::shm_unlink(("/" + n).c_str());
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

int main(int argc, char** argv) {
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
