package api

// Routes lists "METHOD PATTERN" of every /api/v1 route, for tests.
func Routes(s *Server) []string {
	var out []string
	for _, r := range s.routes() {
		out = append(out, r.method+" "+r.pattern)
	}
	return out
}
