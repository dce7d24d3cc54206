"""Custom torch functions with hand-written backwards, checked by `gradcheck examples/custom_ops/`."""
