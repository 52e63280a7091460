#include "alloc_count.hpp"

#include <cstdlib>
#include <new>

namespace {
thread_local std::uint64_t t_allocs = 0;
}  // namespace

std::uint64_t shmconf::bench::allocations() noexcept { return t_allocs; }

// noinline: a real operator new is never inlined, and GCC would otherwise
// see malloc/free through the inlined operators and warn of a mismatch.
#define SHMCONF_BENCH_ALLOC __attribute__((noinline))
SHMCONF_BENCH_ALLOC void* operator new(std::size_t n) {
  ++t_allocs;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
SHMCONF_BENCH_ALLOC void* operator new[](std::size_t n) { return ::operator new(n); }
SHMCONF_BENCH_ALLOC void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  ++t_allocs;
  return std::malloc(n == 0 ? 1 : n);
}
SHMCONF_BENCH_ALLOC void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  ++t_allocs;
  return std::malloc(n == 0 ? 1 : n);
}
SHMCONF_BENCH_ALLOC void operator delete(void* p) noexcept { std::free(p); }
SHMCONF_BENCH_ALLOC void operator delete[](void* p) noexcept { std::free(p); }
SHMCONF_BENCH_ALLOC void operator delete(void* p, std::size_t) noexcept { std::free(p); }
SHMCONF_BENCH_ALLOC void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
