"""Why a gradient is wrong: culprits, named diagnoses, where the function is undefined, and the --explain
graph.  Imports engines, lang, verdict and core."""
