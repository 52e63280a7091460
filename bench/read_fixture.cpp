// bench/read_fixture.cpp — the read benchmarks' data sets (read_fixture.hpp):
// the key set and its hot and random access orders, the unordered_map, the
// published namespace with its client, handles and sections, and the LMDB
// environment, each built once on first use.
#include "read_fixture.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>

#include "alloc_count.hpp"
#include "publish/builder.hpp"
#include "publish/shm.hpp"

namespace shmconf::bench::reads {

std::string g_prefix;
fs::path g_tmp;

namespace {

std::uint64_t wall_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

std::mutex g_sets_mu;
std::map<std::size_t, std::unique_ptr<Dataset>> g_sets;

}  // namespace

void remove_our_shm() {
  for (const std::string& n : sd::shm_list(g_prefix + ".")) sd::shm_remove("/" + n);
}

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

void close_datasets() {
  for (auto& [n, d] : g_sets) {
    if (d->shm.capi != nullptr) shmconf_close(d->shm.capi);
    if (d->lmdb.env != nullptr) mdb_env_close(d->lmdb.env);
  }
  g_sets.clear();
}

void finish_reads(benchmark::State& state, std::uint64_t allocs0, std::uint64_t errors) {
  const double reads = static_cast<double>(state.iterations());
  state.counters["allocs_per_read"] = benchmark::Counter(
      reads > 0 ? static_cast<double>(shmconf::bench::allocations() - allocs0) / reads : 0,
      benchmark::Counter::kAvgThreads);
  state.counters["errors"] = static_cast<double>(errors);
  state.SetItemsProcessed(state.iterations());
}

}  // namespace shmconf::bench::reads
