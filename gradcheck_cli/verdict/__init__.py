"""Results and judgement: the result records every reporter reads (compare) and the referees-and-subjects
verdict (judge).  Imports nothing above core."""
