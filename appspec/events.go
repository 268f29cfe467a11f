package appspec

// Event is a lifecycle event of an EC2/on-premises deployment.
type Event string

// The lifecycle events, in the order an in-place deployment runs them.
const (
	// BeforeBlockTraffic runs from the last successful revision, with a
	// load balancer only.
	BeforeBlockTraffic Event = "BeforeBlockTraffic"
	// BlockTraffic deregisters the instance from its load balancer.
	BlockTraffic Event = "BlockTraffic"
	// AfterBlockTraffic runs from the last successful revision, with a load
	// balancer only.
	AfterBlockTraffic Event = "AfterBlockTraffic"
	// ApplicationStop runs from the last successful revision; it is skipped
	// on the first deployment to an instance.
	ApplicationStop Event = "ApplicationStop"
	// DownloadBundle fetches and unpacks the revision.
	DownloadBundle Event = "DownloadBundle"
	BeforeInstall  Event = "BeforeInstall"
	// Install copies files and applies permissions.
	Install          Event = "Install"
	AfterInstall     Event = "AfterInstall"
	ApplicationStart Event = "ApplicationStart"
	// ValidateService is the last scripted event without a load balancer.
	ValidateService Event = "ValidateService"
	// BeforeAllowTraffic runs with a load balancer only.
	BeforeAllowTraffic Event = "BeforeAllowTraffic"
	// AllowTraffic registers the instance and waits for its health checks.
	AllowTraffic Event = "AllowTraffic"
	// AfterAllowTraffic runs with a load balancer only.
	AfterAllowTraffic Event = "AfterAllowTraffic"
)

// Events returns the thirteen lifecycle events in the order an in-place
// deployment (and its rollback) runs them, the agent's own order.
func Events() []Event {
	return []Event{
		BeforeBlockTraffic, BlockTraffic, AfterBlockTraffic,
		ApplicationStop, DownloadBundle,
		BeforeInstall, Install, AfterInstall,
		ApplicationStart, ValidateService,
		BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic,
	}
}

// Known reports whether e is one of the thirteen lifecycle events.
func (e Event) Known() bool {
	switch e {
	case BeforeBlockTraffic, BlockTraffic, AfterBlockTraffic,
		ApplicationStop, DownloadBundle,
		BeforeInstall, Install, AfterInstall,
		ApplicationStart, ValidateService,
		BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic:
		return true
	}
	return false
}

// Reserved reports the events CodeDeploy performs itself; an appspec may
// not give them scripts.
func (e Event) Reserved() bool {
	switch e {
	case DownloadBundle, Install, BlockTraffic, AllowTraffic:
		return true
	}
	return false
}

// Scriptable reports the events an appspec may give scripts.
func (e Event) Scriptable() bool {
	return e.Known() && !e.Reserved()
}

// LoadBalancerOnly reports the events that happen only when the deployment
// group has a load balancer; without one they are skipped, scripts and all.
// FromLastRevision reports whether the event's scripts come from the
// revision installed before the deployment (ApplicationStop and the
// BlockTraffic hooks run before the new one is downloaded); their failures
// are the ones ignoreApplicationStopFailures forgives.
func (e Event) FromLastRevision() bool {
	switch e {
	case ApplicationStop, BeforeBlockTraffic, AfterBlockTraffic:
		return true
	}
	return false
}

func (e Event) LoadBalancerOnly() bool {
	switch e {
	case BeforeBlockTraffic, BlockTraffic, AfterBlockTraffic,
		BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic:
		return true
	}
	return false
}

// scriptableEvents lists the events that may have scripts, in order, for
// "did you mean" and for messages.
func scriptableEvents() []string {
	var out []string
	for _, e := range Events() {
		if e.Scriptable() {
			out = append(out, string(e))
		}
	}
	return out
}
