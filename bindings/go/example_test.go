package ptl_test

import (
	"context"
	"fmt"
	"time"

	ptl "github.com/pocketflow-throttled/ptl-go"
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
