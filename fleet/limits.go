package fleet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Limits are the CPU and memory an instance type gives an instance.
type Limits struct {
	CPUs        int
	MemoryBytes int64
}

func (l Limits) String() string {
	return fmt.Sprintf("%d vCPU, %s", l.CPUs, formatBytes(l.MemoryBytes))
}

func formatBytes(b int64) string {
	if b%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", b>>30)
	}
	return fmt.Sprintf("%d MiB", b>>20)
}

// sizes are the vCPUs and memory (MiB) of the usual EC2 families by size;
// a type outside them is recorded and gets no limits.
var sizes = map[string]map[string]Limits{
	"t2": {"nano": {1, 512}, "micro": {1, 1024}, "small": {1, 2048}, "medium": {2, 4096}, "large": {2, 8192}, "xlarge": {4, 16384}, "2xlarge": {8, 32768}},
	"t3": {"nano": {2, 512}, "micro": {2, 1024}, "small": {2, 2048}, "medium": {2, 4096}, "large": {2, 8192}, "xlarge": {4, 16384}, "2xlarge": {8, 32768}},
	"m5": {"large": {2, 8192}, "xlarge": {4, 16384}, "2xlarge": {8, 32768}, "4xlarge": {16, 65536}},
	"c5": {"large": {2, 4096}, "xlarge": {4, 8192}, "2xlarge": {8, 16384}, "4xlarge": {16, 32768}},
	"r5": {"large": {2, 16384}, "xlarge": {4, 32768}, "2xlarge": {8, 65536}},
}

// sameAs are families sized as another.
var sameAs = map[string]string{"t3a": "t3", "t4g": "t3", "m6i": "m5", "m6g": "m5", "m7g": "m5", "c6i": "c5", "c6g": "c5", "r6i": "r5"}

// LimitsFor returns the limits of an EC2 instance type such as t3.micro.
func LimitsFor(instanceType string) (Limits, bool) {
	family, size, ok := strings.Cut(strings.ToLower(instanceType), ".")
	if !ok {
		return Limits{}, false
	}
	if f, ok := sameAs[family]; ok {
		family = f
	}
	l, ok := sizes[family][size]
	if !ok {
		return Limits{}, false
	}
	l.MemoryBytes <<= 20 // the table is in MiB
	return l, true
}

// cgroupRoot is where the control groups are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// cgroupPeriod is the CFS period the CPU quota is a multiple of.
const cgroupPeriod = 100000

// setupCgroups makes instance id's control groups with the limits, and
// returns the directories whose cgroup.procs the instance's init joins. It
// uses cgroup v2 where the unified hierarchy is mounted, else v1's memory
// and cpu controllers; an error says why the machine does not allow it.
func setupCgroups(id string, l Limits) ([]string, error) {
	quota := int64(l.CPUs) * cgroupPeriod
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		parent := filepath.Join(cgroupRoot, "slipway")
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return nil, err
		}
		// Controllers must be enabled on the way down; where the server's
		// own placement forbids it, the writes fail and nothing is limited.
		for _, dir := range []string{cgroupRoot, parent} {
			if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory +cpu"), 0o644); err != nil {
				return nil, fmt.Errorf("enable the memory and cpu controllers in %s: %w", dir, err)
			}
		}
		dir := filepath.Join(parent, id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := writeAll(map[string]string{
			filepath.Join(dir, "memory.max"): strconv.FormatInt(l.MemoryBytes, 10),
			filepath.Join(dir, "cpu.max"):    fmt.Sprintf("%d %d", quota, cgroupPeriod),
		}); err != nil {
			removeCgroups(id)
			return nil, err
		}
		return []string{dir}, nil
	}
	mem := filepath.Join(cgroupRoot, "memory", "slipway", id)
	cpu := filepath.Join(cgroupRoot, "cpu", "slipway", id)
	for _, dir := range []string{mem, cpu} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			removeCgroups(id)
			return nil, err
		}
	}
	if err := writeAll(map[string]string{
		filepath.Join(mem, "memory.limit_in_bytes"): strconv.FormatInt(l.MemoryBytes, 10),
		filepath.Join(cpu, "cpu.cfs_period_us"):     strconv.Itoa(cgroupPeriod),
		filepath.Join(cpu, "cpu.cfs_quota_us"):      strconv.FormatInt(quota, 10),
	}); err != nil {
		removeCgroups(id)
		return nil, err
	}
	return []string{mem, cpu}, nil
}

func writeAll(files map[string]string) error {
	for path, v := range files {
		if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// removeCgroups removes instance id's control groups once they are empty:
// the kernel lets go of a group a moment after its last process has exited
// and been reaped, so it tries for up to a second. Absent ones are no error.
func removeCgroups(id string) {
	for _, dir := range []string{
		filepath.Join(cgroupRoot, "slipway", id),
		filepath.Join(cgroupRoot, "memory", "slipway", id),
		filepath.Join(cgroupRoot, "cpu", "slipway", id),
	} {
		for i := 0; i < 100; i++ {
			if err := os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// joinCgroups moves the calling process into the control groups (its
// children follow it there).
func joinCgroups(dirs []string) error {
	for _, dir := range dirs {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte("0"), 0o644); err != nil {
			return fmt.Errorf("join %s: %w", dir, err)
		}
	}
	return nil
}
