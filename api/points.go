package api

// pointsRoutes and pointsJobs are filled in by the points use case (issue work in
// progress): see docs/api-conventions.md.
func (s *Server) pointsRoutes() []route { return nil }

func pointsJobs() []Job { return nil }
