// NamespaceService's reader registry: opening it beside the control block,
// the sweep that repairs it and frees dead readers' slots, and the view
// that `readers`, `status` and the metrics show.
#include "core/namespace_service.hpp"
#include "log/log.hpp"

namespace shmconf::daemon {

void NamespaceService::open_registry() noexcept {
  if (!opts_.reader_registry) {
    registry_error_ = "the reader registry is turned off (reader_registry: false)";
    return;
  }
  try {
    registry_ = std::make_unique<ReaderRegistry>(opts_.prefix, opts_.name, opts_.access);
    sweep_readers();  // an adopted registry: checked, repaired, dead readers freed
  } catch (const std::exception& e) {
    // Reads never depend on the registry: the namespace is served without.
    registry_error_ = e.what();
    ops::log_warn("reader registry unavailable",
                  {{"namespace", opts_.name}, {"error", registry_error_}});
  }
}

namespace {
constexpr auto kReadersPeriod = std::chrono::seconds(1);
}  // namespace

void NamespaceService::sweep_readers(bool every_second) noexcept {
  if (!registry_) return;
  const auto now = std::chrono::steady_clock::now();
  if (every_second && swept_at_.time_since_epoch().count() != 0 &&
      now - swept_at_ < kReadersPeriod) {
    return;
  }
  swept_at_ = now;
  readers_at_ = {};  // read again after the sweep
  const ReaderRegistry::Sweep s = registry_->sweep();
  try {
    if (!s.repaired.empty()) {
      ops::log_warn("reader registry damaged; reset",
                    {{"namespace", opts_.name},
                     {"object", "/dev/shm" + registry_->name()},
                     {"problem", s.repaired},
                     {"hint",
                      "a process with write access to it wrote garbage or resized it; "
                      "readers register again at their next new version"}});
    }
    if (s.reclaimed > 0) {
      ops::log_info("reader slots reclaimed",
                    {{"namespace", opts_.name}, {"slots", std::uint64_t{s.reclaimed}}});
    }
  } catch (...) {
  }
}

RegistryView NamespaceService::readers() const {
  if (!registry_) {
    RegistryView v;
    v.error = registry_error_;
    return v;
  }
  const auto now = std::chrono::steady_clock::now();
  if (readers_at_.time_since_epoch().count() == 0 || now - readers_at_ >= kReadersPeriod) {
    readers_ = registry_->view();
    readers_at_ = now;
  }
  return readers_;
}

}  // namespace shmconf::daemon
