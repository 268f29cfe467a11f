package api

import _ "embed"

// openAPI describes every /api/v1 route; TestOpenAPI_MatchesRoutes keeps the
// two in step.
//
//go:embed openapi.json
var openAPI []byte
