"""The report's recipes: phase 1 and the readings, phase 2, the comparison, the future work."""
