package deploy

import (
	"fmt"
	"strings"
)

// The kinds of MinimumHealthyHosts. MOST_CONCURRENCY is what the API
// reports for CodeDeployDefault.OneAtATime; users cannot set it.
const (
	HostCount       = "HOST_COUNT"
	FleetPercent    = "FLEET_PERCENT"
	MostConcurrency = "MOST_CONCURRENCY"
)

// The predefined deployment configurations.
const (
	OneAtATime  = "CodeDeployDefault.OneAtATime"
	HalfAtATime = "CodeDeployDefault.HalfAtATime"
	AllAtOnce   = "CodeDeployDefault.AllAtOnce"
)

// MinimumHealthyHosts is a deployment configuration's rule.
type MinimumHealthyHosts struct {
	Type  string `json:"type"`
	Value int    `json:"value"`
}

// DeploymentConfig is a named MinimumHealthyHosts rule.
type DeploymentConfig struct {
	Name                string              `json:"name"`
	MinimumHealthyHosts MinimumHealthyHosts `json:"minimum_healthy_hosts"`
	Predefined          bool                `json:"predefined,omitempty"`
	ManagedBy           string              `json:"managed_by,omitempty"`
}

// Predefined returns the built-in configuration called name.
func Predefined(name string) (DeploymentConfig, bool) {
	switch name {
	case OneAtATime:
		return DeploymentConfig{Name: name, MinimumHealthyHosts: MinimumHealthyHosts{Type: MostConcurrency, Value: 1}, Predefined: true}, true
	case HalfAtATime:
		return DeploymentConfig{Name: name, MinimumHealthyHosts: MinimumHealthyHosts{Type: FleetPercent, Value: 50}, Predefined: true}, true
	case AllAtOnce:
		return DeploymentConfig{Name: name, MinimumHealthyHosts: MinimumHealthyHosts{Type: HostCount, Value: 0}, Predefined: true}, true
	}
	return DeploymentConfig{}, false
}

// Check says what is wrong with a custom rule.
func (m MinimumHealthyHosts) Check() error {
	switch m.Type {
	case HostCount:
		if m.Value < 0 {
			return fmt.Errorf("MinimumHealthyHosts HOST_COUNT must be 0 or more, not %d", m.Value)
		}
	case FleetPercent:
		if m.Value < 0 || m.Value > 99 {
			return fmt.Errorf("MinimumHealthyHosts FLEET_PERCENT must be from 0 to 99, not %d", m.Value)
		}
	default:
		return fmt.Errorf("MinimumHealthyHosts Type must be HOST_COUNT or FLEET_PERCENT, not %q", m.Type)
	}
	return nil
}

// String is the rule as the CLI shows it.
func (m MinimumHealthyHosts) String() string {
	switch m.Type {
	case FleetPercent:
		return fmt.Sprintf("%d%% of the fleet healthy", m.Value)
	case MostConcurrency:
		return "one instance at a time"
	}
	return fmt.Sprintf("%d healthy hosts", m.Value)
}

// minimum is the number of hosts that must stay healthy in a group of n:
// percentages round up, as CodeDeploy converts them at the start.
func (m MinimumHealthyHosts) minimum(n int) int {
	switch m.Type {
	case FleetPercent:
		return (n*m.Value + 99) / 100
	case MostConcurrency:
		return max(n-1, 0)
	}
	return m.Value
}

// plan is the batch arithmetic of one deployment: which targets may start
// now, and whether the deployment has failed or is done.
type plan struct {
	rule  MinimumHealthyHosts
	total int
	min   int
}

func newPlan(rule MinimumHealthyHosts, n int) plan {
	return plan{rule: rule, total: n, min: rule.minimum(n)}
}

// invalid says why the rule cannot be met at all, "" when it can: a
// minimum of every host (or more) leaves nothing to deploy to. OneAtATime
// always can.
func (p plan) invalid() string {
	if p.rule.Type != MostConcurrency && p.min >= p.total {
		return fmt.Sprintf("the deployment configuration needs %d healthy hosts but the group has %d instances: "+
			"nothing could be deployed without going below it (choose a lower minimum or add instances)", p.min, p.total)
	}
	return ""
}

// counts is where the targets of a deployment are.
type counts struct {
	pending, inProgress, succeeded, failed int
}

// startable is how many pending targets may start now: as many as keep
// the healthy count (targets neither failed nor in progress) at or above
// the minimum. OneAtATime deploys one at a time and stops at a failure,
// unless it was the last instance.
func (p plan) startable(c counts) int {
	if p.rule.Type == MostConcurrency {
		if c.inProgress > 0 || c.failed > 0 {
			return 0
		}
		return min(1, c.pending)
	}
	healthy := p.total - c.failed - c.inProgress
	return max(0, min(c.pending, healthy-p.min))
}

// outcome says, once no target is in progress, whether the deployment
// ended: done with ok, or not done (more targets may start). reason says
// why it failed.
func (p plan) outcome(c counts) (done, ok bool, reason string) {
	if c.inProgress > 0 {
		return false, false, ""
	}
	if c.pending > 0 && p.startable(c) > 0 {
		return false, false, ""
	}
	if p.rule.Type == MostConcurrency {
		// Only the last instance may fail.
		lastFailed := c.failed == 1 && c.pending == 0 && c.succeeded > 0
		if c.failed > 0 && !lastFailed {
			return true, false, p.healthReason(c)
		}
		return true, true, ""
	}
	if c.pending > 0 || c.succeeded < p.min || c.succeeded == 0 {
		return true, false, p.healthReason(c)
	}
	return true, true, ""
}

func (p plan) healthReason(c counts) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d instances failed", c.failed, p.total)
	switch p.rule.Type {
	case MostConcurrency:
		b.WriteString("; one at a time, any instance but the last must succeed")
	default:
		fmt.Fprintf(&b, "; the deployment configuration needs at least %d healthy", max(p.min, 1))
	}
	return b.String()
}
