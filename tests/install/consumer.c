// SPDX-License-Identifier: MIT
/* Built against the *installed* library with `pkg-config --cflags --libs
 * pocketflow_throttled`: the shared-limiter pattern from C, checked. Exits non-zero if
 * anything is off. */
#include <pocketflow_throttled/ptl.h>
#include <pthread.h>
#include <stdio.h>

enum { kThreads = 8, kCallsPerThread = 200, kLimit = 3 };

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_in_flight, g_peak, g_failures;

static void* worker(void* arg) {
  (void)arg;
  ptl_limiter* lim = NULL;
  if (ptl_registry_get(NULL, "openai", &lim) != PTL_OK) {
    __atomic_add_fetch(&g_failures, 1, __ATOMIC_RELAXED);
    return NULL;
  }
  for (int i = 0; i < kCallsPerThread; ++i) {
    ptl_permit permit;
    if (ptl_acquire(lim, -1, &permit) != PTL_OK) {
      __atomic_add_fetch(&g_failures, 1, __ATOMIC_RELAXED);
      continue;
    }
    pthread_mutex_lock(&g_lock);
    if (++g_in_flight > g_peak) g_peak = g_in_flight;
    pthread_mutex_unlock(&g_lock);
    pthread_mutex_lock(&g_lock);
    --g_in_flight;
    pthread_mutex_unlock(&g_lock);
    if (ptl_release(lim, permit) != PTL_OK) __atomic_add_fetch(&g_failures, 1, __ATOMIC_RELAXED);
  }
  ptl_limiter_unref(lim);
  return NULL;
}

int main(void) {
  if (ptl_version() != PTL_VERSION_NUMBER) {
    fprintf(stderr, "header %u and library %u disagree\n", PTL_VERSION_NUMBER, ptl_version());
    return 1;
  }
  ptl_limiter_config cfg;
  ptl_limiter_config_init(&cfg);
  cfg.max_concurrent = kLimit;
  if (ptl_registry_register(NULL, "openai", &cfg, 0) != PTL_OK) {
    fprintf(stderr, "register: %s\n", ptl_last_error());
    return 1;
  }
  pthread_t threads[kThreads];
  for (int i = 0; i < kThreads; ++i) pthread_create(&threads[i], NULL, worker, NULL);
  for (int i = 0; i < kThreads; ++i) pthread_join(threads[i], NULL);

  ptl_limiter_stats stats;
  stats.struct_size = sizeof stats;
  if (ptl_registry_stats(NULL, "openai", &stats) != PTL_OK) return 1;
  const unsigned long long expected = (unsigned long long)kThreads * kCallsPerThread;
  int ok = g_failures == 0 && g_peak >= 1 && g_peak <= kLimit && stats.in_flight == 0 &&
           stats.total_acquired == expected;
  printf("C consumer (ptl %s): peak %d of %d, %llu grants: %s\n", ptl_version_string(), g_peak,
         kLimit, (unsigned long long)stats.total_acquired, ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
