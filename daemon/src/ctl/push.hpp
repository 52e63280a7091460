// daemon/src/ctl/push.hpp — what push.cpp (document keys) and push_tree.cpp
// (tree prefixes) share.
#pragma once

#include <string>
#include <vector>

#include "ctl/common.hpp"
#include "sources/etcd/layers.hpp"

namespace shmconf::daemon::ctl {

struct PushTarget {
  std::size_t index = 0;  // in the namespace's sources
  EtcdSpec spec;
};

// Validates the namespace with `files` (absolute) in place of the target's
// etcd source, as the daemon would load it; prints the issues. True when valid.
bool push_valid(ServiceOptions o, const PushTarget& t, const std::vector<std::string>& files,
                const Args& a);

// push to a tree (prefix:) source: the files merged, one key per leaf.
int push_tree(const ServiceOptions& o, const PushTarget& t, const Args& a);

}  // namespace shmconf::daemon::ctl
