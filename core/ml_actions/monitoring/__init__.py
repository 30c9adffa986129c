"""The label-delayed gate: the prediction log joined with matured labels, judged paired."""
