"""A user's own torch function: finding and calling it safely (user_code), and what is checked about it
(custom_function).  Imports engines, verdict and core."""
