// SPDX-License-Identifier: MIT

// Package bench compares the Go binding of pocketflow-throttled with golang.org/x/time/rate
// in one run.
//
// What is compared: x/time/rate is an in-process, rate-only limiter (a token bucket: a rate
// and a burst, no permits held); ours counts concurrency (permits held until released) and
// a strict sliding window, and can be shared across processes and hosts. Like with like:
// ours with only a window (or only a concurrency limit) set so high that it never binds,
// against rate.Limiter with a rate and burst that never bind, single-goroutine and with
// GOMAXPROCS goroutines on one limiter (b.RunParallel). The nearest equivalents are
// Acquire+Release ~ Wait, TryAcquire+Release ~ Allow, and Reserve (which, like Acquire,
// books a slot and says how long to wait). TestBindingRate then runs both at a rate that
// binds (run.sh enables it). Run: bash run.sh PREFIX.
package bench

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	ptl "github.com/pocketflow-throttled/pocketflow-throttled/bindings/go"
	"golang.org/x/time/rate"
)

func windowOnly(b testing.TB) *ptl.Limiter {
	// Never binds (room for 82 M grants per second) but runs on every call, and small enough
	// for the library's lock-free window path (at most 4096 requests; ADR 22), as the window
	// row of bench/bench_limiter.cpp.
	return limiter(b, ptl.Config{MaxConcurrent: 1 << 30, MaxPerWindow: 4096, Window: 50 * time.Microsecond})
}

func concurrencyOnly(b testing.TB) *ptl.Limiter {
	return limiter(b, ptl.Config{MaxConcurrent: 1 << 20, Window: time.Minute})
}

func limiter(b testing.TB, cfg ptl.Config) *ptl.Limiter {
	l, err := ptl.NewLimiter(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

func neverBinding() *rate.Limiter { return rate.NewLimiter(rate.Limit(1e12), 1<<30) }

func oursAcquire(b *testing.B, l *ptl.Limiter) {
	ctx := context.Background()
	for b.Loop() {
		p, err := l.Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		p.Release()
	}
}

func oursParallel(b *testing.B, l *ptl.Limiter) {
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			p, err := l.Acquire(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			p.Release()
		}
	})
}

func rateWait(b *testing.B) {
	r, ctx := neverBinding(), context.Background()
	for b.Loop() {
		if err := r.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// Names are Benchmark<Pair>/<case>/<ours|rate>: run.sh pairs the two sides of each case.
func BenchmarkPair(b *testing.B) {
	b.Run("1 goroutine, window only: Acquire+Release vs Wait/ours", func(b *testing.B) { oursAcquire(b, windowOnly(b)) })
	b.Run("1 goroutine, window only: Acquire+Release vs Wait/rate", rateWait)
	b.Run("1 goroutine, window only: TryAcquire+Release vs Allow/ours", func(b *testing.B) {
		l := windowOnly(b)
		for b.Loop() {
			p, err := l.TryAcquire()
			if err != nil {
				b.Fatal(err)
			}
			p.Release()
		}
	})
	b.Run("1 goroutine, window only: TryAcquire+Release vs Allow/rate", func(b *testing.B) {
		r := neverBinding()
		for b.Loop() {
			if !r.Allow() {
				b.Fatal("denied")
			}
		}
	})
	b.Run("1 goroutine, window only: Acquire+Release vs Reserve/ours", func(b *testing.B) { oursAcquire(b, windowOnly(b)) })
	b.Run("1 goroutine, window only: Acquire+Release vs Reserve/rate", func(b *testing.B) {
		r := neverBinding()
		for b.Loop() {
			if res := r.Reserve(); !res.OK() || res.Delay() > 0 {
				b.Fatal("reservation would wait")
			}
		}
	})
	b.Run("1 goroutine, concurrency only: Acquire+Release vs Wait/ours", func(b *testing.B) { oursAcquire(b, concurrencyOnly(b)) })
	b.Run("1 goroutine, concurrency only: Acquire+Release vs Wait/rate", rateWait)
	b.Run("GOMAXPROCS goroutines, window only: Acquire+Release vs Wait/ours", func(b *testing.B) { oursParallel(b, windowOnly(b)) })
	b.Run("GOMAXPROCS goroutines, concurrency only: Acquire+Release vs Wait/ours", func(b *testing.B) { oursParallel(b, concurrencyOnly(b)) })
	parallelRate := func(b *testing.B) {
		r := neverBinding()
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				if err := r.Wait(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("GOMAXPROCS goroutines, window only: Acquire+Release vs Wait/rate", parallelRate)
	b.Run("GOMAXPROCS goroutines, concurrency only: Acquire+Release vs Wait/rate", parallelRate)
}

// TestBindingRate runs both at 200 per 10 ms (x/time/rate: 20,000/s, burst 200) with 2
// goroutines for 0.5 s and prints the rate achieved and the most grants proven inside one
// 10 ms span (grants whose whole Acquire/Wait call lies in it). Set PTL_BENCH_RATE=1.
func TestBindingRate(t *testing.T) {
	if os.Getenv("PTL_BENCH_RATE") == "" {
		t.Skip("set PTL_BENCH_RATE=1 (run.sh does)")
	}
	const run, window = 500 * time.Millisecond, 10 * time.Millisecond
	lim := limiter(t, ptl.Config{MaxConcurrent: 1 << 30, MaxPerWindow: 200, Window: window})
	r := rate.NewLimiter(20_000, 200)
	ctx := context.Background()
	ours := stamps(run, func() {
		p, err := lim.Acquire(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		p.Release()
	})
	theirs := stamps(run, func() { _ = r.Wait(ctx) })
	fmt.Printf("\nBinding rate: 200 per 10 ms (x/time/rate: 20,000/s, burst 200), 2 goroutines, %v\n\n", run)
	fmt.Println("| limiter | grants/s achieved | most grants in any 10 ms |")
	fmt.Println("| --- | ---: | ---: |")
	for _, c := range []struct {
		name string
		s    []span
	}{{"ours (strict window)", ours}, {"x/time/rate (token bucket)", theirs}} {
		fmt.Printf("| %s | %.0f | %d |\n", c.name, float64(len(c.s))/run.Seconds(), maxInSpan(c.s, window))
	}
}

type span struct{ from, to time.Time } // a grant happened in between

func stamps(run time.Duration, acquire func()) []span {
	end := time.Now().Add(run)
	var mu sync.Mutex
	var all []span
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []span
			for from := time.Now(); from.Before(end); from = time.Now() {
				acquire()
				mine = append(mine, span{from, time.Now()})
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(all, func(i, j int) bool { return all[i].from.Before(all[j].from) })
	return all
}

func maxInSpan(sorted []span, window time.Duration) int {
	best := 0
	for i, s := range sorted {
		limit, n := s.from.Add(window), 0
		for _, o := range sorted[i:] {
			if !o.from.Before(limit) {
				break
			}
			if o.to.Before(limit) {
				n++
			}
		}
		best = max(best, n)
	}
	return best
}
