"""Person cut-out: portrait matting and new backgrounds."""
