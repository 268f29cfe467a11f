package web

import "net/http"

// buildRoutes registers the builds pages.
func (c *Console) buildRoutes(mux *http.ServeMux) {}
