// Reads database.port of NAMESPACE under PREFIX through the installed C++
// API, waiting up to ten seconds for the namespace to be published.
// Usage: consumer NAMESPACE PREFIX; prints the port, exit 0.
#include <chrono>
#include <iostream>
#include <shmconf/client.hpp>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  shmconf::ClientOptions o;
  o.prefix = argv[2];
  for (int i = 0; i < 1000; ++i) {
    auto c = shmconf::Client::try_open(argv[1], o);
    if (c && c->version() != 0) {
      auto snap = c->snapshot();
      auto port = snap.get_int("database.port");
      if (!port) return 1;
      std::cout << *port << "\n";
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::cerr << "consumer: namespace " << argv[1] << " never published\n";
  return 1;
}
