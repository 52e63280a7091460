#include "core/offline.hpp"

#include "core/namespace_service.hpp"
#include "sources/sources.hpp"

namespace shmconf::daemon {

ValidationReport validate_offline(const ServiceOptions& options) {
  ServiceOptions opts = options;
  opts.state_dir.clear();  // offline: nothing persists, nothing is read back
  ValidationReport report;
  try {
    // The same object the daemon runs, never started: no shared memory.
    const NamespaceService service(opts);
    NamespaceService::Candidate c = service.load_checked();
    report.warnings = std::move(c.warnings);
  } catch (const ValidationFailure& e) {
    report.errors = e.issues();
  } catch (const ConfigError& e) {
    const auto* se = dynamic_cast<const SourceError*>(&e);
    report.errors.push_back(ValidationIssue{se != nullptr ? se->kind() : "parse", e.file(),
                                            e.line(), e.column(), e.key_path(), e.message()});
  } catch (const std::exception& e) {
    report.errors.push_back(ValidationIssue{"source", "", 0, 0, "", e.what()});
  }
  report.valid = report.errors.empty();
  return report;
}

}  // namespace shmconf::daemon
