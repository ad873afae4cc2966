// SPDX-License-Identifier: MIT
/*
 * ptl.h - the C ABI of pocketflow-throttled.
 *
 * Many components (threads, processes, hosts) share one API quota through a named
 * *limiter* that enforces, together:
 *   - concurrency: at most max_concurrent permits held at any instant;
 *   - throughput:  at most max_per_window grants in any interval of window_seconds
 *                  (a strict sliding window, boundaries included);
 *   - weighted throughput (optional): at most max_cost_per_window cost units granted
 *                  in any window.
 *
 * Conventions
 *   - Opaque handles. Every fallible call returns an int status: PTL_OK (0) or a
 *     negative PTL_E* code; ptl_last_error() then says exactly what was wrong.
 *   - Config structs carry struct_size first and have an _init function that fills
 *     defaults; always call it before setting fields.
 *   - Out-structs (ptl_limiter_stats): the caller sets struct_size; the library fills
 *     only what fits.
 *   - Every ptl_registry* argument may be NULL, meaning the process default registry,
 *     whose backend comes from the environment variable PTL_REGISTRY_URI (default
 *     "local:").
 *   - No call aborts the process on bad input; all functions are thread-safe.
 *
 * The pattern:
 *
 *   ptl_limiter_config cfg;
 *   ptl_limiter_config_init(&cfg);
 *   cfg.max_concurrent = 10;
 *   cfg.max_per_window = 60;                       // per cfg.window_seconds = 60
 *   ptl_registry_register(NULL, "openai", &cfg, 0);   // once, at start-up
 *
 *   ptl_limiter *lim;  ptl_permit permit;            // anywhere, any thread
 *   ptl_registry_get(NULL, "openai", &lim);
 *   if (ptl_acquire(lim, -1, &permit) == PTL_OK) {
 *     call_openai(item);
 *     ptl_release(lim, permit);
 *   }
 *   ptl_limiter_unref(lim);
 */
#ifndef POCKETFLOW_THROTTLED_PTL_H
#define POCKETFLOW_THROTTLED_PTL_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define PTL_API
#else
#define PTL_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version --------------------------------------------------------------------- */

#define PTL_VERSION_MAJOR 0
#define PTL_VERSION_MINOR 2
#define PTL_VERSION_PATCH 0
#define PTL_VERSION_NUMBER \
  ((PTL_VERSION_MAJOR << 16) | (PTL_VERSION_MINOR << 8) | PTL_VERSION_PATCH)

/* The version of the loaded library: (major << 16) | (minor << 8) | patch.
 * Compare with PTL_VERSION_NUMBER to detect a header/library mismatch. */
PTL_API uint32_t ptl_version(void);

/* The same version as "major.minor.patch"; a static string, never NULL. */
PTL_API const char* ptl_version_string(void);

/* ---- status codes ---------------------------------------------------------------- */

#define PTL_OK 0
#define PTL_EINVAL (-1)        /* bad argument or config */
#define PTL_ENOTFOUND (-2)     /* no such limiter, ticket or entry */
#define PTL_EEXIST (-3)        /* a limiter of that name exists already */
#define PTL_ETIMEDOUT (-4)     /* the acquire's timeout passed before a grant */
#define PTL_EAGAIN (-5)        /* try-acquire: no capacity now */
#define PTL_ECANCELED (-6)     /* the acquire was cancelled */
#define PTL_EBACKEND (-7)      /* shared-memory or Redis backend failure */
#define PTL_ECLOSED (-8)       /* the limiter or registry was closed */
#define PTL_ENOMEM (-9)        /* out of memory */
#define PTL_ERATELIMITED (-10) /* returned by user callbacks: upstream said 429 */
#define PTL_EITEMS (-11)       /* a batch ran to its end, and some items failed */
#define PTL_EINTERNAL (-99)    /* a bug in the library; please report it */

/* The symbolic name of a status code ("PTL_EINVAL"), or "PTL_UNKNOWN". Never NULL. */
PTL_API const char* ptl_status_name(int status);

/* The message of the last failed call on this thread, naming the problem; "" if none.
 * Never NULL. Valid until the next ptl_* call on the same thread. */
PTL_API const char* ptl_last_error(void);

/* ---- types ----------------------------------------------------------------------- */

typedef struct ptl_registry ptl_registry; /* opaque */
typedef struct ptl_limiter ptl_limiter;   /* opaque, reference counted */
typedef uint64_t ptl_permit;              /* value handle; 0 is never a valid permit */

typedef struct ptl_limiter_config {
  uint32_t struct_size;         /* sizeof(ptl_limiter_config), set by ptl_limiter_config_init */
  uint32_t max_concurrent;      /* >= 1 */
  uint64_t max_per_window;      /* 0 = no throughput limit */
  double window_seconds;        /* finite, > 0 */
  uint64_t max_cost_per_window; /* 0 = no weighted limit */
} ptl_limiter_config;

/* Fills cfg with the defaults (max_concurrent 5, max_per_window 0, window_seconds 60.0,
 * max_cost_per_window 0) and sets struct_size. Does nothing if cfg is NULL. */
PTL_API void ptl_limiter_config_init(ptl_limiter_config* cfg);

typedef struct ptl_limiter_stats {
  uint32_t struct_size; /* set by the caller to sizeof(ptl_limiter_stats) */
  ptl_limiter_config config;
  uint32_t in_flight, waiting;
  uint64_t current_window_count, current_window_cost; /* exact, evicted at the time of the call */
  uint64_t total_acquired, total_timeouts, total_cancelled, total_rejected;
  uint64_t total_wait_ns; /* summed over every acquire that had to wait */
} ptl_limiter_stats;

/* ---- registries ------------------------------------------------------------------ */

/*
 * Which calls most programs need: ptl_registry_get_or_create once per name (at start-up,
 * or lazily: check and registration are one atomic step, so every component may call it
 * with the same config); keep the ptl_limiter* for as long as the component runs (a lookup
 * by name costs a lock, and on shm:// a new handle); ptl_acquire / ptl_release around each
 * call (or ptl_acquire_amounts / ptl_settle with a policy). ptl_registry_open is only for
 * choosing a backend in code rather than through PTL_REGISTRY_URI.
 *
 * What differs between backends (everything else, including every guarantee, is the same):
 *                         local:               shm://NAME            redis://HOST:PORT
 *   a second open         a new private        the same limiters     the same limiters
 *                         registry
 *   each get of a name    the same object      a new handle          the same object
 *   a removed limiter's   keep working on the  PTL_ECLOSED, waiters  PTL_ENOTFOUND; a new
 *   handles               detached limiter     included, in every    limiter of that name
 *                         until unreferenced   process               is used by them again
 *   ptl_release of        any handle           any handle, any       only through the
 *   another's permit                           process               registry that took it
 *   unref of a handle     waiters go on        its async waiters     waiters go on
 *   (others remain)                            end with PTL_ECLOSED
 *   async completions     on the releasing     on a library thread   on a library thread
 *   from a release        thread
 *   largest limit         UINT64_MAX           UINT64_MAX            2^53 - 1 (Lua numbers)
 *   after fork()          use nothing the      inherited handles     use nothing the parent
 *                         parent opened        answer PTL_EBACKEND;  opened; open the
 *                                              open the registry     registry again
 *                                              again
 */

#define PTL_REPLACE 1u /* ptl_registry_register: reconfigure an existing limiter in place */

/* Opens a registry. "local:" makes a new private in-process registry, independent of
 * the default one. "shm://NAME" and "redis://HOST:PORT" select the shared backends
 * ("shm://NAME?create=0" opens only an existing segment, else PTL_ENOTFOUND). Unknown
 * schemes and bad, unknown or repeated parameters are PTL_EINVAL; an unreachable server
 * is PTL_EBACKEND. */
PTL_API int ptl_registry_open(const char* uri, ptl_registry** out);

/* Closes a registry opened with ptl_registry_open. Limiter handles obtained from it stay
 * valid until unreferenced. NULL (the default registry) is ignored. */
PTL_API void ptl_registry_close(ptl_registry* reg);

/* Registers limiter `name` with cfg. PTL_EEXIST if it exists, unless flags has
 * PTL_REPLACE: then its limits change in place, keeping in-flight permits and history. */
PTL_API int ptl_registry_register(ptl_registry* reg, const char* name,
                                  const ptl_limiter_config* cfg, uint32_t flags);

/* Stores a new reference to limiter `name` in *out (release it with ptl_limiter_unref).
 * PTL_ENOTFOUND if there is none. */
PTL_API int ptl_registry_get(ptl_registry* reg, const char* name, ptl_limiter** out);

/* Like ptl_registry_get, but first registers `name` with cfg if it does not exist; the
 * check and the registration are one atomic step. cfg is ignored for an existing one. */
PTL_API int ptl_registry_get_or_create(ptl_registry* reg, const char* name,
                                       const ptl_limiter_config* cfg, ptl_limiter** out);

/* 1 if limiter `name` exists, 0 if not, or a negative status (bad name, backend). */
PTL_API int ptl_registry_exists(ptl_registry* reg, const char* name);

/* Removes limiter `name`: PTL_OK or PTL_ENOTFOUND. On local:, handles already obtained
 * keep working on the removed limiter until unreferenced; on shm:// they answer
 * PTL_ECLOSED in every process, on redis:// PTL_ENOTFOUND (see the table above). */
PTL_API int ptl_registry_remove(ptl_registry* reg, const char* name);

/* Removes every limiter of the registry. */
PTL_API int ptl_registry_reset(ptl_registry* reg);

/* Calls fn once per limiter, in name order, with its name and config; a non-zero
 * return from fn stops the listing. fn may call into the registry. */
typedef int (*ptl_list_fn)(void* user, const char* name, const ptl_limiter_config* cfg);
PTL_API int ptl_registry_list(ptl_registry* reg, ptl_list_fn fn, void* user);

/* Fills *out (caller sets out->struct_size) with the statistics of limiter `name`. */
PTL_API int ptl_registry_stats(ptl_registry* reg, const char* name, ptl_limiter_stats* out);

#define PTL_FORCE 1u /* ptl_registry_destroy: even while other processes are attached */

/* Deletes a registry's shared state (ABI 0.2). "shm://NAME": unlinks the segment file;
 * PTL_ENOTFOUND if absent; PTL_EAGAIN (the message says how many) while a process other
 * than the caller is attached, unless PTL_FORCE (those stay on the old segment). local: and
 * redis:// are PTL_EINVAL: they have no segment (ptl_registry_reset removes limiters). */
PTL_API int ptl_registry_destroy(const char* uri, uint32_t flags);

/* ---- limiters -------------------------------------------------------------------- */

/* Creates a private, unregistered limiter with one reference. */
PTL_API int ptl_limiter_create(const ptl_limiter_config* cfg, ptl_limiter** out);

/* Adds a reference. NULL is ignored. */
PTL_API void ptl_limiter_ref(ptl_limiter* lim);

/* Drops a reference; the last one frees the limiter, and any acquire still waiting
 * asynchronously on it completes with PTL_ECLOSED. NULL is ignored. */
PTL_API void ptl_limiter_unref(ptl_limiter* lim);

/* Fills *out (caller sets out->struct_size) with the limiter's statistics. */
PTL_API int ptl_limiter_stats_get(ptl_limiter* lim, ptl_limiter_stats* out);

/* Changes the limits in place: permits in flight and the window's history still count
 * against the new limits, and waiters are re-examined at once. */
PTL_API int ptl_limiter_reconfigure(ptl_limiter* lim, const ptl_limiter_config* cfg);

/* Waits up to timeout_ns (< 0: forever; 0: try once, PTL_EAGAIN if no capacity) for a
 * permit of cost 1, stored in *out. Waiters are served first come, first served.
 * PTL_ETIMEDOUT when the timeout passes; nothing is held then. */
PTL_API int ptl_acquire(ptl_limiter* lim, int64_t timeout_ns, ptl_permit* out);

/* Takes a permit only if one is free now and nobody is queued; never blocks. On
 * PTL_EAGAIN, *retry_after_ns (may be NULL) gets the exact time until the window, cost
 * or penalty allows a grant, or -1 when only a release can free capacity. */
PTL_API int ptl_try_acquire(ptl_limiter* lim, ptl_permit* out, int64_t* retry_after_ns);

/* Like ptl_acquire, with a cost counted against max_cost_per_window. A cost above
 * max_cost_per_window is PTL_EINVAL. */
PTL_API int ptl_acquire_cost(ptl_limiter* lim, uint64_t cost, int64_t timeout_ns, ptl_permit* out);

/* Returns a permit. A permit already released, or of another limiter, is PTL_EINVAL
 * and changes nothing. */
PTL_API int ptl_release(ptl_limiter* lim, ptl_permit permit);

/* Returns a permit and corrects its cost in the window to actual_cost (the real token
 * count known only after the call). Same checks as ptl_release. */
PTL_API int ptl_release_cost(ptl_limiter* lim, ptl_permit permit, uint64_t actual_cost);

/* Starts an acquire of `cost` that completes through fn(user, status, permit) exactly
 * once: inline if the grant is immediate, else on the thread that frees capacity or
 * on the library's timer thread. When this call itself returns an error, fn never
 * runs. *ticket (may be NULL) identifies the acquire for ptl_cancel. */
typedef void (*ptl_acquire_fn)(void* user, int status, ptl_permit permit);
PTL_API int ptl_acquire_async(ptl_limiter* lim, uint64_t cost, int64_t timeout_ns,
                              ptl_acquire_fn fn, void* user, uint64_t* ticket);

/* Cancels a pending async acquire: its callback runs with PTL_ECANCELED (before this
 * returns). PTL_ENOTFOUND if the ticket already completed or never existed. */
PTL_API int ptl_cancel(ptl_limiter* lim, uint64_t ticket);

/* An upstream API said "retry after": no new permit is granted by this limiter, to
 * anyone sharing it, for retry_after_ns from now. Permits in flight are unaffected. */
PTL_API int ptl_limiter_penalize(ptl_limiter* lim, int64_t retry_after_ns);

/* ---- policies (0.2) -------------------------------------------------------------- */

/* A policy is a limiter with up to 16 limits, admitted together: a grant takes room in
 * every limit or waits, holding nothing. Providers count several things at once (requests,
 * tokens, input and output tokens; per minute and per day): one limit each. A 0.1 config
 * is the policy {requests held: max_concurrent; requests per window: max_per_window;
 * tokens per window: max_cost_per_window}. Every limiter, however made, takes both APIs.
 *
 *   ptl_limit limits[] = {
 *     {"requests", 500, 60 * PTL_SECOND},  {"tokens", 30000, 60 * PTL_SECOND},
 *     {"requests", 10000, 86400 * PTL_SECOND}};
 *   ptl_policy p;  ptl_policy_init(&p);  p.n_limits = 3;  p.limits = limits;
 *   ptl_registry_register_policy(NULL, "openai", &p, 0);
 *
 *   ptl_amount estimate = {"tokens", prompt_tokens + max_tokens};
 *   if (ptl_acquire_amounts(lim, &estimate, 1, -1, &permit) == PTL_OK) {
 *     call(...);                                   // the response says what it used
 *     ptl_amount used = {"tokens", usage_total_tokens};
 *     ptl_settle(lim, permit, &used, 1);
 *     ptl_observe_headers(lim, n, names, values);  // what the provider says is left
 *     ptl_release(lim, permit);
 *   }
 */

#define PTL_SECOND INT64_C(1000000000) /* nanoseconds */
#define PTL_MAX_LIMITS 16

typedef struct ptl_limit {
  const char* unit;  /* what is counted: "requests", "tokens", "input_tokens", "output_tokens",
                        or any 1..32 bytes of [a-z0-9_] */
  uint64_t max;      /* at most this many units (>= 1) ... */
  int64_t window_ns; /* ... granted in any window of this length (strict sliding window);
                        0: at most this many units held at once (a concurrency limit) */
} ptl_limit;

typedef struct ptl_policy {
  uint32_t struct_size;    /* ptl_policy_init sets it */
  uint32_t n_limits;       /* 1..16; a (unit, window_ns) pair appears once */
  const ptl_limit* limits; /* copied by the library */
} ptl_policy;
/* Sets struct_size; no limits (n_limits 0, limits NULL). */
PTL_API void ptl_policy_init(ptl_policy* p);

typedef struct ptl_amount {
  const char* unit;
  uint64_t amount;
} ptl_amount;

/* A new private limiter of policy p, like ptl_limiter_create. PTL_EINVAL names the first
 * bad limit (unit, max 0, negative window, a repeated (unit, window_ns), over 16). */
PTL_API int ptl_limiter_create_policy(const ptl_policy* p, ptl_limiter** out);
/* ptl_registry_register and ptl_registry_get_or_create with a policy; PTL_REPLACE sets the
 * policy of an existing limiter live (see ptl_limiter_set_policy). */
PTL_API int ptl_registry_register_policy(ptl_registry* reg, const char* name, const ptl_policy* p,
                                         uint32_t flags);
PTL_API int ptl_registry_get_or_create_policy(ptl_registry* reg, const char* name,
                                              const ptl_policy* p, ptl_limiter** out);
/* Live, like ptl_limiter_reconfigure: a limit that stays (same unit and window, or the one
 * window of its unit with a new length) keeps its history and what is held; a waiter that
 * can no longer fit a limit's max completes with PTL_EINVAL. */
PTL_API int ptl_limiter_set_policy(ptl_limiter* lim, const ptl_policy* p);
/* Copies up to cap limits into out and sets *n to the policy's count (out may be NULL
 * with cap 0 to ask the count). Unit strings live as long as the process. */
PTL_API int ptl_limiter_get_policy(ptl_limiter* lim, ptl_limit* out, size_t cap, size_t* n);

/* Acquire with amounts: "requests" counts 1 unless given, other units 0 (on a limiter
 * made from a 0.1 config, "tokens" counts 1, as ptl_acquire's cost). A unit the policy
 * lacks, a unit given twice, or an amount above a limit's max is PTL_EINVAL. Timeouts and
 * statuses as ptl_acquire; ptl_acquire is ptl_acquire_amounts with no amounts. */
PTL_API int ptl_acquire_amounts(ptl_limiter* lim, const ptl_amount* a, size_t n, int64_t timeout_ns,
                                ptl_permit* out);
/* Never blocks and never jumps the queue; *retry_after_ns as ptl_try_acquire. */
PTL_API int ptl_try_acquire_amounts(ptl_limiter* lim, const ptl_amount* a, size_t n,
                                    ptl_permit* out, int64_t* retry_after_ns);
/* As ptl_acquire_async; the amounts are copied before this returns. */
PTL_API int ptl_acquire_amounts_async(ptl_limiter* lim, const ptl_amount* a, size_t n,
                                      int64_t timeout_ns, ptl_acquire_fn fn, void* user,
                                      uint64_t* ticket);

/* The real usage, known after the call: replaces the estimate in every limit of those
 * units, from the grant's time. More than estimated is allowed (later grants wait until
 * the windows are back under their max); less frees room at once. A permit may be settled
 * once per unit, before or after its release (a released permit is remembered while its
 * windows count it, up to 1024 per limiter and process); else PTL_EINVAL. */
PTL_API int ptl_settle(ptl_limiter* lim, ptl_permit permit, const ptl_amount* actual, size_t n);

/* The provider's own count, for usage the library cannot see (other users of the key,
 * other tools): at most `remaining` more units of `unit` until reset_after_ns from now.
 * Shared by every process on the limiter; it only tightens, never loosens. A unit the
 * policy lacks is PTL_EINVAL. */
PTL_API int ptl_observe(ptl_limiter* lim, const char* unit, uint64_t remaining,
                        int64_t reset_after_ns);
/* Parses response headers and applies what they say: OpenAI x-ratelimit-remaining-
 * {requests,tokens} with x-ratelimit-reset-* ("1s", "6m0s", "20ms"); Anthropic
 * anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{remaining,reset}
 * (RFC 3339); Retry-After (seconds or HTTP date) as ptl_limiter_penalize. Names are
 * case-insensitive; unknown headers, units the policy lacks and malformed values are
 * skipped. Returns the number of observations applied (Retry-After counts one), or < 0. */
PTL_API int ptl_observe_headers(ptl_limiter* lim, size_t n, const char* const* names,
                                const char* const* values);

typedef struct ptl_usage {
  uint32_t struct_size; /* set by the caller to sizeof(ptl_usage) */
  uint64_t max;
  int64_t window_ns;
  uint64_t used;         /* in the window now (window_ns > 0) or held now (window_ns == 0) */
  uint64_t observed_cap; /* what the provider says is left; UINT64_MAX when none in force */
  int64_t next_room_ns;  /* from now until one more unit fits; 0 = fits now; -1 = only a
                            release can make room */
} ptl_usage;
/* The state of the limit (unit, window_ns). PTL_ENOTFOUND if the policy has no such limit. */
PTL_API int ptl_limiter_usage(ptl_limiter* lim, const char* unit, int64_t window_ns,
                              ptl_usage* out);

/* ---- presets --------------------------------------------------------------------- */

/* The original library's Presets and FlowPresets: limits for popular APIs (OpenAI free and
 * tiers 1-5, Anthropic free and build tiers, Google, Cohere, Hugging Face, Mistral),
 * generic ones (conservative, moderate, aggressive), web scraping, and flow presets
 * (named flow_*). The table is static; its strings are never freed. */

#define PTL_PRESET_NODE 0u          /* config limits the calls of one node */
#define PTL_PRESET_FLOW 1u          /* config limits flow instances (max_concurrent_flows) */
#define PTL_PRESET_ADAPTIVE_FLOW 2u /* adaptive flow: config starts at the initial concurrency */

typedef struct ptl_preset_adaptive {
  uint32_t min_concurrent;     /* concurrency never shrinks below this */
  uint32_t max_concurrent;     /* nor grows above this */
  uint32_t recovery_threshold; /* consecutive successes before growing */
  double backoff_factor;       /* multiplier on a rate-limit signal, in (0, 1) */
  double recovery_factor;      /* multiplier on recovery, > 1 */
} ptl_preset_adaptive;

typedef struct ptl_preset {
  uint32_t struct_size;         /* set by the caller to sizeof(ptl_preset) */
  uint32_t kind;                /* PTL_PRESET_NODE, _FLOW or _ADAPTIVE_FLOW */
  const char* name;             /* "openai_tier1"; static */
  const char* description;      /* one line; static */
  ptl_limiter_config config;    /* max_concurrent; max_per_window per 60 s (0 = unlimited) */
  ptl_preset_adaptive adaptive; /* PTL_PRESET_ADAPTIVE_FLOW only; all zero otherwise */
} ptl_preset;

/* Fills *out (caller sets out->struct_size) with preset `name`, matched ASCII
 * case-insensitively ("OPENAI_TIER1" is openai_tier1). PTL_ENOTFOUND if there is none;
 * PTL_EINVAL for NULL or a struct_size too small to hold config. */
PTL_API int ptl_preset_get(const char* name, ptl_preset* out);

/* Calls fn once per preset, in table order (providers first, then flow presets); a
 * non-zero return from fn stops the listing. The preset passed is valid during the call. */
typedef int (*ptl_preset_fn)(void* user, const ptl_preset* preset);
PTL_API int ptl_preset_list(ptl_preset_fn fn, void* user);

/* Provider policies (0.2): the limits providers publish per account tier and model, as
 * policies ("openai_tier1_gpt_4o": requests and tokens per minute; "anthropic_tier1_
 * claude_sonnet_4": requests, input and output tokens per minute). The numbers change:
 * check your account's limits page, and feed responses to ptl_observe_headers. */
typedef struct ptl_preset_policy {
  uint32_t struct_size; /* set by the caller to sizeof(ptl_preset_policy) */
  uint32_t n_limits;
  const char* name; /* static, like every pointer here */
  const char* description;
  const char* source_date; /* YYYY-MM-DD: when the provider's table was read */
  const char* source;      /* URLs, space-separated */
  const ptl_limit* limits; /* n_limits of them */
} ptl_preset_policy;
/* Fills *out (caller sets out->struct_size) with the provider policy `name`, matched
 * ASCII case-insensitively; PTL_ENOTFOUND if there is none. Pass &out->... to
 * ptl_policy fields: {struct_size, n_limits, limits} make a policy. */
PTL_API int ptl_preset_policy_get(const char* name, ptl_preset_policy* out);
/* Calls fn once per provider policy, in table order; non-zero from fn stops. */
typedef int (*ptl_preset_policy_fn)(void* user, const ptl_preset_policy* policy);
PTL_API int ptl_preset_policy_list(ptl_preset_policy_fn fn, void* user);

/* ---- batch executors ------------------------------------------------------------ */

/* A batch runs n items (a parallel batch node's calls, or a parallel batch flow's
 * instances) in parallel under its own limiter, and optionally under a shared one too.
 * Items are granted in index order. Each attempt of an item holds one permit of each
 * limiter while it runs and nothing while it waits to retry. An attempt's status is
 * PTL_OK, or a failure: any other value, user codes (HTTP statuses, say) included.
 * Two styles: ptl_batch_run calls a blocking function per item on library worker
 * threads; ptl_batch_start calls a non-blocking start function per item, and the
 * caller reports each item's end with ptl_batch_complete (event loops: no thread per
 * item). See docs/adr/0006-batch-executors.md. */

typedef struct ptl_batch ptl_batch; /* opaque: one run of n items */

/* Adaptive concurrency: a rate-limit signal shrinks the batch's concurrency to
 * max(min, floor(c * backoff_factor)), once per wave (signals from attempts granted
 * before the last shrink are counted but do not shrink again); recovery_threshold
 * consecutive successes grow it to min(max, max(c + 1, floor(c * recovery_factor))).
 * Each change reconfigures the live limiter in place: in-flight attempts still count. */
typedef struct ptl_adaptive_config {
  uint32_t struct_size;        /* sizeof(ptl_adaptive_config), set by the _init */
  uint32_t initial_concurrent; /* where concurrency starts; min <= initial <= max */
  uint32_t min_concurrent;     /* >= 1 */
  uint32_t max_concurrent;     /* >= min_concurrent */
  uint32_t recovery_threshold; /* >= 1 */
  double backoff_factor;       /* in (0, 1) */
  double recovery_factor;      /* >= 1; growth is at least +1 anyway */
} ptl_adaptive_config;

/* Fills cfg with the original's defaults (initial 5, min 1, max 20, threshold 10,
 * backoff 0.5, recovery 1.2) and sets struct_size. Does nothing if cfg is NULL. */
PTL_API void ptl_adaptive_config_init(ptl_adaptive_config* cfg);

#define PTL_BATCH_COLLECT 0u   /* a failed item is recorded; the others run on */
#define PTL_BATCH_FAIL_FAST 1u /* the first failed item cancels items not yet started */

/* Decides whether an attempt's failure status is a rate-limit signal (non-zero: yes).
 * Without one, PTL_ERATELIMITED and 429 are. Called on the completing thread. */
typedef int (*ptl_classify_fn)(void* user, int status);

/* Runs once for an item whose last attempt failed, with that status. Returns PTL_OK
 * if it produced the item's result after all (PocketFlow's exec_fallback), else the
 * item's final status. Called on the thread that completed the last attempt. */
typedef int (*ptl_fallback_fn)(void* user, size_t index, int last_status);

/* An item's estimate for the shared limiter (0.2): fills out[0..cap) with its amounts
 * (cap is PTL_MAX_LIMITS; "tokens": prompt plus max_tokens, say) and returns how many.
 * Called before each attempt's shared acquire, on the thread issuing it; the unit
 * strings must stay valid until it returns to the library. */
typedef size_t (*ptl_estimate_fn)(void* user, size_t index, ptl_amount* out, size_t cap);

typedef struct ptl_batch_options {
  uint32_t struct_size;                /* sizeof(ptl_batch_options), set by the _init */
  uint32_t failure_policy;             /* PTL_BATCH_COLLECT (default) or PTL_BATCH_FAIL_FAST */
  ptl_limiter_config limits;           /* the batch's own limiter: items at once, per window */
  const ptl_adaptive_config* adaptive; /* NULL: fixed; else it sets limits.max_concurrent */
  ptl_limiter* shared;                 /* NULL, or a limiter every attempt also holds */
  uint32_t max_attempts;               /* per item, >= 1 (PocketFlow's max_retries) */
  uint32_t worker_threads;             /* ptl_batch_run: 0 or >= the concurrency ceiling */
  int64_t retry_wait_ns;               /* pause between attempts, >= 0; holds nothing */
  ptl_classify_fn classify;            /* NULL: PTL_ERATELIMITED and 429 */
  void* classify_user;
  ptl_fallback_fn fallback; /* NULL: the last failure is the item's status */
  void* fallback_user;
  ptl_batch* parent;   /* NULL, or the running batch whose item this batch is part of: */
  size_t parent_index; /* rate-limit signals also reach parent's item parent_index */
  /* 0.2: an older caller's struct ends above; these then take their defaults (NULL). */
  ptl_estimate_fn estimate; /* NULL: each attempt asks the shared limiter for 1 request */
  void* estimate_user;
} ptl_batch_options;

/* Fills opts with the defaults (collect, own limit of 5 at once and no window, not
 * adaptive, no shared limiter, 1 attempt, no wait) and sets struct_size. NULL ignored. */
PTL_API void ptl_batch_options_init(ptl_batch_options* opts);

typedef struct ptl_batch_report {
  uint32_t struct_size;    /* set by the caller to sizeof(ptl_batch_report) */
  uint32_t concurrency;    /* the own limiter's current max_concurrent (adaptive: now) */
  uint32_t peak_in_flight; /* most attempts running at once */
  uint64_t items, succeeded, failed, canceled, pending; /* pending: not settled yet */
  uint64_t attempts, retries, rate_limited, fallbacks;  /* rate_limited: signals seen */
  uint64_t backoffs, recoveries;                        /* adaptive changes made */
  int64_t elapsed_ns; /* start to the last item's end (or to now while running) */
} ptl_batch_report;

/* Blocking style: the work of one attempt of item `index` (attempt counts from 1). Runs
 * on a library worker thread. May set *retry_after_ns (initially -1) with a failure: the
 * upstream's Retry-After, which pauses the limiter for every sharer. */
typedef int (*ptl_item_fn)(void* user, ptl_batch* batch, size_t index, uint32_t attempt,
                           int64_t* retry_after_ns);

/* Runs n items through fn and returns when every item has settled: PTL_OK if all
 * succeeded, PTL_EITEMS if some failed (or were cancelled by FAIL_FAST), with each
 * item's final status in statuses[index] (may be NULL) and the figures in *report (may
 * be NULL; caller sets struct_size). Bad options: PTL_EINVAL, and nothing runs. */
PTL_API int ptl_batch_run(const ptl_batch_options* opts, size_t n, ptl_item_fn fn, void* user,
                          int* statuses, ptl_batch_report* report);

/* Completion style: start one attempt of item `index` and return at once; report its
 * end later, from any thread, with ptl_batch_complete. Runs on the thread that made the
 * grant (inside ptl_batch_start or ptl_batch_complete, or the library's timer thread). */
typedef void (*ptl_item_start_fn)(void* user, ptl_batch* batch, size_t index, uint32_t attempt);
/* Runs once, when the last item settles, on the thread that settled it. */
typedef void (*ptl_batch_done_fn)(void* user, ptl_batch* batch);

/* Starts n items; *out is the batch, to pass to ptl_batch_complete and to free with
 * ptl_batch_free. start may run before this returns. done (may be NULL) runs once at the
 * end, even for n == 0. Bad options: PTL_EINVAL, and neither callback ever runs. */
PTL_API int ptl_batch_start(const ptl_batch_options* opts, size_t n, ptl_item_start_fn start,
                            ptl_batch_done_fn done, void* user, ptl_batch** out);

/* Reports the end of the running attempt of item `index` with its status (and
 * retry_after_ns >= 0 from the upstream, or -1). The item then retries, falls back or
 * settles. PTL_EINVAL if that item has no attempt running. */
PTL_API int ptl_batch_complete(ptl_batch* batch, size_t index, int status, int64_t retry_after_ns);

/* A rate-limit signal from inside the running item `index` that does not end it (a
 * nested batch's 429): adapts concurrency and applies retry_after_ns (-1: none). */
PTL_API int ptl_batch_signal(ptl_batch* batch, size_t index, int64_t retry_after_ns);

/* 0.2: the real usage of item `index`'s latest attempt (the response's token counts),
 * settled on its shared permit as ptl_settle does: while the attempt runs or after it
 * ended. PTL_EINVAL if the item never held a shared permit. */
PTL_API int ptl_batch_settle(ptl_batch* batch, size_t index, const ptl_amount* actual, size_t n);

/* 0.2: the response headers of item `index`'s running attempt: what they say is left is
 * observed on the shared limiter (ptl_observe_headers), and a Retry-After is a rate-limit
 * signal of that item (ptl_batch_signal: adaptive backoff, and a pause for every sharer).
 * Returns the number of observations applied, Retry-After included, or < 0. */
PTL_API int ptl_batch_observe_headers(ptl_batch* batch, size_t index, size_t n,
                                      const char* const* names, const char* const* values);

/* Waits up to timeout_ns (< 0: forever) for every item to settle: PTL_OK or
 * PTL_ETIMEDOUT. */
PTL_API int ptl_batch_wait(ptl_batch* batch, int64_t timeout_ns);

/* Items not yet started settle with PTL_ECANCELED; running attempts go on until
 * completed, and do not retry. */
PTL_API int ptl_batch_cancel(ptl_batch* batch);

/* Fills *out (may be NULL; caller sets struct_size) and statuses[0..n) (may be NULL; n
 * must not exceed the item count): PTL_OK, an attempt's failure, PTL_ECANCELED, or
 * PTL_EAGAIN for an item not settled yet. */
PTL_API int ptl_batch_report_get(ptl_batch* batch, ptl_batch_report* out, int* statuses, size_t n);

/* Cancels what has not started and lets go of the batch; it is freed once its running
 * attempts are completed, so ptl_batch_complete stays valid for them. NULL ignored. */
PTL_API void ptl_batch_free(ptl_batch* batch);

/* ---- logging --------------------------------------------------------------------- */

#define PTL_LOG_TRACE 0
#define PTL_LOG_DEBUG 1
#define PTL_LOG_INFO 2
#define PTL_LOG_WARN 3
#define PTL_LOG_ERROR 4
#define PTL_LOG_CRITICAL 5
#define PTL_LOG_OFF 6

/* Sets the library's log level (PTL_LOG_TRACE .. PTL_LOG_OFF; default off). Messages go
 * to the callback if one is set, else to stderr. Outside 0..6 is PTL_EINVAL. */
PTL_API int ptl_log_set_level(int level);

/* Routes log messages to fn(user, level, msg); NULL restores stderr. fn may be called
 * from any library thread and must not call ptl_log_* itself. */
typedef void (*ptl_log_fn)(void* user, int level, const char* msg);
PTL_API void ptl_log_set_callback(ptl_log_fn fn, void* user);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* POCKETFLOW_THROTTLED_PTL_H */
