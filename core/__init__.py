"""Transport-neutral core: settings, domain rules, the one proto/JSON/Mongo mapping, the
service layer, the fan-out hub and the composition root (used by api/, workflows/, runner/)."""
