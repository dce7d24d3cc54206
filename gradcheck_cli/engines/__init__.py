"""Independent ways of computing a gradient; none of them prints."""
