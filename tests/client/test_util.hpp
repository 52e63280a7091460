// tests/client/test_util.hpp — what the client tests share: segments built in
// memory from JSON text, and a Publisher on a unique shm prefix that removes
// every object it (or the test) created.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "parse/parse.hpp"
#include "publish/builder.hpp"
#include "publish/publisher.hpp"
#include "shmconf/client.hpp"
#include "shmconf/segment.hpp"
#include "tree/value.hpp"

namespace shmconf::test {

inline std::string data_path(const std::string& rel) {
  return std::string(SHMCONF_TEST_DATA) + "/" + rel;
}

inline daemon::Value json(std::string_view text, std::uint32_t source = 0) {
  return daemon::parse_text(text, daemon::Format::kJson, "t.json", source);
}

struct BuildOptions {
  std::uint64_t version = 1;
  std::uint64_t publish_time_ns = 1'700'000'000'000'000'000ull;
  std::string trigger = "test";
  daemon::SourceList sources = {"file:t.json"};
  const SegmentView* previous = nullptr;
  // Full key paths of sensitive values (BuildInput::sensitive); null = none.
  const std::set<std::string>* sensitive = nullptr;
};

inline std::vector<std::byte> build(const daemon::Value& root, const BuildOptions& o = {}) {
  daemon::BuildInput in;
  in.root = &root;
  in.sources = &o.sources;
  in.version = o.version;
  in.publish_time_ns = o.publish_time_ns;
  in.content_hash = daemon::content_hash(root);
  in.trigger = o.trigger;
  in.previous = o.previous;
  in.sensitive = o.sensitive;
  return daemon::build_segment(in);
}

// A segment built in memory and the view of it. Not copyable or movable:
// the view points into `bytes`.
struct Built {
  explicit Built(std::string_view json_text, const BuildOptions& o = {})
      : bytes(build(json(json_text), o)) {
    SegmentError why;
    const Errc e = SegmentView::open(bytes.data(), bytes.size(), 0, &view, &why);
    EXPECT_EQ(e, Errc::kOk) << why.message;
  }
  Built(const Built&) = delete;
  Built& operator=(const Built&) = delete;
  std::vector<std::byte> bytes;
  SegmentView view;
};

// "t<pid>x<counter>r<salt>": unique per test in this process and across
// processes running the suite in parallel; the random salt keeps a reused
// pid from meeting objects a killed test process left behind.
inline std::string unique_prefix() {
  static std::atomic<unsigned> counter{0};
  static const unsigned salt = std::random_device{}() & 0xffffffu;
  char tail[16];
  std::snprintf(tail, sizeof tail, "r%06x", salt);
  return "t" + std::to_string(::getpid()) + "x" + std::to_string(counter.fetch_add(1)) + tail;
}

// A Publisher on a unique prefix, namespace "app", publishing JSON text.
// Every segment it creates (and any object the test puts on one of its
// segment names) is unlinked in the destructor, the control block last.
class TestPublisher {
 public:
  static constexpr const char* kNs = "app";

  TestPublisher() : prefix_(unique_prefix()) {
    pub_ = std::make_unique<daemon::Publisher>(prefix_, kNs, daemon::ShmAccess{});
  }
  ~TestPublisher() {
    if (pub_) {
      for (std::uint64_t id : pub_->list_segments()) pub_->unlink(id);
    }
    pub_.reset();
    ::shm_unlink(control_object_name(prefix_, kNs).c_str());
  }
  TestPublisher(const TestPublisher&) = delete;
  TestPublisher& operator=(const TestPublisher&) = delete;

  const std::string& prefix() const { return prefix_; }
  ClientOptions options() const {
    ClientOptions o;
    o.prefix = prefix_;
    return o;
  }
  daemon::Publisher& publisher() { return *pub_; }

  // Builds a segment from `text` (version = last + 1, change list against
  // the live one), creates it, and unless `flip` is false makes it live.
  std::shared_ptr<daemon::Segment> publish(std::string_view text, bool flip = true) {
    const daemon::Value root = json(text);
    BuildOptions o;
    o.version = ++version_;
    o.previous = live_ ? &live_->view : nullptr;
    daemon::BuildInput in;
    in.root = &root;
    in.sources = &o.sources;
    in.version = o.version;
    in.publish_time_ns = o.publish_time_ns + o.version;
    in.content_hash = daemon::content_hash(root);
    in.trigger = o.trigger;
    in.previous = o.previous;
    const daemon::SnapshotBuilder builder(in);
    auto seg = pub_->create(builder);
    if (flip) flip_to(seg);
    return seg;
  }
  void flip_to(const std::shared_ptr<daemon::Segment>& seg) {
    pub_->flip(*seg);
    live_ = seg;
  }
  // Unlinks every segment but the newest `keep`, as the daemon's retention
  // does; the daemon's own mappings of them go too.
  void retain(std::size_t keep) {
    retained_.push_back(live_);
    while (retained_.size() > keep) {
      pub_->unlink(retained_.front()->id);
      retained_.erase(retained_.begin());
    }
  }
  std::shared_ptr<daemon::Segment> live() const { return live_; }
  std::uint64_t last_version() const { return version_; }

 private:
  std::string prefix_;
  std::unique_ptr<daemon::Publisher> pub_;
  std::shared_ptr<daemon::Segment> live_;
  std::vector<std::shared_ptr<daemon::Segment>> retained_;
  std::uint64_t version_ = 0;
};

}  // namespace shmconf::test
