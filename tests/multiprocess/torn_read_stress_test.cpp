// tests/multiprocess/torn_read_stress_test.cpp — no torn reads across
// processes: a publisher process publishes versions as fast as it can
// (Publisher + SnapshotBuilder, two earlier versions retained, so segments
// are unlinked while readers may still map them) and two reader processes
// check, inside every pinned snapshot, invariants that tie all keys to the
// snapshot's version, and that versions never go backwards.
//
// Bounded by time: SHMCONF_STRESS_MS (default 2000 ms, 1000 ms under
// sanitizers). Readers report their counts through a pipe.
#include <cinttypes>
#include <cstdio>
#include <deque>
#include <memory>
#include <string>

#include "core/namespace_service.hpp"
#include "harness.hpp"
#include "publish/builder.hpp"
#include "publish/publisher.hpp"
#include "tree/value.hpp"

namespace shmconf::mptest {
namespace {

constexpr int kArraySize = 1000;

std::chrono::milliseconds stress_duration() {
  if (const char* e = std::getenv("SHMCONF_STRESS_MS"); e && *e) {
    return std::chrono::milliseconds(std::max(100L, std::strtol(e, nullptr, 10)));
  }
  return kSanitized ? 1000ms : 2000ms;
}

// Version v: inv.a = v, inv.b = 2v, inv.c = 3v, inv.arr = [v] * 1000.
daemon::Value make_tree(std::int64_t v) {
  daemon::Value inv = daemon::Value::object();
  inv.fields["a"] = daemon::Value::integer(v);
  inv.fields["b"] = daemon::Value::integer(2 * v);
  inv.fields["c"] = daemon::Value::integer(3 * v);
  daemon::Value arr = daemon::Value::array();
  arr.items.assign(kArraySize, daemon::Value::integer(v));
  inv.fields["arr"] = std::move(arr);
  daemon::Value root = daemon::Value::object();
  root.fields["inv"] = std::move(inv);
  return root;
}

// The publisher child: publishes v = 1, 2, ... until the stop pipe has data
// or closes; reports "ready" after v1 and "published N" at the end.
int run_publisher(const std::string& prefix, const std::string& ns, int stop_fd, int out) {
  daemon::Publisher pub(prefix, ns, daemon::ShmAccess{});
  const daemon::SourceList sources = {"test:torn-read-stress"};
  std::deque<std::shared_ptr<daemon::Segment>> kept;  // live + 2 earlier
  std::uint64_t v = 1;
  for (;; ++v) {
    const daemon::Value root = make_tree(static_cast<std::int64_t>(v));
    daemon::BuildInput in;
    in.root = &root;
    in.sources = &sources;
    in.version = v;
    in.publish_time_ns = daemon::wall_clock_ns();
    in.content_hash = v;
    in.trigger = "stress";
    daemon::SnapshotBuilder builder(in);
    auto seg = pub.create(builder);
    pub.flip(*seg);
    kept.push_back(std::move(seg));
    while (kept.size() > 3) {
      pub.unlink(kept.front()->id);
      kept.pop_front();
    }
    if (v == 1) report(out, "ready");
    pollfd p{stop_fd, POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) break;
  }
  report(out, "published " + std::to_string(v));
  return 0;
}

struct ReaderCounts {
  std::uint64_t snapshots = 0;
  std::uint64_t versions = 0;    // distinct versions seen
  std::uint64_t violations = 0;  // a snapshot whose keys disagree with its version
  std::uint64_t backwards = 0;   // a version older than one seen before
  std::uint64_t first = 0, last = 0;
};

// One reader child: pinned snapshots in a loop until `until`.
int run_reader(const std::string& prefix, const std::string& ns, std::chrono::milliseconds d,
               int out) {
  auto c = open_or_report(prefix, ns, out);
  if (!c) return 1;
  const shmconf::Key key_a = c->key("inv.a");
  ReaderCounts n;
  std::int64_t last_one_shot = 0;
  std::string first_violation;
  const auto until = Clock::now() + d;
  while (Clock::now() < until) {
    const shmconf::Snapshot snap = c->snapshot();
    const std::uint64_t v = snap.version();
    ++n.snapshots;
    if (v < n.last) ++n.backwards;
    if (v != n.last) {
      ++n.versions;
      if (n.first == 0) n.first = v;
    }
    n.last = std::max(n.last, v);
    const auto iv = static_cast<std::int64_t>(v);
    bool ok = v != 0 && snap.content_hash() == v && snap.get_int("inv.a").value_or(-1) == iv &&
              snap.get_int("inv.b").value_or(-1) == 2 * iv &&
              snap.get_int("inv.c").value_or(-1) == 3 * iv &&
              snap.get_int("inv.arr[999]").value_or(-1) == iv;
    if (auto arr = snap.get("inv.arr"); ok && arr && arr->size() == kArraySize) {
      for (const shmconf::Value e : arr->children()) {
        if (e.as_int().value_or(-1) != iv) {
          ok = false;
          break;
        }
      }
    } else {
      ok = false;
    }
    if (!ok) {
      if (n.violations++ == 0) {
        first_violation = "v" + std::to_string(v) +
                          " a=" + std::to_string(snap.get_int("inv.a").value_or(-1)) +
                          " b=" + std::to_string(snap.get_int("inv.b").value_or(-1)) +
                          " c=" + std::to_string(snap.get_int("inv.c").value_or(-1));
      }
    }
    // One-shot reads may each see a newer version, never an older one.
    const std::int64_t a = c->get_int(key_a).value_or(-1);
    if (a < last_one_shot) ++n.backwards;
    last_one_shot = std::max(last_one_shot, a);
  }
  char line[256];
  std::snprintf(line, sizeof line,
                "counts %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64,
                n.snapshots, n.versions, n.violations, n.backwards, n.first, n.last);
  report(out, line);
  if (!first_violation.empty()) report(out, "violation " + first_violation);
  return 0;
}

ReaderCounts parse_counts(const std::string& line) {
  ReaderCounts n;
  const int got = std::sscanf(
      line.c_str(), "counts %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
      &n.snapshots, &n.versions, &n.violations, &n.backwards, &n.first, &n.last);
  if (got != 6) throw std::runtime_error("bad report: " + line);
  return n;
}

using TornReadStressTest = MultiProcessTest;

TEST_F(TornReadStressTest, PublisherFlatOut_PinnedSnapshots_NeverTornNorBackwards) {
  const auto d = stress_duration();
  const std::string prefix = prefix_, ns = ns_;
  ForkedChild& publisher =
      start_child([&](int stop_fd, int out) { return run_publisher(prefix, ns, stop_fd, out); });
  ASSERT_EQ(publisher.next_report(), "ready");

  ForkedChild* readers[2];
  for (auto& r : readers) {
    r = &start_child([&](int, int out) { return run_reader(prefix, ns, d, out); });
  }
  ReaderCounts counts[2];
  for (int i = 0; i < 2; ++i) {
    auto line = readers[i]->next_report(deadline(d + kWait));
    ASSERT_TRUE(line) << "reader " << i << " reported nothing";
    ASSERT_TRUE(line->starts_with("counts ")) << *line;
    counts[i] = parse_counts(*line);
    if (counts[i].violations != 0)
      ADD_FAILURE() << "reader " << i << ": " << *readers[i]->next_report();
  }
  ASSERT_TRUE(publisher.command("stop"));
  auto published = publisher.next_report();
  ASSERT_TRUE(published && published->starts_with("published ")) << published.value_or("");
  const std::uint64_t total = std::stoull(published->substr(10));
  for (auto* r : readers) {
    ASSERT_TRUE(r->proc.wait(deadline()));
    EXPECT_TRUE(r->proc.exited_ok()) << describe_status(*r->proc.status);
  }
  ASSERT_TRUE(publisher.proc.wait(deadline()));
  EXPECT_TRUE(publisher.proc.exited_ok()) << describe_status(*publisher.proc.status);

  for (int i = 0; i < 2; ++i) {
    const ReaderCounts& n = counts[i];
    std::cout << "reader " << i << ": " << n.snapshots << " snapshots, " << n.versions
              << " versions (v" << n.first << " to v" << n.last << ") of " << total
              << " published in " << d.count() << " ms\n";
    EXPECT_EQ(n.violations, 0u) << "reader " << i;
    EXPECT_EQ(n.backwards, 0u) << "reader " << i;
    // Sanitized builds publish a few versions a second, not hundreds.
    EXPECT_GE(n.versions, kSanitized ? 3u : 20u)
        << "reader " << i << " saw too few versions to stress anything";
    EXPECT_GT(n.snapshots, n.versions) << "reader " << i;
    EXPECT_LE(n.last, total);
  }
}

}  // namespace
}  // namespace shmconf::mptest
