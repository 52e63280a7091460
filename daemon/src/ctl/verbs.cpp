// shmconfctl's verb table: from the subcommand's name to its function.
#include <string_view>

#include "ctl/common.hpp"

namespace shmconf::daemon::ctl {
namespace {

struct Verb {
  std::string_view name;
  int (*run)(const Args&);
};

constexpr Verb kVerbs[] = {
    // read.cpp: shared memory, no daemon needed
    {"get", cmd_get},
    {"version", cmd_version},
    {"dump", cmd_dump},
    {"explain", cmd_explain},
    {"wait", cmd_wait},
    {"flag", cmd_flag},  // flag.cpp
    // offline.cpp: files
    {"render", cmd_render},
    {"validate", cmd_validate},
    {"schema-doc", cmd_schema_doc},
    // remote.cpp: the control socket
    {"status", cmd_status},
    {"metrics", cmd_metrics},
    {"reload", cmd_reload},
    {"rollback", cmd_rollback},
    {"history", cmd_history},
    {"diff", cmd_diff},
    {"set", cmd_set},
    {"unset", cmd_unset},
    // push.cpp: etcd
    {"push", cmd_push},
    // seal.cpp: sealed secrets, local
    {"seal-keygen", cmd_seal_keygen},
    {"seal", cmd_seal},
    // readers.cpp: the reader registry
    {"readers", cmd_readers},
    {"wait-converged", cmd_wait_converged},
};

}  // namespace

int run_verb(const std::string& name, const Args& args) {
  for (const Verb& v : kVerbs) {
    if (v.name == name) return v.run(args);
  }
  return kExitUsage;
}

}  // namespace shmconf::daemon::ctl
