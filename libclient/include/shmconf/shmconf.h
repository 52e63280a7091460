/* shmconf/shmconf.h — the C ABI of libshmconf.
 *
 * For any language with an FFI. Handles are opaque. Every function that can
 * fail returns 0 or a negative SHMCONF_E_* code; out-parameters are written
 * only on success (one documented exception: shmconf_get_string reports the
 * needed length on SHMCONF_E_RANGE).
 *
 * Thread-safety: a shmconf_client may be used by many threads at once. A
 * shmconf_snapshot is immutable and may be read by many threads; release it
 * exactly once.
 *
 * Cost: getters on a snapshot make no system call, take no lock and do not
 * allocate. shmconf_snapshot_acquire allocates one small handle (use one
 * snapshot for a batch of reads, not one per read).
 */
#ifndef SHMCONF_SHMCONF_H
#define SHMCONF_SHMCONF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SHMCONF_BUILDING_LIBRARY) && defined(__GNUC__)
#define SHMCONF_API __attribute__((visibility("default")))
#else
#define SHMCONF_API
#endif

/* Error codes: a reserved negative band, never a -errno value. */
#define SHMCONF_OK 0
#define SHMCONF_E_NOT_FOUND (-30101)    /* no such key */
#define SHMCONF_E_WRONG_TYPE (-30102)   /* the key holds another type */
#define SHMCONF_E_NO_SNAPSHOT (-30103)  /* nothing published yet */
#define SHMCONF_E_NO_NAMESPACE (-30104) /* no such namespace (no control block) */
#define SHMCONF_E_PERMISSION (-30105)   /* owner or mode of an object refused */
#define SHMCONF_E_CORRUPT (-30106)      /* validation failed */
#define SHMCONF_E_VERSION (-30107)      /* format version or layout mismatch */
/* The same code by the name the format documentation uses: a segment of
   another format version (a v1 reader meeting a v2 segment, or the reverse). */
#define SHMCONF_E_FORMAT SHMCONF_E_VERSION
#define SHMCONF_E_BUSY (-30108)    /* control block stayed mid-update */
#define SHMCONF_E_TIMEOUT (-30109) /* wait timed out */
#define SHMCONF_E_RANGE (-30110)   /* buffer too small */
#define SHMCONF_E_INVALID (-30111) /* invalid argument */
#define SHMCONF_E_SYSTEM (-30112)  /* operating-system error, see errno */
#define SHMCONF_E_NOMEM (-30113)   /* out of memory */

/* Value types, as stored in the segment. */
#define SHMCONF_TYPE_NULL 0
#define SHMCONF_TYPE_BOOL 1
#define SHMCONF_TYPE_INT 2
#define SHMCONF_TYPE_DOUBLE 3
#define SHMCONF_TYPE_STRING 4
#define SHMCONF_TYPE_ARRAY 5
#define SHMCONF_TYPE_OBJECT 6

typedef struct shmconf_client shmconf_client;
typedef struct shmconf_snapshot shmconf_snapshot;

/* Attach to namespace `name` (prefix from $SHMCONF_PREFIX or "shmconf"). */
SHMCONF_API int shmconf_open(const char *name, shmconf_client **out);
/* The same with an explicit object-name prefix (NULL or "" = default). */
SHMCONF_API int shmconf_open_prefix(const char *name, const char *prefix, shmconf_client **out);
/* Attach options, for shmconf_open_with. Extensible without breaking the ABI:
 * `size` holds sizeof(shmconf_open_options) as the caller was compiled, the
 * library reads only the fields that fit in it (later fields take their
 * defaults), and refuses with SHMCONF_E_INVALID a larger struct whose
 * extra bytes are not all zero (an option this library does not know).
 * Start from SHMCONF_OPEN_OPTIONS_INIT, then set fields by name. */
typedef struct shmconf_open_options {
  size_t size;             /* sizeof(shmconf_open_options); required */
  const char *prefix;      /* object-name prefix; NULL or "" = default */
  int check_owner;         /* non-zero: the control block and every segment
                              must be owned by expected_owner (the daemon's
                              uid); refuses a name squatted by another user */
  uint32_t expected_owner; /* a uid; read only when check_owner is set */
  int no_reader_registry;  /* non-zero: do not record this client in the
                              namespace's reader registry (pid, executable,
                              version served; see shmconfctl readers) */
} shmconf_open_options;
#define SHMCONF_OPEN_OPTIONS_INIT \
  { sizeof(shmconf_open_options), NULL, 0, 0, 0 }

/* Attach with options (NULL = all defaults). SHMCONF_E_PERMISSION when
 * check_owner is set and an object has another owner. */
SHMCONF_API int shmconf_open_with(const char *name, const shmconf_open_options *opts,
                                  shmconf_client **out);
SHMCONF_API void shmconf_close(shmconf_client *c);
/* Version of the newest snapshot; 0 when nothing is published. */
SHMCONF_API uint64_t shmconf_version(shmconf_client *c);
/* The control block's generation: one acquire load, no system call. It
 * changes on every publish and rollback, so a binding that caches a
 * snapshot re-acquires it when this differs from what it saw. */
SHMCONF_API uint64_t shmconf_generation(const shmconf_client *c);

/* A pinned, consistent view: every get on it sees one version. */
SHMCONF_API int shmconf_snapshot_acquire(shmconf_client *c, shmconf_snapshot **out);
SHMCONF_API void shmconf_snapshot_release(shmconf_snapshot *s);
SHMCONF_API uint64_t shmconf_snapshot_version(const shmconf_snapshot *s);

SHMCONF_API int shmconf_get_type(const shmconf_snapshot *s, const char *key, int *out);
SHMCONF_API int shmconf_get_int64(const shmconf_snapshot *s, const char *key, int64_t *out);
/* An int64 value widens to double. */
SHMCONF_API int shmconf_get_double(const shmconf_snapshot *s, const char *key, double *out);
SHMCONF_API int shmconf_get_bool(const shmconf_snapshot *s, const char *key, int *out);
/* Copies the string and a NUL into buf. On SHMCONF_E_RANGE (cap < length + 1)
 * *len receives the length needed (without the NUL) and buf is untouched. */
SHMCONF_API int shmconf_get_string(const shmconf_snapshot *s, const char *key, char *buf,
                                   size_t cap, size_t *len);

/* One value, whatever its type, in one lookup (for bindings). `key` is
 * key_len bytes, no NUL needed. On success *out holds the type and:
 *   bool   -> boolean (0 or 1)      int    -> integer
 *   double -> real                  string -> str, len (zero-copy: the bytes
 *   array, object -> len = number of children        live in the segment,
 *   null   -> nothing                                 NUL-terminated, valid
 *                                                     while s is held)
 * Fields the type does not use are zero. */
typedef struct shmconf_value {
  int type; /* SHMCONF_TYPE_* */
  int boolean;
  int64_t integer;
  double real;
  const char *str;
  size_t len;
} shmconf_value;
SHMCONF_API int shmconf_get_value(const shmconf_snapshot *s, const char *key, size_t key_len,
                                  shmconf_value *out);

/* Feature flag `name` (NUL-terminated) for `subject` (subject_len bytes),
 * docs/FLAGS.md: *on = 1 or 0. SHMCONF_E_NOT_FOUND when there is no
 * flags.<name>, SHMCONF_E_WRONG_TYPE when it is not a flag's shape. Same
 * answer as the C++ Client::flag and the Python Client.flag. No allocation. */
SHMCONF_API int shmconf_flag(const shmconf_snapshot *s, const char *name, const char *subject,
                             size_t subject_len, int *on);
/* The documented bucket: XXH3-64(name, a 0 byte, subject) % 10000. */
SHMCONF_API uint32_t shmconf_flag_bucket(const char *name, size_t name_len, const char *subject,
                                         size_t subject_len);

/* Calls fn(key, type, ctx) for each direct child of `section` ("" = root),
 * in key order; a non-zero return from fn stops and is returned. */
typedef int (*shmconf_key_fn)(const char *key, size_t key_len, int type, void *ctx);
SHMCONF_API int shmconf_snapshot_list(const shmconf_snapshot *s, const char *section,
                                      shmconf_key_fn fn, void *ctx);

/* Blocks until the live version differs from known_version (returns 0) or
 * timeout_ms passes (SHMCONF_E_TIMEOUT); timeout_ms < 0 waits forever. */
SHMCONF_API int shmconf_wait_for_change(shmconf_client *c, uint64_t known_version, int timeout_ms);

/* Change notification. fn runs on a library-owned thread, once per new
 * version that changes a key under `prefix` ("" = every key), with the
 * changed keys in key order. old_snap is the previous snapshot this
 * subscription saw (NULL before the first), new_snap the new one; both,
 * and the keys, are valid only during the call. The thread sleeps on the
 * control block's futex between versions (no polling). */
#define SHMCONF_CHANGE_ADDED 1
#define SHMCONF_CHANGE_REMOVED 2
#define SHMCONF_CHANGE_CHANGED 3
typedef struct shmconf_change {
  const char *key; /* full key path, NUL-terminated */
  size_t key_len;
  int kind; /* SHMCONF_CHANGE_* */
} shmconf_change;
typedef void (*shmconf_changes_fn)(const shmconf_snapshot *old_snap,
                                   const shmconf_snapshot *new_snap, const shmconf_change *changes,
                                   size_t count, void *ctx);
typedef struct shmconf_subscription shmconf_subscription;
/* The client must outlive the subscription. */
SHMCONF_API int shmconf_subscribe(shmconf_client *c, const char *prefix, shmconf_changes_fn fn,
                                  void *ctx, shmconf_subscription **out);
/* Stops the thread (waiting for a running callback to return), frees sub.
 * Must not be called from inside fn. */
SHMCONF_API void shmconf_subscription_stop(shmconf_subscription *sub);

/* Static description of a code; never NULL. */
SHMCONF_API const char *shmconf_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* SHMCONF_SHMCONF_H */
