package fleet

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
)

// BenchmarkLaunchToInService measures a local instance's launch, from the
// call to the moment its init reports it set up (the instance is then in
// service, its user data running), and reports the median. The first
// launch starts the binary; the others find a spare init waiting.
func BenchmarkLaunchToInService(b *testing.B) {
	rt := newRuntime(b)
	// The slipway binary is the init in production; the test binary,
	// smaller, starts faster. SLIPWAY_BINARY measures the real one.
	if exe := os.Getenv("SLIPWAY_BINARY"); exe != "" {
		rt.Exe = exe
	}
	ctx := context.Background()
	var took []time.Duration
	mode, limits := "", ""
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("i-bench%d", i)
		if err := rt.Prepare(id, []byte("#!/bin/sh\nexit 0\n"), InstanceConfig{InstanceID: id}); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		p, err := rt.Launch(ctx, Spec{ID: id, Hostname: id, DataDir: rt.DataDir, RunDir: rt.RunDir, InstanceType: "t3.micro"})
		took = append(took, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		mode, limits = p.Mode, p.Limits
		b.StopTimer()
		rt.Stop(ctx, p, time.Second)
		_ = rt.Remove(id)
		// Launches a moment apart, as a group's are: the spare init
		// started by this one is up by the next.
		time.Sleep(300 * time.Millisecond)
		b.StartTimer()
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*9/10].Microseconds())/1000, "p90-ms")
	b.Logf("mode %s, %s", mode, limits)
}
