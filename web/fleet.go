package web

import "net/http"

// fleetRoutes registers the fleet pages.
func (c *Console) fleetRoutes(mux *http.ServeMux) {}
