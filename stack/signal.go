package stack

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// maxSignalTimeout is CloudFormation's limit on a ResourceSignal timeout.
const maxSignalTimeout = 12 * time.Hour

// resourceSignal reads CreationPolicy.ResourceSignal: how many success
// signals to wait for (default 1) and for how long (default PT5M).
func resourceSignal(policy any) (count int, timeout time.Duration, ok bool, err error) {
	m, _ := policy.(map[string]any)
	rs, found := m["ResourceSignal"].(map[string]any)
	if !found {
		return 0, 0, false, nil
	}
	count, timeout = 1, 5*time.Minute
	if c, ok := rs["Count"]; ok {
		n, err := strconv.Atoi(scalarString(c))
		if err != nil || n < 1 {
			return 0, 0, false, fmt.Errorf("CreationPolicy ResourceSignal Count %v: give a whole number of at least 1", c)
		}
		count = n
	}
	if t, ok := rs["Timeout"]; ok {
		d, err := ParseISODuration(scalarString(t))
		if err != nil {
			return 0, 0, false, fmt.Errorf("CreationPolicy ResourceSignal Timeout: %w", err)
		}
		if d > maxSignalTimeout {
			return 0, 0, false, fmt.Errorf("CreationPolicy ResourceSignal Timeout %v: at most PT12H", t)
		}
		timeout = d
	}
	return count, timeout, true, nil
}

func scalarString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return fmt.Sprint(v)
}

var isoDuration = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)

// ParseISODuration reads the ISO 8601 durations CloudFormation takes
// (PT15M, PT1H30M, P1DT2H, PT30S).
func ParseISODuration(s string) (time.Duration, error) {
	m := isoDuration.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" {
		return 0, fmt.Errorf("%q is not an ISO 8601 duration such as PT15M", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+1] != "" {
			n, err := strconv.Atoi(m[i+1])
			if err != nil {
				return 0, fmt.Errorf("%q is not an ISO 8601 duration such as PT15M", s)
			}
			d += time.Duration(n) * unit
		}
	}
	return d, nil
}
