"""Evaluation: the metrics and `diagnose`, the model bar and the adoption rule (`bar`), ArtFID, the parity check
against the official code (`upstream`), the benchmarks (`bench`) and the figures and the style-strength slider
(`viz`). May import the base modules, data, model and train; nothing of app or lab."""
