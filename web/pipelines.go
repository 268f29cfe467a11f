package web

import "net/http"

// pipelineRoutes registers the pipelines pages.
func (c *Console) pipelineRoutes(mux *http.ServeMux) {}
