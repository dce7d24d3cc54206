"""What every stage shares: errors with their locations, input limits, the signals that end a run, and user
text made printable.  Imports nothing else of gradcheck."""
