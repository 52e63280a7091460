// tests/stress/torture_test.cpp — the torture run: four reader processes
// check cross-key invariants in pinned snapshots while a publisher reloads
// at full speed with random rollbacks, a subscriber process churns
// subscriptions, and the daemon is SIGKILLed and restarted at random times.
//
// Every publish n writes a = b = c = n, s = "v<n>" and list = [n, n, n]; a
// reader asserts, in one pinned snapshot, that all five agree. Each reader
// and the publisher record which n every version number carried: a version
// number seen with two different contents was reused. The publisher also
// checks that every new version is above every version published before it,
// across daemon restarts.
//
// Bounded by default (a few seconds: the ctest run). The long run is opt-in
// (scripts/torture): SHMCONF_TORTURE_SECONDS (the minimum duration),
// SHMCONF_TORTURE_READS and SHMCONF_TORTURE_PUBLISHES (minimum counts; the
// run goes on until all three are reached, at most SHMCONF_TORTURE_MAX_SECONDS).
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <random>
#include <string>

#include "multiprocess/harness.hpp"

namespace shmconf::mptest {
namespace {

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

std::string config(std::uint64_t n) {
  const std::string v = std::to_string(n);
  return "a: " + v + "\nb: " + v + "\nc: " + v + "\ns: v" + v + "\nlist: [" + v + ", " + v + ", " +
         v + "]\n";
}

// True when the parent asked to stop (a line, or its end, on `cmd`).
bool stop_asked(int cmd) {
  pollfd p{cmd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

// Reports "version n" for each distinct version it read, then the counts.
int reader(const std::string& ns, const ClientOptions& opts, int cmd, int out) {
  auto c = Client::open(ns, opts);
  std::map<std::uint64_t, std::int64_t> seen;  // version -> n
  std::uint64_t reads = 0, failures = 0, errors = 0, reuse = 0, last_gen = 0, gen_back = 0;
  std::string first_failure;
  for (std::uint64_t i = 0;; ++i) {
    if ((i & 1023) == 0 && stop_asked(cmd)) break;
    const Snapshot snap = c.snapshot();
    const auto a = snap.get_int("a"), b = snap.get_int("b"), cc = snap.get_int("c");
    const auto s = snap.get_string("s");
    const auto l2 = snap.get_int("list[2]");
    reads += 5;
    if (!a || !b || !cc || !s || !l2) {
      ++errors;
      continue;
    }
    const std::int64_t n = *a;
    char want[24] = {'v'};  // "v<n>", built without allocating
    const auto end = std::to_chars(want + 1, want + sizeof want, n).ptr;
    if (*b != n || *cc != n || *l2 != n || *s != std::string_view(want, end - want)) {
      if (failures++ == 0) first_failure = "version " + std::to_string(snap.version());
    }
    const auto [it, fresh] = seen.emplace(snap.version(), n);
    if (!fresh && it->second != n) ++reuse;
    const std::uint64_t gen = c.generation();
    if (gen < last_gen) ++gen_back;
    last_gen = gen;
  }
  for (const auto& [v, n] : seen)
    report(out, "seen " + std::to_string(v) + " " + std::to_string(n));
  report(out, "reader reads " + std::to_string(reads) + " failures " + std::to_string(failures) +
                  " errors " + std::to_string(errors) + " reuse " + std::to_string(reuse) +
                  " generation_back " + std::to_string(gen_back) + " " + first_failure);
  return 0;
}

class TortureTest : public MultiProcessTest {
 protected:
  // The publisher: reload after each write, a rollback now and then; goes
  // on through daemon restarts.
  int publisher(int cmd, int out) {
    std::mt19937_64 rng(std::random_device{}());
    std::uint64_t n = 1, publishes = 0, rollbacks = 0, refused = 0, backwards = 0, max_v = 0;
    while (!stop_asked(cmd)) {
      try {
        if (rng() % 16 == 0) {
          const auto r = daemon::control_call(socket_, {{"cmd", "rollback"}}, kWait);
          if (r.value("ok", false)) ++rollbacks;
          continue;
        }
        write_source("config.yaml", config(++n));
        const auto r = daemon::control_call(socket_, {{"cmd", "reload"}, {"force", true}}, kWait);
        if (!r.value("ok", false)) {
          ++refused;
          continue;
        }
        if (!r.value("published", false)) continue;
        const std::uint64_t v = r.value("version", std::uint64_t{0});
        if (v <= max_v) ++backwards;  // a number handed out before
        max_v = std::max(max_v, v);
        ++publishes;
        report(out, "seen " + std::to_string(v) + " " + std::to_string(n));
      } catch (const std::exception&) {
        ++refused;  // the daemon is down: try again shortly
        pollfd p{cmd, POLLIN, 0};
        (void)::poll(&p, 1, 2);
      }
    }
    report(out, "publisher publishes " + std::to_string(publishes) + " rollbacks " +
                    std::to_string(rollbacks) + " refused " + std::to_string(refused) +
                    " backwards " + std::to_string(backwards));
    return 0;
  }

  // Subscribes, waits for a change or a few milliseconds, unsubscribes.
  int churner(int cmd, int out) {
    std::mt19937 rng(std::random_device{}());
    std::uint64_t subscriptions = 0;
    std::atomic<std::uint64_t> callbacks{0};
    auto c = Client::open(ns_, client_options());
    while (!stop_asked(cmd)) {
      auto sub = c.subscribe("", [&](const Snapshot&, const Snapshot&,
                                     const std::vector<Client::Change>&) { ++callbacks; });
      ++subscriptions;
      (void)c.wait_for_change(c.version(), std::chrono::milliseconds(1 + rng() % 20));
    }
    report(out, "churn subscriptions " + std::to_string(subscriptions) + " callbacks " +
                    std::to_string(callbacks.load()));
    return 0;
  }
};

TEST_F(TortureTest, ReadersPublisherRollbacksKillsChurn_NoInvariantBroken) {
  const auto min_seconds = std::chrono::seconds(env_u64("SHMCONF_TORTURE_SECONDS", 3));
  const auto max_seconds = std::chrono::seconds(env_u64("SHMCONF_TORTURE_MAX_SECONDS", 3600));
  const std::uint64_t min_reads = env_u64("SHMCONF_TORTURE_READS", 0);
  const std::uint64_t min_publishes = env_u64("SHMCONF_TORTURE_PUBLISHES", 0);
  sources_ = {"config.yaml"};
  write_source("config.yaml", config(1));
  const std::vector<std::string> flags = {"--no-watch", "--keep", "4"};
  run_daemon(flags);

  std::vector<ForkedChild*> kids;
  for (int i = 0; i < 4; ++i) {
    kids.push_back(
        &start_child([&](int cmd, int out) { return reader(ns_, client_options(), cmd, out); }));
  }
  kids.push_back(&start_child([&](int cmd, int out) { return publisher(cmd, out); }));
  kids.push_back(&start_child([&](int cmd, int out) { return churner(cmd, out); }));

  std::map<std::uint64_t, std::int64_t> versions;  // version -> n, from every process
  std::uint64_t reads = 0, failures = 0, errors = 0, reuse = 0, gen_back = 0, publishes = 0,
                rollbacks = 0, backwards = 0, subscriptions = 0, kills = 0;
  auto parse = [&](const std::string& line, bool from_publisher) {
    std::uint64_t x[5] = {};
    if (std::sscanf(line.c_str(), "seen %" SCNu64 " %" SCNu64, &x[0], &x[1]) == 2) {
      const auto [it, fresh] = versions.emplace(x[0], static_cast<std::int64_t>(x[1]));
      if (!fresh && it->second != static_cast<std::int64_t>(x[1])) ++reuse;
      if (from_publisher) ++publishes;
    } else if (std::sscanf(line.c_str(),
                           "reader reads %" SCNu64 " failures %" SCNu64 " errors %" SCNu64
                           " reuse %" SCNu64 " generation_back %" SCNu64,
                           &x[0], &x[1], &x[2], &x[3], &x[4]) == 5) {
      reads += x[0];
      failures += x[1];
      errors += x[2];
      reuse += x[3];
      gen_back += x[4];
      EXPECT_EQ(x[1], 0u) << line;
    } else if (std::sscanf(line.c_str(),
                           "publisher publishes %" SCNu64 " rollbacks %" SCNu64 " refused %" SCNu64
                           " backwards %" SCNu64,
                           &x[0], &x[1], &x[2], &x[3]) == 4) {
      EXPECT_EQ(x[0], publishes);
      rollbacks = x[1];
      backwards = x[3];
    } else if (std::sscanf(line.c_str(), "churn subscriptions %" SCNu64, &x[0]) == 1) {
      subscriptions = x[0];
    } else {
      ADD_FAILURE() << "unexpected report: " << line;
    }
  };

  // The killer: SIGKILL the daemon at a random moment, restart it at once;
  // meanwhile the publisher's reports are read (publishes counted live).
  ForkedChild* pub = kids[4];
  std::mt19937 rng(std::random_device{}());
  const auto start = Clock::now();
  auto enough = [&] {
    const auto t = Clock::now() - start;
    return t >= max_seconds || (t >= min_seconds && publishes >= min_publishes);
  };
  while (!enough()) {
    const auto moment = Clock::now() + std::chrono::milliseconds(200 + rng() % 600);
    while (auto line = pub->next_report(moment)) parse(*line, true);
    procs_.back().kill_and_reap();
    ++kills;
    run_daemon(flags);
  }
  for (ForkedChild* k : kids) k->command("stop");
  for (ForkedChild* k : kids) {
    while (auto line = k->next_report()) parse(*line, k == pub);
    EXPECT_TRUE(k->proc.wait(deadline()));
    EXPECT_TRUE(k->proc.exited_ok()) << (k->proc.status ? describe_status(*k->proc.status) : "");
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("torture: %.1f s, reads %" PRIu64 ", publishes %" PRIu64 ", rollbacks %" PRIu64
              ", daemon kills %" PRIu64 ", subscriptions %" PRIu64
              ", distinct versions %zu, "
              "invariant failures %" PRIu64 ", reader errors %" PRIu64 ", version reuse %" PRIu64
              ", versions handed out twice %" PRIu64 ", generation backwards %" PRIu64 "\n",
              seconds, reads, publishes, rollbacks, kills, subscriptions, versions.size(), failures,
              errors, reuse, backwards, gen_back);
  std::fflush(stdout);
  EXPECT_EQ(failures, 0u);
  EXPECT_EQ(errors, 0u);
  EXPECT_EQ(reuse, 0u);
  EXPECT_EQ(backwards, 0u);
  EXPECT_EQ(gen_back, 0u);
  EXPECT_GT(publishes, 0u);
  EXPECT_GT(reads, 0u);
  EXPECT_GE(reads, min_reads);
  EXPECT_GE(publishes, min_publishes);
}

}  // namespace
}  // namespace shmconf::mptest
