package web

import "net/http"

// repoRoutes registers the repos pages.
func (c *Console) repoRoutes(mux *http.ServeMux) {}
