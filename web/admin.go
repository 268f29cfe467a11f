package web

import "net/http"

// adminRoutes registers the admin pages.
func (c *Console) adminRoutes(mux *http.ServeMux) {}
