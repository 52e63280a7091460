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
#include "shmconf/client.hpp"
#include "tree/value.hpp"

namespace {

namespace sd = shmconf::daemon;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string g_prefix;  // "rbench<pid>"
fs::path g_tmp;

constexpr std::int64_t kSizesKb[] = {1, 100, 1000, 10000};

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

void remove_our_shm() {
  for (const std::string& n : sd::shm_list(g_prefix + ".")) sd::shm_remove("/" + n);
}

// --- generated configs ---------------------------------------------------------------

sd::Value obj() { return sd::Value::object(); }
sd::Value str(std::string s) { return sd::Value::string(std::move(s)); }
sd::Value num(std::int64_t i) { return sd::Value::integer(i); }

sd::Value service(std::size_t i, int variant) {
  const std::string id = std::to_string(i);
  sd::Value s = obj();
  s.fields["enabled"] = sd::Value::boolean(i % 5 != 0);
  s.fields["image"] =
      str("registry.example.com/platform/service-" + id + ":1." + std::to_string(i % 20) + ".3");
  s.fields["replicas"] = num(static_cast<std::int64_t>(1 + i % 7 + (i == 0 ? variant : 0)));
  s.fields["port"] = num(static_cast<std::int64_t>(8000 + i % 1000));
  s.fields["timeout_ms"] = sd::Value::real(250.5 + static_cast<double>(i % 10));
  sd::Value retry = obj();
  retry.fields["attempts"] = num(3);
  retry.fields["backoff_ms"] = num(50);
  retry.fields["jitter"] = sd::Value::real(0.25);
  s.fields["retry"] = std::move(retry);
  sd::Value limits = obj();
  limits.fields["cpu"] = sd::Value::real(0.5 * static_cast<double>(1 + i % 8));
  limits.fields["memory_mb"] = num(static_cast<std::int64_t>(256 * (1 + i % 4)));
  s.fields["limits"] = std::move(limits);
  sd::Value env = obj();
  env.fields["LOG_LEVEL"] = str(i % 3 == 0 ? "debug" : "info");
  env.fields["REGION"] = str("eu-west-" + std::to_string(1 + i % 3));
  env.fields["FEATURE_FLAGS"] = str("alpha,beta,gamma");
  env.fields["UPSTREAM_URL"] = str("https://upstream-" + id + ".internal.example.com:443/api");
  s.fields["env"] = std::move(env);
  sd::Value endpoints = sd::Value::array();
  for (int j = 0; j < 3; ++j) {
    sd::Value e = obj();
    e.fields["path"] = str("/v" + std::to_string(1 + j) + "/resource-" + id);
    e.fields["method"] = str(j == 1 ? "POST" : "GET");
    e.fields["timeout_ms"] = num(100 * (j + 1));
    e.fields["auth"] = sd::Value::boolean(j != 0);
    endpoints.items.push_back(std::move(e));
  }
  s.fields["endpoints"] = std::move(endpoints);
  sd::Value tags = sd::Value::array();
  tags.items.push_back(str("tier-" + std::to_string(i % 3)));
  tags.items.push_back(str("team-" + std::to_string(i % 17)));
  tags.items.push_back(str(i % 2 ? "critical" : "batch"));
  s.fields["tags"] = std::move(tags);
  s.fields["owner"] = str("team-" + std::to_string(i % 17) + "@example.com");
  return s;
}

sd::Value config(std::size_t services, int variant) {
  sd::Value root = obj();
  root.fields["generation"] = num(variant);
  sd::Value global = obj();
  global.fields["cluster"] = str("prod-eu-west-1");
  global.fields["log_format"] = str("json");
  global.fields["max_connections"] = num(10000);
  global.fields["tls"] = sd::Value::boolean(true);
  sd::Value db = obj();
  db.fields["host"] = str("db.internal.example.com");
  db.fields["port"] = num(5432);
  db.fields["pool_size"] = num(32);
  global.fields["database"] = std::move(db);
  root.fields["global"] = std::move(global);
  sd::Value features = obj();
  for (int f = 0; f < 8; ++f)
    features.fields["flag_" + std::to_string(f)] = sd::Value::boolean(f % 2);
  root.fields["features"] = std::move(features);
  sd::Value svcs = obj();
  char name[32];
  for (std::size_t i = 0; i < services; ++i) {
    std::snprintf(name, sizeof name, "service-%06zu", i);
    svcs.fields[name] = service(i, variant);
  }
  root.fields["services"] = std::move(svcs);
  return root;
}

// YAML block style. Strings are plain when unambiguous, else double-quoted
// (JSON escapes are valid YAML double-quoted escapes).
bool plain_ok(const std::string& s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  static const char* kWords[] = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"};
  std::string lower;
  for (char c : s) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* w : kWords) {
    if (lower == w) return false;
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
        c == '/' || c == '@') {
      continue;
    }
    if (c == ':' && i + 1 < s.size() && s[i + 1] != ' ') continue;
    return false;
  }
  return true;
}

void yaml_scalar(const sd::Value& v, std::string& out) {
  switch (v.type) {
    case shmconf::format::Type::kString:
      if (plain_ok(v.s)) {
        out += v.s;
      } else {
        sd::append_json_string(out, v.s);
      }
      break;
    case shmconf::format::Type::kArray:
      out += "[]";
      break;
    case shmconf::format::Type::kObject:
      out += "{}";
      break;
    default:
      out += sd::to_json(v);
  }
}

bool nested(const sd::Value& v) {
  return (v.type == shmconf::format::Type::kObject && !v.fields.empty()) ||
         (v.type == shmconf::format::Type::kArray && !v.items.empty());
}

// Writes container `v` at `indent`; the first line's indentation is
// already written when `inline_first` (after "- ").
void yaml_block(const sd::Value& v, int indent, bool inline_first, std::string& out) {
  bool first = true;
  auto pad = [&] {
    if (!(first && inline_first)) out.append(static_cast<std::size_t>(indent), ' ');
    first = false;
  };
  auto child = [&](const sd::Value& c, bool in_seq) {
    if (!nested(c)) {
      out += ' ';
      yaml_scalar(c, out);
      out += '\n';
    } else if (in_seq) {
      out += ' ';
      yaml_block(c, indent + 2, true, out);
    } else {
      out += '\n';
      yaml_block(c, indent + 2, false, out);
    }
  };
  if (v.type == shmconf::format::Type::kObject) {
    for (const auto& [k, c] : v.fields) {
      pad();
      out += k;
      out += ':';
      child(c, false);
    }
  } else {
    for (const sd::Value& c : v.items) {
      pad();
      out += '-';
      child(c, true);
    }
  }
}

// TOML through toml++'s own writer (the generated configs hold no nulls,
// which TOML cannot spell).
void to_toml(const sd::Value& v, toml::array& out);
void to_toml(const sd::Value& v, toml::table& out) {
  for (const auto& [k, c] : v.fields) {
    switch (c.type) {
      case shmconf::format::Type::kObject: {
        toml::table t;
        to_toml(c, t);
        out.insert(k, std::move(t));
        break;
      }
      case shmconf::format::Type::kArray: {
        toml::array a;
        to_toml(c, a);
        out.insert(k, std::move(a));
        break;
      }
      case shmconf::format::Type::kBool:
        out.insert(k, c.b);
        break;
      case shmconf::format::Type::kInt:
        out.insert(k, c.i);
        break;
      case shmconf::format::Type::kDouble:
        out.insert(k, c.d);
        break;
      default:
        out.insert(k, c.s);
    }
  }
}
void to_toml(const sd::Value& v, toml::array& out) {
  for (const sd::Value& c : v.items) {
    if (c.type == shmconf::format::Type::kObject) {
      toml::table t;
      to_toml(c, t);
      out.push_back(std::move(t));
    } else if (c.type == shmconf::format::Type::kString) {
      out.push_back(c.s);
    } else if (c.type == shmconf::format::Type::kInt) {
      out.push_back(c.i);
    }
  }
}

std::string render(const sd::Value& v, sd::Format f) {
  if (f == sd::Format::kJson) return sd::to_json(v, true) + "\n";
  if (f == sd::Format::kToml) {
    toml::table t;
    to_toml(v, t);
    std::ostringstream ss;
    ss << t << "\n";
    return ss.str();
  }
  std::string out;
  yaml_block(v, 0, false, out);
  return out;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

// Two variants of one input, on disk.
struct Input {
  fs::path file[2];
  std::size_t bytes = 0;
  const char* ext = "";
};

const char* fmt_name(sd::Format f) {
  return f == sd::Format::kJson ? "json" : f == sd::Format::kYaml ? "yaml" : "toml";
}

Input& input(sd::Format f, std::int64_t kb) {
  static std::mutex mu;
  static std::map<std::pair<int, std::int64_t>, Input> inputs;
  std::lock_guard lock(mu);
  Input& in = inputs[{static_cast<int>(f), kb}];
  if (in.bytes != 0) return in;
  // Size one service in this format, then pick the count for the target.
  const std::size_t base = render(config(0, 0), f).size();
  const std::size_t per = render(config(1, 0), f).size() - base;
  const std::size_t target = static_cast<std::size_t>(kb) * 1000;
  const std::size_t n = target > base ? std::max<std::size_t>(1, (target - base) / per) : 0;
  in.ext = fmt_name(f);
  for (int variant = 0; variant < 2; ++variant) {
    const std::string text = render(config(n, variant), f);
    in.file[variant] =
        g_tmp / ("input-" + std::to_string(kb) + "kb-" + std::to_string(variant) + "." + in.ext);
    write_file(in.file[variant], text);
    if (variant == 0) in.bytes = text.size();
  }
  return in;
}

// --- counters -------------------------------------------------------------------------

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

void size_counters(benchmark::State& state, std::size_t bytes, Samples& t) {
  const double mb = static_cast<double>(bytes) / 1e6;
  state.counters["bytes"] = static_cast<double>(bytes);
  state.counters["median_ms"] = t.pct(0.5) * 1e3;
  state.counters["ms_per_MB"] = t.pct(0.5) * 1e3 / mb;
  state.counters["MB_per_s"] = t.pct(0.5) > 0 ? mb / t.pct(0.5) : 0;
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * state.iterations());
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

// --- registration -----------------------------------------------------------------------

// Fixed iteration counts per input size: bounded run time, enough samples
// for a median.
benchmark::IterationCount iters(std::int64_t kb, bool yaml, bool cheap) {
  if (cheap) return kb <= 1 ? 2000 : kb <= 100 ? 200 : kb <= 1000 ? 30 : 6;
  if (yaml) return kb <= 1 ? 100 : kb <= 100 ? 20 : kb <= 1000 ? 5 : 2;
  return kb <= 1 ? 100 : kb <= 100 ? 40 : kb <= 1000 ? 10 : 4;
}

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
  for (int f = 0; f < 3; ++f) {
    for (std::int64_t kb : kSizesKb) {
      benchmark::RegisterBenchmark("BM_ReloadStages", BM_ReloadStages)
          ->ArgNames({"fmt", "kb"})
          ->Args({f, kb})
          ->UseManualTime()
          ->Iterations(iters(kb, f != 0, false));
    }
  }
  for (std::int64_t kb : kSizesKb) {
    benchmark::RegisterBenchmark("BM_Rollback", BM_Rollback)
        ->ArgName("kb")
        ->Arg(kb)
        ->UseManualTime()
        ->Iterations(kb >= 10000 ? 10 : 30);
  }
  for (int process = 1; process >= 0; --process) {
    benchmark::RegisterBenchmark("BM_Wakeup", BM_Wakeup)
        ->ArgName("process")
        ->Arg(process)
        ->UseManualTime()
        ->Iterations(200);
  }
}

extern "C" void on_signal(int sig) {
  for (const std::string& n : sd::shm_list(g_prefix + ".")) ::shm_unlink(("/" + n).c_str());
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

int main(int argc, char** argv) {
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
