package api

// registryRoutes and registryJobs are filled in by the registry use case (issue work in
// progress): see docs/api-conventions.md.
func (s *Server) registryRoutes() []route { return nil }

func registryJobs() []Job { return nil }
