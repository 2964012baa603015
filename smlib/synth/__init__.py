"""The synthetic study region: a known-truth observing-system simulation (DESIGN.md section 5)."""
