// SPDX-License-Identifier: MIT

package ptl_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	ptl "github.com/pocketflow-throttled/pocketflow-throttled/bindings/go"
)

func TestRegistryLifecycle(t *testing.T) {
	reg, err := ptl.Open("local:")
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	small := ptl.DefaultConfig()
	small.MaxConcurrent = 1
	if err := reg.Register("a", ptl.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	b, _ := reg.GetOrCreate("b", ptl.DefaultConfig())
	if again, _ := reg.GetOrCreate("b", small); again == nil {
		t.Fatal("GetOrCreate of an existing name failed")
	}
	list, _ := reg.List()
	if len(list) != 2 || list[0].Name != "a" || list[1].Name != "b" || list[1].Config.MaxConcurrent != 5 {
		t.Fatalf("List = %+v", list)
	}
	held, _ := b.Acquire(context.Background())
	if err := reg.Replace("b", small); err != nil {
		t.Fatal(err)
	}
	if _, err := b.TryAcquire(); !errors.Is(err, ptl.ErrWouldBlock) {
		t.Fatalf("the permit in flight must count after Replace: %v", err)
	}
	held.Release()
	if ok, _ := reg.Exists("a"); !ok {
		t.Fatal("a should exist")
	}
	if err := reg.Remove("a"); err != nil {
		t.Fatal(err)
	}
	if err := reg.Remove("a"); !errors.Is(err, ptl.ErrNotFound) {
		t.Fatalf("second Remove = %v", err)
	}
	reg.Reset()
	if list, _ := reg.List(); len(list) != 0 {
		t.Fatalf("after Reset: %+v", list)
	}
	p, err := b.Acquire(context.Background()) // a removed limiter's handle keeps working
	if err != nil {
		t.Fatal(err)
	}
	p.Release()
}

func TestDefaultRegistryIsShared(t *testing.T) {
	name := uniqueName("default")
	cfg := ptl.DefaultConfig()
	cfg.MaxConcurrent = 1
	if err := ptl.Default().Register(name, cfg); err != nil {
		t.Fatal(err)
	}
	defer ptl.Default().Remove(name)
	one, _ := ptl.Default().Get(name)
	two, _ := ptl.Default().Get(name)
	p, _ := one.Acquire(context.Background())
	defer p.Release()
	if _, err := two.TryAcquire(); !errors.Is(err, ptl.ErrWouldBlock) {
		t.Fatalf("a second handle did not see the permit: %v", err)
	}
}

// C would see "a\x00b" end at the NUL ("a"): every call refuses it before reaching C.
func TestNulByteIsInvalidInEveryNameAndURI(t *testing.T) {
	reg, _ := ptl.Open("local:")
	defer reg.Close()
	if err := reg.Register("a", ptl.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	const bad = "a\x00b"
	calls := map[string]func() error{
		"Register": func() error { return reg.Register(bad, ptl.DefaultConfig()) },
		"Replace":  func() error { return reg.Replace(bad, ptl.DefaultConfig()) },
		"Get":      func() error { _, err := reg.Get(bad); return err },
		"GetOrCreate": func() error {
			_, err := reg.GetOrCreate(bad, ptl.DefaultConfig())
			return err
		},
		"Exists": func() error { _, err := reg.Exists(bad); return err },
		"Remove": func() error { return reg.Remove(bad) },
		"Stats":  func() error { _, err := reg.Stats(bad); return err },
		"Open":   func() error { _, err := ptl.Open("local:\x00x"); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ptl.ErrInvalid) || !strings.Contains(err.Error(), "NUL") {
			t.Fatalf("%s(%q) = %v, want ErrInvalid naming the NUL byte", name, bad, err)
		}
	}
	if list, _ := reg.List(); len(list) != 1 || list[0].Name != "a" {
		t.Fatalf("List = %+v, want only a", list)
	}
}

func TestErrors(t *testing.T) {
	reg, _ := ptl.Open("local:")
	defer reg.Close()
	for _, name := range []string{"", "a\x00b", strings.Repeat("x", 256), "\xff\xfe"} {
		err := reg.Register(name, ptl.DefaultConfig())
		var perr *ptl.Error
		if !errors.Is(err, ptl.ErrInvalid) || !errors.As(err, &perr) || perr.Message == "" {
			t.Fatalf("Register(%q) = %v, want ErrInvalid with a message", name, err)
		}
		if !strings.HasPrefix(err.Error(), "PTL_EINVAL: ") {
			t.Fatalf("message %q", err)
		}
	}
	if _, err := reg.Get("nobody"); !errors.Is(err, ptl.ErrNotFound) || !strings.Contains(err.Error(), "nobody") {
		t.Fatalf("Get(missing) = %v", err)
	}
	reg.Register("dup", ptl.DefaultConfig())
	if err := reg.Register("dup", ptl.DefaultConfig()); !errors.Is(err, ptl.ErrExists) {
		t.Fatalf("duplicate Register = %v", err)
	}
	bad := ptl.DefaultConfig()
	bad.MaxConcurrent = 0
	if _, err := ptl.NewLimiter(bad); !errors.Is(err, ptl.ErrInvalid) {
		t.Fatalf("MaxConcurrent 0 = %v", err)
	}
	if _, err := ptl.NewLimiter(ptl.Config{}); !errors.Is(err, ptl.ErrInvalid) {
		t.Fatalf("zero Config = %v", err)
	}
	for _, uri := range []string{"bogus://x", "", "shm://bad/name"} {
		if _, err := ptl.Open(uri); !errors.Is(err, ptl.ErrInvalid) {
			t.Fatalf("Open(%q) = %v", uri, err)
		}
	}
	if err := ptl.SetLogLevel(7); !errors.Is(err, ptl.ErrInvalid) {
		t.Fatalf("SetLogLevel(7) = %v", err)
	}
	if errors.Is(newTimeout(), ptl.ErrInvalid) {
		t.Fatal("a timeout must not match ErrInvalid")
	}
	if ptl.StatusName(ptl.StatusBackend) != "PTL_EBACKEND" || ptl.Version() == "" {
		t.Fatal("StatusName / Version")
	}
	closed, _ := ptl.Open("local:")
	closed.Close()
	if _, err := closed.Get("x"); !errors.Is(err, ptl.ErrClosed) {
		t.Fatalf("Get on a closed registry = %v", err)
	}
}

func newTimeout() error {
	lim, _ := ptl.NewLimiter(ptl.Config{MaxConcurrent: 1, Window: time.Second})
	held, _ := lim.Acquire(context.Background())
	defer held.Release()
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	_, err := lim.Acquire(ctx)
	return err
}

// shmSegment returns a fresh shm:// URI and removes its file when the test ends (the
// library never unlinks a segment).
func shmSegment(t *testing.T) string {
	name := uniqueName("shm")
	t.Cleanup(func() { os.Remove("/dev/shm/ptl." + name) })
	return "shm://" + name
}

func TestShmTwoRegistriesShareOneLimiter(t *testing.T) {
	uri := shmSegment(t)
	a, err := ptl.Open(uri)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, _ := ptl.Open(uri)
	defer b.Close()
	cfg := ptl.DefaultConfig()
	cfg.MaxConcurrent = 2
	if err := a.Register("q", cfg); err != nil {
		t.Fatal(err)
	}
	la, _ := a.Get("q")
	lb, _ := b.Get("q")
	p1, _ := la.Acquire(context.Background())
	p2, _ := lb.Acquire(context.Background())
	if _, err := la.TryAcquire(); !errors.Is(err, ptl.ErrWouldBlock) {
		t.Fatalf("third permit: %v", err)
	}
	time.AfterFunc(20*time.Millisecond, func() { p1.Release() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p3, err := lb.Acquire(ctx) // waits across registries, completed by the shm agent thread
	if err != nil {
		t.Fatal(err)
	}
	p2.Release()
	p3.Release()
	if st, _ := a.Stats("q"); st.InFlight != 0 || st.Waiting != 0 {
		t.Fatalf("after: %+v", st)
	}
	b.Remove("q")
}

const childEnv = "PTL_GO_SHM_CHILD"

func TestShmTwoProcessesShareOneLimiter(t *testing.T) {
	uri := shmSegment(t)
	reg, err := ptl.Open(uri)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	cfg := ptl.DefaultConfig()
	cfg.MaxConcurrent = 1
	reg.Register("q", cfg)
	child := exec.Command(os.Args[0], "-test.run=^TestShmChild$")
	child.Env = append(os.Environ(), childEnv+"="+uri)
	stdin, _ := child.StdinPipe()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Wait()
	defer stdin.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if st, _ := reg.Stats("q"); st.InFlight == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never acquired")
		}
	}
	q, _ := reg.Get("q")
	if _, err := q.TryAcquire(); !errors.Is(err, ptl.ErrWouldBlock) {
		t.Fatalf("the child's permit is not seen: %v", err)
	}
	time.AfterFunc(20*time.Millisecond, func() { stdin.Close() }) // the child releases
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := q.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.Release()
	if err := child.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	reg.Remove("q")
}

// TestShmChild is the child of TestShmTwoProcessesShareOneLimiter; it does nothing alone.
func TestShmChild(t *testing.T) {
	uri := os.Getenv(childEnv)
	if uri == "" {
		t.Skip("run by TestShmTwoProcessesShareOneLimiter")
	}
	reg, err := ptl.Open(uri)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := reg.Get("q")
	p, err := q.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = os.Stdin.Read(make([]byte, 1)) // until the parent closes our stdin
	p.Release()
}
