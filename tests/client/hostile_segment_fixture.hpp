// tests/client/hostile_segment_fixture.hpp — the HostileSegment fixture the
// hostile-segment tests share: one good segment (with a previous version, so
// it carries a change list) to corrupt, and the helpers that edit it and
// recompute its checksum.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "client/test_util.hpp"
#include "shmconf/shmconf.h"

namespace shmconf::hostile {

using format::ChangedKey;
using format::IndexSlot;
using format::MetaHeader;
using format::Node;
using format::Origin;
using format::SegmentHeader;
using format::StrRef;
using format::Type;

static_assert(SHMCONF_E_VERSION == static_cast<int>(Errc::kVersion));
static_assert(SHMCONF_E_FORMAT == SHMCONF_E_VERSION);

// The previous version, so the good segment carries a change list too.
inline constexpr std::string_view kPrevious = R"({
  "database": {"host": "old", "port": 1},
  "gone": 1,
  "servers": [{"host": "a", "port": 1}],
  "flags": {"on": false}
})";

// Objects, arrays, every scalar type, strings, shared names, sources and a
// change list.
inline constexpr std::string_view kConfig = R"({
  "database": {"host": "db.internal", "port": 5432, "pool": {"max_size": 20}},
  "servers": [{"host": "a", "port": 1}, {"host": "b", "port": 2}],
  "flags": {"on": true, "off": false, "none": null, "ratio": 1.5},
  "empty_list": [],
  "empty_map": {}
})";

inline std::vector<std::byte> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::vector<std::byte> out(text.size());
  std::memcpy(out.data(), text.data(), text.size());
  return out;
}

class HostileSegment : public ::testing::Test {
 protected:
  void SetUp() override {
    test::BuildOptions o;
    o.sources = {"file:a.json", "env:APP_"};
    prev_ = test::build(test::json(kPrevious), o);
    ASSERT_EQ(SegmentView::open(prev_.data(), prev_.size(), 0, &prev_view_), Errc::kOk);
    o.version = 2;
    o.previous = &prev_view_;
    good_ = test::build(test::json(kConfig), o);
    ASSERT_EQ(SegmentView::open(good_.data(), good_.size(), 0, &good_view_), Errc::kOk);
    bytes_ = good_;
    ASSERT_EQ(open(), Errc::kOk) << why_.message;
    ASSERT_GT(meta().changed_count, 2u);
  }

  SegmentHeader& hdr() { return at<SegmentHeader>(0); }
  Node& node(std::uint32_t i) { return at<Node>(hdr().nodes_off + i * sizeof(Node)); }
  Origin& origin(std::uint32_t i) { return at<Origin>(hdr().origins_off + i * sizeof(Origin)); }
  IndexSlot& slot(std::uint32_t i) {
    return at<IndexSlot>(hdr().index_off + i * sizeof(IndexSlot));
  }
  MetaHeader& meta() { return at<MetaHeader>(hdr().meta_off); }
  template <class T>
  T& at(std::uint64_t off) {
    return *reinterpret_cast<T*>(bytes_.data() + off);
  }
  std::uint32_t size() const { return static_cast<std::uint32_t>(bytes_.size()); }
  std::uint32_t pool_end() { return hdr().strings_off + hdr().strings_size; }

  // Index of the node for `key` in the good segment, and of its slot.
  std::uint32_t node_of(std::string_view key) {
    const Node* n = good_view_.find(key);
    EXPECT_NE(n, nullptr) << key;
    return n ? good_view_.index_of(*n) : 0;
  }
  std::uint32_t slot_of(std::string_view key) {
    const std::uint32_t n = node_of(key);
    const auto slots = good_view_.slots();
    for (std::uint32_t s = 0; s < slots.size(); ++s) {
      if (!slots[s].empty() && slots[s].node() == n) return s;
    }
    ADD_FAILURE() << "no slot for " << key;
    return 0;
  }
  void set_parent(std::uint32_t i, std::uint32_t parent) {
    node(i).bits = (node(i).bits & 0xFu) | (parent << 4);
  }
  void set_type(std::uint32_t i, std::uint8_t type) { node(i).bits = (node(i).bits & ~7u) | type; }

  void rechecksum() {
    hdr().checksum = XXH3_64bits(bytes_.data() + format::kChecksumFrom,
                                 hdr().segment_size - format::kChecksumFrom);
  }
  Errc open(std::uint64_t expected_checksum = 0) {
    why_ = {};
    SegmentView v;
    const Errc e = SegmentView::open(bytes_.data(), bytes_.size(), expected_checksum, &v, &why_);
    if (e != Errc::kOk) {
      EXPECT_TRUE(v.empty());
    }
    return e;
  }
  // Refused with `code` for the reason that mentions `reason`.
  testing::AssertionResult refused(Errc code, std::string_view reason) {
    const Errc e = open();
    const std::string msg = why_.message;
    if (e != code || msg.find(reason) == std::string::npos) {
      return testing::AssertionFailure()
             << "open() returned " << static_cast<int>(e) << " \"" << msg << "\", wanted "
             << static_cast<int>(code) << " mentioning \"" << reason << "\"";
    }
    return testing::AssertionSuccess();
  }
  testing::AssertionResult refused_after_rechecksum(std::string_view reason) {
    rechecksum();
    return refused(Errc::kCorrupt, reason);
  }
  // Accepted: the damage is one validation does not (and need not) catch.
  testing::AssertionResult accepted_after_rechecksum(SegmentView* v) {
    rechecksum();
    why_ = {};
    const Errc e = SegmentView::open(bytes_.data(), bytes_.size(), 0, v, &why_);
    if (e != Errc::kOk) {
      return testing::AssertionFailure()
             << "refused: " << static_cast<int>(e) << " " << why_.message;
    }
    return testing::AssertionSuccess();
  }

  std::vector<std::byte> prev_;
  SegmentView prev_view_;
  std::vector<std::byte> good_;
  SegmentView good_view_;
  std::vector<std::byte> bytes_;
  SegmentError why_;
};

}  // namespace shmconf::hostile
