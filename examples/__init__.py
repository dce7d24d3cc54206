"""Example code that gradcheck's docs and tests import (`examples.custom_ops.swish:Swish`)."""
