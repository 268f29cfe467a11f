package api

import "strings"

// Routes lists "METHOD PATTERN" of every /api/v1 route, for tests.
func Routes(s *Server) []string {
	var out []string
	for _, r := range s.routes() {
		// OpenAPI has no multi-segment parameter: {name...} is documented as {name}.
		out = append(out, r.method+" "+strings.ReplaceAll(r.pattern, "...}", "}"))
	}
	return out
}
