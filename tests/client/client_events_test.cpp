// tests/client/client_events_test.cpp — the C++ client across publishes:
// wait_for_change, subscribe, refused segments (the previous snapshot
// stays, last_error says why) and readers racing a publisher (run under
// TSan too). Waits carry generous timeouts that only turn a hang into a
// failure; nothing sleeps to synchronise.
#include "client/client_api_fixture.hpp"

namespace shmconf {
namespace {

using namespace client_api;

// ---- wait_for_change ---------------------------------------------------------------------

TEST_F(ClientApi, WaitForChange_PublishFromThread_ReturnsNewVersion) {
  pub_.publish(R"({"a": 1})");
  Client c = open_client();
  std::thread publisher([&] { pub_.publish(R"({"a": 2})"); });
  auto r = c.wait_for_change(1, std::chrono::duration_cast<std::chrono::milliseconds>(kHangGuard));
  publisher.join();
  ASSERT_TRUE(r.has_value()) << static_cast<int>(r.error());
  EXPECT_EQ(*r, 2u);
  EXPECT_EQ(c.get_int("a").value(), 2);
}

TEST_F(ClientApi, WaitForChange_NothingPublished_Timeout) {
  pub_.publish(R"({"a": 1})");
  Client c = open_client();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = c.wait_for_change(1, 30ms);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error(), Errc::kTimeout);
}

TEST_F(ClientApi, WaitForChange_AlreadyDifferent_ReturnsAtOnce) {
  pub_.publish(R"({"a": 1})");
  pub_.publish(R"({"a": 2})");
  Client c = open_client();
  auto r = c.wait_for_change(1, 0ms);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 2u);
}

TEST_F(ClientApi, WaitForChange_NothingEverPublished_WaitsForFirst) {
  Client c = open_client();
  EXPECT_EQ(c.wait_for_change(0, 0ms).error(), Errc::kTimeout);
  std::thread publisher([&] { pub_.publish(R"({"a": 1})"); });
  auto r = c.wait_for_change(0, std::chrono::duration_cast<std::chrono::milliseconds>(kHangGuard));
  publisher.join();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 1u);
}

// ---- subscribe ------------------------------------------------------------------------------

struct Recorded {
  std::uint64_t old_version;
  std::uint64_t new_version;
  std::vector<
      std::tuple<std::string, Change, std::optional<std::int64_t>, std::optional<std::int64_t>>>
      changes;
};

// Collects callbacks; wait_for(n) blocks until n have arrived.
class Recorder {
 public:
  Client::Callback callback() {
    return [this](const Snapshot& old_snap, const Snapshot& new_snap,
                  const std::vector<Client::Change>& changes) {
      Recorded r{old_snap.version(), new_snap.version(), {}};
      for (const auto& ch : changes) {
        std::optional<std::int64_t> o, n;
        if (ch.old_value) o = ch.old_value->as_int().value_or(-1);
        if (ch.new_value) n = ch.new_value->as_int().value_or(-1);
        r.changes.emplace_back(std::string(ch.key), ch.kind, o, n);
      }
      std::lock_guard lock(mu_);
      calls_.push_back(std::move(r));
      cv_.notify_all();
    };
  }
  bool wait_for(std::size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kHangGuard, [&] { return calls_.size() >= n; });
  }
  std::vector<Recorded> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Recorded> calls_;
};

TEST_F(ClientApi, Subscribe_OneCallbackPerVersion_ChangesUnderPrefix) {
  pub_.publish(R"({"db": {"port": 1, "host": 1}, "web": {"port": 1}})");
  Client c = open_client();
  Recorder rec;
  auto sub = c.subscribe("db.", rec.callback());
  pub_.publish(R"({"db": {"port": 2, "host": 1}, "web": {"port": 2}})");
  ASSERT_TRUE(rec.wait_for(1));
  pub_.publish(R"({"db": {"host": 1, "user": 5}, "web": {"port": 2}})");
  ASSERT_TRUE(rec.wait_for(2));
  sub.stop();
  const auto calls = rec.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].old_version, 1u);
  EXPECT_EQ(calls[0].new_version, 2u);
  using C = decltype(calls[0].changes);
  EXPECT_EQ(calls[0].changes, (C{{"db.port", Change::kChanged, 1, 2}}));
  EXPECT_EQ(calls[1].old_version, 2u);
  EXPECT_EQ(calls[1].new_version, 3u);
  EXPECT_EQ(calls[1].changes, (C{{"db.port", Change::kRemoved, 2, std::nullopt},
                                 {"db.user", Change::kAdded, std::nullopt, 5}}));
}

TEST_F(ClientApi, Subscribe_ChangeOutsidePrefix_NoCallback) {
  pub_.publish(R"({"db": {"port": 1}, "web": {"port": 1}})");
  Client c = open_client();
  Recorder rec;
  auto sub = c.subscribe("db.", rec.callback());
  pub_.publish(R"({"db": {"port": 1}, "web": {"port": 2}})");  // nothing under db.
  pub_.publish(R"({"db": {"port": 3}, "web": {"port": 2}})");
  ASSERT_TRUE(rec.wait_for(1));
  sub.stop();
  const auto calls = rec.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].new_version, 3u);
  using C = decltype(calls[0].changes);
  EXPECT_EQ(calls[0].changes, (C{{"db.port", Change::kChanged, 1, 3}}));
}

TEST_F(ClientApi, Subscribe_NothingPublishedYet_FirstVersionAllAdded) {
  Client c = open_client();
  Recorder rec;
  auto sub = c.subscribe("", rec.callback());
  pub_.publish(R"({"a": 1, "b": {"c": 2}})");
  ASSERT_TRUE(rec.wait_for(1));
  sub.stop();
  const auto calls = rec.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].old_version, 0u);
  using C = decltype(calls[0].changes);
  EXPECT_EQ(calls[0].changes,
            (C{{"a", Change::kAdded, std::nullopt, 1}, {"b.c", Change::kAdded, std::nullopt, 2}}));
}

TEST_F(ClientApi, Subscribe_StoppedSubscription_NoMoreCallbacks) {
  pub_.publish(R"({"a": 1})");
  Client c = open_client();
  Recorder rec;
  {
    auto sub = c.subscribe("", rec.callback());
    pub_.publish(R"({"a": 2})");
    ASSERT_TRUE(rec.wait_for(1));
  }  // destroyed: stopped and joined
  pub_.publish(R"({"a": 3})");
  EXPECT_EQ(rec.calls().size(), 1u);
}

// ---- refused segments -------------------------------------------------------------------------

TEST_F(ClientApi, CorruptSegment_RefusedKeepsPreviousWithLastError) {
  pub_.publish(R"({"a": 1})");
  Client c = open_client();
  ASSERT_EQ(c.get_int("a").value(), 1);
  // A valid v2 built in memory; the object on its id gets a flipped byte.
  test::BuildOptions o;
  o.version = 2;
  test::Built good(R"({"a": 2})", o);
  std::vector<std::byte> bad = good.bytes;
  bad[good.view.header().strings_off] ^= std::byte{1};
  constexpr std::uint64_t kId = 1'000'001;
  create_segment_object(kId, bad);
  flip_to_id(kId, good.view);
  EXPECT_EQ(c.get_int("a").value(), 1);
  EXPECT_EQ(c.version(), 1u);
  EXPECT_EQ(c.snapshot().version(), 1u);
  const std::string err = c.last_error();
  EXPECT_NE(err.find("1000001"), std::string::npos) << err;
  EXPECT_NE(err.find("checksum"), std::string::npos) << err;
}

TEST_F(ClientApi, CorruptSegmentThenGoodPublish_Recovers) {
  pub_.publish(R"({"a": 1})");
  Client c = open_client();
  ASSERT_EQ(c.get_int("a").value(), 1);
  test::BuildOptions o;
  o.version = 2;
  test::Built good(R"({"a": 2})", o);
  std::vector<std::byte> bad = good.bytes;
  bad[good.view.header().strings_off] ^= std::byte{1};
  create_segment_object(1'000'002, bad);
  flip_to_id(1'000'002, good.view);
  ASSERT_EQ(c.get_int("a").value(), 1);
  pub_.publish(R"({"a": 3})");
  EXPECT_EQ(c.get_int("a").value(), 3);
}

TEST_F(ClientApi, MissingSegment_RefusedKeepsPrevious) {
  pub_.publish(R"({"a": 1})");
  Client c = open_client();
  ASSERT_EQ(c.get_int("a").value(), 1);
  auto v2 = pub_.publish(R"({"a": 2})", /*flip=*/false);
  pub_.publisher().unlink(v2->id);
  pub_.flip_to(v2);
  EXPECT_EQ(c.get_int("a").value(), 1);
  EXPECT_NE(c.last_error().find("shm_open"), std::string::npos) << c.last_error();
}

TEST_F(ClientApi, SegmentWritableByOthers_RefusedWithPermissionMessage) {
  pub_.publish(R"({"a": 1})");
  Client c = open_client();
  ASSERT_EQ(c.get_int("a").value(), 1);
  auto v2 = pub_.publish(R"({"a": 2})", /*flip=*/false);
  const std::string name = segment_object_name(pub_.prefix(), test::TestPublisher::kNs, v2->id);
  const int fd = ::shm_open(name.c_str(), O_RDONLY | O_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::fchmod(fd, 0666), 0);
  ::close(fd);
  pub_.flip_to(v2);
  EXPECT_EQ(c.get_int("a").value(), 1);
  EXPECT_NE(c.last_error().find("writable"), std::string::npos) << c.last_error();
}

TEST_F(ClientApi, SegmentGroupWritable_Refused) {
  pub_.publish(R"({"a": 1})");
  Client c = open_client();
  ASSERT_EQ(c.get_int("a").value(), 1);
  auto v2 = pub_.publish(R"({"a": 2})", /*flip=*/false);
  const std::string name = segment_object_name(pub_.prefix(), test::TestPublisher::kNs, v2->id);
  const int fd = ::shm_open(name.c_str(), O_RDONLY | O_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::fchmod(fd, 0664), 0);
  ::close(fd);
  pub_.flip_to(v2);
  EXPECT_EQ(c.get_int("a").value(), 1);
  EXPECT_NE(c.last_error().find("writable"), std::string::npos) << c.last_error();
}

// ---- readers racing a publisher (run under TSan too) -------------------------------------------

TEST_F(ClientApi, FourReadersWhilePublishing_PinnedSnapshotAlwaysConsistent) {
  // Every version v holds a = v, b = 7v, c = a + b. Readers check that a
  // pinned snapshot is one version; the publisher does not go on until a
  // reader has seen the version it just published, so every version is read.
  constexpr int kVersions = 200;
  constexpr int kReaders = 4;
  auto doc = [](std::int64_t v) {
    return "{\"a\": " + std::to_string(v) + ", \"b\": " + std::to_string(v * 7) +
           ", \"c\": " + std::to_string(v * 8) + "}";
  };
  pub_.publish(doc(1));
  pub_.retain(8);
  Client c = open_client();
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> reads{0}, bad{0}, newest_seen{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < kReaders; ++t) {
    readers.emplace_back([&] {
      const Key ka = c.key("a");
      std::uint64_t last = 0, local_reads = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const Snapshot s = c.snapshot();
        const auto a = s.get_int("a"), b = s.get_int("b"), cc = s.get_int("c");
        if (!a || !b || !cc || *cc != *a + *b || static_cast<std::uint64_t>(*a) != s.version()) {
          bad.fetch_add(1, std::memory_order_relaxed);
        }
        if (s.version() < last) bad.fetch_add(1, std::memory_order_relaxed);  // never backwards
        last = s.version();
        std::uint64_t seen = newest_seen.load(std::memory_order_relaxed);
        while (seen < last && !newest_seen.compare_exchange_weak(seen, last)) {
        }
        // One-shot reads may each see a newer version, but never fail.
        if (!c.get_int("b") || !c.get_int(ka) || !c.get_double("c")) {
          bad.fetch_add(1, std::memory_order_relaxed);
        }
        ++local_reads;
        std::this_thread::yield();  // 4 spinning readers must not starve the publisher
      }
      reads.fetch_add(local_reads);
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + kHangGuard;
  for (int v = 2; v <= kVersions; ++v) {
    pub_.publish(doc(v));
    pub_.retain(8);
    while (newest_seen.load() < static_cast<std::uint64_t>(v) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_EQ(newest_seen.load(), static_cast<std::uint64_t>(kVersions));
  EXPECT_GT(reads.load(), 0u);
  EXPECT_EQ(c.version(), static_cast<std::uint64_t>(kVersions));
  EXPECT_TRUE(c.last_error().empty()) << c.last_error();
}

}  // namespace
}  // namespace shmconf
