// daemon/src/core/async_hash.hpp — a candidate's content hash, computed on a
// second core while the builder lays the same tree out.
//
// content_hash() serialises the whole tree to canonical JSON (tree/value.hpp);
// at 10 MB of JSON that is some 10 ms that used to sit on the reload's
// critical path before the build. Both only read the tree, so a reload
// starts the hash here and collects it once the layout is done
// (NamespaceService::publish_tree). A small tree is hashed inline: a thread
// costs more than the hash.
//
// Thread-safety: the tree must stay alive and unchanged until get() or the
// destructor (which joins). One owner thread calls get().
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>
#include <thread>

#include "tree/value.hpp"

namespace shmconf::daemon {

class AsyncContentHash {
 public:
  explicit AsyncContentHash(const Value& tree) : tree_(tree) {
    if (!large(tree)) {
      hash_ = content_hash(tree);
      return;
    }
    try {
      thread_ = std::thread([this] { hash_ = content_hash(tree_); });
    } catch (const std::system_error&) {
      hash_ = content_hash(tree);  // no thread to be had: hash here
    }
  }
  ~AsyncContentHash() {
    if (thread_.joinable()) thread_.join();
  }
  AsyncContentHash(const AsyncContentHash&) = delete;
  AsyncContentHash& operator=(const AsyncContentHash&) = delete;

  std::uint64_t get() {
    if (thread_.joinable()) thread_.join();
    return hash_;
  }

 private:
  // More than kThreadAbove values: counted only that far.
  static bool large(const Value& root) {
    std::size_t seen = 0;
    count(root, seen);
    return seen > kThreadAbove;
  }
  static void count(const Value& v, std::size_t& seen) {
    if (++seen > kThreadAbove) return;
    for (const Value& item : v.items) {
      if (seen > kThreadAbove) return;
      count(item, seen);
    }
    for (const auto& [key, member] : v.fields) {
      if (seen > kThreadAbove) return;
      count(member, seen);
    }
  }
  static constexpr std::size_t kThreadAbove = 4096;

  const Value& tree_;
  std::thread thread_;
  std::uint64_t hash_ = 0;
};

}  // namespace shmconf::daemon
