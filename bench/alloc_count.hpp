// bench/alloc_count.hpp — counts heap allocations, for the benchmarks'
// allocs_per_read and allocs_per_reload counters.
//
// alloc_count.cpp replaces the global operator new for the whole process
// (libshmconf.so's calls bind to it too). The count is thread-local, so
// benchmark threads do not contend and each reports its own work.
#pragma once

#include <cstdint>

namespace shmconf::bench {

// Allocations made by the calling thread so far.
std::uint64_t allocations() noexcept;

}  // namespace shmconf::bench
