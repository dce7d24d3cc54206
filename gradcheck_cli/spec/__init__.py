"""What to check: the Spec of one case, point values, YAML spec files, sampled points, and which arguments name
spec files.  Imports lang, verdict (tolerances) and core."""
