// tests/client/golden_decoder.hpp — what the golden segment tests share:
// the committed bytes (rewritten first under SHMCONF_REGENERATE_GOLDEN=1),
// a decoder written from docs/FORMAT.md alone, and the Golden fixture. See
// golden_test.cpp for what the golden files are and when to regenerate.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "client/test_util.hpp"

namespace shmconf::golden {

using format::Node;

using format::Type;

constexpr std::uint64_t kGoldenVersion = 7;
constexpr std::uint64_t kGoldenTime = 1'700'000'000'000'000'000ull;
// FORMAT.md §10 gives this number so that a reader in another language can
// hard-code it; format.hpp computes it. They must agree.
constexpr std::uint32_t kDocumentedLayoutSignature = 0x3b55ba98u;

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::vector<std::byte> to_bytes(const std::string& text) {
  std::vector<std::byte> out(text.size());
  std::memcpy(out.data(), text.data(), text.size());
  return out;
}

inline daemon::Value golden_tree() {
  return daemon::parse_file(test::data_path("golden/example.json"), /*source=*/0);
}

inline std::vector<std::byte> build_golden() {
  const daemon::Value root = golden_tree();
  test::BuildOptions o;
  o.version = kGoldenVersion;
  o.publish_time_ns = kGoldenTime;
  o.trigger = "golden";
  o.sources = {"file:example.json"};
  o.previous = nullptr;
  return test::build(root, o);
}

// The committed bytes, in 8-byte aligned storage. With
// SHMCONF_REGENERATE_GOLDEN=1 the file is rewritten first.
inline std::vector<std::byte> golden_bytes() {
  const std::string path = test::data_path("golden/example-v3.seg");
  if (const char* env = std::getenv("SHMCONF_REGENERATE_GOLDEN"); env && std::string(env) == "1") {
    static const bool written = [&] {
      const auto bytes = build_golden();
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(bytes.data()),
                static_cast<std::streamsize>(bytes.size()));
      return out.good();
    }();
    EXPECT_TRUE(written) << "could not write " << path;
  }
  return to_bytes(read_file(path));
}

// ---- an independent decoder, from docs/FORMAT.md alone ------------------------------
//
// Little-endian integers assembled byte by byte at the offsets FORMAT.md
// documents. It shares nothing with format.hpp's structs or SegmentView, so
// a layout change that the writer and the reader agree on still fails here.

class Raw {
 public:
  explicit Raw(const std::vector<std::byte>& b) : b_(b) {}

  std::uint64_t le(std::uint64_t off, int n) const {
    if (off + static_cast<std::uint64_t>(n) > b_.size()) {
      ADD_FAILURE() << "read of " << n << " bytes at " << off << " past the end";
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(b_[off + i]);
    return v;
  }
  std::uint16_t u16(std::uint64_t off) const { return static_cast<std::uint16_t>(le(off, 2)); }
  std::uint32_t u32(std::uint64_t off) const { return static_cast<std::uint32_t>(le(off, 4)); }
  std::uint64_t u64(std::uint64_t off) const { return le(off, 8); }
  std::uint8_t u8(std::uint64_t off) const { return static_cast<std::uint8_t>(le(off, 1)); }
  std::string str(std::uint64_t off, std::uint64_t len) const {
    if (off + len > b_.size()) {
      ADD_FAILURE() << "string at " << off << " of " << len << " bytes past the end";
      return {};
    }
    return {reinterpret_cast<const char*>(b_.data()) + off, len};
  }

 private:
  const std::vector<std::byte>& b_;
};

// FORMAT.md §4.1.
struct RawHeader {
  std::uint64_t magic, segment_size, checksum, version, publish_time_ns, content_hash, hash_seed,
      prev_version, reserved2;
  std::uint32_t format_version, layout_signature, header_size, flags, node_count, index_capacity,
      nodes_off, index_off, strings_off, strings_size, meta_off, meta_size, origins_off, reserved1;

  explicit RawHeader(const Raw& r)
      : magic(r.u64(0)),
        segment_size(r.u64(24)),
        checksum(r.u64(32)),
        version(r.u64(40)),
        publish_time_ns(r.u64(48)),
        content_hash(r.u64(56)),
        hash_seed(r.u64(96)),
        prev_version(r.u64(104)),
        reserved2(r.u64(120)),
        format_version(r.u32(8)),
        layout_signature(r.u32(12)),
        header_size(r.u32(16)),
        flags(r.u32(20)),
        node_count(r.u32(64)),
        index_capacity(r.u32(68)),
        nodes_off(r.u32(72)),
        index_off(r.u32(76)),
        strings_off(r.u32(80)),
        strings_size(r.u32(84)),
        meta_off(r.u32(88)),
        meta_size(r.u32(92)),
        origins_off(r.u32(112)),
        reserved1(r.u32(116)) {}
};

// FORMAT.md §4.2 (Node, 16 bytes) and §4.3 (Origin, 8 bytes), one entry
// per node, with the name resolved (§4.7) and the full key path formed as
// §5.1 says: from the root down, through the child ranges.
struct RawNode {
  std::uint64_t payload;
  std::uint32_t name_off;
  std::uint32_t bits;
  std::uint32_t line;
  std::uint16_t column;
  std::uint16_t source;
  std::string name;  // "" when name_off is 0
  std::string key;   // the full path
  std::uint8_t type() const { return bits & 7u; }
  bool sensitive() const { return (bits & 8u) != 0; }
  std::uint32_t parent() const { return bits >> 4; }
  std::uint32_t first() const { return static_cast<std::uint32_t>(payload); }
  std::uint32_t count() const { return static_cast<std::uint32_t>(payload >> 32); }
  bool container() const { return type() == 5 || type() == 6; }
};

struct RawSegment {
  explicit RawSegment(const std::vector<std::byte>& bytes) : r(bytes), h(r) {
    for (std::uint32_t i = 0; i < h.node_count; ++i) {
      RawNode n{};
      const std::uint64_t at = h.nodes_off + 16ull * i;
      n.payload = r.u64(at);
      n.name_off = r.u32(at + 8);
      n.bits = r.u32(at + 12);
      const std::uint64_t o = h.origins_off + 8ull * i;
      n.line = r.u32(o);
      n.column = r.u16(o + 4);
      n.source = r.u16(o + 6);
      if (n.name_off != 0) n.name = name_at(n.name_off);
      nodes.push_back(n);
    }
    // Paths top-down: a container's children are nodes [first, first + count).
    for (std::uint32_t i = 0; i < h.node_count; ++i) {
      const RawNode& p = nodes[i];
      if (!p.container()) continue;
      for (std::uint32_t k = 0; k < p.count(); ++k) {
        RawNode& c = nodes.at(p.first() + k);
        EXPECT_EQ(c.parent(), i) << "node " << p.first() + k;
        if (p.type() == 5) {
          c.key = p.key + "[" + std::to_string(k) + "]";
        } else {
          c.key = (i == 0 ? "" : p.key + ".") + c.name;
        }
      }
    }
  }

  // A name (FORMAT.md §4.7): u16 length at off - 2, the bytes, a NUL.
  std::string name_at(std::uint32_t off) const {
    const std::uint16_t len = r.u16(off - 2);
    EXPECT_EQ(r.u8(off + len), 0u) << "name at " << off << " without its NUL";
    return r.str(off, len);
  }

  Raw r;
  RawHeader h;
  std::vector<RawNode> nodes;
};

class Golden : public ::testing::Test {
 protected:
  void SetUp() override {
    bytes_ = golden_bytes();
    ASSERT_FALSE(bytes_.empty()) << "missing tests/data/golden/example-v3.seg";
    SegmentError why;
    ASSERT_EQ(SegmentView::open(bytes_.data(), bytes_.size(), 0, &view_, &why), Errc::kOk)
        << why.message;
    raw_ = std::make_unique<RawSegment>(bytes_);
  }
  const Node& at(std::string_view key) {
    const Node* n = view_.find(key);
    EXPECT_NE(n, nullptr) << key;
    static const Node kNone{};
    return n ? *n : kNone;
  }
  std::vector<std::byte> bytes_;
  SegmentView view_;
  std::unique_ptr<RawSegment> raw_;
};

}  // namespace shmconf::golden
