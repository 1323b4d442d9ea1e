"""Measure the classifier on labelled mail: `partnerships eval` (metrics pure, reading files at the edge)."""
