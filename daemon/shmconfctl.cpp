// shmconfctl — the operator's tool.
//
// get, version, dump, explain, wait and flag read shared memory through libshmconf
// and work with no daemon running; render and validate run the parse/merge
// pipeline offline (validate runs the daemon's whole check pipeline);
// schema-doc documents a JSON Schema; status, reload, rollback, history,
// diff, set and unset talk to shmconfd over its control socket; push writes
// a validated file to an etcd source; seal-keygen and seal make sealed
// secrets.
//
// This file parses the command line; the commands and their exit codes are
// in daemon/src/ctl/ (ctl.hpp).
#include <CLI/CLI.hpp>
#include <string>

#include "ctl/ctl.hpp"

namespace ctl = shmconf::daemon::ctl;

int main(int argc, char** argv) {
  CLI::App app{"shmconfctl: inspect and operate shmconf namespaces"};
  app.require_subcommand(1);
  // Global options are accepted after the subcommand too ("reload --name app").
  app.fallthrough();
  ctl::Args a;
  app.add_option("--config", a.config,
                 "Daemon configuration file (shmconfd.yaml): status, reload and validate act on "
                 "each of its namespaces, or on --name's");
  app.add_option("--name,-n", a.name, "Namespace (default $SHMCONF_NAMESPACE)");
  app.add_option("--socket", a.socket,
                 "Control socket (default $SHMCONF_SOCKET or /run/shmconf/NAME.sock)");
  app.add_option("--prefix", a.prefix, "Shared-memory prefix (default $SHMCONF_PREFIX or shmconf)");
  app.add_flag("--json", a.json, "Machine-readable output");
  app.add_flag("--show-secrets", a.show_secrets,
               "Print sensitive values instead of <redacted> (socket commands: authorised users "
               "only)");

  auto* get = app.add_subcommand("get", "Print one value (strings raw, others as JSON)");
  get->add_option("key", a.key, "Full key path, e.g. database.pool.max_size")->required();
  app.add_subcommand("version", "Print the live version (0 when nothing is published)");
  app.add_subcommand("dump", "Print the live snapshot as JSON");
  auto* explain = app.add_subcommand("explain", "Show a value and which source set it");
  explain->add_option("key", a.key)->required();
  auto* wait = app.add_subcommand("wait", "Block until the live version differs from --known");
  auto* known =
      wait->add_option("--known", a.known, "Version to wait past (default: the live one)");
  wait->add_option("--timeout-ms", a.timeout_ms, "Give up after this long (exit 1)");
  auto* flag = app.add_subcommand(
      "flag", "A feature flag's answer for a subject, and why (exit 1: no such flag)");
  flag->add_option("name", a.key, "Flag name (the key flags.NAME)")->required();
  flag->add_option("subject", a.value, "Subject id, e.g. a user or host id")->required();

  auto* render = app.add_subcommand("render", "Parse and merge files, print JSON; publish nothing");
  render->add_option("files", a.files)->required()->check(CLI::ExistingFile);
  auto* validate = app.add_subcommand(
      "validate",
      "Run the daemon's load and check pipeline on FILEs (later wins), publish nothing; exit 0 "
      "valid, 1 invalid, 2 usage");
  validate->add_option("files", a.files, "Config files or conf.d directories (or --config)");
  validate->add_option("--schema", a.schema_path, "JSON Schema (draft 7) to validate against");
  validate->add_option("--env", a.environment,
                       "Environment for overlay directories (as the daemon's --env)");
  validate->add_option("--format", a.out_format, "Output: text (errors on stderr) or json")
      ->check(CLI::IsMember({"text", "json"}));
  validate
      ->add_option("--plaintext-secrets", a.secrets_policy,
                   "A sensitive key holding a literal: error, warn or allow")
      ->check(CLI::IsMember({"error", "warn", "allow"}));
  validate
      ->add_option("--sealing-key", a.sealing_keys,
                   "ID=${credential:NAME} or ID=PATH: a private key that opens "
                   "${sealed:ID:...} values (as the daemon's); repeat for several ids")
      ->allow_extra_args(false);
  auto* schema_doc =
      app.add_subcommand("schema-doc", "Print a Markdown table of a JSON Schema's keys");
  schema_doc->add_option("schema", a.schema_path, "JSON Schema file")->required();

  auto* status = app.add_subcommand("status", "Daemon status: live version, last reload, sources");
  status->add_flag("--json", a.json,
                   "The daemon's status reply as JSON (\"healthy\" is the verdict)");
  app.add_subcommand("metrics",
                     "Print the daemon's Prometheus metrics (what --metrics-listen serves)");
  auto* reload = app.add_subcommand("reload", "Reload now; exit 1 if the new config is rejected");
  reload->add_flag("--force", a.force,
                   "Skip the guards (min_keys, max_deleted_percent, max_changed_percent, "
                   "allow_empty) for this reload; "
                   "authorised users only, audited");
  std::uint64_t to = 0;
  auto* rollback = app.add_subcommand("rollback", "Make an earlier retained version live");
  auto* steps_opt =
      rollback->add_option("--steps", a.steps, "Go back N retained versions (default 1)");
  auto* to_opt = rollback->add_option("--to", to, "Go to this retained version");
  steps_opt->excludes(to_opt);
  app.add_subcommand("history", "Retained versions and recent events");
  auto* diff = app.add_subcommand("diff", "Keys added, removed and changed between two versions");
  diff->add_option("from", a.from_version)->required();
  diff->add_option("to", a.to_version)->required();
  auto* set = app.add_subcommand("set", "Set a runtime override (value as JSON, else a string)");
  set->add_option("key", a.key)->required();
  set->add_option("value", a.value)->required();
  auto* unset = app.add_subcommand("unset", "Remove a runtime override");
  unset->add_option("key", a.key)->required();

  app.add_subcommand("readers",
                     "Processes reading the namespace: pid, executable, the version each serves");
  double converge_timeout = 0;
  auto* converge = app.add_subcommand(
      "wait-converged",
      "Wait until every live reader serves VERSION or newer (exit 0), else exit 1 at the "
      "timeout listing the readers that lag");
  converge->add_option("version", a.converge_version, "Version to wait for")->required();
  converge->add_option("--timeout", converge_timeout, "Seconds to wait (fractions allowed)")
      ->required()
      ->check(CLI::Range(0.0, 86400.0));
  converge->add_flag("--exact", a.exact,
                     "Every reader must serve exactly VERSION (after a rollback to it)");

  std::uint64_t if_revision = 0;
  auto* push = app.add_subcommand(
      "push",
      "Validate FILE as the namespace's etcd source (offline, the daemon's checks), then write "
      "it to etcd in one transaction that fails if the key changed since; prints the revision");
  push->add_option("namespace", a.name, "Namespace of --config")->required();
  push->add_option("files", a.files, "The new content of the etcd key")
      ->required()
      ->check(CLI::ExistingFile);
  push->add_option("--key", a.push_key, "The etcd source's key, when it has several");
  auto* if_rev = push->add_option(
      "--if-revision", if_revision,
      "Push only if the key's mod_revision is still this one (what --dry-run printed)");
  push->add_flag("--dry-run", a.dry_run, "Validate and print the revision; write nothing");
  push->add_option("--etcd-user", a.etcd_user, "etcd user for the write (default: the source's)");
  push->add_option("--etcd-password-file", a.etcd_password_file,
                   "File holding that user's password");

  auto* keygen = app.add_subcommand(
      "seal-keygen",
      "Make an X25519 key pair for sealed secrets: the private key into --out (mode 0600, never "
      "overwritten), the public key (base64) on stdout");
  keygen->add_option("--out", a.seal_out, "Private key file to create")->required();
  keygen->add_option("--public", a.seal_public_out, "Also write the public key to this file");
  auto* seal = app.add_subcommand(
      "seal", "Encrypt a value to a public key; prints ${sealed:KEY_ID:BASE64} for a config file");
  seal->add_option("value", a.value, "The secret (prefer --stdin)");
  seal->add_flag("--stdin", a.seal_stdin,
                 "Read the secret from stdin (one trailing newline dropped)");
  seal->add_option("--public-key", a.public_key_file, "Public key file (seal-keygen --public)");
  seal->add_option("--public-key-base64", a.public_key_b64,
                   "Public key, as seal-keygen printed it");
  seal->add_option("--key-id", a.key_id,
                   "The namespace's sealing_keys id that opens it (default: default)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : ctl::kExitUsage;
  }
  a.known_given = known->count() > 0;
  if (*to_opt) a.to = to;
  if (*if_rev) a.if_revision = if_revision;
  if (*converge) a.timeout_ms = static_cast<int>(converge_timeout * 1000.0);
  return ctl::run_verb(app.get_subcommands().front()->get_name(), a);
}
