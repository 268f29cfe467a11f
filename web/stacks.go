package web

import "net/http"

// stackRoutes registers the stacks pages.
func (c *Console) stackRoutes(mux *http.ServeMux) {}
