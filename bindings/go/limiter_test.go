// SPDX-License-Identifier: MIT

package ptl_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ptl "github.com/pocketflow-throttled/pocketflow-throttled/bindings/go"
)

// observer counts permits held as seen from the outside, and the peak.
type observer struct{ now, peak atomic.Int64 }

func (o *observer) enter() {
	n := o.now.Add(1)
	for p := o.peak.Load(); n > p && !o.peak.CompareAndSwap(p, n); p = o.peak.Load() {
	}
}
func (o *observer) leave() { o.now.Add(-1) }

func newLimiter(t testing.TB, maxConcurrent uint32, perWindow uint64, window time.Duration) *ptl.Limiter {
	t.Helper()
	cfg := ptl.DefaultConfig()
	cfg.MaxConcurrent, cfg.MaxPerWindow, cfg.Window = maxConcurrent, perWindow, window
	l, err := ptl.NewLimiter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func assertIdle(t *testing.T, l *ptl.Limiter) {
	t.Helper()
	st, err := l.Stats()
	if err != nil || st.InFlight != 0 || st.Waiting != 0 {
		t.Fatalf("not idle: %+v, %v", st, err)
	}
}

func uniqueName(tag string) string {
	return fmt.Sprintf("go-%s-%d-%d", tag, os.Getpid(), time.Now().UnixNano())
}

func TestDefaultConfigMatchesTheLibrary(t *testing.T) {
	want := ptl.Config{MaxConcurrent: 5, Window: time.Minute}
	if got := ptl.DefaultConfig(); got != want {
		t.Fatalf("DefaultConfig() = %+v, want %+v", got, want)
	}
}

func TestNeverOverConcurrencyWithManyGoroutines(t *testing.T) {
	reg, err := ptl.Open("local:")
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	cfg := ptl.DefaultConfig()
	cfg.MaxConcurrent = 4
	if err := reg.Register("api", cfg); err != nil {
		t.Fatal(err)
	}
	var obs observer
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lim, err := reg.Get("api")
			if err != nil {
				t.Error(err)
				return
			}
			for i := 0; i < 40; i++ {
				p, err := lim.Acquire(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				obs.enter()
				time.Sleep(50 * time.Microsecond)
				obs.leave()
				if err := p.Release(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if peak := obs.peak.Load(); peak != 4 {
		t.Fatalf("peak in flight %d, want exactly the limit 4 (over: broken; under: no contention)", peak)
	}
	st, _ := reg.Stats("api")
	if st.InFlight != 0 || st.Waiting != 0 || st.TotalAcquired != 32*40 {
		t.Fatalf("stats after the run: %+v", st)
	}
}

func TestNeverOverWindow(t *testing.T) {
	const window = 300 * time.Millisecond
	lim := newLimiter(t, 100, 5, window)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	type span struct{ from, to time.Time } // the grant happened in between
	var mu sync.Mutex
	var spans []span
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				from := time.Now()
				p, err := lim.Acquire(ctx)
				if err != nil {
					if !errors.Is(err, ptl.ErrTimeout) {
						t.Error(err)
					}
					return
				}
				mu.Lock()
				spans = append(spans, span{from, time.Now()})
				mu.Unlock()
				p.Release()
			}
		}()
	}
	wg.Wait()
	for _, s := range spans { // grants whose whole call lies in [s.from, s.from+window)
		n := 0
		for _, o := range spans {
			if !o.from.Before(s.from) && o.to.Before(s.from.Add(window)) {
				n++
			}
		}
		if n > 5 {
			t.Fatalf("%d grants proven inside one %v window (max 5)", n, window)
		}
	}
	if len(spans) < 10 {
		t.Fatalf("only %d grants in 700 ms: the window never slid", len(spans))
	}
}

func TestCancelLeavesNoPermitAndNoWaiter(t *testing.T) {
	lim := newLimiter(t, 1, 0, time.Second)
	held, _ := lim.Acquire(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	p, err := lim.Acquire(ctx)
	if p != nil || !errors.Is(err, ptl.ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire = %v, %v; want ErrCanceled and context.Canceled", p, err)
	}
	st, _ := lim.Stats()
	if st.InFlight != 1 || st.Waiting != 0 || st.TotalCancelled != 1 {
		t.Fatalf("after cancel: %+v", st)
	}
	held.Release()
	assertIdle(t, lim)
	if _, err := lim.Acquire(ctx); !errors.Is(err, ptl.ErrCanceled) { // already cancelled
		t.Fatalf("Acquire(done ctx) = %v", err)
	}
	assertIdle(t, lim)
}

func TestDeadlineLeavesNoPermitAndNoWaiter(t *testing.T) {
	lim := newLimiter(t, 1, 0, time.Second)
	held, _ := lim.Acquire(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := lim.Acquire(ctx)
	if !errors.Is(err, ptl.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire = %v; want ErrTimeout and context.DeadlineExceeded", err)
	}
	if el := time.Since(start); el < 25*time.Millisecond {
		t.Fatalf("gave up after %v, before the deadline", el)
	}
	if st, _ := lim.Stats(); st.Waiting != 0 || st.InFlight != 1 {
		t.Fatalf("after the deadline: %+v", st)
	}
	held.Release()
	assertIdle(t, lim)
}

func TestGrantedWhenAnotherGoroutineReleases(t *testing.T) {
	lim := newLimiter(t, 1, 0, time.Second)
	held, _ := lim.Acquire(context.Background())
	time.AfterFunc(30*time.Millisecond, func() { held.Release() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := lim.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.Release()
	assertIdle(t, lim)
}

func TestCancelRacingGrantsLeaksNothing(t *testing.T) {
	lim := newLimiter(t, 1, 0, time.Second)
	goroutines := runtime.NumGoroutine()
	stop := time.Now().Add(400 * time.Millisecond)
	churnErr := make(chan error, 1)
	go func() {
		for time.Now().Before(stop) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			p, err := lim.Acquire(ctx) // bounded: a leaked permit fails the test, not hangs it
			cancel()
			if err != nil {
				churnErr <- fmt.Errorf("a permit leaked: %w", err)
				return
			}
			p.Release()
		}
		churnErr <- nil
	}()
	cancelled := 0
	for i := 0; time.Now().Before(stop); i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%50)*time.Microsecond)
		p, err := lim.Acquire(ctx)
		cancel()
		if err == nil {
			p.Release()
		} else if errors.Is(err, context.DeadlineExceeded) {
			cancelled++
		} else {
			t.Fatal(err)
		}
	}
	if err := <-churnErr; err != nil {
		t.Fatal(err)
	}
	if cancelled == 0 {
		t.Fatal("no acquire was ever cut short")
	}
	assertIdle(t, lim)
	time.Sleep(10 * time.Millisecond)
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Fatalf("%d goroutines after the run, %d before", n, goroutines)
	}
}

func TestTryAcquireTellsWhenToRetry(t *testing.T) {
	lim := newLimiter(t, 1, 2, 10*time.Second)
	p, err := lim.TryAcquire()
	if err != nil {
		t.Fatal(err)
	}
	var perr *ptl.Error
	if _, err := lim.TryAcquire(); !errors.Is(err, ptl.ErrWouldBlock) || !errors.As(err, &perr) || perr.RetryAfter >= 0 {
		t.Fatalf("TryAcquire while held = %v (%+v); want ErrWouldBlock, RetryAfter < 0", err, perr)
	}
	p.Release()
	q, _ := lim.TryAcquire()
	q.Release() // the window (2 per 10 s) is full now
	_, err = lim.TryAcquire()
	if !errors.As(err, &perr) || perr.RetryAfter <= 9*time.Second || perr.RetryAfter > 10*time.Second {
		t.Fatalf("TryAcquire on a full window = %v; want RetryAfter about 10 s", err)
	}
}

func TestReleaseTwiceIsAnError(t *testing.T) {
	lim := newLimiter(t, 2, 0, time.Second)
	p, _ := lim.Acquire(context.Background())
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	if err := p.Release(); !errors.Is(err, ptl.ErrInvalid) {
		t.Fatalf("second Release = %v, want ErrInvalid", err)
	}
	assertIdle(t, lim)
}

func TestWeightedCost(t *testing.T) {
	cfg := ptl.DefaultConfig()
	cfg.MaxConcurrent, cfg.MaxCostPerWindow = 10, 100
	lim, _ := ptl.NewLimiter(cfg)
	if _, err := lim.AcquireCost(context.Background(), 101); !errors.Is(err, ptl.ErrInvalid) {
		t.Fatalf("cost over the limit: %v", err)
	}
	p, err := lim.AcquireCost(context.Background(), 80)
	if err != nil {
		t.Fatal(err)
	}
	p.ReleaseCost(30)
	if st, _ := lim.Stats(); st.CurrentWindowCost != 30 {
		t.Fatalf("window cost %d, want 30", st.CurrentWindowCost)
	}
}

func TestPenalizePausesEverySharer(t *testing.T) {
	lim := newLimiter(t, 5, 0, time.Second)
	lim.Penalize(60 * time.Millisecond)
	start := time.Now()
	p, err := lim.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p.Release()
	if el := time.Since(start); el < 50*time.Millisecond {
		t.Fatalf("granted after %v, inside the penalty", el)
	}
}
