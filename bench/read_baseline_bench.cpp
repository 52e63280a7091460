// bench/read_baseline_bench.cpp — the baselines the shmconf reads are
// measured against: std::unordered_map (the bar), a cached variable (the
// floor) and one behind a version check, LMDB's mdb_get, and a GET to a
// redis-server started on loopback for the run.
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "alloc_count.hpp"
#include "read_fixture.hpp"
#include "support/free_port.hpp"

namespace shmconf::bench::reads {
namespace {

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

redisContext* redis_connect() {
  timeval tv{1, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", g_redis.port, tv);
  if (c != nullptr && c->err != 0) {
    redisFree(c);
    return nullptr;
  }
  return c;
}

void start_redis(std::size_t n) {
  const std::string exe = find_program(SHMCONF_REDIS_SERVER);
  if (exe.empty()) {
    g_redis.error = "redis-server not found (apt-get install redis-server); Redis baseline skipped";
    return;
  }
  const fs::path dir = g_tmp / "redis";
  fs::create_directories(dir);
  g_redis.port = shmconf::test::free_port();
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

}  // namespace

void stop_redis() {
  if (g_redis.pid > 0) {
    ::kill(g_redis.pid, SIGTERM);
    ::waitpid(g_redis.pid, nullptr, 0);
    g_redis.pid = -1;
  }
}

pid_t redis_pid() { return g_redis.pid; }

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
namespace {
std::atomic<std::uint64_t> g_reload_generation{1};
thread_local std::uint64_t t_seen_generation = 1;
}  // namespace

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

}  // namespace shmconf::bench::reads
