// daemon/src/core/offline.hpp — the daemon's load and check pipeline without
// a daemon, for `shmconfctl validate` and CI: the same NamespaceService the
// daemon runs, never started, so nothing touches shared memory or a state
// directory.
//
// Thread-safety: none needed. Cost: every source is read and parsed.
#pragma once

#include "core/options.hpp"
#include "validate/validate.hpp"

namespace shmconf::daemon {

// Runs the daemon's pipeline for `options` (load, substitution, merge,
// schema, secrets, size guards) and publishes nothing. Change guards need a
// live version and are not checked. Never throws for a bad configuration:
// load errors come back as issues of kind "source"/"parse"/... .
ValidationReport validate_offline(const ServiceOptions& options);

}  // namespace shmconf::daemon
