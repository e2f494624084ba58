"""What every part of golf shares and depends on nothing of ours: the challenge's vocabulary
(tracks, verdicts, limits) and the reference trainer's log grammar."""
