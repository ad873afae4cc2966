// SPDX-License-Identifier: MIT
/* pattern.c - the shared-limiter pattern with the C ABI.
 *
 * Register "openai" once at start-up (10 concurrent, 60 per minute), then let any thread
 * look it up by name and wrap each API call in acquire/release. Every component that uses
 * the name shares the same quota, so together they never exceed it.
 *
 * Build: cc pattern.c $(pkg-config --cflags --libs pocketflow_throttled) -lpthread
 */
#include <pocketflow_throttled/ptl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

enum { kThreads = 4, kCallsPerThread = 5 };

/* Stands in for an HTTP request to the API: 20 ms of waiting. */
static void call_openai(int thread, int item) {
  const struct timespec d = {0, 20 * 1000 * 1000};
  nanosleep(&d, NULL);
  printf("thread %d: item %d done\n", thread, item);
}

static void* worker(void* arg) {
  const int id = (int)(intptr_t)arg;
  /* Anywhere, on any thread: look the limiter up by name (a new reference). */
  ptl_limiter* lim = NULL;
  int st = ptl_registry_get(NULL, "openai", &lim);
  if (st != PTL_OK) {
    fprintf(stderr, "ptl_registry_get: %s: %s\n", ptl_status_name(st), ptl_last_error());
    return (void*)1;
  }
  intptr_t failed = 0;
  for (int item = 0; item < kCallsPerThread && !failed; ++item) {
    ptl_permit permit;
    st = ptl_acquire(lim, -1, &permit); /* -1: wait as long as it takes */
    if (st != PTL_OK) {
      /* The message names the problem; it is per thread, so read it right here. */
      fprintf(stderr, "ptl_acquire: %s: %s\n", ptl_status_name(st), ptl_last_error());
      failed = 1;
      break;
    }
    call_openai(id, item);
    /* Release on every path once acquired, or the slot is lost to every sharer. */
    st = ptl_release(lim, permit);
    if (st != PTL_OK) {
      fprintf(stderr, "ptl_release: %s: %s\n", ptl_status_name(st), ptl_last_error());
      failed = 1;
    }
  }
  ptl_limiter_unref(lim);
  return (void*)failed;
}

int main(void) {
  /* Once, at start-up: the quota, by name, in the process default registry (NULL). */
  ptl_limiter_config cfg;
  ptl_limiter_config_init(&cfg); /* sets struct_size and the defaults */
  cfg.max_concurrent = 10;
  cfg.max_per_window = 60;
  cfg.window_seconds = 60.0;
  int st = ptl_registry_register(NULL, "openai", &cfg, 0);
  if (st != PTL_OK) {
    fprintf(stderr, "ptl_registry_register: %s: %s\n", ptl_status_name(st), ptl_last_error());
    return 1;
  }

  pthread_t threads[kThreads];
  int started = 0;
  for (; started < kThreads; ++started)
    if (pthread_create(&threads[started], NULL, worker, (void*)(intptr_t)started) != 0) break;
  int failed = started < kThreads;
  for (int i = 0; i < started; ++i) {
    void* ret = NULL;
    pthread_join(threads[i], &ret);
    failed |= ret != NULL;
  }

  ptl_limiter_stats stats;
  stats.struct_size = sizeof stats; /* the library fills only what fits */
  if (ptl_registry_stats(NULL, "openai", &stats) == PTL_OK)
    printf("openai: %llu calls, %u in flight now, %llu in the current window\n",
           (unsigned long long)stats.total_acquired, stats.in_flight,
           (unsigned long long)stats.current_window_count);
  return failed;
}
