// SPDX-License-Identifier: MIT

package ptl_test

import (
	"context"
	"errors"
	"math/rand"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ptl "github.com/pocketflow-throttled/pocketflow-throttled/bindings/go"
)

func newPolicy(t testing.TB, limits ...ptl.Limit) *ptl.Limiter {
	t.Helper()
	l, err := ptl.NewLimiterPolicy(limits)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func usage(t testing.TB, l *ptl.Limiter, unit string, window time.Duration) ptl.Usage {
	t.Helper()
	u, err := l.Usage(unit, window)
	if err != nil {
		t.Fatalf("Usage(%q, %v): %v", unit, window, err)
	}
	return u
}

func wantErr(t testing.TB, err, sentinel error, what string) {
	t.Helper()
	var pe *ptl.Error
	if !errors.Is(err, sentinel) || !errors.As(err, &pe) || pe.Message == "" {
		t.Fatalf("%s: got %v, want %v with a message", what, err, sentinel)
	}
}

func tokens(n uint64) ptl.Amount { return ptl.Amount{Unit: "tokens", Amount: n} }

func TestPolicyRoundTrip(t *testing.T) {
	limits := []ptl.Limit{
		{Unit: "requests", Max: 500, Window: time.Minute},
		{Unit: "tokens", Max: 30000, Window: time.Minute},
		{Unit: "requests", Max: 10000, Window: 24 * time.Hour},
		{Unit: "requests", Max: 10}, // held
	}
	lim := newPolicy(t, limits...)
	if got, err := lim.Policy(); err != nil || !reflect.DeepEqual(got, limits) {
		t.Fatalf("Policy() = %v, %v; want %v", got, err, limits)
	}
	if !limits[3].Held() || limits[0].Held() {
		t.Fatal("Held")
	}

	reg, err := ptl.Open("local:")
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if err := reg.RegisterPolicy("openai", limits, false); err != nil {
		t.Fatal(err)
	}
	h, _ := reg.Get("openai")
	if got, _ := h.Policy(); !reflect.DeepEqual(got, limits) {
		t.Fatalf("registered %v, got %v", limits, got)
	}
	wantErr(t, reg.RegisterPolicy("openai", limits[:1], false), ptl.ErrExists, "register twice")
	if err := reg.RegisterPolicy("openai", limits[:2], true); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.Policy(); !reflect.DeepEqual(got, limits[:2]) {
		t.Fatalf("replaced with %v, a handle sees %v", limits[:2], got)
	}
	same, err := reg.GetOrCreatePolicy("openai", limits[3:])
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := same.Policy(); !reflect.DeepEqual(got, limits[:2]) {
		t.Fatalf("GetOrCreatePolicy changed an existing policy: %v", got)
	}
	fresh, err := reg.GetOrCreatePolicy("fresh", limits[3:])
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := fresh.Policy(); !reflect.DeepEqual(got, limits[3:]) {
		t.Fatalf("fresh: %v", got)
	}
	next := []ptl.Limit{{Unit: "tokens", Max: 7, Window: 1500 * time.Millisecond}}
	if err := fresh.SetPolicy(next); err != nil {
		t.Fatal(err)
	}
	again, _ := reg.Get("fresh")
	if got, _ := again.Policy(); !reflect.DeepEqual(got, next) {
		t.Fatalf("SetPolicy: %v", got)
	}

	// A 0.1 limiter is a policy too.
	cfg := ptl.DefaultConfig()
	cfg.MaxConcurrent, cfg.MaxPerWindow, cfg.MaxCostPerWindow = 4, 60, 1000
	old, err := ptl.NewLimiter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := old.Policy()
	for _, want := range []ptl.Limit{{Unit: "requests", Max: 4}, {Unit: "requests", Max: 60, Window: time.Minute},
		{Unit: "tokens", Max: 1000, Window: time.Minute}} {
		if !slices.Contains(got, want) {
			t.Fatalf("0.1 policy %v lacks %v", got, want)
		}
	}

	seventeen := make([]ptl.Limit, 17)
	for i := range seventeen {
		seventeen[i] = ptl.Limit{Unit: "u" + string(rune('a'+i)), Max: 1}
	}
	for what, bad := range map[string][]ptl.Limit{
		"none":       nil,
		"upper case": {{Unit: "Tokens", Max: 1}},
		"NUL byte":   {{Unit: "tok\x00ens", Max: 1}},
		"max 0":      {{Unit: "tokens"}},
		"negative":   {{Unit: "tokens", Max: 1, Window: -time.Second}},
		"repeated":   {{Unit: "tokens", Max: 1}, {Unit: "tokens", Max: 2}},
		"17 limits":  seventeen,
	} {
		_, err := ptl.NewLimiterPolicy(bad)
		wantErr(t, err, ptl.ErrInvalid, what)
	}
	wantErr(t, lim.SetPolicy(nil), ptl.ErrInvalid, "SetPolicy(nil)")
	wantErr(t, reg.RegisterPolicy("x", []ptl.Limit{{Unit: "a\x00", Max: 1}}, false), ptl.ErrInvalid, "NUL")
	if got, _ := lim.Policy(); !reflect.DeepEqual(got, limits) {
		t.Fatalf("a refused SetPolicy changed the policy: %v", got)
	}
}

func TestAmountsTakeRoomInEveryLimitTogether(t *testing.T) {
	lim := newPolicy(t,
		ptl.Limit{Unit: "tokens", Max: 100, Window: time.Minute},
		ptl.Limit{Unit: "requests", Max: 3, Window: time.Minute},
		ptl.Limit{Unit: "input_tokens", Max: 50})
	ctx := context.Background()
	a, err := lim.AcquireAmounts(ctx, tokens(60))
	if err != nil {
		t.Fatal(err)
	}
	if u := usage(t, lim, "requests", time.Minute); u.Used != 1 || u.Max != 3 {
		t.Fatalf("requests count 1 unless given: %+v", u)
	}
	if u := usage(t, lim, "input_tokens", 0); u.Used != 0 {
		t.Fatalf("a unit left out counts 0: %+v", u)
	}
	_, err = lim.TryAcquireAmounts(tokens(41))
	wantErr(t, err, ptl.ErrWouldBlock, "41 over 60 of 100")
	if r := err.(*ptl.Error).RetryAfter; r <= 50*time.Second || r > time.Minute {
		t.Fatalf("RetryAfter %v", r)
	}
	if u := usage(t, lim, "requests", time.Minute); u.Used != 1 {
		t.Fatalf("a refused try took a request: %+v", u)
	}
	b, err := lim.TryAcquireAmounts(tokens(40), ptl.Amount{Unit: "input_tokens", Amount: 50})
	if err != nil {
		t.Fatal(err)
	}
	if u := usage(t, lim, "tokens", time.Minute); u.Used != 100 {
		t.Fatalf("%+v", u)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = lim.AcquireAmounts(short, ptl.Amount{Unit: "input_tokens", Amount: 1})
	cancel()
	wantErr(t, err, ptl.ErrTimeout, "held input_tokens full")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v does not wrap context.DeadlineExceeded", err)
	}
	b.Release()
	if u := usage(t, lim, "input_tokens", 0); u.Used != 0 {
		t.Fatalf("held units not given back: %+v", u)
	}
	c, err := lim.TryAcquireAmounts(ptl.Amount{Unit: "requests", Amount: 1}, ptl.Amount{Unit: "input_tokens", Amount: 5})
	if err != nil {
		t.Fatal(err)
	}
	_, err = lim.TryAcquireAmounts()
	wantErr(t, err, ptl.ErrWouldBlock, "3 requests of 3")
	a.Release()
	c.Release()

	_, err = lim.AcquireAmounts(ctx, ptl.Amount{Unit: "output_tokens", Amount: 1})
	wantErr(t, err, ptl.ErrInvalid, "a unit the policy lacks")
	_, err = lim.AcquireAmounts(ctx, tokens(101))
	wantErr(t, err, ptl.ErrInvalid, "above the max")
	_, err = lim.TryAcquireAmounts(tokens(1), tokens(1))
	wantErr(t, err, ptl.ErrInvalid, "a unit given twice")
	_, err = lim.AcquireAmounts(ctx, ptl.Amount{Unit: "tok\x00", Amount: 1})
	wantErr(t, err, ptl.ErrInvalid, "NUL byte")
	assertIdle(t, lim)
}

func TestAcquireAmountsHonoursCancellation(t *testing.T) {
	lim := newPolicy(t, ptl.Limit{Unit: "tokens", Max: 10, Window: time.Minute}, ptl.Limit{Unit: "requests", Max: 1})
	held, err := lim.AcquireAmounts(context.Background(), tokens(1))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := lim.AcquireAmounts(ctx, tokens(2))
		done <- err
	}()
	for st, _ := lim.Stats(); st.Waiting != 1; st, _ = lim.Stats() {
		time.Sleep(time.Millisecond)
	}
	cancel()
	err = <-done
	wantErr(t, err, ptl.ErrCanceled, "cancelled")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%v does not wrap context.Canceled", err)
	}
	// Granted when another goroutine releases.
	go func() {
		time.Sleep(30 * time.Millisecond)
		held.Release()
	}()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	p, err := lim.AcquireAmounts(ctx2, tokens(9))
	if err != nil {
		t.Fatal(err)
	}
	if u := usage(t, lim, "tokens", time.Minute); u.Used != 10 {
		t.Fatalf("the cancelled waiter took tokens: %+v", u)
	}
	p.Release()
	assertIdle(t, lim)
}

func TestSettleDownUpTwiceAndAfterRelease(t *testing.T) {
	lim := newPolicy(t, ptl.Limit{Unit: "tokens", Max: 100, Window: time.Minute}, ptl.Limit{Unit: "tokens", Max: 1000})
	window := func() uint64 { return usage(t, lim, "tokens", time.Minute).Used }
	held := func() uint64 { return usage(t, lim, "tokens", 0).Used }
	ctx := context.Background()

	p, err := lim.AcquireAmounts(ctx, tokens(80))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Settle(tokens(30)); err != nil { // down: room at once, in every limit
		t.Fatal(err)
	}
	if window() != 30 || held() != 30 {
		t.Fatalf("after settling 80 down to 30: window %d, held %d", window(), held())
	}
	q, err := lim.TryAcquireAmounts(tokens(70))
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, p.Settle(tokens(10)), ptl.ErrInvalid, "second settle")
	if window() != 100 {
		t.Fatalf("a refused settle changed the window: %d", window())
	}
	p.Release()

	if err := q.Release(); err != nil { // after release
		t.Fatal(err)
	}
	if held() != 0 {
		t.Fatalf("held %d", held())
	}
	if err := q.Settle(tokens(20)); err != nil {
		t.Fatal(err)
	}
	if window() != 50 {
		t.Fatalf("settle after release: window %d, want 50", window())
	}
	wantErr(t, q.Settle(tokens(20)), ptl.ErrInvalid, "second settle after release")

	r, err := lim.AcquireAmounts(ctx, tokens(10)) // up: over the max is allowed
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Settle(tokens(90)); err != nil {
		t.Fatal(err)
	}
	if window() != 140 || held() != 90 {
		t.Fatalf("after settling 10 up to 90: window %d, held %d", window(), held())
	}
	_, err = lim.TryAcquireAmounts(tokens(1))
	wantErr(t, err, ptl.ErrWouldBlock, "140 of 100")
	_, err = lim.TryAcquireAmounts() // even no tokens: the window is over its max
	wantErr(t, err, ptl.ErrWouldBlock, "140 of 100, no tokens")
	wantErr(t, r.Settle(ptl.Amount{Unit: "requests", Amount: 1}), ptl.ErrInvalid, "a unit the policy lacks")
	wantErr(t, r.Settle(ptl.Amount{Unit: "to\x00kens", Amount: 1}), ptl.ErrInvalid, "NUL byte")
	r.Release()
}

func TestObserveCapsGrantsUntilItsReset(t *testing.T) {
	lim := newPolicy(t, ptl.Limit{Unit: "tokens", Max: 1000, Window: time.Minute})
	if u := usage(t, lim, "tokens", time.Minute); u.ObservedCap != ptl.NoCap {
		t.Fatalf("%+v", u)
	}
	if err := lim.Observe("tokens", 50, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := lim.Observe("tokens", 5000, 300*time.Millisecond); err != nil { // looser: no effect
		t.Fatal(err)
	}
	if u := usage(t, lim, "tokens", time.Minute); u.ObservedCap != 50 {
		t.Fatalf("%+v", u)
	}
	t0 := time.Now()
	_, err := lim.TryAcquireAmounts(tokens(51))
	wantErr(t, err, ptl.ErrWouldBlock, "the provider said 50")
	if r := err.(*ptl.Error).RetryAfter; r <= 0 || r > 300*time.Millisecond {
		t.Fatalf("RetryAfter %v", r)
	}
	p, err := lim.TryAcquireAmounts(tokens(50))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q, err := lim.AcquireAmounts(ctx, tokens(1))
	if err != nil {
		t.Fatal(err)
	}
	if e := time.Since(t0); e < 250*time.Millisecond {
		t.Fatalf("granted %v after the observation, before its reset", e)
	}
	p.Release()
	q.Release()
	wantErr(t, lim.Observe("requests", 1, time.Minute), ptl.ErrInvalid, "a unit the policy lacks")
	wantErr(t, lim.Observe("tokens", 1, -time.Second), ptl.ErrInvalid, "negative reset")
	wantErr(t, lim.Observe("tok\x00ens", 1, time.Second), ptl.ErrInvalid, "NUL byte")
}

func TestObserveHeadersOpenAI(t *testing.T) {
	lim := newPolicy(t,
		ptl.Limit{Unit: "requests", Max: 500, Window: time.Minute},
		ptl.Limit{Unit: "tokens", Max: 30000, Window: time.Minute})
	// A chat completion's response headers as OpenAI sends them; Set canonicalises the
	// names ("X-Ratelimit-Remaining-Requests"), as net/http does for a response.
	h := http.Header{}
	for k, v := range map[string]string{
		"date":                           "Thu, 21 Aug 2025 12:40:59 GMT",
		"content-type":                   "application/json",
		"openai-organization":            "user-abc123",
		"openai-processing-ms":           "412",
		"openai-version":                 "2020-10-01",
		"x-ratelimit-limit-requests":     "500",
		"x-ratelimit-limit-tokens":       "30000",
		"x-ratelimit-remaining-requests": "499",
		"x-ratelimit-remaining-tokens":   "29245",
		"x-ratelimit-reset-requests":     "120ms",
		"x-ratelimit-reset-tokens":       "1.51s",
		"x-request-id":                   "req_0123456789abcdef",
	} {
		h.Set(k, v)
	}
	if n, err := lim.ObserveHeaders(h); err != nil || n != 2 {
		t.Fatalf("ObserveHeaders = %d, %v; want 2", n, err)
	}
	if u := usage(t, lim, "requests", time.Minute); u.ObservedCap != 499 {
		t.Fatalf("%+v", u)
	}
	if u := usage(t, lim, "tokens", time.Minute); u.ObservedCap != 29245 {
		t.Fatalf("%+v", u)
	}

	lim = newPolicy(t,
		ptl.Limit{Unit: "requests", Max: 500, Window: time.Minute},
		ptl.Limit{Unit: "tokens", Max: 30000, Window: time.Minute})
	h = http.Header{ // set directly, names as sent; one malformed value
		"x-ratelimit-remaining-tokens":   {"10"},
		"x-ratelimit-reset-tokens":       {"6m0s"},
		"x-ratelimit-remaining-requests": {"not-a-number"},
		"x-ratelimit-reset-requests":     {"1s"},
		"x-ratelimit-limit-requests":     {"5\x00"}, // a NUL byte: skipped
	}
	if n, err := lim.ObserveHeaders(h); err != nil || n != 1 {
		t.Fatalf("ObserveHeaders = %d, %v; want 1", n, err)
	}
	if u := usage(t, lim, "requests", time.Minute); u.ObservedCap != ptl.NoCap {
		t.Fatalf("a malformed value applied: %+v", u)
	}
	_, err := lim.TryAcquireAmounts(tokens(11))
	wantErr(t, err, ptl.ErrWouldBlock, "the provider said 10 tokens")
	if r := err.(*ptl.Error).RetryAfter; r <= 5*time.Minute || r > 6*time.Minute {
		t.Fatalf("RetryAfter %v, want about 6m", r)
	}
	if n, err := lim.ObserveHeaders(nil); err != nil || n != 0 {
		t.Fatalf("ObserveHeaders(nil) = %d, %v", n, err)
	}
}

func TestObserveHeadersAnthropicAndRetryAfter(t *testing.T) {
	lim := newPolicy(t,
		ptl.Limit{Unit: "requests", Max: 50, Window: time.Minute},
		ptl.Limit{Unit: "input_tokens", Max: 30000, Window: time.Minute},
		ptl.Limit{Unit: "output_tokens", Max: 8000, Window: time.Minute})
	reset := time.Now().Add(30 * time.Second).UTC().Format(time.RFC3339)
	// A Messages API response's headers as Anthropic sends them; "tokens" (the sum) is a
	// unit this policy lacks: skipped.
	h := http.Header{}
	for k, v := range map[string]string{
		"content-type":                                "application/json",
		"request-id":                                  "req_011CSHoEeqs5C35K2UUqR7Fy",
		"anthropic-organization-id":                   "0f2bd9ab-0000-4000-8000-000000000000",
		"anthropic-ratelimit-requests-limit":          "50",
		"anthropic-ratelimit-requests-remaining":      "49",
		"anthropic-ratelimit-requests-reset":          reset,
		"anthropic-ratelimit-input-tokens-limit":      "30000",
		"anthropic-ratelimit-input-tokens-remaining":  "27000",
		"anthropic-ratelimit-input-tokens-reset":      reset,
		"anthropic-ratelimit-output-tokens-limit":     "8000",
		"anthropic-ratelimit-output-tokens-remaining": "7600",
		"anthropic-ratelimit-output-tokens-reset":     reset,
		"anthropic-ratelimit-tokens-limit":            "38000",
		"anthropic-ratelimit-tokens-remaining":        "34600",
		"anthropic-ratelimit-tokens-reset":            reset,
	} {
		h.Set(k, v)
	}
	if n, err := lim.ObserveHeaders(h); err != nil || n != 3 {
		t.Fatalf("ObserveHeaders = %d, %v; want 3", n, err)
	}
	for unit, want := range map[string]uint64{"requests": 49, "input_tokens": 27000, "output_tokens": 7600} {
		if u := usage(t, lim, unit, time.Minute); u.ObservedCap != want {
			t.Fatalf("%s: %+v, want cap %d", unit, u, want)
		}
	}
	_, err := lim.TryAcquireAmounts(ptl.Amount{Unit: "output_tokens", Amount: 7601})
	wantErr(t, err, ptl.ErrWouldBlock, "the provider said 7600 output tokens")
	if r := err.(*ptl.Error).RetryAfter; r <= 25*time.Second || r > 31*time.Second {
		t.Fatalf("RetryAfter %v, want about 30s", r)
	}
	p, err := lim.TryAcquireAmounts(ptl.Amount{Unit: "output_tokens", Amount: 7600})
	if err != nil {
		t.Fatal(err)
	}
	p.Release()

	// A 429's Retry-After pauses every sharer.
	reg, _ := ptl.Open("local:")
	defer reg.Close()
	if err := reg.RegisterPolicy("anthropic", []ptl.Limit{{Unit: "requests", Max: 50, Window: time.Minute}}, false); err != nil {
		t.Fatal(err)
	}
	a, _ := reg.Get("anthropic")
	b, _ := reg.Get("anthropic")
	if n, err := a.ObserveHeaders(http.Header{"Retry-After": {"2"}}); err != nil || n != 1 {
		t.Fatalf("Retry-After: %d, %v", n, err)
	}
	_, err = b.TryAcquire()
	wantErr(t, err, ptl.ErrWouldBlock, "paused by Retry-After")
	if r := err.(*ptl.Error).RetryAfter; r <= time.Second || r > 2*time.Second {
		t.Fatalf("RetryAfter %v", r)
	}
}

func TestUsageReportsEachLimit(t *testing.T) {
	lim := newPolicy(t, ptl.Limit{Unit: "tokens", Max: 100, Window: 30 * time.Second}, ptl.Limit{Unit: "requests", Max: 1})
	want := ptl.Usage{Max: 100, Window: 30 * time.Second, ObservedCap: ptl.NoCap}
	if u := usage(t, lim, "tokens", 30*time.Second); u != want {
		t.Fatalf("%+v, want %+v", u, want)
	}
	p, err := lim.AcquireAmounts(context.Background(), tokens(100))
	if err != nil {
		t.Fatal(err)
	}
	u := usage(t, lim, "tokens", 30*time.Second)
	if u.Used != 100 || u.NextRoom <= 29*time.Second || u.NextRoom > 30*time.Second {
		t.Fatalf("%+v", u)
	}
	if u := usage(t, lim, "requests", 0); u.Max != 1 || u.Used != 1 || u.Window != 0 || u.NextRoom >= 0 {
		t.Fatalf("held: %+v (NextRoom < 0: only a release makes room)", u)
	}
	p.Release()
	if u := usage(t, lim, "requests", 0); u.Used != 0 || u.NextRoom != 0 {
		t.Fatalf("%+v", u)
	}
	_, err = lim.Usage("tokens", time.Minute)
	wantErr(t, err, ptl.ErrNotFound, "no such window")
	_, err = lim.Usage("output_tokens", 0)
	wantErr(t, err, ptl.ErrNotFound, "no such unit")
}

func TestProviderPolicies(t *testing.T) {
	p, err := ptl.PresetPolicy("openai_tier1_gpt_4o")
	if err != nil {
		t.Fatal(err)
	}
	want := []ptl.Limit{{Unit: "requests", Max: 500, Window: time.Minute}, {Unit: "tokens", Max: 30000, Window: time.Minute}}
	if p.Name != "openai_tier1_gpt_4o" || !reflect.DeepEqual(p.Limits, want) || len(p.SourceDate) != 10 ||
		p.Description == "" || len(p.Source) < 4 || p.Source[:4] != "http" {
		t.Fatalf("%+v", p)
	}
	if q, err := ptl.PresetPolicy("OPENAI_TIER1_GPT_4O"); err != nil || !reflect.DeepEqual(q, p) {
		t.Fatalf("case-insensitive: %+v, %v", q, err)
	}
	_, err = ptl.PresetPolicy("no_such_provider")
	wantErr(t, err, ptl.ErrNotFound, "unknown")
	_, err = ptl.PresetPolicy("a\x00b")
	wantErr(t, err, ptl.ErrInvalid, "NUL byte")

	all, err := ptl.PresetPolicies()
	if err != nil || len(all) < 10 {
		t.Fatalf("%d provider policies, %v", len(all), err)
	}
	reg, _ := ptl.Open("local:")
	defer reg.Close()
	names := map[string]bool{}
	found, anthropic := false, false
	for _, q := range all {
		if names[q.Name] {
			t.Fatalf("%s twice", q.Name)
		}
		names[q.Name] = true
		found = found || reflect.DeepEqual(q, p)
		if len(q.Name) > 10 && q.Name[:10] == "anthropic_" {
			anthropic = anthropic || (slices.ContainsFunc(q.Limits, func(l ptl.Limit) bool { return l.Unit == "input_tokens" }) &&
				slices.ContainsFunc(q.Limits, func(l ptl.Limit) bool { return l.Unit == "output_tokens" }))
		}
		if err := reg.RegisterPolicy(q.Name, q.Limits, false); err != nil {
			t.Fatalf("%s: %v", q.Name, err)
		}
		lim, _ := reg.Get(q.Name)
		if got, _ := lim.Policy(); !reflect.DeepEqual(got, q.Limits) {
			t.Fatalf("%s: %v, want %v", q.Name, got, q.Limits)
		}
	}
	if !found || !anthropic {
		t.Fatalf("listing lacks openai_tier1_gpt_4o (%v) or an Anthropic policy with input and output tokens (%v)", found, anthropic)
	}
}

func TestEveryLimitHoldsUnderGoroutinesSeenFromOutside(t *testing.T) {
	// Four limits at once: requests and tokens per window, tokens and requests held.
	// Goroutines of two handles ask random amounts and settle below their estimate; an
	// outside observer counts what they hold and which grants lie provably in one window.
	const (
		window     = 250 * time.Millisecond
		requests   = 12
		maxTokens  = 1000
		heldTokens = 500
		held       = 3
	)
	reg, _ := ptl.Open("local:")
	defer reg.Close()
	if err := reg.RegisterPolicy("quota", []ptl.Limit{
		{Unit: "requests", Max: requests, Window: window},
		{Unit: "tokens", Max: maxTokens, Window: window},
		{Unit: "tokens", Max: heldTokens},
		{Unit: "requests", Max: held},
	}, false); err != nil {
		t.Fatal(err)
	}
	type grant struct {
		from, to time.Time // the grant happened in between
		tokens   uint64    // as finally settled
	}
	var (
		mu                 sync.Mutex
		seen               []grant
		nowTokens, nowHeld atomic.Int64
		peakTokens, peak   atomic.Int64
		wg                 sync.WaitGroup
	)
	raise := func(p *atomic.Int64, v int64) {
		for old := p.Load(); v > old && !p.CompareAndSwap(old, v); old = p.Load() {
		}
	}
	end := time.Now().Add(1500 * time.Millisecond)
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lim, err := reg.Get("quota")
			if err != nil {
				t.Error(err)
				return
			}
			rng := rand.New(rand.NewSource(int64(g) + 1))
			for time.Now().Before(end) {
				estimate := 1 + uint64(rng.Intn(300))
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				from := time.Now()
				p, err := lim.AcquireAmounts(ctx, tokens(estimate))
				cancel()
				if errors.Is(err, ptl.ErrTimeout) {
					continue
				} else if err != nil {
					t.Error(err)
					return
				}
				to := time.Now()
				raise(&peakTokens, nowTokens.Add(int64(estimate)))
				raise(&peak, nowHeld.Add(1))
				time.Sleep(time.Duration(200+rng.Intn(2000)) * time.Microsecond)
				actual := estimate - uint64(rng.Int63n(int64(estimate)+1))
				nowTokens.Add(-int64(estimate - actual)) // the observer lets go first
				if err := p.Settle(tokens(actual)); err != nil {
					t.Error(err)
				}
				mu.Lock()
				seen = append(seen, grant{from, to, actual})
				mu.Unlock()
				nowHeld.Add(-1)
				nowTokens.Add(-int64(actual))
				if err := p.Release(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) < 20 {
		t.Fatalf("only %d grants: the test says nothing", len(seen))
	}
	if peak.Load() > held || peakTokens.Load() > heldTokens {
		t.Fatalf("held at once: %d requests (max %d), %d tokens (max %d)", peak.Load(), held, peakTokens.Load(), heldTokens)
	}
	busiestRequests, busiestTokens := 0, uint64(0)
	for _, s := range seen { // grants whose whole call lies in [s.from, s.from+window)
		n, sum := 0, uint64(0)
		for _, o := range seen {
			if !o.from.Before(s.from) && o.to.Before(s.from.Add(window)) {
				n++
				sum += o.tokens
			}
		}
		busiestRequests, busiestTokens = max(busiestRequests, n), max(busiestTokens, sum)
	}
	if busiestRequests > requests || busiestTokens > maxTokens {
		t.Fatalf("in one %v window: %d requests (max %d), %d tokens (max %d)", window, busiestRequests, requests, busiestTokens, maxTokens)
	}
	if peak.Load() != held && busiestRequests != requests {
		t.Fatalf("no limit was ever full (peak %d, busiest window %d): no contention", peak.Load(), busiestRequests)
	}
	lim, _ := reg.Get("quota")
	assertIdle(t, lim)
	if u := usage(t, lim, "tokens", 0); u.Used != 0 {
		t.Fatalf("held tokens not given back: %+v", u)
	}
}
