"""ID photos: document specs (data), placement, compliance report, print sheets, file-size targets."""
