package api

// allRoutes is the whole route list: the core routes below, then each
// use-case package's list from its own file (points.go, registry.go,
// quota.go). Every route appears in /openapi.json; a test checks it.
func (s *Server) allRoutes() []route {
	var all []route
	for _, group := range [][]route{
		s.coreRoutes(),
		s.pointsRoutes(),
		s.registryRoutes(),
		s.quotaRoutes(),
		s.checkpointRoutes(),
		s.listRoutes(),
	} {
		all = append(all, group...)
	}
	return all
}
