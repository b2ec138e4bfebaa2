package api

// quotaRoutes and quotaJobs are filled in by the quota use case (issue work in
// progress): see docs/api-conventions.md.
func (s *Server) quotaRoutes() []route { return nil }

func quotaJobs() []Job { return nil }
