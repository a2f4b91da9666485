"""Face analysis: detection, alignment to the template, face-parsing masks and head geometry."""
