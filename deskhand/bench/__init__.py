"""deskhand.bench: performance benchmarks against the local simulators (figures printed)."""
