"""The terminal client: `stigmer-service run|get|list|cancel` over REST and SSE."""
