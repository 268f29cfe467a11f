package web

import "net/http"

// deploymentRoutes registers the deployments pages.
func (c *Console) deploymentRoutes(mux *http.ServeMux) {}
