#include "publish/bus_guard.hpp"

#include <signal.h>

namespace shmconf::daemon {
namespace {

thread_local sigjmp_buf* t_target = nullptr;
struct sigaction g_previous {};

void on_sigbus(int sig, siginfo_t* info, void* context) {
  if (t_target != nullptr) siglongjmp(*t_target, 1);
  if ((g_previous.sa_flags & SA_SIGINFO) != 0 && g_previous.sa_sigaction != nullptr) {
    g_previous.sa_sigaction(sig, info, context);
    return;
  }
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  }
  // Default action: the faulting access runs again and kills the process.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(SIGBUS, &dfl, nullptr);
}

}  // namespace

namespace bus_guard_internal {
sigjmp_buf*& target() noexcept { return t_target; }
}  // namespace bus_guard_internal

void install_bus_guard() {
  static const bool installed = [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    ::sigemptyset(&sa.sa_mask);
    return ::sigaction(SIGBUS, &sa, &g_previous) == 0;
  }();
  (void)installed;
}

}  // namespace shmconf::daemon
