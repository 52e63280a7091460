// A minimal libshmconf reader: prints a few values, then waits on the
// futex for each new version and prints what changed.
//
//   shmconf_example_reader NAMESPACE [KEY...] [--count N]
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <shmconf/client.hpp>
#include <string>
#include <vector>

namespace {

void print(const shmconf::Snapshot& snap, const std::vector<std::string>& keys) {
  std::cout << "version " << snap.version() << ":";
  for (const auto& k : keys) {
    auto v = snap.get(k);
    std::cout << " " << k << "=";
    if (!v) {
      std::cout << "<" << shmconf::to_string(v.error()) << ">";
    } else if (auto s = v->as_string()) {
      std::cout << *s;
    } else if (auto i = v->as_int()) {
      std::cout << *i;
    } else if (auto d = v->as_double()) {
      std::cout << *d;
    } else if (auto b = v->as_bool()) {
      std::cout << (*b ? "true" : "false");
    } else {
      std::cout << "<" << (v->is_null() ? "null" : "container") << ">";
    }
  }
  std::cout << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " NAMESPACE [KEY...] [--count N]\n";
    return 2;
  }
  std::vector<std::string> keys;
  int count = -1;  // versions to wait for; -1 = forever
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
      count = std::atoi(argv[++i]);
    } else {
      keys.push_back(argv[i]);
    }
  }
  if (keys.empty()) keys = {"database.host", "database.port", "database.pool.max_size"};

  auto client = shmconf::Client::open(argv[1]);
  auto snap = client.snapshot();
  print(snap, keys);
  for (int seen = 0; count < 0 || seen < count; ++seen) {
    // Sleeps on the control block's futex: no polling, woken by the publish.
    auto v = client.wait_for_change(snap.version(), std::chrono::seconds(60));
    if (!v) {
      std::cerr << "no new version: " << shmconf::to_string(v.error()) << "\n";
      return 1;
    }
    auto next = client.snapshot();
    for (const auto& c : next.changed_keys()) {
      std::cout << "  changed: " << c.key << "\n";
    }
    snap = std::move(next);
    print(snap, keys);
  }
  return 0;
}
