// daemon/src/ctl/ctl.hpp — shmconfctl's commands (docs/CLI.md), one file per
// group, reached through a verb table (the shape of systemctl's):
//
//   read.cpp     get, version, dump, explain, wait: shared memory through
//                libshmconf; no daemon needed (explain asks it for layers)
//   flag.cpp     flag: a feature flag's answer for a subject, and why
//   offline.cpp  render, validate, schema-doc: files, no daemon, no shm
//   remote.cpp   status, metrics, reload, rollback, history, diff, set,
//                unset: the daemon's control socket (control/client.hpp)
//   push.cpp     push: validate a file offline, write it to etcd (CAS)
//   seal.cpp     seal-keygen, seal: sealed secrets (docs/SECRETS.md), local
//   readers.cpp  readers (the socket), wait-converged (the reader registry,
//                read-only, no daemon needed)
//   verbs.cpp    the table from name to function
//
// main() (daemon/shmconfctl.cpp) parses the command line into Args and calls
// run_verb().
//
// Exit codes: 0 success; 1 failure (missing key, invalid config, rejected
// reload or rollback); 2 usage error; 3 namespace or daemon unreachable.
// Errors go to stderr. Sensitive values (docs/VALIDATION.md) print as
// "<redacted>" unless --show-secrets; the daemon honours that flag only for
// authorised peers.
//
// Thread-safety: a command-line program. Cost: one attach or one request.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shmconf::daemon::ctl {

inline constexpr int kExitFail = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnreachable = 3;

// Everything the command line says; each verb reads what it takes.
struct Args {
  // Global.
  std::string config;  // daemon configuration file: act on each of its namespaces
  std::string name;
  std::string socket;
  std::string prefix;
  bool json = false;
  bool show_secrets = false;
  // Per verb.
  std::string key;                           // get, explain, set, unset; flag: the name
  std::string value;                         // set; flag: the subject
  std::uint64_t known = 0;                   // wait
  bool known_given = false;                  // wait: --known given (else the live version)
  int timeout_ms = -1;                       // wait
  std::vector<std::string> files;            // render, validate
  std::string schema_path;                   // validate, schema-doc
  std::string environment;                   // validate
  std::string out_format = "text";           // validate
  std::string secrets_policy = "error";      // validate
  std::vector<std::string> sealing_keys;     // validate --sealing-key ID=REF
  bool force = false;                        // reload
  unsigned steps = 1;                        // rollback
  std::optional<std::uint64_t> to;           // rollback --to
  std::uint64_t from_version = 0;            // diff
  std::uint64_t to_version = 0;              // diff
  std::string push_key;                      // push --key: which etcd source
  std::optional<std::uint64_t> if_revision;  // push --if-revision
  bool dry_run = false;                      // push --dry-run
  std::string etcd_user;                     // push --etcd-user
  std::string etcd_password_file;            // push --etcd-password-file
  std::string seal_out;                      // seal-keygen --out: the private key file
  std::string seal_public_out;               // seal-keygen --public
  std::string public_key_file;               // seal --public-key
  std::string public_key_b64;                // seal --public-key-base64
  std::string key_id = "default";            // seal --key-id
  bool seal_stdin = false;                   // seal --stdin (else `value`)
  std::uint64_t converge_version = 0;        // wait-converged VERSION
  bool exact = false;                        // wait-converged --exact
};

// Runs the verb called `name` ("get", "reload", ...) and returns the exit
// code; kExitUsage for a name the table does not hold.
int run_verb(const std::string& name, const Args& args);

}  // namespace shmconf::daemon::ctl
