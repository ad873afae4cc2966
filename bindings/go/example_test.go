// SPDX-License-Identifier: MIT

package ptl_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	ptl "github.com/pocketflow-throttled/pocketflow-throttled/bindings/go"
)

// Register a limiter once at start-up; use it by name anywhere, from any goroutine.
func Example() {
	reg, _ := ptl.Open("local:") // or ptl.Default(), "shm://app", "redis://host:6379"
	defer reg.Close()
	cfg := ptl.DefaultConfig()
	cfg.MaxConcurrent, cfg.MaxPerWindow = 10, 60 // 10 at once, 60 per minute
	if err := reg.Register("openai", cfg); err != nil {
		panic(err)
	}

	openai, _ := reg.Get("openai")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	permit, err := openai.Acquire(ctx)
	if err != nil {
		panic(err)
	}
	defer permit.Release()
	st, _ := openai.Stats()
	fmt.Println("in flight:", st.InFlight)
	// Output: in flight: 1
}

// A policy counts several things at once; settle the real usage and feed the provider's
// response headers back.
func ExampleLimiter_AcquireAmounts() {
	reg, _ := ptl.Open("local:")
	defer reg.Close()
	err := reg.RegisterPolicy("openai", []ptl.Limit{
		{Unit: "requests", Max: 500, Window: time.Minute},
		{Unit: "tokens", Max: 30000, Window: time.Minute},
		{Unit: "requests", Max: 10}, // Window 0: at most 10 in flight
	}, false)
	if err != nil {
		panic(err)
	}
	openai, _ := reg.Get("openai")

	permit, err := openai.AcquireAmounts(context.Background(), ptl.Amount{Unit: "tokens", Amount: 1500})
	if err != nil {
		panic(err)
	}
	defer permit.Release()
	// resp, err := client.Do(req) ... the response says 1234 tokens were used:
	_ = permit.Settle(ptl.Amount{Unit: "tokens", Amount: 1234})
	applied, _ := openai.ObserveHeaders(http.Header{ // resp.Header
		"X-Ratelimit-Remaining-Tokens": {"28766"},
		"X-Ratelimit-Reset-Tokens":     {"2.4s"},
	})
	u, _ := openai.Usage("tokens", time.Minute)
	fmt.Println("applied:", applied, "used:", u.Used, "provider says left:", u.ObservedCap)
	// Output: applied: 1 used: 1234 provider says left: 28766
}
