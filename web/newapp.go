package web

import "net/http"

// newAppRoutes registers the form that creates an application.
func (c *Console) newAppRoutes(mux *http.ServeMux) {}
