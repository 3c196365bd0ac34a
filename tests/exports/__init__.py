"""Client deliveries written by hand the way survey platforms and CRMs write them (issue 15)."""
