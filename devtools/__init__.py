"""Development tooling: embedded stand-ins for the backing services and `stigmer-service dev`
(the `dev` extra)."""
