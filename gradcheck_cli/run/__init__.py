"""Running checks: one case's pipeline (case, with --fast projections and --order 2), and many cases in
order or in worker processes (runner, workers).  The only stage that imports every stage below it."""
