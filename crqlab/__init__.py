"""crqlab."""
